"""Stores services and selectors: upsert edge cases, stored LTV, one-query history reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.core.errors import TenantRequired
from apps.stores import selectors, services
from apps.stores.errors import StoresError
from apps.stores.models import Customer, Order
from apps.stores.tests.factories import StoreFactory


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)


def oi(pid: str, day: str, total: str, customer: str | None = "c1", **extra) -> services.OrderInput:
    return services.OrderInput(
        platform_id=pid,
        placed_at=at(day),
        total=Decimal(total),
        customer=services.CustomerInput(platform_id=customer) if customer else None,
        **extra,
    )


@pytest.fixture
def alpha(tenants):
    with schema_context(tenants.a.schema):
        yield StoreFactory()


def test_an_order_moved_to_another_customer_updates_both(alpha):
    services.orders_upsert(
        store=alpha,
        orders=[oi("o1", "2024-01-01", "10.00"), oi("o2", "2024-02-01", "5.00")],
        actor=Actor.system("t"),
    )
    result = services.orders_upsert(
        store=alpha, orders=[oi("o2", "2024-02-01", "5.00", customer="c2")], actor=Actor.system("t")
    )
    c1, c2 = Customer.objects.get(platform_id="c1"), Customer.objects.get(platform_id="c2")
    assert result.changed_customer_ids == tuple(sorted([c1.pk, c2.pk]))
    assert (c1.orders_count, c1.total_spent) == (1, Decimal("10.00"))
    assert (c2.orders_count, c2.total_spent, c2.first_order_value) == (1, Decimal("5.00"), Decimal("5.00"))


def test_validation_refuses_the_whole_batch(alpha):
    with pytest.raises(StoresError) as caught:
        services.orders_upsert(
            store=alpha,
            orders=[
                oi("o1", "2024-01-01", "10.00"),
                oi("o2", "2024-01-01", "10.00", total_refunded=Decimal("11")),
            ],
            actor=Actor.system("t"),
        )
    assert caught.value.details == {"orders": {"1": {"total_refunded": ["Cannot exceed total."]}}}
    assert "item 1" in caught.value.message
    assert not Order.objects.exists()


def data_queries(ctx: CaptureQueriesContext) -> list[str]:
    """Queries other than django-tenants' ``SET search_path``."""
    return [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith("SET search_path")]


def test_purchase_history_is_one_query_and_excludes_cancelled_and_guests(alpha):
    services.orders_upsert(
        store=alpha,
        orders=[
            oi("o1", "2024-01-01", "10.00", total_refunded=Decimal("2.50")),
            oi("o2", "2024-01-03", "4.00", cancelled_at=at("2024-01-04")),
            oi("o3", "2024-01-05", "6.00", customer=None),
            oi("o4", "2024-01-06", "8.00", customer="c2"),
        ],
        actor=Actor.system("t"),
    )
    c1, c2 = Customer.objects.get(platform_id="c1"), Customer.objects.get(platform_id="c2")
    with CaptureQueriesContext(connection) as ctx:
        history = selectors.purchase_history()
    assert len(data_queries(ctx)) == 1
    rows = sorted(zip(history.customer_ids, history.dates, history.amounts, strict=True))
    assert rows == sorted(
        [(c1.pk, date(2024, 1, 1), Decimal("7.50")), (c2.pk, date(2024, 1, 6), Decimal("8.00"))]
    )
    with CaptureQueriesContext(connection) as ctx:
        only = selectors.purchase_history(customer_ids=[c2.pk])
    assert len(data_queries(ctx)) == 1
    assert only.customer_ids == (c2.pk,)


def _values(pk: int, ltv: str = "30.00", state: bytes | None = b"\x00\x00\x80?") -> services.LtvValues:
    return services.LtvValues(
        pk, Decimal(ltv), Decimal("5.00"), Decimal("90.00"), Decimal("1.2500"), 365, "drnn-abc", False, state,
        date(2024, 6, 1),
    )  # fmt: skip


def test_customer_set_ltv_writes_once_and_clears(alpha):
    services.orders_upsert(store=alpha, orders=[oi("o1", "2024-01-01", "10.00")], actor=Actor.system("t"))
    c1 = Customer.objects.get(platform_id="c1")
    first_at, later = at("2024-06-01"), at("2024-06-02")
    with CaptureQueriesContext(connection) as ctx:
        assert (
            services.customer_set_ltv(
                predictions=[_values(c1.pk)], scored_at=first_at, actor=Actor.system("t")
            )
            == 1
        )
    statements = [q for q in data_queries(ctx) if "SAVEPOINT" not in q]
    assert len(statements) == 2  # one read of the stored values, one bulk UPDATE
    assert statements[1].startswith("UPDATE")
    assert (
        services.customer_set_ltv(predictions=[_values(c1.pk)], scored_at=later, actor=Actor.system("t")) == 0
    )
    c1.refresh_from_db()
    assert c1.ltv_scored_at == first_at  # the same prediction again changes nothing
    assert bytes(c1.ltv_state) == b"\x00\x00\x80?"
    assert (
        services.customer_set_ltv(
            predictions=[_values(c1.pk, "31.00")], scored_at=later, actor=Actor.system("t")
        )
        == 1
    )
    assert (
        services.customer_set_ltv(
            predictions=[services.LtvValues.cleared(c1.pk)], scored_at=later, actor=Actor.system("t")
        )
        == 1
    )
    c1.refresh_from_db()
    assert (c1.predicted_ltv, c1.ltv_state, c1.ltv_scored_at, c1.ltv_model_version) == (None, None, None, "")


def test_customer_set_ltv_refuses_an_interval_that_does_not_contain_the_prediction(alpha):
    services.orders_upsert(store=alpha, orders=[oi("o1", "2024-01-01", "10.00")], actor=Actor.system("t"))
    pk = Customer.objects.get(platform_id="c1").pk
    with pytest.raises(StoresError, match="interval"):
        services.customer_set_ltv(
            predictions=[_values(pk, "95.00")], scored_at=at("2024-06-01"), actor=Actor.system("t")
        )
    assert Customer.objects.get(pk=pk).predicted_ltv is None


def test_customers_for_scoring_reads_only_this_tenant(tenants):
    with schema_context(tenants.a.schema):
        store = StoreFactory()
        services.orders_upsert(store=store, orders=[oi("o1", "2024-01-01", "10.00")], actor=Actor.system("t"))
        pk = Customer.objects.get().pk
        rows = selectors.customers_for_scoring(customer_ids=[pk, 10**9])
        assert [(r.id, r.orders_count, r.total_spent) for r in rows] == [(pk, 1, Decimal("10.00"))]
    with schema_context(tenants.b.schema):
        assert all(
            r.id != pk or r.total_spent != Decimal("10.00")
            for r in selectors.customers_for_scoring(customer_ids=[pk])
        )
        assert selectors.purchase_history().orders == 0


def test_services_and_selectors_fail_closed_in_the_public_schema(db):
    with pytest.raises(TenantRequired):
        selectors.purchase_history()
    with pytest.raises(TenantRequired):
        services.customer_set_ltv(predictions=[], scored_at=at("2024-01-01"), actor=Actor.system("t"))
