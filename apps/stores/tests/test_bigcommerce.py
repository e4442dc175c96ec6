"""BigCommerce: the real adapter against the loopback fake over HTTP (full and incremental pagination of
V2 orders and V3 catalog/customers, the 204 end page, the shared quota and its 429s, 5xx retries, a
refused token), thin webhook callbacks turned into records, hook registration, the receiver's
Standard Webhooks verification (V7, V8) and identity, and the app OAuth (token exchange, signed JWT)."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from apps.stores.integrations.base import AuthExpired, Delivery, PlatformError
from apps.stores.integrations.bigcommerce.adapter import WEBHOOK_TOPICS, BigCommerceAdapter
from apps.stores.integrations.bigcommerce.fake import FakeBigCommerce
from apps.stores.integrations.bigcommerce.oauth import (
    store_hash_of,
    token_request,
    verify_signed_payload_jwt,
)
from apps.stores.integrations.bigcommerce.receiver import BigCommerceReceiver
from apps.stores.integrations.fakes.server import Failure, FakeServer, Reply, Request
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.signatures import standard_webhook_valid
from apps.stores.services.catalog import InventoryInput, ProductInput
from apps.stores.services.orders import CustomerInput, OrderInput

HASH = "abc123"
END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    """The fake's clock and the adapter's sleep in one: sleeping moves time, so a spent quota window
    really refreshes, and every wait is recorded."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock):
    bc = FakeBigCommerce(clock=clock)
    bc.add_store(HASH, FakeStore.generate(orders=300, customers=50, products=10, seed=11, end=END))
    with bc.server:
        yield bc


@pytest.fixture
def adapter(fake, clock) -> BigCommerceAdapter:
    return BigCommerceAdapter(
        api_base=fake.server.url, store_hash=HASH, access_token=fake.grant_token(HASH), sleep=clock.sleep
    )


def _all(adapter: BigCommerceAdapter, resource: str, since: datetime | None = None) -> list:
    records, cursor, pages = [], {}, 0
    while cursor is not None:
        page = adapter.fetch(resource, cursor=cursor, since=since)
        records.extend(page.records)
        cursor, pages = page.next_cursor, pages + 1
        assert pages < 100
    return records


def _store(fake: FakeBigCommerce) -> FakeStore:
    return fake.stores[HASH].store


# --- pagination --------------------------------------------------------------------------------------
def test_every_order_comes_once_with_its_totals_items_and_refunds(fake, adapter, clock):
    store = _store(fake)
    orders = _all(adapter, "orders")
    assert all(isinstance(o, OrderInput) for o in orders)
    counts = Counter(o.platform_id for o in orders)
    assert len(orders) == 300
    assert set(counts) == {str(o.id) for o in store.orders}
    assert max(counts.values()) == 1
    by_id = {o.platform_id: o for o in orders}
    for f in store.orders:
        got = by_id[str(f.id)]
        assert (got.total, got.subtotal, got.tax, got.shipping, got.discount) == (
            f.total,
            f.subtotal,
            f.tax,
            f.shipping,
            f.discount,
        )
        assert got.placed_at == f.created_at
        assert got.placed_at.tzinfo is not None
        assert got.platform_updated_at == f.updated_at
        assert got.cancelled_at == (f.cancelled_at if f.cancelled_at and not f.refunds else None)
        assert got.refunded == f.refunded
        assert sorted((r.platform_id, r.amount, r.refunded_at) for r in got.refunds) == sorted(
            (str(r.id), r.amount, r.created_at) for r in f.refunds
        )
        assert [(i.platform_id, i.sku, i.quantity, i.price, i.variant_platform_id) for i in got.items] == [
            (str(n.id), n.sku, n.quantity, n.price, str(n.variant_id)) for n in f.lines
        ]
        assert got.financial_status == f.financial_status
        assert got.fulfillment_status == "fulfilled"
        assert got.currency == "USD"
        if f.customer_id is None:
            assert got.customer is None  # customer_id 0: a guest
        else:
            assert got.customer.platform_id == str(f.customer_id)
            assert got.customer.email == store.customer(f.customer_id).email
    assert sum((o.total for o in orders), Decimal("0")) == sum((o.total for o in store.orders), Decimal("0"))
    assert any(o.refunds for o in orders)
    assert any(o.cancelled_at for o in orders)
    assert any(o.customer is None for o in orders)
    # At most two calls per order (its products, its refunds when it has any) plus one per page.
    refunded = sum(1 for o in store.orders if o.refunds)
    assert len(fake.server.requests_to("/v2/orders/")) == 300
    assert len(fake.server.requests_to("/payment_actions/refunds")) == refunded
    listing = [r for r in fake.server.log if r.path.endswith("/v2/orders")]
    assert [r.arg("page") for r in listing] == ["1", "2", "3", "4"]  # page 4: 204, the end
    # Some 330 calls on a 150-per-30 s quota: the adapter paced itself instead of meeting 429s.
    assert fake.stores[HASH].served_429 == 0
    assert clock.waits
    assert all(0 < w <= 30 for w in clock.waits)


def test_the_empty_page_answered_204_ends_the_run(fake, adapter):
    raw = requests.get(
        f"{fake.server.url}/stores/{HASH}/v2/orders",
        params={"page": 99},
        headers={"X-Auth-Token": fake.grant_token(HASH), "Accept": "application/json"},
        timeout=5,
    )
    assert raw.status_code == 204
    assert raw.content == b""
    page = adapter.fetch("orders", cursor={"page": 99}, since=None)
    assert page.records == []
    assert page.next_cursor is None
    future = adapter.fetch("orders", cursor={}, since=END + timedelta(days=30))
    assert future.records == []
    assert future.next_cursor is None


def test_products_customers_and_inventory_follow_the_v3_envelope(fake, clock):
    store = _store(fake)
    untracked = store.products[0]
    fake.stores[HASH].untracked.add(untracked.id)
    adapter = BigCommerceAdapter(
        api_base=fake.server.url,
        store_hash=HASH,
        access_token=fake.grant_token(HASH),
        sleep=clock.sleep,
        page_size=4,
    )
    first = adapter.fetch("products", cursor={}, since=None)
    assert first.total == 10
    assert first.next_cursor == {"page": 2, "size": 4}  # the run keeps its page size
    products = _all(adapter, "products")
    assert [p.platform_id for p in products] == [str(p.id) for p in store.products]
    for got, f in zip(products, store.products, strict=True):
        assert got.title == f.title
        assert got.url == f"https://sandbox.mybigcommerce.com/{f.handle}/"
        assert [(v.platform_id, v.sku, v.price, v.title) for v in got.variants] == [
            (str(v.id), v.sku, v.price, v.title) for v in f.variants
        ]
        expected = [None] * len(f.variants) if f is untracked else [v.inventory for v in f.variants]
        assert [v.inventory_quantity for v in got.variants] == expected
    levels = _all(adapter, "inventory")
    assert all(isinstance(level, InventoryInput) for level in levels)
    assert {level.variant_platform_id: level.quantity for level in levels} == {
        str(v.id): (None if p is untracked else v.inventory) for p in store.products for v in p.variants
    }
    customers = _all(adapter, "customers")
    assert [c.platform_id for c in customers] == [str(c.id) for c in store.customers]
    assert all(isinstance(c, CustomerInput) for c in customers)
    assert [c.accepts_marketing for c in customers] == [c.accepts_marketing for c in store.customers]
    assert max(int(r.arg("limit")) for r in fake.server.requests_to("/v3/")) == 4
    with pytest.raises(PlatformError):
        adapter.fetch("gift_cards", cursor={}, since=None)


def test_an_incremental_run_reads_only_what_changed(fake, adapter):
    store = _store(fake)
    since = END + timedelta(days=1)
    later = since + timedelta(hours=2)
    new = store.add_order(when=later)
    refunded = store.refund(store.orders[7].id, Decimal("5.00"), when=later)
    cancelled = store.cancel(store.orders[9].id, when=later)
    restocked = store.set_inventory(store.products[3].variants[0].id, 17, when=later)
    orders = _all(adapter, "orders", since)
    assert sorted(o.platform_id for o in orders) == sorted(str(o.id) for o in (new, refunded, cancelled))
    by_id = {o.platform_id: o for o in orders}
    assert by_id[str(refunded.id)].refunded == refunded.refunded
    assert by_id[str(cancelled.id)].cancelled_at == later
    sent = fake.server.requests_to("/v2/orders")[0].arg("min_date_modified")
    assert sent == "Mon, 02 Nov 2026 12:00:00 +0000"  # RFC-2822
    products = _all(adapter, "products", since)
    assert [p.platform_id for p in products] == [str(restocked.product_id)]
    assert _all(adapter, "customers", since) == []


# --- failures ----------------------------------------------------------------------------------------
def test_a_429_waits_the_reset_time_it_names(fake, adapter, clock):
    fake.server.fail(
        Failure(
            429,
            times=2,
            path_contains="/v2/store",
            headers={"X-Rate-Limit-Time-Reset-Ms": "2500", "X-Rate-Limit-Requests-Left": "0"},
            body={"status": 429, "title": "Too many requests"},
        )
    )
    info = adapter.shop()
    assert (info.name, info.currency, info.domain) == (
        "Sandbox Outfitters",
        "USD",
        "sandbox.mybigcommerce.com",
    )
    assert clock.waits == [2.5, 2.5]
    assert adapter.http.retries == 2


def test_a_quota_spent_by_other_apps_is_waited_out(fake, adapter, clock):
    clock.now += 12  # 12 s into the window: 18 s remain
    fake.spend(HASH, 150)
    assert adapter.shop().currency == "USD"
    assert fake.stores[HASH].served_429 == 1
    assert clock.waits == [pytest.approx(18.0)]


def test_5xx_is_retried_with_backoff(fake, adapter, clock):
    fake.server.fail(Failure(503, times=2, path_contains="/v3/customers"))
    page = adapter.fetch("customers", cursor={}, since=None)
    assert len(page.records) == 50
    assert adapter.http.retries == 2
    assert len(clock.waits) == 2
    assert all(w > 0 for w in clock.waits)


def test_a_refused_token_is_auth_expired(fake, clock):
    adapter = BigCommerceAdapter(
        api_base=fake.server.url, store_hash=HASH, access_token="not-a-token", sleep=clock.sleep
    )
    with pytest.raises(AuthExpired):
        adapter.fetch("orders", cursor={}, since=None)
    good = BigCommerceAdapter(
        api_base=fake.server.url, store_hash=HASH, access_token=fake.grant_token(HASH), sleep=clock.sleep
    )
    good.shop()
    fake.revoke_tokens(HASH)
    with pytest.raises(AuthExpired):
        good.shop()
    with pytest.raises(PlatformError):
        BigCommerceAdapter(api_base=fake.server.url, store_hash="../other", access_token="x")


# --- webhooks ----------------------------------------------------------------------------------------
def _delivery(fake: FakeBigCommerce, scope: str, kind: str, rid: int) -> Delivery:
    body, headers = fake.signed_delivery(HASH, scope, kind, rid)
    identity = BigCommerceReceiver().identify({k.lower(): v for k, v in headers.items()}, body, None)
    return Delivery(topic=identity.topic, delivery_id=identity.delivery_id, payload=json.loads(body))


def test_thin_callbacks_are_fetched_into_records(fake, adapter):
    store = _store(fake)
    refunded = next(o for o in store.orders if o.refunds)
    [order] = adapter.records_of(_delivery(fake, "store/order/statusUpdated", "order", refunded.id))
    assert order.platform_id == str(refunded.id)
    assert order.total == refunded.total
    assert order.refunded == refunded.refunded
    assert [r.platform_id for r in order.refunds] == [str(r.id) for r in refunded.refunds]
    assert len(order.items) == len(refunded.lines)
    [again] = adapter.records_of(_delivery(fake, "store/order/refund/created", "order", refunded.id))
    assert again == order

    product = store.products[2]
    [got] = adapter.records_of(_delivery(fake, "store/product/updated", "product", product.id))
    assert isinstance(got, ProductInput)
    assert not got.deleted
    assert [v.platform_id for v in got.variants] == [str(v.id) for v in product.variants]

    levels = adapter.records_of(_delivery(fake, "store/product/inventory/updated", "product", product.id))
    assert [(lv.variant_platform_id, lv.quantity) for lv in levels] == [
        (str(v.id), v.inventory) for v in product.variants
    ]
    variant = product.variants[-1]
    store.set_inventory(variant.id, 3)
    [level] = adapter.records_of(
        _delivery(fake, "store/sku/inventory/updated", "sku", variant.inventory_item_id)
    )
    assert (level.variant_platform_id, level.quantity) == (str(variant.id), 3)

    calls = len(fake.server.log)
    [gone] = adapter.records_of(_delivery(fake, "store/product/deleted", "product", 424242))
    assert gone == ProductInput(platform_id="424242", title="", deleted=True)
    assert len(fake.server.log) == calls  # nothing to fetch for a deletion
    product.deleted = True  # deleted between the callback and our fetch
    [vanished] = adapter.records_of(_delivery(fake, "store/product/updated", "product", product.id))
    assert vanished.deleted

    customer = store.customers[4]
    [who] = adapter.records_of(_delivery(fake, "store/customer/updated", "customer", customer.id))
    assert (who.platform_id, who.email) == (str(customer.id), customer.email)
    assert adapter.records_of(_delivery(fake, "store/order/updated", "order", 999999)) == []
    assert adapter.records_of(_delivery(fake, "store/app/uninstalled", "store", 0)) == []


def test_webhooks_are_registered_once_and_delivered_signed(fake, adapter, settings):
    received: list[Request] = []

    def endpoint(request: Request) -> Reply:
        received.append(request)
        return Reply(200, {"status": "accepted"})

    with FakeServer(endpoint) as ours:
        address = f"{ours.url}/webhooks/bigcommerce"
        assert adapter.register_webhooks(address=address) == list(WEBHOOK_TOPICS)
        assert fake.subscriptions(HASH) == dict.fromkeys(WEBHOOK_TOPICS, address)
        hooks = fake.stores[HASH].hooks
        hooks[0].is_active = False  # BigCommerce deactivated it after 48 h of failures
        assert adapter.register_webhooks(address=address) == list(WEBHOOK_TOPICS)
        assert len(hooks) == len(WEBHOOK_TOPICS)
        assert all(h.is_active for h in hooks)
        order = _store(fake).orders[0]
        answer = fake.deliver(HASH, "store/order/created", "order", order.id)
    assert answer.status_code == 200
    [request] = received
    settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = fake.client_secret
    receiver = BigCommerceReceiver()
    assert receiver.verify(request.headers, request.body, "")
    identity = receiver.identify(request.headers, request.body, None)
    assert identity.topic == "orders/create"
    assert identity.store_key == {"shop_domain": HASH}


# --- the receiver ------------------------------------------------------------------------------------
V8_BODY = (
    b'{"store_id":"11111","producer":"stores/abcde","scope":"store/order/statusUpdated",'
    b'"data":{"type":"order","id":173331},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}'
)
V8_HEADERS = {
    "webhook-id": "msg_2Qh0example",
    "webhook-timestamp": "1735689600",
    "webhook-signature": "v1,kFuY2oVwMVOFqoQs1MvOQ1YHdcKI1TrViNCxImRUzWY=",
}


def test_v8_through_the_receiver_good_forged_and_stale(settings, monkeypatch):
    receiver = BigCommerceReceiver()
    settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = "bc-example-client-secret"
    monkeypatch.setattr(time, "time", lambda: 1735689600 + 120)
    assert receiver.verify(V8_HEADERS, V8_BODY, "")
    assert not receiver.verify(V8_HEADERS, V8_BODY.replace(b"173331", b"173332"), "")
    assert not receiver.verify({**V8_HEADERS, "webhook-id": "msg_other"}, V8_BODY, "")
    assert not receiver.verify({**V8_HEADERS, "webhook-signature": "v1,AAAA"}, V8_BODY, "")
    assert not receiver.verify({k: v for k, v in V8_HEADERS.items() if k != "webhook-signature"}, V8_BODY, "")
    settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = "another-app-secret"
    assert not receiver.verify(V8_HEADERS, V8_BODY, "")
    settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = ""
    assert not receiver.verify(V8_HEADERS, V8_BODY, "")  # no secret configured accepts nothing
    settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = "bc-example-client-secret"
    monkeypatch.setattr(time, "time", lambda: 1735689600 + 301)
    assert not receiver.verify(V8_HEADERS, V8_BODY, "")  # outside the 5-minute tolerance
    identity = receiver.identify(V8_HEADERS, V8_BODY, None)
    assert identity.topic == "orders/updated"
    assert identity.store_key == {"shop_domain": "abcde"}
    assert identity.delivery_id == "3f9ea420af83450d7ef9f78b08c8af25b2213637"


def test_v7_the_standard_webhooks_vector_the_receiver_relies_on():
    # V7's key is not UTF-8 text, so it cannot be a client secret; the receiver's check is this function.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    assert standard_webhook_valid(key, headers, body, now=1614265330)
    assert not standard_webhook_valid(key, headers, b'{"test": 2432232315}', now=1614265330)
    assert not standard_webhook_valid(key, headers, body)  # 2021: stale


def test_fresh_fake_deliveries_verify_and_identify(fake, settings):
    settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = fake.client_secret
    receiver = BigCommerceReceiver()
    now = int(time.time())
    body, headers = fake.signed_delivery(HASH, "store/order/updated", "order", 1005, timestamp=now)
    headers = {k.lower(): v for k, v in headers.items()}
    assert receiver.verify(headers, body, "")
    stale_body, stale = fake.signed_delivery(HASH, "store/order/updated", "order", 1005, timestamp=now - 600)
    assert not receiver.verify({k.lower(): v for k, v in stale.items()}, stale_body, "")
    first = receiver.identify(headers, body, None)
    assert first.topic == "orders/updated"
    assert first.store_key == {"shop_domain": HASH}
    payload = json.loads(body)
    assert payload["producer"] == f"stores/{HASH}"
    assert payload["data"] == {"type": "order", "id": 1005}
    # A retry repeats the body: same id. A later update of the same order has the same hash (the data
    # is only {type, id}) but another created_at: another id, so it is not dropped as a duplicate.
    assert receiver.identify(headers, body, None).delivery_id == first.delivery_id
    later_body, later = fake.signed_delivery(HASH, "store/order/updated", "order", 1005, timestamp=now + 60)
    second = receiver.identify({k.lower(): v for k, v in later.items()}, later_body, None)
    assert json.loads(later_body)["hash"] == payload["hash"]
    assert second.delivery_id != first.delivery_id
    assert receiver.identify(headers, b"not json", None).topic == ""
    assert receiver.identify(headers, b"[1, 2]", None).topic == ""
    odd = json.dumps({"scope": "store/cart/created", "producer": "stores/abc123", "hash": "h"}).encode()
    assert receiver.identify({}, odd, None).topic == "store/cart/created"
    assert receiver.identify({}, odd.replace(b"stores/abc123", b"stores/../x"), None).topic == ""
    assert not receiver.is_ping(headers, body)


# --- app OAuth -------------------------------------------------------------------------------------------
def _exchange(fake: FakeBigCommerce, code: str, **overrides: str) -> dict:
    args = {
        "login_base": fake.server.url,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "code": code,
        "context": f"stores/{HASH}",
        "scope": "store_v2_orders_read_only store_v2_products_read_only",
        "redirect_uri": "https://alpha.kiki.test/stores/oauth/bigcommerce/callback",
        **overrides,
    }
    return token_request(**args)


def test_the_code_is_exchanged_for_a_token_that_works(fake, clock):
    code = fake.authorization_code(HASH)
    token = _exchange(fake, code)
    assert token["context"] == f"stores/{HASH}"
    assert token["user"]["email"]
    assert store_hash_of(token["context"]) == HASH
    adapter = BigCommerceAdapter(
        api_base=fake.server.url, store_hash=HASH, access_token=token["access_token"], sleep=clock.sleep
    )
    assert adapter.shop().name == "Sandbox Outfitters"
    with pytest.raises(PlatformError) as reused:
        _exchange(fake, code)  # a code is good once
    assert not isinstance(reused.value, AuthExpired)
    with pytest.raises(PlatformError) as refused:
        _exchange(fake, fake.authorization_code(HASH), client_secret="wrong")
    assert not isinstance(refused.value, AuthExpired)
    assert "wrong" not in str(refused.value)
    with pytest.raises(PlatformError):
        _exchange(fake, fake.authorization_code(HASH), context="stores/")


@pytest.mark.parametrize("context", ["stores/abc123", "stores/z4zn3wo"])
def test_store_hash_of_a_context(context):
    assert store_hash_of(context) == context.split("/")[1]


@pytest.mark.parametrize("context", ["", "stores/", "abc123", "store/abc123", "stores/abc/123", "stores/a b"])
def test_store_hash_of_refuses_anything_else(context):
    with pytest.raises(PlatformError):
        store_hash_of(context)


def test_the_signed_payload_jwt_is_verified(fake):
    now = time.time()
    good = fake.signed_payload_jwt(HASH, now=now)
    claims = verify_signed_payload_jwt(
        good, client_id=fake.client_id, client_secret=fake.client_secret, now=now
    )
    assert claims["sub"] == f"stores/{HASH}"
    assert claims["iss"] == "bc"
    assert store_hash_of(claims["sub"]) == HASH

    def refused(token: str, **kwargs) -> None:
        args = {"client_id": fake.client_id, "client_secret": fake.client_secret, "now": now, **kwargs}
        with pytest.raises(PlatformError):
            verify_signed_payload_jwt(token, **args)

    refused(fake.signed_payload_jwt(HASH, now=now, aud="someone-elses-app"))
    refused(good, client_id="someone-elses-app")
    refused(good, now=now + 2 * 86400)  # expired
    refused(fake.signed_payload_jwt(HASH, now=now, nbf=int(now) + 3600))
    refused(fake.signed_payload_jwt(HASH, now=now, iss="evil"))
    refused(fake.signed_payload_jwt(HASH, now=now, sub="users/1"))
    refused(good, client_secret="another-secret")
    refused(good, client_secret="")
    header, payload, signature = good.split(".")
    claims_tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims_tampered["sub"] = "stores/victim"
    forged = base64.urlsafe_b64encode(json.dumps(claims_tampered).encode()).rstrip(b"=").decode()
    refused(f"{header}.{forged}.{signature}")  # tampered
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    refused(f"{none_alg}.{payload}.")
    refused(f"{none_alg}.{payload}.{signature}")
    refused("not-a-jwt")
    refused(f"{header}.{payload}")
