"""Reads of the shop → workspace registry (any schema: the table is in the public one)."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import get_tenant_model

from apps.stores.routing.models import StoreRoute


def route_tenant(*, platform: str, key: str) -> Any | None:
    """The workspace (tenant) the registry names for a platform's shop, or None."""
    if not key:
        return None
    route = (
        StoreRoute.objects.select_related("tenant").filter(platform=platform, key=key.strip().lower()).first()
    )
    return route.tenant if route is not None else None


def tenant_for_schema(schema: str) -> Any | None:
    """The workspace whose schema is ``schema`` (a nonce issued in a workspace names its schema)."""
    return get_tenant_model().objects.filter(schema_name=schema).first() if schema else None
