"""The baseline rule (services/baseline.py), to the cent: a hand-computed store, and a generated one
checked against an independent reading of the rule over the generator's own records."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores import services
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.models import Baseline, StoreConnection
from apps.stores.services.baseline import baseline_compute, baseline_monthly_average, period_of

CONNECTED = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def order(pid: str, placed: str, total: str, customer: str | None, **extra) -> services.OrderInput:
    return services.OrderInput(
        platform_id=pid,
        placed_at=at(placed),
        total=Decimal(total),
        customer=services.CustomerInput(platform_id=customer) if customer else None,
        **extra,
    )


@pytest.fixture
def store(tenants):
    with schema_context(tenants.a.schema):
        store = services.store_create(name="Golden", currency="EUR", actor=Actor.system("tests"))
        StoreConnection.objects.filter(pk=store.pk).update(connected_at=CONNECTED)
        store.refresh_from_db()
        yield store


def test_a_hand_computed_store(store):
    refund = services.RefundInput
    services.orders_upsert(
        store=store,
        actor=Actor.system("tests"),
        orders=[
            order("before", "2025-03-15T09:59:59", "999.00", "c9"),  # before the period: not counted
            order("o1", "2025-03-15T10:00:00", "100.00", "c1"),  # the period's first instant: counted
            order("o2", "2025-04-02T12:00:00", "50.50", "c1"),
            order(
                "o3",
                "2025-06-30T23:59:59",
                "80.00",
                "c2",
                refunds=(refund("r1", Decimal("30.00"), at("2025-07-03T00:00:00")),),
            ),
            order(  # refunded after the connection: that refund belongs to the KIKI period
                "o4",
                "2026-03-01T08:00:00",
                "40.00",
                None,
                refunds=(refund("r2", Decimal("40.00"), at("2026-03-20T00:00:00")),),
            ),
            order("o5", "2025-12-24T18:00:00", "60.00", "c3", cancelled_at=at("2025-12-25T09:00:00")),
            order(
                "o6", "2026-01-10T11:00:00", "19.99", "c3", total_refunded=Decimal("4.99")
            ),  # no refund records
            order("after", "2026-03-15T10:00:00", "555.00", "c1"),  # the connection instant: after
        ],
    )
    b = baseline_compute(store=store, actor=Actor.system("tests"))
    assert (b.period_start, b.period_end) == (at("2025-03-15T10:00:00"), CONNECTED)
    # gross 100 + 50.50 + 80 + 40 + 19.99 = 290.49; refunds 30 + 4.99 = 34.99 (r2 is after the end)
    assert (b.orders, b.cancelled_orders) == (5, 1)
    assert b.gross_revenue == Decimal("290.49")
    assert b.refunds == Decimal("34.99")
    assert b.revenue == Decimal("255.50")
    assert b.average_order_value == Decimal("51.10")
    assert (b.unique_customers, b.repeat_customers) == (3, 1)  # c1 (o1, o2), c2 (o3), c3 (o6); o4 a guest
    assert b.repeat_customer_rate == Decimal("0.3333")
    assert b.currency == "EUR"
    months = {m["month"]: m for m in b.monthly}
    assert set(months) == {"2025-03", "2025-04", "2025-06", "2025-12", "2026-01", "2026-03"}
    assert months["2025-06"]["revenue"] == "50.00"
    assert (months["2025-12"]["orders"], months["2025-12"]["cancelled_orders"]) == (0, 1)
    assert months["2025-12"]["revenue"] == "0.00"
    assert months["2026-01"]["revenue"] == "15.00"  # 19.99 − 4.99
    assert months["2026-03"]["refunds"] == "0.00"
    assert baseline_monthly_average(store=store) == Decimal("21.29")  # 255.50 / 12, half-up


def test_recomputing_keeps_one_current_baseline(store):
    services.orders_upsert(
        store=store, actor=Actor.system("tests"), orders=[order("o1", "2025-05-01T00:00:00", "10.00", "c1")]
    )
    first = baseline_compute(store=store, actor=Actor.system("tests"))
    second = baseline_compute(store=store, actor=Actor.system("tests"))
    assert Baseline.objects.filter(store=store, is_current=True).get() == second
    assert Baseline.objects.get(pk=first.pk).is_current is False


def test_a_leap_day_connection_has_a_twelve_month_period(store):
    store.connected_at = at("2028-02-29T12:00:00")
    assert period_of(store) == (at("2027-02-28T12:00:00"), at("2028-02-29T12:00:00"))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.mark.parametrize("seed", [5, 6])
def test_a_generated_store_against_an_independent_reading_of_the_rule(store, seed):
    """Orders synced from a generated store (items, refunds before and after the connection,
    cancellations, guests); the expected figures are computed here from the generator's records."""
    fake = FakeStore.generate(
        orders=900, customers=150, products=8, seed=seed, end=CONNECTED + timedelta(days=40), currency="EUR"
    )
    from apps.stores.integrations.shopify.adapter import order_from_graphql
    from apps.stores.integrations.shopify.fake import FakeShopify

    records = [order_from_graphql(FakeShopify._order(fake, o)) for o in fake.orders]
    for start in range(0, len(records), 1000):
        services.orders_upsert(store=store, orders=records[start : start + 1000], actor=Actor.system("tests"))
    b = baseline_compute(store=store, actor=Actor.system("tests"))
    start, end = b.period_start, b.period_end
    gross = refunds = Decimal("0")
    counted = 0
    cancelled = 0
    per_customer: dict[int, int] = defaultdict(int)
    monthly: dict[str, Decimal] = defaultdict(Decimal)
    for o in fake.orders:
        if not start <= o.created_at < end:
            continue
        if o.cancelled_at is not None:
            cancelled += 1
            continue
        counted += 1
        refunded = sum((r.amount for r in o.refunds if r.created_at < end), Decimal("0"))
        gross += o.total
        refunds += min(refunded, o.total)
        monthly[o.created_at.strftime("%Y-%m")] += o.total - min(refunded, o.total)
        if o.customer_id is not None:
            per_customer[o.customer_id] += 1
    assert counted > 300
    assert refunds > 0
    assert (b.orders, b.cancelled_orders) == (counted, cancelled)
    assert b.gross_revenue == _cents(gross)
    assert b.refunds == _cents(refunds)
    assert b.revenue == _cents(gross - refunds)
    assert b.average_order_value == _cents((gross - refunds) / counted)
    assert b.unique_customers == len(per_customer)
    assert b.repeat_customers == sum(1 for n in per_customer.values() if n >= 2)
    assert {m["month"]: Decimal(m["revenue"]) for m in b.monthly} == {
        k: _cents(v) for k, v in monthly.items()
    }
