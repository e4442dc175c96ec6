"""Non-trivial reads of the stores app, as plain values for other apps (bidding's LTV, the inventory
breaker's stock checks)."""

from __future__ import annotations

from array import array
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.db.models.functions import TruncDate

from apps.core.redis import get_redis
from apps.core.tenant_context import require_tenant
from apps.stores.models import Customer, Order, Product, StoreConnection, Variant


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


def product_in_stock(*, store_id: int, product_platform_id: str) -> bool:
    """Whether the product has stock: any of its non-deleted variants in stock (a variant whose
    inventory is not tracked counts as in stock). An unknown product has none."""
    require_tenant("reading stock")
    return Variant.objects.filter(
        store_id=store_id, product__platform_id=product_platform_id, deleted=False, in_stock=True
    ).exists()


def products_without_stock(*, products: Collection[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of the given (store id, product platform id) pairs, the products this workspace holds that
    have no stock (``product_in_stock`` false), in one query. Unknown products are not in the answer."""
    require_tenant("reading stock")
    wanted = set(products)
    if not wanted:
        return set()
    by_store: dict[int, list[str]] = {}
    for store_id, platform_id in wanted:
        by_store.setdefault(int(store_id), []).append(str(platform_id))
    query = Q()
    for store_id, platform_ids in by_store.items():
        query |= Q(store_id=store_id, platform_id__in=platform_ids)
    stocked = Variant.objects.filter(product=OuterRef("pk"), deleted=False, in_stock=True)
    rows = (
        Product.objects.filter(query)
        .annotate(stocked=Exists(stocked))
        .filter(stocked=False)
        .values_list("store_id", "platform_id")
    )
    return {(int(s), str(p)) for s, p in rows}


def store_exists(
    *, name: str | None = None, platform: str | None = None, shop_domain: str | None = None
) -> bool:
    require_tenant("reading stores")
    given = {"name": name, "platform": platform, "shop_domain": shop_domain}
    return StoreConnection.objects.filter(**{k: v for k, v in given.items() if v is not None}).exists()


def existing_store_ids(*, store_ids: Collection[int]) -> set[int]:
    """Which of ``store_ids`` name a store of this workspace (one query)."""
    require_tenant("reading stores")
    wanted = {int(i) for i in store_ids}
    if not wanted:
        return set()
    return set(StoreConnection.objects.filter(pk__in=wanted).values_list("pk", flat=True))


def products_in_stock(*, limit: int) -> list[tuple[int, str]]:
    """(store id, product platform id) of up to ``limit`` products of this workspace that are not
    deleted and have stock (``product_in_stock``), oldest first: what a campaign can promote."""
    require_tenant("reading products")
    stocked = Variant.objects.filter(product=OuterRef("pk"), deleted=False, in_stock=True)
    rows = (
        Product.objects.filter(deleted=False)
        .filter(Exists(stocked))
        .order_by("pk")
        .values_list("store_id", "platform_id")[: max(0, limit)]
    )
    return [(int(s), str(p)) for s, p in rows]


@dataclass(frozen=True)
class CustomerLtvArrays:
    """Every customer's stored prediction as aligned numpy arrays, sorted by customer id, for the
    bidder's vectorised path. Money in micros of the store's currency; ``version`` is the change
    counter read before the arrays (see ``customer_ltv_version``)."""

    customer_ids: Any  # NDArray[int64], sorted ascending
    ltv_micros: Any  # NDArray[int64]
    low_micros: Any  # NDArray[int64]
    high_micros: Any  # NDArray[int64]
    store_ids: Any  # NDArray[int64]
    model_versions: tuple[str, ...]  # distinct versions
    version_index: Any  # NDArray[int16], index into model_versions
    version: int


def _ltv_version_key() -> str:
    return f"kiki:{require_tenant('reading customers')}:stores:customer-ltv-version"


def customer_ltv_version() -> int:
    """A counter bumped after every commit that changes stored predictions (scoring, redaction)."""
    require_tenant("reading customers")
    return int(get_redis().get(_ltv_version_key()) or 0)


def customer_ltv_bump() -> None:
    """Called by stores' services after such a commit (not for other apps)."""
    get_redis().incr(_ltv_version_key())


def customer_ltv_arrays() -> CustomerLtvArrays:
    """One query, streamed into arrays (a million customers ≈ 40 MB)."""
    import numpy as np

    require_tenant("reading customers")
    version = customer_ltv_version()
    versions: dict[str, int] = {}
    ids, mid, low, high, store, vidx = (array("q") for _ in range(6))
    table = Customer._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id, round(predicted_ltv * 1000000)::bigint, round(predicted_ltv_low * 1000000)::bigint, "  # noqa: S608
            f"round(predicted_ltv_high * 1000000)::bigint, store_id, ltv_model_version FROM {table} "
            "WHERE predicted_ltv IS NOT NULL ORDER BY id"
        )
        while rows := cur.fetchmany(20_000):
            for pk, m, lo, hi, sid, ver in rows:
                ids.append(pk)
                mid.append(m)
                low.append(lo)
                high.append(hi)
                store.append(sid)
                vidx.append(versions.setdefault(ver, len(versions)))
    return CustomerLtvArrays(
        customer_ids=np.frombuffer(ids, dtype=np.int64),
        ltv_micros=np.frombuffer(mid, dtype=np.int64),
        low_micros=np.frombuffer(low, dtype=np.int64),
        high_micros=np.frombuffer(high, dtype=np.int64),
        store_ids=np.frombuffer(store, dtype=np.int64),
        model_versions=tuple(versions),
        version_index=np.frombuffer(vidx, dtype=np.int64).astype(np.int16),
        version=version,
    )
