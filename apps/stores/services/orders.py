"""The only code that writes stores rows: stores, the bulk order upsert (with its customers and their
aggregates) and the customers' stored LTV.

Other apps learn about changed purchase histories from ``customers_orders_changed`` (sent after the
upsert's transaction commits) instead of importing anything else of this app.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import IntegrityError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.money import has_whole_cents
from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.models import ZERO, Customer, Order, OrderItem, Product, Refund, StoreConnection, Variant
from apps.stores.selectors import customer_ltv_bump
from apps.stores.services._audit import store_audit, store_audit_state
from apps.stores.services._sql import (
    bound_cursor,
    delete_unlisted,
    ids_by_platform_id,
    model_defaults,
    rows_by_platform_id,
    upsert,
)

logger = logging.getLogger(__name__)

MAX_ORDERS_PER_CALL = 1000
FUTURE_SKEW = timedelta(hours=1)  # clock skew tolerated on placed_at / cancelled_at

# Sent after commit with ``schema`` (str) and ``customer_ids`` (sorted list[int]): the customers whose
# purchase history (orders, dates, net values, cancellations) changed in that transaction.
customers_orders_changed = Signal()
# Sent after commit with ``schema`` and ``store_id`` when a store's initial sync is done: a new purchase
# history arrived at once (bidding trains an LTV model on it when the workspace has none).
store_connected = Signal()


# --- stores -------------------------------------------------------------------------------------
def store_create(
    *,
    name: str,
    currency: str,
    actor: Actor,
    platform: str = StoreConnection.Platform.MANUAL,
    shop_domain: str = "",
) -> StoreConnection:
    require_tenant("creating a store")
    errors: dict[str, list[str]] = {}
    name = name.strip()
    currency = currency.strip().upper()
    if not name:
        errors["name"] = ["Name the store."]
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        errors["currency"] = ["An ISO 4217 code, e.g. USD."]
    if platform not in StoreConnection.Platform.values:
        errors["platform"] = [f"One of {', '.join(StoreConnection.Platform.values)}."]
    if errors:
        raise StoresError(ErrorCode.VALIDATION, "The store has invalid fields.", details=errors)
    try:
        with transaction.atomic():
            store = StoreConnection.objects.create(
                platform=platform, name=name, currency=currency, shop_domain=shop_domain.strip().lower()
            )
            store_audit(
                store=store, actor=actor, action="store.create", before=None, after=store_audit_state(store)
            )
            return store
    except IntegrityError as exc:
        raise StoresError(
            ErrorCode.CONFLICT,
            "This shop is already connected.",
            details={"shop_domain": ["Already connected for this platform."]},
        ) from exc


# --- orders -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerInput:
    """The customer an order names. ``None`` = not sent: the stored value is kept."""

    platform_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    accepts_marketing: bool | None = None
    acquisition_source: str | None = None

    PROFILE_FIELDS = ("email", "first_name", "last_name", "accepts_marketing", "acquisition_source")

    def provided(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.PROFILE_FIELDS if getattr(self, f) is not None}


@dataclass(frozen=True)
class OrderItemInput:
    platform_id: str
    quantity: int = 1
    price: Decimal = ZERO  # unit price
    discount: Decimal = ZERO  # on the whole line
    sku: str = ""
    title: str = ""
    product_platform_id: str = ""
    variant_platform_id: str = ""


@dataclass(frozen=True)
class RefundInput:
    platform_id: str
    amount: Decimal
    refunded_at: datetime


@dataclass(frozen=True)
class OrderInput:
    """An order as its platform (or an integrator) reports it.

    ``items``/``refunds``: ``None`` = not sent (the stored ones are kept); a tuple = the complete list.
    With refunds and no ``total_refunded``, the total refunded is their sum. Blank UTM fields and
    click ids are read from ``landing_site``'s query string (``attribution_from_url``)."""

    platform_id: str
    placed_at: datetime
    total: Decimal
    number: str = ""
    cancelled_at: datetime | None = None
    currency: str | None = None  # None: the store's currency
    subtotal: Decimal = ZERO
    tax: Decimal = ZERO
    shipping: Decimal = ZERO
    discount: Decimal = ZERO
    total_refunded: Decimal | None = None  # None: the sum of ``refunds``, else 0
    financial_status: str = Order.FinancialStatus.PAID
    fulfillment_status: str = Order.FulfillmentStatus.UNFULFILLED
    customer: CustomerInput | None = None
    processed_at: datetime | None = None
    platform_updated_at: datetime | None = None
    landing_site: str = ""
    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    gclid: str = ""
    fbclid: str = ""
    ttclid: str = ""
    items: tuple[OrderItemInput, ...] | None = None
    refunds: tuple[RefundInput, ...] | None = None

    @property
    def refunded(self) -> Decimal:
        if self.total_refunded is not None:
            return self.total_refunded
        return sum((r.amount for r in self.refunds or ()), ZERO)


def attribution_from_url(url: str) -> dict[str, str]:
    """UTM parameters and click ids (``gclid``, ``fbclid``, ``ttclid``) in a landing URL's query."""
    query = parse_qs(urlsplit(url).query) if url else {}
    return {
        name: query[name][0][: 200 if name.startswith("utm_") else 300]
        for name in _ATTRIBUTION_KEYS
        if query.get(name)
    }


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    unchanged: int
    customers_created: int
    changed_customer_ids: tuple[int, ...]  # purchase history changed (what LTV re-scores)


# Order fields whose change alters a customer's purchase history.
_HISTORY_FIELDS = ("customer", "placed_at", "cancelled_at", "total", "total_refunded")
_MONEY_FIELDS = ("subtotal", "tax", "shipping", "discount", "total")
_ATTRIBUTION_KEYS = Order.URL_ATTRIBUTION_FIELDS


_FINANCIAL_STATUSES = frozenset(Order.FinancialStatus.values)
_FULFILLMENT_STATUSES = frozenset(Order.FulfillmentStatus.values)


def orders_validate(*, store: StoreConnection, orders: Sequence[OrderInput]) -> None:
    """Raise ``StoresError`` (details ``{"orders": {index: {field: [reasons]}}}``) for input that
    ``orders_upsert`` would refuse; writes nothing. Forms call it to show errors before saving."""
    if not store.accepts_orders:
        raise StoresError(
            ErrorCode.VALIDATION,
            f"Store {store.pk} is {store.status}; reconnect it before sending orders.",
            details={"store": [f"Store is {store.status}."]},
        )
    if len(orders) > MAX_ORDERS_PER_CALL:
        raise StoresError(
            ErrorCode.VALIDATION,
            f"At most {MAX_ORDERS_PER_CALL} orders per call.",
            details={"orders": [f"Send at most {MAX_ORDERS_PER_CALL} orders per request."]},
        )
    latest = timezone.now() + FUTURE_SKEW
    problems: dict[str, dict[str, list[str]]] = {}
    seen: dict[str, int] = {}

    def bad(i: int, field: str, message: str) -> None:
        problems.setdefault(str(i), {}).setdefault(field, []).append(message)

    def money(i: int, field: str, value: Decimal) -> None:
        if value < 0:
            bad(i, field, "Cannot be negative.")
        elif not has_whole_cents(value):
            bad(i, field, "At most 2 decimal places.")

    def moment(i: int, field: str, value: datetime | None) -> bool:
        if value is None:
            return True
        if timezone.is_naive(value):
            bad(i, field, "Needs a time zone (e.g. 2024-05-01T10:00:00Z).")
            return False
        if value > latest:
            bad(i, field, "Cannot be in the future.")
        return True

    for i, o in enumerate(orders):
        if not o.platform_id.strip():
            bad(i, "platform_id", "Required.")
        elif o.platform_id in seen:
            bad(i, "platform_id", f"Duplicate of item {seen[o.platform_id]} in this request.")
        seen.setdefault(o.platform_id, i)
        aware = all(
            moment(i, name, getattr(o, name)) for name in ("placed_at", "cancelled_at", "processed_at")
        )
        moment(i, "platform_updated_at", o.platform_updated_at)
        if aware and o.cancelled_at is not None and o.cancelled_at < o.placed_at:
            bad(i, "cancelled_at", "Cannot be before placed_at.")
        for name in _MONEY_FIELDS:
            money(i, name, getattr(o, name))
        refunded = o.refunded
        money(i, "total_refunded", refunded)
        if refunded > o.total:
            bad(i, "total_refunded", "Cannot exceed total.")
        if o.refunds is not None:
            listed = sum((r.amount for r in o.refunds), ZERO)
            if o.total_refunded is not None and listed != o.total_refunded:
                bad(i, "refunds", f"They add up to {listed}, not total_refunded {o.total_refunded}.")
            ids: set[str] = set()
            for r in o.refunds:
                money(i, "refunds", r.amount)
                if not r.platform_id.strip() or r.platform_id in ids:
                    bad(i, "refunds", "Each refund needs its own platform_id.")
                ids.add(r.platform_id)
                if moment(i, "refunds", r.refunded_at) and aware and r.refunded_at < o.placed_at:
                    bad(i, "refunds", "A refund cannot be before the order.")
        if o.items is not None:
            ids = set()
            for item in o.items:
                money(i, "items", item.price)
                money(i, "items", item.discount)
                if item.quantity < 0:
                    bad(i, "items", "A quantity cannot be negative.")
                if not item.platform_id.strip() or item.platform_id in ids:
                    bad(i, "items", "Each line item needs its own platform_id.")
                ids.add(item.platform_id)
        if o.currency is not None and o.currency.upper() != store.currency:
            bad(
                i,
                "currency",
                f"Orders of this store are in {store.currency}; convert amounts before sending.",
            )
        if o.financial_status not in _FINANCIAL_STATUSES:
            bad(i, "financial_status", f"One of {', '.join(Order.FinancialStatus.values)}.")
        if o.fulfillment_status not in _FULFILLMENT_STATUSES:
            bad(i, "fulfillment_status", f"One of {', '.join(Order.FulfillmentStatus.values)}.")
        if o.customer is not None and not o.customer.platform_id.strip():
            bad(i, "customer", "A customer needs a platform_id.")
    if problems:
        first = next(iter(problems))
        field = next(iter(problems[first]))
        raise StoresError(
            ErrorCode.VALIDATION,
            f"Order item {first} ({field}): {problems[first][field][0]} Nothing was stored.",
            details={"orders": problems},
        )


def _customers_lock_or_create(
    store: StoreConnection, orders: Sequence[OrderInput], now: datetime
) -> tuple[dict[str, int], int]:
    """The customers the orders name (for a customer named by several orders, the most recently
    placed order's values win)."""
    named = sorted(((o.placed_at, o.customer) for o in orders if o.customer is not None), key=lambda p: p[0])
    return _customers_write(store, [given for _, given in named], now)


def _customers_write(
    store: StoreConnection, given: Sequence[CustomerInput], now: datetime
) -> tuple[dict[str, int], int]:
    """Customers created when new, with their profile fields updated where they differ (later values
    win; a field not sent keeps its stored value), in set-based upserts that lock every named row in
    ``platform_id`` order. Returns (platform_id → id, how many were created)."""
    profiles: dict[str, CustomerInput] = {}
    for one in given:
        earlier = profiles.get(one.platform_id)
        profiles[one.platform_id] = one if earlier is None else replace(earlier, **one.provided())
    if not profiles:
        return {}, 0
    groups: dict[tuple[str, ...], list[str]] = {}  # customers sending the same fields: one statement
    for pid in sorted(profiles):
        groups.setdefault(tuple(profiles[pid].provided()), []).append(pid)
    if len(groups) > 1:  # several statements: lock them all first, in one order, as a single one would
        list(
            Customer.objects.select_for_update()
            .filter(store=store, platform_id__in=list(profiles))
            .order_by("platform_id")
            .values_list("pk", flat=True)
        )
    defaults = {**model_defaults(Customer, now), "store": store.pk}
    created = 0
    for fields_, pids in groups.items():
        rows = [{**defaults, "platform_id": pid, **profiles[pid].provided()} for pid in pids]
        written = upsert(
            Customer, rows, conflict=("store", "platform_id"), compare=fields_, also_set=("updated_at",)
        )
        created += sum(w.inserted for w in written)
    ids = ids_by_platform_id(Customer, store_pk=store.pk, keys=profiles)
    return ids, created


@transaction.atomic
def customers_upsert(*, store: StoreConnection, customers: Sequence[CustomerInput], actor: Actor) -> int:
    """Customers as the platform lists them (profiles only; their orders bring the aggregates).
    Returns how many were created."""
    require_tenant("upserting customers")
    if any(not c.platform_id.strip() for c in customers):
        raise StoresError(ErrorCode.VALIDATION, "Every customer needs a platform_id.")
    return _customers_write(store, customers, timezone.now())[1]


# A customer's purchase history, one rule for the stored aggregates, LTV training and the bid-time path:
# non-cancelled orders count, at their net value (total − total_refunded); several orders on one UTC
# day are ONE purchase (``purchase_days``; ``first_order_value`` is the first day's net value).
# A customer without an acquisition source takes the first ``utm_source`` seen on its orders (first
# touch); one given by the store or an integrator is never overwritten.
_AGGREGATES_SQL = """
WITH touched(id) AS (SELECT unnest(%(ids)s::bigint[])),
days AS (
    SELECT o.customer_id, o.placed_at, o.total - o.total_refunded AS net,
           (o.placed_at AT TIME ZONE 'UTC')::date AS day,
           min((o.placed_at AT TIME ZONE 'UTC')::date) OVER (PARTITION BY o.customer_id) AS first_day
    FROM {order} o JOIN touched t ON t.id = o.customer_id
    WHERE o.cancelled_at IS NULL
),
first_touch AS (
    SELECT DISTINCT ON (o.customer_id) o.customer_id, o.utm_source
    FROM {order} o JOIN touched t ON t.id = o.customer_id
    WHERE o.utm_source <> ''
    ORDER BY o.customer_id, o.placed_at, o.id
),
agg AS (
    SELECT t.id,
           min(d.placed_at) AS first_order_at,
           max(d.placed_at) AS last_order_at,
           count(d.customer_id) AS orders_count,
           count(DISTINCT d.day) AS purchase_days,
           coalesce(sum(d.net), 0) AS total_spent,
           coalesce(sum(d.net) FILTER (WHERE d.day = d.first_day), 0) AS first_order_value,
           max(f.utm_source) AS first_touch
    FROM touched t LEFT JOIN days d ON d.customer_id = t.id LEFT JOIN first_touch f ON f.customer_id = t.id
    GROUP BY t.id
)
UPDATE {customer} c
SET first_order_at = agg.first_order_at, last_order_at = agg.last_order_at,
    orders_count = agg.orders_count, purchase_days = agg.purchase_days,
    total_spent = agg.total_spent, first_order_value = agg.first_order_value,
    acquisition_source = CASE WHEN c.acquisition_source = '' THEN coalesce(left(agg.first_touch, 100), '')
                              ELSE c.acquisition_source END,
    updated_at = %(now)s
FROM agg
WHERE c.id = agg.id
  AND ((c.first_order_at, c.last_order_at, c.orders_count, c.purchase_days, c.total_spent, c.first_order_value)
      IS DISTINCT FROM
      (agg.first_order_at, agg.last_order_at, agg.orders_count, agg.purchase_days, agg.total_spent,
       agg.first_order_value)
       OR (c.acquisition_source = '' AND coalesce(agg.first_touch, '') <> ''))
"""


def _customers_refresh_aggregates(customer_ids: Collection[int], now: datetime) -> None:
    """Recompute the customers' order aggregates from their orders in one statement (rule above)."""
    if not customer_ids:
        return
    quote = connection.ops.quote_name
    sql = _AGGREGATES_SQL.format(order=quote(Order._meta.db_table), customer=quote(Customer._meta.db_table))
    with bound_cursor() as cursor:
        cursor.execute(sql, {"ids": sorted(customer_ids), "now": now})


def _order_row(store: StoreConnection, o: OrderInput, customer: int | None, now: datetime) -> dict[str, Any]:
    attribution = {
        **attribution_from_url(o.landing_site),
        **{k: getattr(o, k) for k in _ATTRIBUTION_KEYS if getattr(o, k)},
    }
    return {
        "store": store.pk,
        "platform_id": o.platform_id,
        "number": o.number,
        "customer": customer,
        "placed_at": o.placed_at,
        "cancelled_at": o.cancelled_at,
        "currency": store.currency,
        **{name: getattr(o, name) for name in _MONEY_FIELDS},
        "total_refunded": o.refunded,
        "financial_status": o.financial_status,
        "fulfillment_status": o.fulfillment_status,
        "processed_at": o.processed_at,
        "platform_updated_at": o.platform_updated_at,
        "landing_site": o.landing_site[:2000],
        "referrer": o.referrer[:2000],
        **{k: attribution.get(k, "") for k in _ATTRIBUTION_KEYS},
        "created_at": now,
        "updated_at": now,
    }


def _write_children(
    store: StoreConnection, orders: Sequence[OrderInput], order_ids: dict[str, int], existed: set[str]
) -> None:
    """Line items and refunds of the orders that sent them: upserted, and the ones no longer listed
    removed (a list that is sent is the complete list; an order inserted just now has nothing to
    remove, so only the others, ``existed``, are looked at)."""
    with_items = [o for o in orders if o.items is not None]
    with_refunds = [o for o in orders if o.refunds is not None]
    if with_items:
        skus = {i.variant_platform_id for o in with_items for i in o.items or () if i.variant_platform_id}
        products = {i.product_platform_id for o in with_items for i in o.items or () if i.product_platform_id}
        variant_ids = ids_by_platform_id(Variant, store_pk=store.pk, keys=skus)
        product_ids = ids_by_platform_id(Product, store_pk=store.pk, keys=products)
        rows = sorted(
            (
                {
                    "order": order_ids[o.platform_id],
                    "platform_id": i.platform_id,
                    "product": product_ids.get(i.product_platform_id),
                    "variant": variant_ids.get(i.variant_platform_id),
                    "sku": i.sku[:255],
                    "title": i.title[:500],
                    "quantity": i.quantity,
                    "price": i.price,
                    "discount": i.discount,
                }
                for o in with_items
                for i in o.items or ()
            ),
            key=lambda r: (r["order"], r["platform_id"]),
        )
        upsert(OrderItem, rows, conflict=("order", "platform_id"), compare=_ITEM_COMPARE)
        delete_unlisted(
            OrderItem,
            parent="order",
            listed={
                order_ids[o.platform_id]: {i.platform_id for i in o.items or ()}
                for o in with_items
                if o.platform_id in existed
            },
        )
    if with_refunds:
        refund_rows: list[dict[str, Any]] = sorted(
            (
                {
                    "order": order_ids[o.platform_id],
                    "platform_id": r.platform_id,
                    "amount": r.amount,
                    "refunded_at": r.refunded_at,
                }
                for o in with_refunds
                for r in o.refunds or ()
            ),
            key=lambda r: (r["order"], r["platform_id"]),
        )
        upsert(Refund, refund_rows, conflict=("order", "platform_id"), compare=("amount", "refunded_at"))
        delete_unlisted(
            Refund,
            parent="order",
            listed={
                order_ids[o.platform_id]: {r.platform_id for r in o.refunds or ()}
                for o in with_refunds
                if o.platform_id in existed
            },
        )


_ITEM_COMPARE = ("product", "variant", "sku", "title", "quantity", "price", "discount")


@transaction.atomic
def orders_upsert(*, store: StoreConnection, orders: Sequence[OrderInput], actor: Actor) -> UpsertResult:
    """Insert or update orders by (store, platform_id), with their customers, line items and refunds,
    in one transaction: one set-based statement for the orders (``_sql.upsert``), one for the
    customers' aggregates.

    An identical re-send changes nothing (no row is written); a changed order (refund, cancellation,
    new customer data) is updated in place; customers' aggregates are recomputed from their orders.
    Bad input raises ``StoresError`` naming the item and field, before anything is written.
    After commit, ``customers_orders_changed`` names the customers whose purchase history changed.
    """
    schema = require_tenant("upserting orders")
    orders_validate(store=store, orders=orders)
    now = timezone.now()
    customers, customers_created = _customers_lock_or_create(store, orders, now)
    keys = [o.platform_id for o in orders]
    before = rows_by_platform_id(
        Order,
        store_pk=store.pk,
        keys=keys,
        fields=("pk", "customer", "placed_at", "cancelled_at", "total", "total_refunded"),
    )
    rows = sorted(
        (
            _order_row(store, o, customers[o.customer.platform_id] if o.customer is not None else None, now)
            for o in orders
        ),
        key=lambda r: r["platform_id"],
    )
    written = upsert(
        Order,
        rows,
        conflict=("store", "platform_id"),
        compare=tuple(f for f in Order.UPSERT_FIELDS),
        also_set=("updated_at",),
    )
    by_key = {r["platform_id"]: r for r in rows}
    order_ids = {pid: stored[0] for pid, stored in before.items()}
    touched: set[int] = set()
    created = 0
    for w in written:
        platform_id = str(w.key[1])
        order_ids[platform_id] = w.pk
        row = by_key[platform_id]
        if w.inserted:
            created += 1
            if row["customer"] is not None:
                touched.add(row["customer"])
            continue
        old = before[platform_id]
        if tuple(old[1:]) != tuple(row[name] for name in _HISTORY_FIELDS):
            touched.update(pk for pk in (old[1], row["customer"]) if pk)
    inserted = {str(w.key[1]) for w in written if w.inserted}
    _write_children(store, orders, order_ids, existed={o.platform_id for o in orders} - inserted)
    _customers_refresh_aggregates(touched, now)
    changed_ids = tuple(sorted(touched))
    if changed_ids:
        transaction.on_commit(
            lambda: customers_orders_changed.send(sender=Order, schema=schema, customer_ids=list(changed_ids))
        )
    logger.info(
        "orders upserted",
        extra={
            "store_id": store.pk,
            "orders_created": created,
            "orders_updated": len(written) - created,
            "customers_changed": len(changed_ids),
        },
    )
    return UpsertResult(
        created=created,
        updated=len(written) - created,
        unchanged=len(orders) - len(written),
        customers_created=customers_created,
        changed_customer_ids=changed_ids,
    )


# --- stored LTV ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LtvValues:
    """One customer's prediction, as stored. All-None values (``cleared``) remove a prediction, for a
    customer who no longer has a purchase history (e.g. its only order was cancelled)."""

    customer_id: int
    predicted_ltv: Decimal | None
    predicted_ltv_low: Decimal | None
    predicted_ltv_high: Decimal | None
    predicted_purchases: Decimal | None
    ltv_horizon_days: int | None
    ltv_model_version: str
    ltv_fallback: bool
    ltv_state: bytes | None
    ltv_state_as_of: date | None

    @classmethod
    def cleared(cls, customer_id: int) -> LtvValues:
        return cls(customer_id, None, None, None, None, None, "", False, None, None)


_LTV_FIELDS = tuple(f.name for f in fields(LtvValues) if f.name != "customer_id")


def _stored(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def customer_set_ltv(
    *, predictions: Sequence[LtvValues], scored_at: datetime, actor: Actor, batch_size: int = 1000
) -> int:
    """Store predictions in bulk: per batch one read of the stored values and one ``bulk_update`` of
    the customers whose values differ, so the same predictions written twice change nothing (not even
    ``ltv_scored_at``). Unknown customer ids are ignored. Returns the number of customers written."""
    require_tenant("storing LTV predictions")
    for p in predictions:
        if p.predicted_ltv is None:
            continue
        low, mid, high = p.predicted_ltv_low, p.predicted_ltv, p.predicted_ltv_high
        if low is None or high is None or not (0 <= low <= mid <= high):
            raise StoresError(
                ErrorCode.VALIDATION,
                f"Customer {p.customer_id}: the interval must satisfy 0 ≤ low ≤ predicted ≤ high.",
            )
    written = 0
    for start in range(0, len(predictions), batch_size):
        batch = {p.customer_id: p for p in predictions[start : start + batch_size]}
        with transaction.atomic():
            current = Customer.objects.filter(pk__in=list(batch)).only("pk", *_LTV_FIELDS)
            dirty = []
            for customer in current:
                p = batch[customer.pk]
                if all(_stored(getattr(customer, f)) == getattr(p, f) for f in _LTV_FIELDS):
                    continue
                for f in _LTV_FIELDS:
                    setattr(customer, f, getattr(p, f))
                customer.ltv_scored_at = None if p.predicted_ltv is None else scored_at
                dirty.append(customer)
            if dirty:
                written += Customer.objects.bulk_update(dirty, [*_LTV_FIELDS, "ltv_scored_at"])
                transaction.on_commit(customer_ltv_bump)
    return written
