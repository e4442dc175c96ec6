"""The only code that writes stores rows: stores, the bulk order upsert (with its customers and their
aggregates) and the customers' stored LTV.

Other apps learn about changed purchase histories from ``customers_orders_changed`` (sent after the
upsert's transaction commits) instead of importing anything else of this app.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.models import ZERO, Customer, Order, StoreConnection

logger = logging.getLogger(__name__)

MAX_ORDERS_PER_CALL = 1000
FUTURE_SKEW = timedelta(hours=1)  # clock skew tolerated on placed_at / cancelled_at
CENT = Decimal("0.01")

# Sent after commit with ``schema`` (str) and ``customer_ids`` (sorted list[int]): the customers whose
# purchase history (orders, dates, net values, cancellations) changed in that transaction.
customers_orders_changed = Signal()


# --- stores -------------------------------------------------------------------------------------
def store_create(
    *,
    name: str,
    currency: str,
    actor: str,
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
            return StoreConnection.objects.create(
                platform=platform, name=name, currency=currency, shop_domain=shop_domain.strip().lower()
            )
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
class OrderInput:
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
    total_refunded: Decimal = ZERO
    financial_status: str = Order.FinancialStatus.PAID
    fulfillment_status: str = Order.FulfillmentStatus.UNFULFILLED
    customer: CustomerInput | None = None


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    unchanged: int
    customers_created: int
    changed_customer_ids: tuple[int, ...]  # purchase history changed (what LTV re-scores)


# Order fields whose change alters a customer's purchase history.
_HISTORY_FIELDS = {"customer", "placed_at", "cancelled_at", "total", "total_refunded"}
_MONEY_FIELDS = ("subtotal", "tax", "shipping", "discount", "total", "total_refunded")


def orders_validate(*, store: StoreConnection, orders: Sequence[OrderInput]) -> None:
    """Raise ``StoresError`` (details ``{"orders": {index: {field: [reasons]}}}``) for input that
    ``orders_upsert`` would refuse; writes nothing. Forms call it to show errors before saving."""
    if store.status != StoreConnection.Status.ACTIVE:
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

    for i, o in enumerate(orders):
        if not o.platform_id.strip():
            bad(i, "platform_id", "Required.")
        elif o.platform_id in seen:
            bad(i, "platform_id", f"Duplicate of item {seen[o.platform_id]} in this request.")
        seen.setdefault(o.platform_id, i)
        for name, value in (("placed_at", o.placed_at), ("cancelled_at", o.cancelled_at)):
            if value is None:
                continue
            if timezone.is_naive(value):
                bad(i, name, "Needs a time zone (e.g. 2024-05-01T10:00:00Z).")
            elif value > latest:
                bad(i, name, "Cannot be in the future.")
        if (
            o.cancelled_at is not None
            and timezone.is_aware(o.cancelled_at)
            and timezone.is_aware(o.placed_at)
            and o.cancelled_at < o.placed_at
        ):
            bad(i, "cancelled_at", "Cannot be before placed_at.")
        for name in _MONEY_FIELDS:
            value = getattr(o, name)
            if value < 0:
                bad(i, name, "Cannot be negative.")
            elif value != value.quantize(CENT):
                bad(i, name, "At most 2 decimal places.")
        if o.total_refunded > o.total:
            bad(i, "total_refunded", "Cannot exceed total.")
        if o.currency is not None and o.currency.upper() != store.currency:
            bad(
                i,
                "currency",
                f"Orders of this store are in {store.currency}; convert amounts before sending.",
            )
        if o.financial_status not in Order.FinancialStatus.values:
            bad(i, "financial_status", f"One of {', '.join(Order.FinancialStatus.values)}.")
        if o.fulfillment_status not in Order.FulfillmentStatus.values:
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
) -> tuple[dict[str, Customer], int]:
    """The customers the orders name, created when new, locked, with their profile fields updated
    (for a customer named by several orders, the most recently placed order's values win)."""
    profiles: dict[str, CustomerInput] = {}
    named = sorted(((o.placed_at, o.customer) for o in orders if o.customer is not None), key=lambda p: p[0])
    for _, given in named:
        earlier = profiles.get(given.platform_id)
        profiles[given.platform_id] = given if earlier is None else replace(earlier, **given.provided())
    if not profiles:
        return {}, 0
    locked = Customer.objects.select_for_update().filter(store=store).order_by("pk")
    found = {c.platform_id: c for c in locked.filter(platform_id__in=list(profiles))}
    missing = sorted(set(profiles) - set(found))  # one insert order everywhere: no deadlock between callers
    if missing:
        Customer.objects.bulk_create(
            [Customer(store=store, platform_id=pid, **profiles[pid].provided()) for pid in missing],
            ignore_conflicts=True,  # a concurrent upsert created it: we lock and use that row
        )
        found.update({c.platform_id: c for c in locked.filter(platform_id__in=missing)})
    changed = []
    for pid, profile in profiles.items():
        customer = found[pid]
        diff = {f: v for f, v in profile.provided().items() if getattr(customer, f) != v}
        if diff and pid not in missing:
            for f, v in diff.items():
                setattr(customer, f, v)
            customer.updated_at = now
            changed.append(customer)
    if changed:
        Customer.objects.bulk_update(changed, [*CustomerInput.PROFILE_FIELDS, "updated_at"], batch_size=500)
    return found, len(missing)


@dataclass
class _Aggregates:
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    orders_count: int = 0
    total_spent: Decimal = ZERO
    first_order_value: Decimal = ZERO

    FIELDS = ("first_order_at", "last_order_at", "orders_count", "total_spent", "first_order_value")


def _customers_refresh_aggregates(customer_ids: Collection[int], now: datetime) -> None:
    """Recompute the order aggregates of these customers from their orders (one read, one write)."""
    if not customer_ids:
        return
    aggregates = {pk: _Aggregates() for pk in customer_ids}
    rows = (
        Order.objects.filter(customer_id__in=list(customer_ids), cancelled_at__isnull=True)
        .order_by("customer_id", "placed_at", "pk")
        .values_list("customer_id", "placed_at", "total", "total_refunded")
    )
    for customer_id, placed_at, total, refunded in rows:
        agg = aggregates[customer_id]
        net = total - refunded
        if agg.first_order_at is None:
            agg.first_order_at = placed_at
        if placed_at.astimezone(UTC).date() == agg.first_order_at.astimezone(UTC).date():
            agg.first_order_value += net  # same-day purchases are one purchase for the model
        agg.last_order_at = placed_at
        agg.orders_count += 1
        agg.total_spent += net
    customers = Customer.objects.select_for_update().filter(pk__in=list(customer_ids)).order_by("pk")
    changed = []
    for customer in customers.only("pk", *_Aggregates.FIELDS):
        agg = aggregates[customer.pk]
        if any(getattr(customer, f) != getattr(agg, f) for f in _Aggregates.FIELDS):
            for f in _Aggregates.FIELDS:
                setattr(customer, f, getattr(agg, f))
            customer.updated_at = now
            changed.append(customer)
    if changed:
        Customer.objects.bulk_update(changed, [*_Aggregates.FIELDS, "updated_at"], batch_size=500)


@transaction.atomic
def orders_upsert(*, store: StoreConnection, orders: Sequence[OrderInput], actor: str) -> UpsertResult:
    """Insert or update orders by (store, platform_id), with their customers, in one transaction.

    An identical re-send changes nothing (no row is written); a changed order (refund, cancellation,
    new customer data) is updated in place; customers' aggregates are recomputed from their orders.
    Bad input raises ``StoresError`` naming the item and field, before anything is written.
    After commit, ``customers_orders_changed`` names the customers whose purchase history changed.
    """
    schema = require_tenant("upserting orders")
    orders_validate(store=store, orders=orders)
    now = timezone.now()
    customers, customers_created = _customers_lock_or_create(store, orders, now)
    existing = {
        o.platform_id: o
        for o in Order.objects.select_for_update()
        .filter(store=store, platform_id__in=[o.platform_id for o in orders])
        .order_by("pk")
    }
    new: list[Order] = []
    changed: list[Order] = []
    touched: set[int] = set()
    for o in sorted(orders, key=lambda o: o.platform_id):
        customer = customers[o.customer.platform_id] if o.customer is not None else None
        values: dict[str, Any] = {
            "number": o.number,
            "customer": customer,
            "placed_at": o.placed_at,
            "cancelled_at": o.cancelled_at,
            "currency": store.currency,
            **{name: getattr(o, name) for name in _MONEY_FIELDS},
            "financial_status": o.financial_status,
            "fulfillment_status": o.fulfillment_status,
        }
        row = existing.get(o.platform_id)
        if row is None:
            new.append(Order(store=store, platform_id=o.platform_id, **values))
            if customer is not None:
                touched.add(customer.pk)
            continue
        diff = []
        for name, value in values.items():
            current = row.customer_id if name == "customer" else getattr(row, name)
            wanted = value.pk if name == "customer" and value is not None else value
            if current != wanted:
                diff.append(name)
        if not diff:
            continue
        if _HISTORY_FIELDS.intersection(diff):
            touched.update(pk for pk in (row.customer_id, customer.pk if customer else None) if pk)
        for name in diff:
            setattr(row, name, values[name])
        row.updated_at = now
        changed.append(row)
    try:
        with transaction.atomic():
            Order.objects.bulk_create(new, batch_size=500)
    except IntegrityError as exc:
        raise StoresError(
            ErrorCode.CONFLICT,
            "Another request stored some of these orders at the same time; send the batch again.",
        ) from exc
    if changed:
        Order.objects.bulk_update(changed, [*Order.UPSERT_FIELDS, "updated_at"], batch_size=500)
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
            "orders_created": len(new),
            "orders_updated": len(changed),
            "customers_changed": len(changed_ids),
        },
    )
    return UpsertResult(
        created=len(new),
        updated=len(changed),
        unchanged=len(orders) - len(new) - len(changed),
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
    *, predictions: Sequence[LtvValues], scored_at: datetime, actor: str, batch_size: int = 1000
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
    return written
