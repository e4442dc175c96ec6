"""Stores admin: customers with their LTV columns (bounded queries), orders of manual stores entered
through the upsert service, read-only elsewhere."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores import services
from apps.stores.models import Customer, Order, StoreConnection
from apps.stores.tests.factories import StoreFactory


def session(info, email):
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def _seed(customers: int) -> StoreConnection:
    store = StoreFactory(currency="EUR")
    orders = [
        services.OrderInput(
            platform_id=f"o{i}",
            placed_at=datetime(2024, 1, 1 + i % 28, 12, tzinfo=UTC),
            total=Decimal("10.00") + i,
            customer=services.CustomerInput(platform_id=f"c{i}", email=f"c{i}@example.test"),
        )
        for i in range(customers)
    ]
    services.orders_upsert(store=store, orders=orders, actor=Actor.system("t"))
    services.customer_set_ltv(
        predictions=[
            services.LtvValues(c.pk, Decimal("42.00") + c.pk % 7, Decimal("3.00"), Decimal("99.00"), Decimal("1.5"),
                               365, "drnn-feedbeef", False, b"\x00" * 128, date(2024, 2, 1))
            for c in Customer.objects.all()
        ],
        scored_at=datetime(2024, 2, 1, 3, tzinfo=UTC),
        actor=Actor.system("t"),
    )  # fmt: skip
    return store


@pytest.mark.parametrize("customers", [3, 30])
def test_customer_changelist_shows_ltv_with_bounded_queries(
    tenants, django_assert_max_num_queries, customers
):
    with schema_context(tenants.a.schema):
        _seed(customers)
    client = session(tenants.a, tenants.a.analyst_email)
    # 9 queries (session, user, permissions, store filter, counts, rows), each after django-tenants'
    # SET search_path; the same bound for 3 and 30 rows: no query per row.
    with django_assert_max_num_queries(20):
        response = client.get("/admin/stores/customer/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("P10–p90", "3.00 – 99.00 EUR", "drnn-feedbeef", "Ltv fallback", "Predicted ltv"):
        assert text in html, text
    search = client.get("/admin/stores/customer/?q=c1@example.test")
    assert "c1@example.test" in search.content.decode()
    with schema_context(tenants.a.schema):
        pk = Customer.objects.first().pk
    detail = client.get(f"/admin/stores/customer/{pk}/change/")
    assert detail.status_code == 200
    assert 'name="predicted_ltv"' not in detail.content.decode()  # read-only, not an input
    # beta's admin shows none of alpha's customers
    beta = session(tenants.b, tenants.b.admin_email).get("/admin/stores/customer/")
    assert beta.status_code == 200
    assert "c1@example.test" not in beta.content.decode()


def test_admin_enters_a_manual_order_through_the_upsert(tenants, django_capture_on_commit_callbacks):
    with schema_context(tenants.a.schema):
        store = StoreFactory(currency="USD")
    client = session(tenants.a, tenants.a.admin_email)
    form = {
        "store": store.pk,
        "platform_id": "phone-1",
        "number": "P-1",
        "placed_at_0": "2024-03-01",
        "placed_at_1": "10:00:00",
        "subtotal": "20.00",
        "tax": "0",
        "shipping": "0",
        "discount": "0",
        "total": "20.00",
        "total_refunded": "0",
        "financial_status": "paid",
        "fulfillment_status": "unfulfilled",
        "customer_platform_id": "walk-in-7",
        "customer_email": "w7@example.test",
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/admin/stores/order/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(callbacks) == 1  # the re-scoring notice, as from the API
    with schema_context(tenants.a.schema):
        order = Order.objects.get(platform_id="phone-1")
        assert order.customer.email == "w7@example.test"
        assert order.customer.total_spent == Decimal("20.00")
    refund = {**form, "total_refunded": "25.00"}
    bad = client.post(f"/admin/stores/order/{order.pk}/change/", refund)
    assert bad.status_code == 200  # the form comes back with the reason
    assert "Cannot exceed total" in bad.content.decode()
    refund["total_refunded"] = "5.00"
    assert client.post(f"/admin/stores/order/{order.pk}/change/", refund).status_code == 302
    with schema_context(tenants.a.schema):
        order.refresh_from_db()
        assert order.total_refunded == Decimal("5.00")
        assert order.total == Decimal("20.00")  # not editable after entry
        assert order.customer.total_spent == Decimal("15.00")
    analyst = session(tenants.a, tenants.a.analyst_email)
    assert analyst.get("/admin/stores/order/add/").status_code == 403
    assert analyst.get("/admin/stores/order/").status_code == 200
