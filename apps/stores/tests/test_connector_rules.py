"""Rules the connectors rely on: one same-day rule for stored aggregates and LTV training, attribution
read from landing pages, complete item and refund lists, first-touch acquisition, customers sync."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.bidding import selectors as bidding_selectors
from apps.core.actor import Actor
from apps.stores import selectors, services
from apps.stores.models import Customer, Order, OrderItem, Refund
from apps.stores.tests.factories import StoreFactory
from ml.ltv.data import summarise, to_day


@pytest.fixture
def store(tenants):
    with schema_context(tenants.a.schema):
        yield StoreFactory()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def order(pid: str, placed: str, total: str, customer: str = "c1", **extra) -> services.OrderInput:
    return services.OrderInput(
        platform_id=pid,
        placed_at=at(placed),
        total=Decimal(total),
        customer=services.CustomerInput(platform_id=customer),
        **extra,
    )


@pytest.mark.parametrize(
    "placed",
    [
        # three orders on the first day, two on another, one alone; one cancelled on a third day
        [
            "2025-01-05T08:00:00",
            "2025-01-05T12:00:00",
            "2025-01-05T23:59:59",
            "2025-02-01T10:00:00",
            "2025-02-01T11:00:00",
            "2025-03-09T09:00:00",
        ],
        ["2025-06-01T00:00:00", "2025-06-01T00:00:01"],
        ["2025-06-01T00:00:00"],
    ],
)
def test_stored_aggregates_and_training_count_same_day_orders_alike(store, placed):
    totals = [Decimal(f"{10 + 7 * i}.25") for i in range(len(placed))]
    batch = [order(f"o{i}", p, str(t)) for i, (p, t) in enumerate(zip(placed, totals, strict=True))]
    batch.append(order("gone", "2025-04-01T10:00:00", "99.00", cancelled_at=at("2025-04-01T11:00:00")))
    services.orders_upsert(store=store, orders=batch, actor=Actor.system("tests"))
    customer = Customer.objects.get(platform_id="c1")
    as_of = date(2025, 12, 31)
    # The model's view: ml.ltv merges same-day purchases of a customer into one transaction.
    tx = bidding_selectors.ltv_purchase_history(customer_ids=[customer.pk]).tx
    model = summarise(tx, to_day(as_of))
    # The bid-time fast path's view, from the stored aggregates (apps.bidding.services.ltv_scoring).
    row = selectors.customers_for_scoring(customer_ids=[customer.pk])[0]
    repeats = row.purchase_days - 1
    assert repeats == int(model.frequency[0])
    assert float(row.first_order_value) == pytest.approx(float(model.first_value[0]))
    if repeats:
        monetary = (row.total_spent - row.first_order_value) / repeats
        assert float(monetary) == pytest.approx(float(model.monetary[0]))
    assert row.orders_count == len(placed)  # orders still count as orders where orders are meant


def test_attribution_is_read_from_the_landing_page_unless_given(store):
    landing = (
        "/products/x?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=Cj0abc&fbclid=&ttclid=T1"
    )
    services.orders_upsert(
        store=store,
        actor=Actor.system("tests"),
        orders=[
            order(
                "o1", "2025-01-05T08:00:00", "10.00", landing_site=landing, referrer="https://www.google.com/"
            ),
            order("o2", "2025-01-06T08:00:00", "10.00", landing_site=landing, utm_source="newsletter"),
        ],
    )
    first = Order.objects.get(platform_id="o1")
    assert (first.utm_source, first.utm_medium, first.utm_campaign) == ("google", "cpc", "spring")
    assert (first.gclid, first.fbclid, first.ttclid) == ("Cj0abc", "", "T1")
    assert first.referrer == "https://www.google.com/"
    assert Order.objects.get(platform_id="o2").utm_source == "newsletter"  # given wins
    assert Customer.objects.get(platform_id="c1").acquisition_source == "google"  # first touch


def test_an_acquisition_source_given_by_the_store_is_never_overwritten(store):
    services.orders_upsert(
        store=store,
        actor=Actor.system("tests"),
        orders=[
            services.OrderInput(
                platform_id="o1",
                placed_at=at("2025-01-05T08:00:00"),
                total=Decimal("5.00"),
                landing_site="/?utm_source=tiktok",
                customer=services.CustomerInput(platform_id="c1", acquisition_source="podcast"),
            )
        ],
    )
    assert Customer.objects.get(platform_id="c1").acquisition_source == "podcast"


def test_items_and_refunds_are_complete_lists_and_an_identical_resend_writes_nothing(store):
    item = services.OrderItemInput
    refund = services.RefundInput
    first = order(
        "o1",
        "2025-01-05T08:00:00",
        "60.00",
        items=(item("l1", 1, Decimal("20.00"), sku="A"), item("l2", 2, Decimal("20.00"), sku="B")),
        refunds=(refund("r1", Decimal("20.00"), at("2025-01-07T08:00:00")),),
    )
    services.orders_upsert(store=store, orders=[first], actor=Actor.system("tests"))
    stored = Order.objects.get(platform_id="o1")
    assert stored.total_refunded == Decimal("20.00")  # the refunds' sum
    again = services.orders_upsert(store=store, orders=[first], actor=Actor.system("tests"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    changed = order(
        "o1",
        "2025-01-05T08:00:00",
        "60.00",
        items=(item("l2", 3, Decimal("20.00"), sku="B"),),
        refunds=(),
    )
    result = services.orders_upsert(store=store, orders=[changed], actor=Actor.system("tests"))
    assert (result.updated, result.changed_customer_ids) == (1, (stored.customer_id,))
    assert list(OrderItem.objects.values_list("platform_id", "quantity")) == [("l2", 3)]
    assert not Refund.objects.exists()
    assert Order.objects.get(platform_id="o1").total_refunded == Decimal("0.00")
    # Items and refunds not sent: the stored ones stay.
    services.orders_upsert(
        store=store, orders=[order("o1", "2025-01-05T08:00:00", "60.00")], actor=Actor.system("tests")
    )
    assert OrderItem.objects.count() == 1


def test_refunds_that_do_not_add_up_to_the_total_refunded_are_refused(store):
    bad = order(
        "o1",
        "2025-01-05T08:00:00",
        "60.00",
        total_refunded=Decimal("5.00"),
        refunds=(services.RefundInput("r1", Decimal("20.00"), at("2025-01-06T08:00:00")),),
    )
    with pytest.raises(services.orders.StoresError) as refused:
        services.orders_upsert(store=store, orders=[bad], actor=Actor.system("tests"))
    assert "refunds" in refused.value.details["orders"]["0"]
    assert not Order.objects.exists()


def test_customers_sync_creates_and_updates_profiles_only(store):
    created = services.customers_upsert(
        store=store,
        customers=[
            services.CustomerInput("c1", email="a@x.test"),
            services.CustomerInput("c2", first_name="B"),
        ],
        actor=Actor.system("tests"),
    )
    assert created == 2
    assert (
        services.customers_upsert(
            store=store,
            customers=[services.CustomerInput("c1", email="new@x.test")],
            actor=Actor.system("tests"),
        )
        == 0
    )
    c1 = Customer.objects.get(platform_id="c1")
    assert (c1.email, c1.orders_count) == ("new@x.test", 0)


def test_retention_removes_old_deliveries_and_orders_and_fixes_the_aggregates(store, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.stores.models import WebhookDelivery
    from apps.stores.services.privacy import retention_apply

    settings.KIKI_RETENTION_WEBHOOK_DAYS, settings.KIKI_RETENTION_ORDER_MONTHS = 90, 24
    now = timezone.now()
    services.orders_upsert(
        store=store,
        actor=Actor.system("tests"),
        orders=[
            order("old", (now - timedelta(days=800)).strftime("%Y-%m-%dT%H:%M:%S"), "40.00"),
            order("new", (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S"), "15.00"),
        ],
    )
    for n, age in enumerate((100, 5)):
        WebhookDelivery.objects.create(
            store=store, platform="manual", topic="orders/create", delivery_id=f"d{n}", raw_body=b"{}",
            received_at=now - timedelta(days=age),
        )  # fmt: skip
    removed = retention_apply(now=now)
    assert removed == {"webhook_deliveries": 1, "data_exports": 0, "orders": 1}
    assert list(Order.objects.values_list("platform_id", flat=True)) == ["new"]
    customer = Customer.objects.get(platform_id="c1")
    assert (customer.orders_count, customer.total_spent) == (1, Decimal("15.00"))
    assert list(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == ["d1"]


def test_the_cycle_collector_pause_is_shared_by_overlapping_threads_and_always_ends():
    """The fetching thread and the writing one pause Python's collector while they handle a page;
    their pauses overlap in any order, and the collector is back on when the last one ends."""
    import gc
    import threading

    from apps.stores.integrations.base import gc_paused

    assert gc.isenabled()
    a_in, a_may_leave = threading.Event(), threading.Event()

    def a() -> None:
        with gc_paused():
            a_in.set()
            a_may_leave.wait(5)

    thread = threading.Thread(target=a)
    thread.start()
    assert a_in.wait(5)
    with gc_paused():
        a_may_leave.set()
        thread.join(5)  # a left first: b still holds the pause
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a page failed")
    assert gc.isenabled()
