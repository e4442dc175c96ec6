"""Writes of the shop → workspace registry. Called by the stores services in the workspace that
connects, uninstalls or redacts a store, inside their transactions; each call is idempotent, and
only ever touches a route for the current workspace (never moves or drops another's, except that a
connect takes the shop over: the last workspace to connect a shop receives its callbacks)."""

from __future__ import annotations

from django.utils import timezone
from django_tenants.utils import get_tenant_model

from apps.core.tenant_context import require_tenant
from apps.stores.routing.models import StoreRoute

ROUTED_PLATFORMS = frozenset(StoreRoute.Platform.values)


def route_register(*, platform: str, key: str) -> None:
    """This workspace now holds the shop (connect, reconnect): one upsert, no read-then-write race."""
    schema = require_tenant("registering a store route")
    if platform not in ROUTED_PLATFORMS or not key:
        return
    tenant = get_tenant_model().objects.only("pk").get(schema_name=schema)
    StoreRoute.objects.bulk_create(
        [StoreRoute(platform=platform, key=key.strip().lower(), tenant=tenant, uninstalled_at=None)],
        update_conflicts=True,
        unique_fields=["platform", "key"],
        update_fields=["tenant", "uninstalled_at", "updated_at"],
    )


def route_uninstalled(*, platform: str, key: str) -> None:
    """The app was removed from this workspace's shop: the route is kept (Shopify's ``shop/redact``
    and ``customers/redact`` still arrive after an uninstall) and marked."""
    schema = require_tenant("marking a store route")
    if platform not in ROUTED_PLATFORMS or not key:
        return
    StoreRoute.objects.filter(
        platform=platform, key=key.strip().lower(), tenant__schema_name=schema, uninstalled_at=None
    ).update(uninstalled_at=timezone.now(), updated_at=timezone.now())


def route_forget(*, platform: str, key: str) -> None:
    """The shop's data is gone from this workspace (``shop/redact``): nothing routes here any more."""
    schema = require_tenant("forgetting a store route")
    if platform not in ROUTED_PLATFORMS or not key:
        return
    StoreRoute.objects.filter(platform=platform, key=key.strip().lower(), tenant__schema_name=schema).delete()


def routes_backfill() -> int:
    """Routes for the stores connected before the registry existed (migration 0002 runs it once; it
    is idempotent). Only missing routes are created: a shop another workspace already holds keeps its
    route. Returns how many were created."""
    from django.db import connection
    from django_tenants.utils import get_public_schema_name, schema_context

    from apps.stores.models import StoreConnection

    created = 0
    tenants = get_tenant_model().objects.exclude(schema_name=get_public_schema_name())
    for tenant in tenants.only("pk", "schema_name"):
        with schema_context(tenant.schema_name):
            if StoreConnection._meta.db_table not in connection.introspection.table_names():
                continue  # a workspace whose schema is not migrated yet
            shops = list(
                StoreConnection.objects.filter(platform__in=ROUTED_PLATFORMS)
                .exclude(status=StoreConnection.Status.UNINSTALLED)
                .exclude(shop_domain="")
                .values_list("platform", "shop_domain")
            )
        routes = [StoreRoute(platform=p, key=k.strip().lower(), tenant=tenant) for p, k in shops]
        before = StoreRoute.objects.count()
        StoreRoute.objects.bulk_create(routes, ignore_conflicts=True)
        created += StoreRoute.objects.count() - before
    return created
