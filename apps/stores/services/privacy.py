"""GDPR and retention.

- ``customers/redact``: the customer is anonymised (email and names blanked) and so is the PII on
  their orders (landing page and referrer, which can carry an email); amounts, dates and UTM
  parameters stay, since billing attributes revenue from them.
- ``customers/data_request``: a JSON export of what we hold on the customer, for an Admin.
- ``shop/redact``: every row of the store is deleted, the store included.
- Retention (a daily task): deliveries and exports older than ``KIKI_RETENTION_WEBHOOK_DAYS`` and
  orders older than ``KIKI_RETENTION_ORDER_MONTHS`` are deleted; customers' aggregates follow.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.models import (
    Baseline,
    Customer,
    DataExport,
    Order,
    Product,
    StoreConnection,
    SyncRun,
    Variant,
    WebhookDelivery,
)
from apps.stores.routing.services import route_forget
from apps.stores.selectors import customer_ltv_bump
from apps.stores.services._audit import store_audit, store_audit_state

logger = logging.getLogger(__name__)


def _customer_ids(payload: dict[str, Any]) -> list[str]:
    customer = payload.get("customer") or {}
    return [str(customer["id"])] if customer.get("id") is not None else []


@transaction.atomic
def customer_redact(
    *, store: StoreConnection, customer_platform_id: str, order_platform_ids: list[str], actor: Actor
) -> int:
    """Anonymise one customer and the PII on their orders (and on the orders named). Returns the
    number of orders touched. Idempotent."""
    require_tenant("redacting a customer")
    customers = Customer.objects.filter(store=store, platform_id=customer_platform_id)
    customers.update(
        email="", first_name="", last_name="redacted", acquisition_source="", updated_at=timezone.now()
    )
    named = Order.objects.filter(store=store).filter(customer__in=customers) | Order.objects.filter(
        store=store, platform_id__in=order_platform_ids
    )
    touched = named.update(landing_site="", referrer="", updated_at=timezone.now())
    logger.info("customer redacted", extra={"store_id": store.pk, "orders": touched, "actor": actor.label})
    return touched


def customer_export(*, store: StoreConnection, customer_platform_id: str, reference: str = "") -> DataExport:
    """What we hold on one customer, as JSON (profile, aggregates, predictions, orders with items)."""
    require_tenant("exporting a customer's data")
    customer = Customer.objects.filter(store=store, platform_id=customer_platform_id).first()
    data: dict[str, Any] = {
        "store": store.name,
        "customer_platform_id": customer_platform_id,
        "customer": None,
        "orders": [],
    }
    if customer is not None:
        data["customer"] = {
            f: str(getattr(customer, f)) if getattr(customer, f) is not None else None
            for f in (*Customer.PROFILE_FIELDS, *Customer.AGGREGATE_FIELDS, *Customer.LTV_FIELDS)
            if f != "store"
        }
        for order in customer.orders.prefetch_related("items", "refunds").order_by("placed_at"):
            data["orders"].append(
                {
                    **{
                        f: str(getattr(order, f))
                        for f in ("platform_id", "number", "placed_at", "total", "total_refunded", "currency")
                    },
                    "landing_site": order.landing_site,
                    "items": [
                        {"sku": i.sku, "title": i.title, "quantity": i.quantity, "price": str(i.price)}
                        for i in order.items.all()
                    ],
                    "refunds": [
                        {"amount": str(r.amount), "refunded_at": r.refunded_at.isoformat()}
                        for r in order.refunds.all()
                    ],
                }
            )
    return DataExport.objects.create(
        store=store, customer_platform_id=customer_platform_id, request_reference=reference, data=data
    )


@transaction.atomic
def store_redact(*, store: StoreConnection, actor: Actor) -> dict[str, int]:
    """Delete every row of the store, the store included (``shop/redact``). The audit entry
    (``store.redact``) outlives it: what the store was and how many rows went."""
    require_tenant("redacting a store")
    before = store_audit_state(store)
    counts = {
        "orders": Order.objects.filter(store=store).delete()[0],
        "customers": Customer.objects.filter(store=store).delete()[0],
        "variants": Variant.objects.filter(store=store).delete()[0],
        "products": Product.objects.filter(store=store).delete()[0],
    }
    for model in (WebhookDelivery, SyncRun, Baseline, DataExport):
        model.objects.filter(store=store).delete()
    StoreConnection.objects.filter(pk=store.pk).delete()
    route_forget(platform=store.platform, key=store.shop_domain)
    transaction.on_commit(customer_ltv_bump)
    store_audit(store=store, actor=actor, action="store.redact", before=before, after={"deleted": counts})
    logger.info("store redacted", extra={"store_id": store.pk, "actor": actor.label, **counts})
    return counts


def privacy_request(*, store: StoreConnection, topic: str, payload: dict[str, Any], delivery_id: int) -> None:
    actor = Actor.system(f"webhook:{store.platform}")
    if topic == "customers/redact":
        orders = [str(o) for o in payload.get("orders_to_redact") or []]
        for customer_id in _customer_ids(payload) or [""]:
            customer_redact(
                store=store, customer_platform_id=customer_id, order_platform_ids=orders, actor=actor
            )
    elif topic == "customers/data_request":
        reference = str((payload.get("data_request") or {}).get("id", ""))
        for customer_id in _customer_ids(payload):
            customer_export(store=store, customer_platform_id=customer_id, reference=reference)
    elif topic == "shop/redact":
        store_redact(store=store, actor=actor)
    else:
        raise StoresError(ErrorCode.VALIDATION, f"Not a privacy topic: {topic}")


def retention_apply(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what is past its retention (module docstring); customers' aggregates are recomputed."""
    require_tenant("applying retention")
    from apps.stores.services.orders import _customers_refresh_aggregates

    now = now or timezone.now()
    deliveries_before = now - timedelta(days=settings.KIKI_RETENTION_WEBHOOK_DAYS)
    orders_before = now - timedelta(days=round(settings.KIKI_RETENTION_ORDER_MONTHS * 30.44))
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.filter(received_at__lt=deliveries_before).delete()[0]
        exports = DataExport.objects.filter(created_at__lt=deliveries_before).delete()[0]
        old = Order.objects.filter(placed_at__lt=orders_before)
        customers = set(old.exclude(customer=None).values_list("customer_id", flat=True))
        removed = old.delete()[0]
        _customers_refresh_aggregates(customers, now)
    return {"webhook_deliveries": deliveries, "data_exports": exports, "orders": removed}
