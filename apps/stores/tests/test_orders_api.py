"""POST /api/v1/orders (bulk upsert), GET /api/v1/customers, /api/v1/stores: two tenants each."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores import services
from apps.stores.models import Customer, Order, StoreConnection
from apps.stores.tests.factories import StoreFactory
from conftest import api_client_for


@pytest.fixture
def api(tenants, login_token):
    def client(info, role="admin"):
        email = info.admin_email if role == "admin" else info.analyst_email
        return api_client_for(info.host, token=login_token(info, email))

    return client


@pytest.fixture
def stores(tenants):
    with schema_context(tenants.a.schema):
        a = StoreFactory(name="Alpha shop", currency="EUR")
    with schema_context(tenants.b.schema):
        b = StoreFactory(name="Beta shop")
    return a, b


def order(pid, placed, total, customer="c1", **extra):
    body = {"platform_id": pid, "placed_at": placed, "total": total, **extra}
    if customer is not None:
        body["customer"] = {"platform_id": customer, "email": f"{customer}@example.test"}
    return body


BATCH = [
    order("o1", "2024-01-05T10:00:00Z", "40.00"),
    order("o2", "2024-01-05T18:00:00Z", "10.00"),  # same day as o1: one purchase day for the model
    order("o3", "2024-03-01T09:00:00Z", "55.50", total_refunded="5.50"),
    order("o4", "2024-04-01T09:00:00Z", "99.00", cancelled_at="2024-04-02T09:00:00Z"),
    order("o5", "2024-02-10T12:00:00Z", "20.00", customer="c2"),
    order("o6", "2024-02-11T12:00:00Z", "7.00", customer=None),  # guest checkout
]


def test_upsert_creates_orders_customers_and_exact_aggregates(
    tenants, api, stores, django_capture_on_commit_callbacks
):
    a_store, _ = stores
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api(tenants.a).post(
            "/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "store": a_store.pk,
        "created": 6,
        "updated": 0,
        "unchanged": 0,
        "customers_created": 2,
        "customers_changed": 2,
    }
    assert len(callbacks) == 1
    with schema_context(tenants.a.schema):
        c1 = Customer.objects.get(platform_id="c1")
        assert c1.orders_count == 3  # o4 is cancelled
        assert c1.total_spent == Decimal("100.00")  # 40 + 10 + (55.50 − 5.50)
        assert c1.first_order_value == Decimal("50.00")  # o1 + o2, the same UTC day
        assert c1.first_order_at.isoformat() == "2024-01-05T10:00:00+00:00"
        assert c1.last_order_at.isoformat() == "2024-03-01T09:00:00+00:00"
        assert Order.objects.get(platform_id="o6").customer is None
        assert Order.objects.get(platform_id="o1").currency == "EUR"  # the store's
    with schema_context(tenants.b.schema):
        assert not Order.objects.exists()
        assert not Customer.objects.exists()


def test_identical_resend_changes_nothing(tenants, api, stores, django_capture_on_commit_callbacks):
    a_store, _ = stores
    client = api(tenants.a)
    client.post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json")
    with schema_context(tenants.a.schema):
        before = list(Order.objects.order_by("pk").values())
        customers = list(Customer.objects.order_by("pk").values())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = client.post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json")
    assert again.json()["unchanged"] == 6
    assert again.json()["created"] == again.json()["updated"] == again.json()["customers_changed"] == 0
    assert callbacks == []  # nobody is told to re-score
    with schema_context(tenants.a.schema):
        assert list(Order.objects.order_by("pk").values()) == before  # updated_at included
        assert list(Customer.objects.order_by("pk").values()) == customers


def test_refund_and_cancellation_update_in_place(tenants, api, stores):
    a_store, _ = stores
    client = api(tenants.a)
    client.post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json")
    changed = [
        order("o3", "2024-03-01T09:00:00Z", "55.50", total_refunded="55.50", financial_status="refunded"),
        order("o5", "2024-02-10T12:00:00Z", "20.00", customer="c2", cancelled_at="2024-02-12T00:00:00Z"),
    ]
    response = client.post("/api/v1/orders", {"store": a_store.pk, "orders": changed}, format="json")
    assert response.json()["updated"] == 2
    assert response.json()["customers_changed"] == 2
    with schema_context(tenants.a.schema):
        assert Order.objects.count() == 6
        assert Order.objects.get(platform_id="o3").financial_status == "refunded"
        c1, c2 = Customer.objects.get(platform_id="c1"), Customer.objects.get(platform_id="c2")
        assert c1.total_spent == Decimal("50.00")  # o3 fully refunded: still an order, worth 0
        assert c1.orders_count == 3
        assert c2.orders_count == 0
        assert c2.total_spent == Decimal("0.00")
        assert c2.first_order_at is None


def test_customer_fields_left_out_are_kept_and_status_changes_do_not_touch_history(tenants, api, stores):
    a_store, _ = stores
    client = api(tenants.a)
    client.post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json")
    shipped = {
        **order("o5", "2024-02-10T12:00:00Z", "20.00", customer=None),
        "fulfillment_status": "fulfilled",
    }
    shipped["customer"] = {"platform_id": "c2"}  # no email this time
    response = client.post("/api/v1/orders", {"store": a_store.pk, "orders": [shipped]}, format="json")
    assert response.json()["updated"] == 1
    assert response.json()["customers_changed"] == 0  # fulfilment is not purchase history
    with schema_context(tenants.a.schema):
        assert Customer.objects.get(platform_id="c2").email == "c2@example.test"


def test_signal_after_commit_names_changed_customers(
    tenants, api, stores, django_capture_on_commit_callbacks
):
    a_store, _ = stores
    client = api(tenants.a)
    client.post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json")
    heard = []

    def listener(sender, *, schema, customer_ids, **kwargs):
        heard.append((schema, customer_ids))

    services.customers_orders_changed.connect(listener, dispatch_uid="test-listener")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                "/api/v1/orders",
                {
                    "store": a_store.pk,
                    "orders": [order("o9", "2024-05-01T09:00:00Z", "12.00", customer="c2")],
                },
                format="json",
            )
    finally:
        services.customers_orders_changed.disconnect(dispatch_uid="test-listener")
    with schema_context(tenants.a.schema):
        c2 = Customer.objects.get(platform_id="c2")
    assert heard == [(tenants.a.schema, [c2.pk])]


def _bad(change):
    item = {**order("x1", "2024-01-05T10:00:00Z", "10.00"), **change}
    return [order("ok1", "2024-01-01T10:00:00Z", "5.00"), item]


@pytest.mark.parametrize(
    ("orders", "field"),
    [
        (_bad({"total": "-1.00"}), "total"),
        (_bad({"total": "abc"}), "total"),
        (_bad({"total": "10.001"}), "total"),
        (_bad({"total_refunded": "11.00"}), "total_refunded"),
        (_bad({"placed_at": "yesterday"}), "placed_at"),
        (_bad({"placed_at": "2999-01-01T00:00:00Z"}), "placed_at"),
        (_bad({"cancelled_at": "2023-01-01T00:00:00Z"}), "cancelled_at"),
        (_bad({"currency": "GBP"}), "currency"),
        (_bad({"financial_status": "lost"}), "financial_status"),
        (_bad({"platform_id": ""}), "platform_id"),
        (_bad({"platform_id": "ok1"}), "platform_id"),
        (_bad({"customer": {"email": "no-id@example.test"}}), "customer"),
        (_bad({"customer": {"platform_id": "c9", "email": "not-an-email"}}), "customer"),
    ],
)
def test_bad_orders_get_400_naming_item_and_field_and_store_nothing(tenants, api, stores, orders, field):
    a_store, _ = stores
    response = api(tenants.a).post("/api/v1/orders", {"store": a_store.pk, "orders": orders}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["orders"]["1"], error
    with schema_context(tenants.a.schema):
        assert not Order.objects.exists()
        assert not Customer.objects.exists()


def test_bad_request_shapes(tenants, api, stores):
    a_store, _ = stores
    client = api(tenants.a)
    too_many = [order(f"o{i}", "2024-01-05T10:00:00Z", "1.00") for i in range(1001)]
    cases = [
        ({"store": a_store.pk, "orders": []}, "orders"),
        ({"store": a_store.pk, "orders": too_many}, "orders"),
        ({"orders": BATCH}, "store"),
        ({"store": 10**9, "orders": BATCH}, "store"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/orders", body, format="json")
        assert response.status_code == 400, (field, response.content)
        assert field in response.json()["error"]["details"]
    with schema_context(tenants.a.schema):
        assert not Order.objects.exists()


def test_another_tenants_store_is_not_found(tenants, api, stores):
    _, b_store = stores
    with schema_context(tenants.a.schema):
        alpha_ids = set(StoreConnection.objects.values_list("pk", flat=True))
    with schema_context(tenants.b.schema):
        while b_store.pk in alpha_ids:  # ids are per schema: pick one that alpha does not have
            b_store = StoreFactory()
    response = api(tenants.a).post("/api/v1/orders", {"store": b_store.pk, "orders": BATCH}, format="json")
    assert response.status_code == 400
    assert "store" in response.json()["error"]["details"]
    with schema_context(tenants.b.schema):
        assert not Order.objects.exists()
    with schema_context(tenants.a.schema):
        assert not Order.objects.exists()


def test_disconnected_store_refuses_orders(tenants, api):
    with schema_context(tenants.a.schema):
        store = StoreFactory(status=StoreConnection.Status.PAUSED)
    response = api(tenants.a).post("/api/v1/orders", {"store": store.pk, "orders": BATCH}, format="json")
    assert response.status_code == 400
    assert "store" in response.json()["error"]["details"]


def test_analyst_reads_but_cannot_write(tenants, api, stores):
    a_store, _ = stores
    analyst = api(tenants.a, "analyst")
    assert (
        analyst.post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json").status_code
        == 403
    )
    assert analyst.post("/api/v1/stores", {"name": "x", "currency": "USD"}, format="json").status_code == 403
    for url in ("/api/v1/orders", "/api/v1/customers", "/api/v1/stores", f"/api/v1/stores/{a_store.pk}"):
        assert analyst.get(url).status_code == 200, url
    with schema_context(tenants.a.schema):
        assert not Order.objects.exists()


def test_admin_creates_a_manual_store(tenants, api):
    client = api(tenants.a)
    created = client.post("/api/v1/stores", {"name": "Pop-up", "currency": "gbp"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["platform"] == "manual"
    assert created.json()["currency"] == "GBP"
    bad = client.post("/api/v1/stores", {"name": "Pop-up", "currency": "G1P"}, format="json")
    assert bad.status_code == 400
    assert "currency" in bad.json()["error"]["details"]
    with schema_context(tenants.b.schema):
        assert not StoreConnection.objects.filter(name="Pop-up").exists()


def test_customers_list_orders_by_predicted_ltv_and_stays_in_its_tenant(tenants, api, stores):
    a_store, b_store = stores
    api(tenants.a).post("/api/v1/orders", {"store": a_store.pk, "orders": BATCH}, format="json")
    api(tenants.b).post(
        "/api/v1/orders",
        {"store": b_store.pk, "orders": [order("b1", "2024-01-05T10:00:00Z", "9.00", "beta-only")]},
        format="json",
    )
    with schema_context(tenants.a.schema):
        c1, c2 = Customer.objects.get(platform_id="c1"), Customer.objects.get(platform_id="c2")
        services.customer_set_ltv(
            predictions=[
                services.LtvValues(c2.pk, Decimal("80.00"), Decimal("10.00"), Decimal("150.00"), Decimal("1.5"),
                                   365, "bgnbd-gg-x", True, None, c2.first_order_at.date()),
            ],
            scored_at=c2.updated_at,
            actor=Actor.system("test"),
        )  # fmt: skip
    client = api(tenants.a, "analyst")
    body = client.get("/api/v1/customers").json()
    assert [r["platform_id"] for r in body["results"]] == ["c2", "c1"]  # unscored last
    first = body["results"][0]
    assert first["predicted_ltv"] == "80.00"
    assert (first["predicted_ltv_low"], first["predicted_ltv_high"]) == ("10.00", "150.00")
    assert first["ltv_model_version"] == "bgnbd-gg-x"
    assert first["currency"] == "EUR"
    assert "ltv_state" not in first
    ascending = client.get("/api/v1/customers?ordering=predicted_ltv").json()["results"]
    assert [r["platform_id"] for r in ascending] == ["c2", "c1"]  # nulls last either way
    assert client.get("/api/v1/customers?ordering=email").status_code == 400
    assert client.get(f"/api/v1/customers/{c1.pk}").json()["total_spent"] == "100.00"
    paged = client.get("/api/v1/customers?page_size=1").json()
    assert paged["count"] == 2
    assert len(paged["results"]) == 1
    # beta's customer is invisible from alpha, and alpha's from beta
    assert "beta-only" not in str(client.get("/api/v1/customers").content)
    beta = api(tenants.b, "analyst")
    assert [r["platform_id"] for r in beta.get("/api/v1/customers").json()["results"]] == ["beta-only"]
    on_beta = beta.get(f"/api/v1/customers/{c1.pk}")  # alpha's id asked on beta's host
    assert on_beta.status_code == 404 or on_beta.json()["platform_id"] == "beta-only"
    assert b"c1@example.test" not in on_beta.content


def test_alpha_token_on_beta_host_is_refused(tenants, login_token, stores):
    token = login_token(tenants.a, tenants.a.admin_email)
    on_b = api_client_for(tenants.b.host, token=token)
    _, b_store = stores
    assert on_b.get("/api/v1/customers").status_code == 401
    response = on_b.post("/api/v1/orders", {"store": b_store.pk, "orders": BATCH}, format="json")
    assert response.status_code == 401
    with schema_context(tenants.b.schema):
        assert not Order.objects.exists()
