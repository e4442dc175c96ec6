"""Non-trivial reads of the stores app, as plain values for other apps (bidding's LTV)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F
from django.db.models.functions import TruncDate

from apps.core.tenant_context import require_tenant
from apps.stores.models import Customer, Order, StoreConnection


@dataclass(frozen=True)
class PurchaseHistory:
    """One row per non-cancelled order with a customer: customer pk, UTC order date, net value
    (total − total_refunded, in the store's currency), and the customer's acquisition source."""

    customer_ids: tuple[int, ...]
    dates: tuple[date, ...]
    amounts: tuple[Decimal, ...]
    channels: tuple[str, ...] = ()

    @property
    def orders(self) -> int:
        return len(self.customer_ids)

    @property
    def customers(self) -> int:
        return len(set(self.customer_ids))


def purchase_history(*, customer_ids: Collection[int] | None = None) -> PurchaseHistory:
    """The purchase history of all customers, or of the given ones, in ONE query."""
    require_tenant("reading purchase histories")
    orders = Order.objects.filter(customer__isnull=False, cancelled_at__isnull=True)
    if customer_ids is not None:
        orders = orders.filter(customer_id__in=list(customer_ids))
    net = ExpressionWrapper(
        F("total") - F("total_refunded"), output_field=DecimalField(max_digits=14, decimal_places=2)
    )
    rows = list(
        orders.order_by().values_list(
            "customer_id", TruncDate("placed_at", tzinfo=UTC), net, "customer__acquisition_source"
        )
    )
    if not rows:
        return PurchaseHistory((), (), (), ())
    ids, dates, amounts, channels = zip(*rows, strict=True)
    return PurchaseHistory(tuple(ids), tuple(dates), tuple(amounts), tuple(channels))


@dataclass(frozen=True)
class CustomerForScoring:
    """What the serving fast path needs of a stored customer: order aggregates and stored LTV state."""

    id: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    orders_count: int
    purchase_days: int  # several orders on one UTC day are one purchase (the LTV model's rule)
    total_spent: Decimal
    first_order_value: Decimal
    ltv_state: bytes | None
    ltv_state_as_of: date | None
    ltv_model_version: str
    ltv_fallback: bool
    acquisition_source: str = ""


def customers_for_scoring(*, customer_ids: Collection[int]) -> list[CustomerForScoring]:
    """The given customers of this workspace (unknown ids are simply absent), in one query."""
    require_tenant("reading customers")
    rows = (
        Customer.objects.filter(pk__in=list(customer_ids))
        .order_by("pk")
        .values_list(
            "pk",
            "first_order_at",
            "last_order_at",
            "orders_count",
            "purchase_days",
            "total_spent",
            "first_order_value",
            "ltv_state",
            "ltv_state_as_of",
            "ltv_model_version",
            "ltv_fallback",
            "acquisition_source",
        )
    )
    return [
        CustomerForScoring(
            pk,
            first,
            last,
            count,
            days,
            spent,
            first_value,
            bytes(state) if state is not None else None,
            as_of,
            version,
            fallback,
            source,
        )  # fmt: skip
        for pk, first, last, count, days, spent, first_value, state, as_of, version, fallback, source in rows
    ]


def customer_ids_with_ltv() -> list[int]:
    """Customers holding a stored prediction (to clear those left without a purchase history)."""
    require_tenant("reading customers")
    return list(
        Customer.objects.filter(predicted_ltv__isnull=False).order_by("pk").values_list("pk", flat=True)
    )


def store_exists(
    *, name: str | None = None, platform: str | None = None, shop_domain: str | None = None
) -> bool:
    require_tenant("reading stores")
    given = {"name": name, "platform": platform, "shop_domain": shop_domain}
    return StoreConnection.objects.filter(**{k: v for k, v in given.items() if v is not None}).exists()
