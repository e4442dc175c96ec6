"""Webhook deliveries: verified on the raw bytes by the endpoint, stored here (deduplicated on the
platform's delivery id, per store and topic), answered at once, processed by a task in the tenant's
schema, replayable by an Admin when processing failed.

Processing writes through the same services as the syncs: orders through ``orders_upsert``, products
through ``products_upsert``, stock through ``inventory_set`` (its transitions reach the inventory
hook), plus the lifecycle topics (``app/uninstalled``) and the GDPR ones (``services.privacy``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.redis import get_redis
from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.integrations.base import Delivery, PlatformError
from apps.stores.models import StoreConnection, WebhookDelivery
from apps.stores.routing.services import route_uninstalled
from apps.stores.services import catalog, orders, privacy
from apps.stores.services._audit import store_audit, store_audit_state
from apps.stores.services._sql import insert_new
from apps.stores.services.catalog import InventoryInput, ProductInput
from apps.stores.services.connections import adapter_for
from apps.stores.services.orders import CustomerInput, OrderInput

logger = logging.getLogger(__name__)

# Headers kept with a delivery (never credentials): what an Admin needs to understand a replay.
_KEPT_HEADERS = (
    "content-type",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-triggered-at",
    "x-shopify-api-version",
    "x-wc-webhook-topic",
    "x-wc-webhook-source",
    "x-wc-webhook-id",
    "x-wc-webhook-delivery-id",
    "webhook-id",
    "webhook-timestamp",
)
LIFECYCLE_TOPICS = {"app/uninstalled"}
PRIVACY_TOPICS = {"customers/data_request", "customers/redact", "shop/redact"}


@dataclass(frozen=True)
class Received:
    delivery_pk: int | None  # None for a duplicate: the stored delivery is left as it is, unread
    duplicate: bool


def webhook_receive(
    *,
    store: StoreConnection,
    topic: str,
    delivery_id: str,
    body: bytes,
    headers: dict[str, str],
    parse_error: str = "",
) -> Received:
    """Store a verified delivery once. A duplicate (same store, topic and delivery id) is returned
    as it is and changes nothing (nor is it read). A body that did not parse is kept as failed, with
    the reason."""
    schema = require_tenant("receiving a webhook")
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in _KEPT_HEADERS}
    status = WebhookDelivery.Status.FAILED if parse_error else WebhookDelivery.Status.RECEIVED
    row = {
        "store": store.pk,
        "platform": store.platform,
        "topic": topic[:100],
        "delivery_id": delivery_id[:200],
        "raw_body": body,
        "headers": kept,
        "signature_valid": True,
        "status": status,
        "attempts": 0,
        "error": parse_error,
        "received_at": timezone.now(),
        "processed_at": None,
    }
    # One statement (no transaction around it): a duplicate inserts nothing and comes back empty.
    inserted = insert_new(WebhookDelivery, row, conflict=("store", "topic", "delivery_id"))
    if inserted is None:
        return Received(None, duplicate=True)
    if not parse_error:
        transaction.on_commit(lambda: webhooks_wake(schema))
    return Received(inserted, duplicate=False)


# --- draining: one task per burst, not one per delivery --------------------------------------------
# A Celery publish per delivery cost more than storing it. Instead each stored delivery does one
# Redis SET NX (a flag per workspace): the first of a burst enqueues ``stores.drain_webhooks``,
# the others find the flag set. The drain clears the flag *before* it reads what is waiting, so a
# delivery committed after that read sets it again and wakes another drain: none is left behind.
# (The flag expires on its own, and the hourly poll wakes a drain for anything older than a few
# minutes, should a process die between setting the flag and enqueueing.)
def drain_flag(schema: str) -> str:
    return f"kiki:stores:webhook-drain:{schema}"


DRAIN_FLAG_TTL_S = 120
DRAIN_BATCH = 200
DRAIN_BUDGET_S = 20.0  # then it yields to other workspaces (and pings) and wakes another


def webhooks_wake(schema: str) -> bool:
    """Make sure a drain will run for this workspace; True when this call enqueued it."""
    from apps.stores.tasks import drain_webhooks

    if not get_redis().set(drain_flag(schema), 1, nx=True, ex=DRAIN_FLAG_TTL_S):
        return False
    drain_webhooks.apply_async(headers={"_schema_name": schema})
    return True


def webhooks_waiting_since(*, minutes: int) -> bool:
    """Is a delivery waiting longer than ``minutes``? (The hourly poll's safety net.)"""
    require_tenant("finding waiting webhooks")
    limit = timezone.now() - timedelta(minutes=minutes)
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.RECEIVED, received_at__lt=limit
    ).exists()


def webhooks_drain(*, budget_s: float = DRAIN_BUDGET_S) -> int:
    """Process every received delivery of this workspace, oldest first; returns how many. A delivery
    that raises something unexpected is logged and left ``received`` for the next drain, so one bad
    delivery does not hold the others up. Past ``budget_s`` another drain is woken for the rest."""
    schema = require_tenant("draining webhooks")
    get_redis().delete(drain_flag(schema))  # before reading: what is stored from now on wakes another drain
    began, done = time.monotonic(), 0
    skipped: set[int] = set()
    while True:
        waiting = list(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED)
            .exclude(pk__in=skipped)
            .order_by("pk")
            .values_list("pk", flat=True)[:DRAIN_BATCH]
        )
        if not waiting:
            return done
        for pk in waiting:
            try:
                webhook_process(delivery_id=pk)
                done += 1
            except Exception:  # noqa: BLE001 - logged with its traceback; the delivery waits for the next drain
                logger.exception("webhook processing raised", extra={"delivery_id": pk})
                skipped.add(pk)
        if time.monotonic() - began > budget_s:
            webhooks_wake(schema)
            return done


def _write(store: StoreConnection, records: list[Any], actor: Actor) -> None:
    found_orders = [r for r in records if isinstance(r, OrderInput)]
    products = [r for r in records if isinstance(r, ProductInput)]
    levels = [r for r in records if isinstance(r, InventoryInput)]
    customers = [r for r in records if isinstance(r, CustomerInput)]
    if products:
        catalog.products_upsert(store=store, products=products, actor=actor, source="webhook")
    if levels:
        catalog.inventory_set(store=store, levels=levels, actor=actor, source="webhook")
    if customers:
        orders.customers_upsert(store=store, customers=customers, actor=actor)
    if found_orders:
        orders.orders_upsert(store=store, orders=found_orders, actor=actor)


def webhook_process(*, delivery_id: int) -> WebhookDelivery:
    """Process a stored delivery. Idempotent: a processed delivery is left as it is; the writes are
    upserts, so processing the same payload twice changes nothing."""
    require_tenant("processing a webhook")
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("store").get(pk=delivery_id)
        if delivery.status in (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED):
            return delivery
        delivery.attempts += 1
        store = delivery.store
        actor = Actor.system(f"webhook:{store.platform}")
        try:
            payload = json.loads(bytes(delivery.raw_body))
            parsed = Delivery(topic=delivery.topic, delivery_id=delivery.delivery_id, payload=payload)
            if delivery.topic in LIFECYCLE_TOPICS:
                store_uninstalled(store=store, actor=actor)
                delivery.status = WebhookDelivery.Status.PROCESSED
            elif delivery.topic in PRIVACY_TOPICS:
                privacy.privacy_request(
                    store=store, topic=delivery.topic, payload=payload, delivery_id=delivery.pk
                )
                delivery.status = WebhookDelivery.Status.PROCESSED
            else:
                records = adapter_for(store).records_of(parsed) if store.accepts_orders else []
                _write(store, records, actor)
                delivery.status = (
                    WebhookDelivery.Status.PROCESSED if records else WebhookDelivery.Status.IGNORED
                )
            delivery.error = ""
            delivery.processed_at = timezone.now()
        except (ValueError, KeyError, TypeError, StoresError, PlatformError) as exc:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
            logger.warning("webhook failed", extra={"delivery_id": delivery.pk, "topic": delivery.topic})
        if delivery.topic == "shop/redact" and delivery.status == WebhookDelivery.Status.PROCESSED:
            return delivery  # the store's rows are gone, this delivery with them
        delivery.save(update_fields=["status", "attempts", "error", "processed_at"])
    return delivery


def webhook_replay(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """An Admin runs a failed delivery again (it is queued like a new one)."""
    schema = require_tenant("replaying a webhook")
    if delivery.status != WebhookDelivery.Status.FAILED:
        raise StoresError(ErrorCode.VALIDATION, "Only a failed delivery is replayed.")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.RECEIVED, error="")
    transaction.on_commit(lambda: webhooks_wake(schema))  # the drain processes it, like a new one
    delivery.refresh_from_db()
    logger.info("webhook replay requested", extra={"delivery_id": delivery.pk, "actor": actor.label})
    return delivery


@transaction.atomic
def store_uninstalled(*, store: StoreConnection, actor: Actor) -> StoreConnection:
    """The platform removed our app: credentials are dropped, syncs stop; data stays (billing)."""
    store = StoreConnection.objects.select_for_update().get(pk=store.pk)
    before = store_audit_state(store)
    store.status = StoreConnection.Status.UNINSTALLED
    store.credentials = ""
    store.token_expires_at = None
    store.save(update_fields=["status", "credentials", "token_expires_at"])
    route_uninstalled(platform=store.platform, key=store.shop_domain)
    after = store_audit_state(store)
    if after != before:  # a repeated uninstall changes nothing
        store_audit(store=store, actor=actor, action="store.uninstall", before=before, after=after)
    logger.info("store uninstalled", extra={"store_id": store.pk, "actor": actor.label})
    return store
