"""The WooCommerce connector: the real adapter against the loopback fake over HTTP (OAuth 1.0a or
Basic auth, pages, incremental reads, throttling and 5xx, webhooks), the receiver on real
deliveries, and vector V9 of ../shared/api-contracts.md. No database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.auth import HTTPBasicAuth

from apps.stores.integrations.base import AuthExpired, Delivery, Page, PlatformError, ShopInfo
from apps.stores.integrations.fakes.server import Failure, FakeServer, Reply, Request
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.receivers import Identity
from apps.stores.integrations.woocommerce.adapter import (
    WEBHOOK_TOPICS,
    OAuth1Query,
    WooCommerceAdapter,
    connect_check,
    oauth1_base_string,
    oauth1_signature,
    order_from_rest,
    store_url_check,
)
from apps.stores.integrations.woocommerce.fake import FakeWooCommerce
from apps.stores.integrations.woocommerce.receiver import WooCommerceReceiver
from apps.stores.services.catalog import InventoryInput, ProductInput
from apps.stores.services.orders import CustomerInput, OrderInput, attribution_from_url

END = datetime(2026, 6, 1, tzinfo=UTC)
SECRET = "whsec-store-7"  # the store's webhook secret
V9_URL = "http://127.0.0.1:8080/wp-json/wc/v3/orders"
V9_PARAMS = {
    "per_page": "100",
    "oauth_consumer_key": "ck_test",
    "oauth_timestamp": "1700000000",
    "oauth_nonce": "0123456789abcdef0123456789abcdef",
    "oauth_signature_method": "HMAC-SHA256",
}
V9_BASE = (
    "GET&http%3A%2F%2F127.0.0.1%3A8080%2Fwp-json%2Fwc%2Fv3%2Forders&oauth_consumer_key%3Dck_test%26"
    "oauth_nonce%3D0123456789abcdef0123456789abcdef%26oauth_signature_method%3DHMAC-SHA256%26"
    "oauth_timestamp%3D1700000000%26per_page%3D100"
)
V9_SIGNATURE = "wKtY2tS2+y2hf6L3FjCYsxdbo3IuaoK/FXSK6E7UKRM="


def generated() -> FakeStore:
    return FakeStore.generate(orders=350, customers=60, products=12, seed=11, end=END)


@pytest.fixture
def woo() -> Iterator[FakeWooCommerce]:
    store = generated()
    variable = next(p for p in store.products if len(p.variants) > 1)
    simple = next(p for p in store.products if len(p.variants) == 1)
    fake = FakeWooCommerce(store, unmanaged_stock={variable.variants[0].id, simple.variants[0].id})
    with fake.server:
        yield fake


def adapter_for(fake: FakeWooCommerce, **options: Any) -> WooCommerceAdapter:
    options.setdefault("sleep", lambda seconds: None)
    return WooCommerceAdapter(
        store_url=fake.url, consumer_key=fake.consumer_key, consumer_secret=fake.consumer_secret, **options
    )


def read_all(
    adapter: WooCommerceAdapter, resource: str, since: datetime | None = None
) -> tuple[list[Any], list[Page]]:
    pages, cursor = [], {}
    while True:
        page = adapter.fetch(resource, cursor=cursor, since=since)
        pages.append(page)
        if page.next_cursor is None:
            return [r for p in pages for r in p.records], pages
        cursor = page.next_cursor


def is_variable(fake: FakeWooCommerce, product_id: int) -> bool:
    return len(next(p for p in fake.store.products if p.id == product_id).variants) > 1


# --- V9: OAuth 1.0a over plain HTTP ------------------------------------------------------------------
def test_v9_oauth1_base_string_and_signature():
    assert oauth1_base_string("GET", V9_URL, V9_PARAMS) == V9_BASE
    assert oauth1_signature("GET", V9_URL, V9_PARAMS, "cs_test") == V9_SIGNATURE
    assert oauth1_signature("GET", V9_URL, V9_PARAMS, "cs_other") != V9_SIGNATURE


def test_v9_signed_request_carries_the_vector_signature_in_its_query():
    auth = OAuth1Query(
        "ck_test", "cs_test", clock=lambda: 1700000000, nonce=lambda: "0123456789abcdef0123456789abcdef"
    )
    signed = auth(requests.Request("GET", V9_URL, params={"per_page": 100}).prepare())
    query = dict(parse_qsl(urlsplit(signed.url).query))
    assert query["oauth_signature"] == V9_SIGNATURE
    assert query["per_page"] == "100"
    assert "oauth_version" not in query
    assert "cs_test" not in (signed.url or "")
    assert "cs_test" not in repr(auth)


# --- reading the shop ----------------------------------------------------------------------------------
def test_full_sync_reads_every_order_once_with_totals_refunds_and_items(woo):
    orders, pages = read_all(adapter_for(woo), "orders")
    store = woo.store
    assert len(pages) == 4
    assert all(p.total == 350 for p in pages)
    ids = [o.platform_id for o in orders]
    assert len(ids) == len(set(ids)) == 350
    assert set(ids) == {str(o.id) for o in store.orders}
    seen = {"cancelled": 0, "refunded": 0, "partially_refunded": 0, "guest": 0, "discounted": 0, "gclid": 0}
    for got in orders:
        fake = store.order(int(got.platform_id))
        assert isinstance(got, OrderInput)
        assert got.number == f"#{fake.number}"
        assert got.currency == "USD"
        assert (got.placed_at, got.platform_updated_at) == (fake.created_at, fake.updated_at)
        assert got.placed_at.tzinfo == UTC
        assert (got.subtotal, got.discount, got.tax, got.shipping, got.total) == (
            fake.subtotal,
            fake.discount,
            fake.tax,
            fake.shipping,
            fake.total,
        )
        assert got.financial_status == fake.financial_status
        fully_refunded = fake.refunds and fake.refunded >= fake.total
        assert got.fulfillment_status == (
            "unfulfilled" if fake.cancelled_at or fully_refunded else "fulfilled"
        )
        assert got.cancelled_at == fake.cancelled_at
        assert sorted((r.platform_id, r.amount, r.refunded_at) for r in got.refunds or ()) == sorted(
            (str(r.id), r.amount, r.created_at) for r in fake.refunds
        )
        assert all(r.amount > 0 for r in got.refunds or ())
        assert got.refunded == fake.refunded
        items = got.items or ()
        assert [(i.platform_id, i.sku, i.quantity, i.price) for i in items] == [
            (str(li.id), li.sku, li.quantity, li.price) for li in fake.lines
        ]
        assert [(i.product_platform_id, i.variant_platform_id) for i in items] == [
            (str(li.product_id), str(li.variant_id if is_variable(woo, li.product_id) else li.product_id))
            for li in fake.lines
        ]
        assert sum((i.discount for i in items), Decimal("0.00")) == fake.discount
        if fake.customer_id is None:
            assert got.customer is None
        else:
            customer = store.customer(fake.customer_id)
            assert got.customer == CustomerInput(platform_id=str(fake.customer_id), email=customer.email)
        assert got.landing_site == f"{woo.url}{fake.landing_site}"
        assert got.referrer == fake.referrer
        assert attribution_from_url(got.landing_site) == attribution_from_url(fake.landing_site)
        seen["cancelled"] += fake.cancelled_at is not None
        seen[fake.financial_status] = seen.get(fake.financial_status, 0) + 1
        seen["guest"] += fake.customer_id is None
        seen["discounted"] += fake.discount > 0
        seen["gclid"] += "gclid" in attribution_from_url(got.landing_site)
    assert all(
        seen[k] > 0 for k in ("cancelled", "refunded", "partially_refunded", "guest", "discounted", "gclid")
    )
    # The refunds' dates cost at most one call per page of orders.
    assert 1 <= len(woo.server.requests_to("/wp-json/wc/v3/refunds")) <= len(pages)
    listed = woo.server.requests_to("/wp-json/wc/v3/orders")
    assert [(r.arg("orderby"), r.arg("order"), r.arg("per_page")) for r in listed] == [
        ("id", "asc", "100")
    ] * 4


def test_refund_dates_per_order_on_a_shop_older_than_woocommerce_9():
    fake = FakeWooCommerce(generated(), refunds_endpoint=False)
    with fake.server:
        orders, _ = read_all(adapter_for(fake), "orders")
    refunded = [o for o in fake.store.orders if o.refunds]
    got = {o.platform_id: o for o in orders}
    for order in refunded:
        assert [(r.platform_id, r.refunded_at) for r in got[str(order.id)].refunds or ()] == [
            (str(r.id), r.created_at) for r in order.refunds
        ]
    assert len(fake.server.requests_to("/wp-json/wc/v3/refunds")) == 1  # the 404, asked once
    per_order = [r for r in fake.server.log if r.path.endswith("/refunds") and "/orders/" in r.path]
    assert len(per_order) == len(refunded)


def test_incremental_sync_reads_what_changed_since(woo):
    store = woo.store
    since = sorted(o.updated_at for o in store.orders)[300]
    fresh = store.add_order(when=END + timedelta(hours=1))
    old = store.orders[0]
    store.refund(old.id, Decimal("5.00"), when=END + timedelta(hours=2))
    store.cancel(store.orders[1].id, when=END + timedelta(hours=3))
    adapter = adapter_for(woo)

    orders, pages = read_all(adapter, "orders", since=since)

    expected = {str(o.id) for o in store.orders if o.updated_at > since}
    assert {o.platform_id for o in orders} == expected
    assert {str(fresh.id), str(old.id), str(store.orders[1].id)} <= expected
    assert pages[-1].total == len(expected)
    again = next(o for o in orders if o.platform_id == str(old.id))
    assert again.refunds[-1].refunded_at == END + timedelta(hours=2)
    cancelled = next(o for o in orders if o.platform_id == str(store.orders[1].id))
    assert cancelled.cancelled_at == END + timedelta(hours=3)
    assert cancelled.financial_status == "voided"
    sent = woo.server.requests_to("/wp-json/wc/v3/orders")[-1]
    assert sent.arg("dates_are_gmt") == "true"
    assert sent.arg("modified_after") == since.strftime("%Y-%m-%dT%H:%M:%S")

    customers, _ = read_all(adapter, "customers", since=since)
    assert {c.platform_id for c in customers} == {str(c.id) for c in store.customers if c.updated_at >= since}


def test_products_are_variants_with_stock_and_simple_products_are_their_own_variant(woo):
    adapter = adapter_for(woo)
    products, pages = read_all(adapter, "products")
    assert pages[0].total == 12
    assert {p.platform_id for p in products} == {str(p.id) for p in woo.store.products}
    variable = 0
    for got in products:
        fake = next(p for p in woo.store.products if p.id == int(got.platform_id))
        assert isinstance(got, ProductInput)
        assert (got.title, got.deleted, got.platform_updated_at) == (fake.title, False, fake.updated_at)
        assert got.url == f"{woo.url}/product/{fake.handle}/"
        tracked = {v.id: (None if v.id in woo.unmanaged_stock else v.inventory) for v in fake.variants}
        if len(fake.variants) > 1:
            variable += 1
            assert [(v.platform_id, v.sku, v.title, v.price, v.inventory_quantity) for v in got.variants] == [
                (str(v.id), v.sku, v.title, v.price, tracked[v.id]) for v in fake.variants
            ]
        else:
            [only] = fake.variants
            assert [(v.platform_id, v.sku, v.price, v.inventory_quantity) for v in got.variants] == [
                (str(fake.id), only.sku, only.price, tracked[only.id])
            ]
    assert 0 < variable < 12
    assert len(woo.server.requests_to("/variations")) == variable

    levels, _ = read_all(adapter, "inventory")
    assert all(isinstance(level, InventoryInput) for level in levels)
    assert {(level.variant_platform_id, level.quantity) for level in levels} == {
        (v.platform_id, v.inventory_quantity) for p in products for v in p.variants
    }
    assert any(level.quantity is None for level in levels)


def test_incremental_products_see_a_stock_change(woo):
    variant = woo.store.products[3].variants[0]
    woo.store.set_inventory(variant.id, 77, when=END + timedelta(minutes=5))
    levels, _ = read_all(adapter_for(woo), "inventory", since=END)
    product = woo.store.products[3]
    expected_id = str(variant.id) if len(product.variants) > 1 else str(product.id)
    assert {level.variant_platform_id for level in levels} == (
        {str(v.id) for v in product.variants} if len(product.variants) > 1 else {str(product.id)}
    )
    assert InventoryInput(quantity=77, variant_platform_id=expected_id) in levels


def test_shop_info(woo):
    assert adapter_for(woo).shop() == ShopInfo(name="Sandbox Outfitters", currency="USD", domain=woo.url)


# --- failures ------------------------------------------------------------------------------------------
def test_a_429_storm_is_waited_out_with_fresh_signatures(woo):
    slept: list[float] = []
    adapter = adapter_for(woo, sleep=slept.append)
    woo.server.fail(Failure(429, times=5, headers={"Retry-After": "1"}))

    page = adapter.fetch("customers", cursor={}, since=None)

    assert len(page.records) == 60
    assert adapter.http.retries == 5
    assert slept == [1.0] * 5
    nonces = [r.arg("oauth_nonce") for r in woo.server.requests_to("/customers")]
    assert len(nonces) == 6 == len(set(nonces))  # each attempt signed afresh: a nonce is used once


def test_5xx_is_retried_with_backoff_then_given_up(woo):
    slept: list[float] = []
    adapter = adapter_for(woo, sleep=slept.append)
    woo.server.fail(Failure(503, times=2))
    woo.server.fail(Failure(500, times=1))
    assert adapter.fetch("customers", cursor={}, since=None).records
    assert adapter.http.retries == 3
    assert len(slept) == 3
    assert all(s > 0 for s in slept)

    woo.server.fail(Failure(502, times=50))
    with pytest.raises(PlatformError) as failed:
        adapter.fetch("customers", cursor={}, since=None)
    assert failed.value.transient
    assert failed.value.status == 502
    woo.server.failures.clear()


def test_refused_keys_are_auth_expired(woo):
    wrong = WooCommerceAdapter(
        store_url=woo.url, consumer_key=woo.consumer_key, consumer_secret="cs_wrong", sleep=lambda s: None
    )
    with pytest.raises(AuthExpired) as refused:
        wrong.fetch("orders", cursor={}, since=None)
    assert refused.value.status == 401
    assert "cs_wrong" not in str(refused.value)

    stale = adapter_for(woo)
    stale.auth = OAuth1Query(woo.consumer_key, woo.consumer_secret, clock=lambda: time.time() - 16 * 60)
    with pytest.raises(AuthExpired):
        stale.fetch("orders", cursor={}, since=None)

    replay = adapter_for(woo)
    replay.auth = OAuth1Query(woo.consumer_key, woo.consumer_secret, nonce=lambda: "same-nonce")
    replay.fetch("customers", cursor={}, since=None)
    with pytest.raises(AuthExpired):
        replay.fetch("customers", cursor={}, since=None)


def test_https_uses_basic_auth(woo):
    adapter = WooCommerceAdapter(
        store_url="https://shop.example", consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret
    )
    assert isinstance(adapter.auth, HTTPBasicAuth)
    adapter.http.base_url = f"{woo.url}/wp-json/wc/v3"  # the fake plays the site behind its TLS proxy
    assert len(adapter.fetch("customers", cursor={}, since=None).records) == 60
    sent = woo.server.requests_to("/customers")[-1]
    assert sent.headers["authorization"].startswith("Basic ")
    assert not any(name.startswith("oauth_") for name in sent.query)


def test_pages_are_1_to_100_with_wordpress_headers(woo):
    adapter = adapter_for(woo)
    assert adapter_for(woo, page_size=500).page_size == 100
    with pytest.raises(PlatformError) as refused:
        adapter.http.request("GET", "orders", params={"per_page": 101}, auth=adapter.auth)
    assert refused.value.status == 400
    assert "rest_invalid_param" in str(refused.value)

    response = adapter.http.request(
        "GET",
        "orders",
        params={"per_page": 100, "page": 2, "orderby": "id", "order": "asc"},
        auth=adapter.auth,
    )
    assert (response.headers["X-WP-Total"], response.headers["X-WP-TotalPages"]) == ("350", "4")
    assert "page=3" in response.links["next"]["url"]
    assert "page=1" in response.links["prev"]["url"]
    assert "page=4" in response.links["last"]["url"]
    assert "oauth_" not in response.headers["Link"]

    small = adapter_for(woo, page_size=40)
    orders, pages = read_all(small, "orders")
    assert len(pages) == 9
    assert len({o.platform_id for o in orders}) == 350


# --- webhooks ------------------------------------------------------------------------------------------
def test_register_webhooks_once_per_topic_and_again_without_duplicates(woo):
    address = "https://alpha.kiki.example/webhooks/woocommerce/7"
    assert adapter_for(woo, webhook_secret=SECRET).register_webhooks(address=address) == list(WEBHOOK_TOPICS)
    assert adapter_for(woo, webhook_secret="rotated").register_webhooks(address=address) == list(
        WEBHOOK_TOPICS
    )
    hooks = list(woo.webhooks.values())
    assert sorted(h.topic for h in hooks) == sorted(WEBHOOK_TOPICS)
    assert all((h.delivery_url, h.secret, h.status) == (address, "rotated", "active") for h in hooks)
    with pytest.raises(PlatformError):
        adapter_for(woo).register_webhooks(address=address)


def test_a_delivery_over_http_is_verified_by_the_receiver(woo):
    received: list[Request] = []

    def endpoint(request: Request) -> Reply:
        received.append(request)
        return Reply(200, {"ok": True})

    adapter = adapter_for(woo, webhook_secret=SECRET)
    order = next(o for o in woo.store.orders if o.refunds and o.referrer)
    with FakeServer(endpoint) as ours:
        adapter.register_webhooks(address=f"{ours.url}/webhooks/woocommerce/7")
        [delivered] = woo.deliver("order.updated", woo.order_payload(order.id))
        pinged = woo.deliver_ping(woo.webhook_for("order.created").id)
    assert (delivered.status_code, pinged.status_code) == (200, 200)
    delivery, ping = received
    receiver = WooCommerceReceiver()

    assert not receiver.is_ping(delivery.headers, delivery.body)
    assert receiver.verify(delivery.headers, delivery.body, SECRET)
    assert b"\\/" in delivery.body  # wp_json_encode escapes slashes: only the raw bytes verify
    reserialised = json.dumps(json.loads(delivery.body)).encode()
    assert not receiver.verify(delivery.headers, reserialised, SECRET)
    assert not receiver.verify(delivery.headers, delivery.body.replace(b'"total"', b'"totaI"'), SECRET)
    assert not receiver.verify(delivery.headers, delivery.body, "another-secret")
    assert not receiver.verify(delivery.headers, delivery.body, "")
    unsigned = {k: v for k, v in delivery.headers.items() if k != "x-wc-webhook-signature"}
    assert not receiver.verify(unsigned, delivery.body, SECRET)
    identity = receiver.identify(delivery.headers, delivery.body, 7)
    assert identity == Identity(
        topic="orders/updated",
        delivery_id=delivery.headers["x-wc-webhook-delivery-id"],
        store_key={"pk": 7},
    )
    assert delivery.headers["x-wc-webhook-source"] == f"{woo.url}/"
    assert (delivery.headers["x-wc-webhook-resource"], delivery.headers["x-wc-webhook-event"]) == (
        "order",
        "updated",
    )

    assert receiver.is_ping(ping.headers, ping.body)
    assert not receiver.verify(ping.headers, ping.body, SECRET)
    assert ping.headers["content-type"] == "application/x-www-form-urlencoded"

    [record] = adapter.records_of(Delivery(identity.topic, identity.delivery_id, json.loads(delivery.body)))
    [synced] = [o for o in read_all(adapter, "orders")[0] if o.platform_id == str(order.id)]
    assert record == synced
    assert record.refunds
    assert record.refunds[0].refunded_at == order.refunds[-1].created_at


def test_in_process_signed_delivery_and_ping():
    fake = FakeWooCommerce(generated())
    receiver = WooCommerceReceiver()
    body, headers = fake.signed_delivery(
        "product.updated", fake.product_payload(9001), secret=SECRET, webhook_id=5
    )
    assert receiver.verify(headers, body, SECRET)
    assert receiver.identify(headers, body, 3).topic == "products/update"
    assert headers["X-WC-Webhook-ID"] == "5"
    other, other_headers = fake.signed_delivery("order.restored", {"id": 1}, secret=SECRET, webhook_id=5)
    assert receiver.identify(other_headers, other, 3).topic == "order.restored"  # not ours: passed through
    assert other_headers["X-WC-Webhook-Delivery-ID"] != headers["X-WC-Webhook-Delivery-ID"]
    ping_body, ping_headers = fake.ping(142)
    assert ping_body == b"webhook_id=142"
    assert receiver.is_ping(ping_headers, ping_body)
    assert not receiver.is_ping(ping_headers, b"webhook_id=142&x=1")
    assert not receiver.is_ping({**ping_headers, "X-WC-Webhook-Signature": "x"}, ping_body)


def test_records_of_products_customers_and_deletions(woo):
    adapter = adapter_for(woo)
    store = woo.store
    variable = next(p for p in store.products if len(p.variants) > 1)
    simple = next(p for p in store.products if len(p.variants) == 1)
    synced = {p.platform_id: p for p in read_all(adapter, "products")[0]}

    def records(topic: str, payload: Any) -> list[Any]:
        return adapter.records_of(Delivery(WEBHOOK_TOPICS[topic], "d-1", payload))

    assert records("product.updated", woo.product_payload(variable.id)) == [synced[str(variable.id)]]
    assert records("product.created", woo.product_payload(simple.id)) == [synced[str(simple.id)]]
    # A variation's own update names the variation: the record is its product, read whole.
    assert records("product.updated", woo.product_payload(variable.variants[1].id)) == [
        synced[str(variable.id)]
    ]
    assert records("product.deleted", {"id": simple.id}) == [
        ProductInput(platform_id=str(simple.id), title="", deleted=True)
    ]
    customer = store.customers[0]
    assert records("customer.updated", woo.customer_payload(customer.id)) == [
        CustomerInput(
            platform_id=str(customer.id),
            email=customer.email,
            first_name=customer.first_name,
            last_name=customer.last_name,
        )
    ]
    placed = next(o for o in store.orders if not o.refunds and o.cancelled_at is None)
    [created] = records("order.created", woo.order_payload(placed.id))
    assert (created.platform_id, created.total, created.cancelled_at) == (str(placed.id), placed.total, None)

    woo.trash_order(placed.id, when=END + timedelta(days=1))
    [trashed] = records("order.deleted", {"id": placed.id})
    assert trashed.cancelled_at == END + timedelta(days=1)
    assert (trashed.financial_status, trashed.fulfillment_status) == ("voided", "unfulfilled")
    assert records("order.deleted", {"id": 999999}) == []
    assert str(placed.id) not in {o.platform_id for o in read_all(adapter, "orders")[0]}
    assert adapter.records_of(Delivery("order.restored", "d-2", {"id": placed.id})) == []


# --- statuses ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "refunds", "financial", "fulfillment", "cancelled"),
    [
        ("pending", [], "pending", "unfulfilled", False),
        ("processing", [], "paid", "unfulfilled", False),
        ("on-hold", [], "authorized", "unfulfilled", False),
        ("completed", [], "paid", "fulfilled", False),
        ("completed", ["-10.00"], "partially_refunded", "fulfilled", False),
        ("completed", ["-30.00", "-20.00"], "refunded", "fulfilled", False),
        ("refunded", ["-50.00"], "refunded", "unfulfilled", False),
        ("cancelled", [], "voided", "unfulfilled", True),
        ("failed", [], "voided", "unfulfilled", True),
        ("trash", [], "voided", "unfulfilled", True),
    ],
)
def test_order_status_mapping(status, refunds, financial, fulfillment, cancelled):
    payload = {
        "id": 727,
        "number": "727",
        "status": status,
        "currency": "EUR",
        "date_created_gmt": "2024-05-01T10:00:00",
        "date_modified_gmt": "2024-05-03T08:30:00",
        "date_paid_gmt": None,
        "total": "50.00",
        "customer_id": 0,
        "billing": {"email": "guest@example.com"},
        "refunds": [{"id": 800 + i, "reason": "", "total": total} for i, total in enumerate(refunds)],
        "meta_data": [],
        "line_items": [],
    }
    order = order_from_rest(payload)
    assert (order.financial_status, order.fulfillment_status) == (financial, fulfillment)
    assert order.cancelled_at == (datetime(2024, 5, 3, 8, 30, tzinfo=UTC) if cancelled else None)
    assert order.customer is None  # customer_id 0: a guest
    assert order.placed_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert all(r.refunded_at == datetime(2024, 5, 3, 8, 30, tzinfo=UTC) for r in order.refunds or ())


# --- connecting ----------------------------------------------------------------------------------------
def test_connect_check(woo):
    info = connect_check(
        store_url=f" {woo.url}/ ", consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret
    )
    assert info == ShopInfo(name="Sandbox Outfitters", currency="USD", domain=woo.url)

    with pytest.raises(PlatformError, match="refused the keys") as refused:
        connect_check(store_url=woo.url, consumer_key=woo.consumer_key, consumer_secret="cs_wrong_secret")
    assert refused.value.status == 401
    assert "cs_wrong_secret" not in str(refused.value)

    with pytest.raises(PlatformError, match="No WooCommerce REST API") as missing:
        connect_check(
            store_url=f"{woo.url}/blog", consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret
        )
    assert missing.value.status == 404


def test_connect_check_in_a_wordpress_folder():
    fake = FakeWooCommerce(generated(), site_path="/shop")
    with fake.server:
        info = connect_check(
            store_url=fake.url, consumer_key=fake.consumer_key, consumer_secret=fake.consumer_secret
        )
        assert info.domain == fake.url
        assert fake.url.endswith("/shop")
        orders, _ = read_all(adapter_for(fake), "orders")
    assert len(orders) == 350


@pytest.mark.parametrize(
    "url",
    [
        "ftp://shop.example",
        "shop.example",
        "https://",
        "https://admin:pw@shop.example",
        "https://shop.example/?page=1",
        "https://shop.example/#top",
        "https://shop.example/wp-json/wc/v3",
        "https://shop.example/wp-admin",
        "https://shop.example/index.php",
        "https://shop.example/my shop",
        "https://shop.example:99999",
    ],
)
def test_store_url_check_refuses(url):
    with pytest.raises(PlatformError):
        store_url_check(url)


def test_store_url_check_normalises():
    assert store_url_check(" HTTPS://Shop.Example:8443/Store/ ") == "https://shop.example:8443/Store"
    assert store_url_check("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
