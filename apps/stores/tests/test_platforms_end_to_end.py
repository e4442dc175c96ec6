"""Every platform, the same end-to-end checks ("done when" of the connectors issue): the store connects,
syncs fully and incrementally, takes webhooks, and survives a worker killed mid-sync, a 429 storm, a
duplicated webhook, a forged webhook and a malformed payload.

Each check runs the real path for Shopify, WooCommerce and BigCommerce alike: the real adapter over
HTTP against the platform's loopback fake, ``sync_run_execute``, ``orders_upsert`` and Postgres;
webhooks POSTed through Django's test client to the tenant host's endpoint, two workspaces present.
A platform is one small kit (connect a store, a signed delivery for an order, re-signing, a 429 storm
in its own dialect); the test bodies are shared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum
from django.test import Client
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores.integrations.base import Adapter
from apps.stores.integrations.bigcommerce.fake import FakeBigCommerce
from apps.stores.integrations.fakes.server import Failure, FakeServer
from apps.stores.integrations.fakes.store import FakeOrder, FakeStore
from apps.stores.integrations.shopify import bulk
from apps.stores.integrations.shopify.fake import FakeShopify
from apps.stores.integrations.signatures import (
    shopify_webhook_signature,
    standard_webhook_signature,
    woocommerce_webhook_signature,
)
from apps.stores.integrations.woocommerce.fake import FakeWooCommerce
from apps.stores.models import Order, OrderItem, StoreConnection, SyncRun, WebhookDelivery
from apps.stores.services import connections, sync, webhooks
from apps.stores.tests.test_connect_flows import HASH, _connect_bigcommerce
from apps.stores.tests.test_shopify import SHOP, _connected_store, _Dies

ORDERS = 36
PAGE = 10  # 4 pages of orders: a kill after 2 leaves work to resume
STORM_RETRY_AFTER = "2"  # seconds a 429 asks for; recorded by the injected sleep, never slept


def _small_store(seed: int) -> FakeStore:
    # A day old: an incremental run (since the full run's start, less the look-back) sees only what
    # the test changes.
    end = datetime.now(UTC) - timedelta(days=1)
    return FakeStore.generate(orders=ORDERS, customers=10, products=4, seed=seed, end=end)


# --- the kits ----------------------------------------------------------------------------------------------
class Kit:
    """One platform: its fake (served on loopback) and how to reach it like the platform does."""

    platform: ClassVar[str]
    signature_header: ClassVar[str]
    storm_wait: ClassVar[float]  # what our client waits per 429 of ``storm``
    malformed_kept: ClassVar[bool] = True  # a non-JSON body can still be tied to a store (headers)
    server: FakeServer
    store: FakeStore  # the platform's side of the shop

    def connect(self, schema: str) -> StoreConnection:
        raise NotImplementedError

    def adapter(self, store: StoreConnection, **options: Any) -> Adapter:
        """The store's real adapter (``adapter_for``), with small pages."""
        return connections.adapter_for(store, page_size=PAGE, **options)

    def endpoint(self, store: StoreConnection) -> str:
        return f"/webhooks/{self.platform}"

    def addresses(self) -> set[str]:
        """Where the platform now sends this shop's webhooks."""
        raise NotImplementedError

    def delivery(self, order: FakeOrder) -> tuple[bytes, dict[str, str]]:
        """A signed ``order created`` delivery, as the platform sends it."""
        raise NotImplementedError

    def sign(self, body: bytes, headers: dict[str, str], secret: str | None = None) -> dict[str, str]:
        """``headers`` with a signature over ``body``: the platform's secret, or ``secret`` (a forger's)."""
        raise NotImplementedError

    def junk(self) -> tuple[bytes, dict[str, str]]:
        """A validly signed JSON delivery whose payload is not a usable order."""
        raise NotImplementedError

    def storm(self, times: int) -> Failure:
        """``times`` 429s on the order listing, with the platform's rate-limit headers."""
        raise NotImplementedError


class ShopifyKit(Kit):
    platform = "shopify"
    signature_header = "X-Shopify-Hmac-Sha256"
    storm_wait = float(STORM_RETRY_AFTER)

    def __init__(self, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = FakeShopify()
        self.store = self.fake.add_shop(SHOP, _small_store(3)).store
        self.server = self.fake.server
        self.secret = self.fake.client_secret
        settings.KIKI_SHOPIFY_CLIENT_ID = self.fake.client_id
        settings.KIKI_SHOPIFY_CLIENT_SECRET = self.secret
        settings.KIKI_SHOPIFY_API_BASE = self.fake.api_base_template()
        monkeypatch.setattr(bulk, "POLL_S", (0.0,))  # the bulk operations of a connect: polled at once

    def connect(self, schema: str) -> StoreConnection:
        return _connected_store(self.fake, schema)  # OAuth callback: HMAC, state nonce, code exchanged

    def addresses(self) -> set[str]:
        return set(self.fake.shops[SHOP].subscriptions.values())

    def delivery(self, order: FakeOrder) -> tuple[bytes, dict[str, str]]:
        return self.fake.signed_delivery(SHOP, "orders/create", self.fake.rest_order(self.store, order))

    def sign(self, body: bytes, headers: dict[str, str], secret: str | None = None) -> dict[str, str]:
        return {**headers, self.signature_header: shopify_webhook_signature(secret or self.secret, body)}

    def junk(self) -> tuple[bytes, dict[str, str]]:
        return self.fake.signed_delivery(SHOP, "orders/create", {"id": 424242, "created_at": "yesterday"})

    def storm(self, times: int) -> Failure:
        return Failure(429, times=times, headers={"Retry-After": STORM_RETRY_AFTER}, path_contains="graphql")


class WooCommerceKit(Kit):
    platform = "woocommerce"
    signature_header = "X-WC-Webhook-Signature"
    storm_wait = float(STORM_RETRY_AFTER)

    def __init__(self, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = FakeWooCommerce(_small_store(5))
        self.store = self.fake.store
        self.server = self.fake.server
        settings.KIKI_STORES_ALLOW_HTTP = True  # the fake is plain http on 127.0.0.1

    def connect(self, schema: str) -> StoreConnection:
        with schema_context(schema):  # the pasted keys' path (key generation ends in it too)
            return connections.woocommerce_connect(
                store_url=self.fake.url,
                consumer_key=self.fake.consumer_key,
                consumer_secret=self.fake.consumer_secret,
                actor=Actor.system("tests"),
            )

    def endpoint(self, store: StoreConnection) -> str:
        return f"/webhooks/woocommerce/{store.pk}"

    def addresses(self) -> set[str]:
        return {h.delivery_url for h in self.fake.webhooks.values()}

    def delivery(self, order: FakeOrder) -> tuple[bytes, dict[str, str]]:
        return self.fake.signed_delivery("order.created", self.fake.order_payload(order.id))

    def sign(self, body: bytes, headers: dict[str, str], secret: str | None = None) -> dict[str, str]:
        key = secret or self.fake.webhook_for("order.created").secret  # the store's, set when registering
        return {**headers, self.signature_header: woocommerce_webhook_signature(key, body)}

    def junk(self) -> tuple[bytes, dict[str, str]]:
        return self.fake.signed_delivery("order.created", {"id": 424242, "date_created_gmt": "yesterday"})

    def storm(self, times: int) -> Failure:
        return Failure(
            429,
            times=times,
            headers={"Retry-After": STORM_RETRY_AFTER},
            path_contains="/wp-json/wc/v3/orders",
        )


class BigCommerceKit(Kit):
    platform = "bigcommerce"
    signature_header = "webhook-signature"
    storm_wait = 2.5
    malformed_kept = False  # the store is named in the body: a body that is not JSON names none

    def __init__(self, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = FakeBigCommerce(quota=1_000_000)  # the quota's own pacing has its test elsewhere
        self.store = self.fake.add_store(HASH, _small_store(9)).store
        self.server = self.fake.server
        settings.KIKI_BIGCOMMERCE_CLIENT_ID = self.fake.client_id
        settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = self.fake.client_secret
        settings.KIKI_BIGCOMMERCE_API_BASE = self.server.url
        settings.KIKI_BIGCOMMERCE_LOGIN_BASE = self.server.url

    def connect(self, schema: str) -> StoreConnection:
        return _connect_bigcommerce(self.fake, schema)  # the app's auth callback: code exchanged

    def addresses(self) -> set[str]:
        return set(self.fake.subscriptions(HASH).values())

    def delivery(self, order: FakeOrder) -> tuple[bytes, dict[str, str]]:
        return self.fake.signed_delivery(HASH, "store/order/created", "order", order.id)

    def sign(self, body: bytes, headers: dict[str, str], secret: str | None = None) -> dict[str, str]:
        key = (secret or self.fake.client_secret).encode()
        signature = standard_webhook_signature(key, headers["webhook-id"], headers["webhook-timestamp"], body)
        return {**headers, self.signature_header: signature}

    def junk(self) -> tuple[bytes, dict[str, str]]:
        body, headers = self.fake.signed_delivery(HASH, "store/order/created", "order", 1)
        payload = json.loads(body)
        payload["data"]["id"] = "not-an-order-id"
        junk = json.dumps(payload).encode()
        return junk, self.sign(junk, headers)

    def storm(self, times: int) -> Failure:
        return Failure(
            429,
            times=times,
            headers={"X-Rate-Limit-Time-Reset-Ms": "2500", "X-Rate-Limit-Requests-Left": "0"},
            body={"status": 429, "title": "Too many requests"},
            path_contains="/v2/orders",
        )


KITS: dict[str, type[Kit]] = {
    "shopify": ShopifyKit,
    "woocommerce": WooCommerceKit,
    "bigcommerce": BigCommerceKit,
}


@pytest.fixture(params=list(KITS))
def kit(request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kit]:
    made = KITS[request.param](settings, monkeypatch)
    with made.server:
        yield made


# --- helpers -----------------------------------------------------------------------------------------------
def _finish(kit: Kit, schema: str) -> StoreConnection:
    """Connect, then the connect task: webhooks registered, full sync of every resource, baseline."""
    store = kit.connect(schema)
    with schema_context(schema):
        done = connections.store_finish_connect(store_id=store.pk, actor=Actor.system("tests"))
    assert done.status == StoreConnection.Status.ACTIVE, done.last_error
    return done


def _post(client: Client, path: str, body: bytes, headers: dict[str, str]):
    extra = {
        f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"
    }
    return client.post(path, data=body, content_type="application/json", **extra)


def _assert_every_order_once(kit: Kit, store: StoreConnection) -> None:
    """Call inside the store's schema: the store's orders are the platform's, each exactly once."""
    stored = sorted(Order.objects.filter(store=store).values_list("platform_id", flat=True))
    assert stored == sorted(str(o.id) for o in kit.store.orders)
    sums = Order.objects.filter(store=store).aggregate(total=Sum("total"), refunded=Sum("total_refunded"))
    assert sums["total"] == sum((o.total for o in kit.store.orders), Decimal("0"))
    assert sums["refunded"] == sum((o.refunded for o in kit.store.orders), Decimal("0"))
    assert OrderItem.objects.filter(order__store=store).count() == sum(len(o.lines) for o in kit.store.orders)


# --- connect, full and incremental sync --------------------------------------------------------------------
def test_the_store_connects_syncs_fully_then_incrementally(kit, tenants):
    a, b = tenants
    store = _finish(kit, a.schema)
    [address] = kit.addresses()  # every topic to one address: this workspace's endpoint
    assert (urlsplit(address).hostname, urlsplit(address).path) == (a.host, kit.endpoint(store))
    with schema_context(a.schema):
        _assert_every_order_once(kit, store)
        assert set(SyncRun.objects.filter(store=store).values_list("state", "mode")) == {("done", "full")}
        assert store.baselines.filter(is_current=True).count() == 1

    new = [kit.store.add_order() for _ in range(3)]
    refunded = kit.store.refund(kit.store.orders[5].id, Decimal("4.00"))
    with schema_context(a.schema):
        runs = sync.sync_store_all(
            store=store, mode="incremental", actor=Actor.system("tests"), enqueue=False
        )
        finished = {r.resource: sync.sync_run_execute(run_id=r.pk) for r in runs}
        assert {r.state for r in finished.values()} == {"done"}
        orders_run = finished["orders"]
        assert orders_run.since is not None
        assert 4 <= orders_run.items < ORDERS  # what changed, not the whole store again
        _assert_every_order_once(kit, store)
        assert Order.objects.get(platform_id=str(refunded.id)).total_refunded == refunded.refunded
        assert Order.objects.filter(platform_id__in=[str(o.id) for o in new]).count() == 3
    with schema_context(b.schema):
        assert not Order.objects.exists()
        assert not StoreConnection.objects.exists()


# --- survives: a worker killed mid-sync, a 429 storm ------------------------------------------------------
def test_a_worker_killed_mid_sync_resumes_and_stores_every_order_once(kit, tenants, settings):
    settings.KIKI_SHOPIFY_BULK_SYNC = False  # Shopify's paginated path (the bulk one: test_shopify.py)
    a, _ = tenants
    store = kit.connect(a.schema)
    with schema_context(a.schema):
        run = sync.sync_request(
            store=store, resource="orders", mode="full", actor=Actor.system("tests"), enqueue=False
        )
        with pytest.raises(KeyboardInterrupt):
            sync.sync_run_execute(run_id=run.pk, adapter_factory=lambda s: _Dies(kit.adapter(s), 2))
        stopped = SyncRun.objects.get(pk=run.pk)
        assert (stopped.state, stopped.pages) == ("running", 2)
        assert Order.objects.count() == stopped.items == 2 * PAGE
        # What Celery's redelivery (or the stalled-run sweep) does: execute the run again, here with
        # the default adapter (another page size): the run keeps the size its cursor began with.
        resumed = sync.sync_run_execute(run_id=run.pk)
        assert resumed.state == "done"
        assert resumed.items == Order.objects.count() == ORDERS
        assert resumed.pages > 2  # it went on from the third page (how many follow depends on the size)
        _assert_every_order_once(kit, store)


def test_a_429_storm_is_waited_out_and_one_past_the_retries_resumes_later(kit, tenants, settings):
    settings.KIKI_SHOPIFY_BULK_SYNC = False
    a, _ = tenants
    waits: list[float] = []

    def factory(store: StoreConnection) -> Adapter:
        return kit.adapter(store, sleep=waits.append)  # the waits are recorded, not slept

    store = kit.connect(a.schema)
    with schema_context(a.schema):
        run = sync.sync_request(
            store=store, resource="orders", mode="full", actor=Actor.system("tests"), enqueue=False
        )
        first = sync.sync_run_execute(run_id=run.pk, adapter_factory=factory, max_pages=1)
        assert (first.state, first.pages) == ("running", 1)
        # Longer than the client's 8 tries: the run stops as interrupted and keeps its place.
        kit.server.fail(kit.storm(8))
        with pytest.raises(sync.SyncInterrupted):
            sync.sync_run_execute(run_id=run.pk, adapter_factory=factory)
        kept = SyncRun.objects.get(pk=run.pk)
        assert (kept.state, kept.pages, kept.items, kept.cursor) == ("running", 1, PAGE, first.cursor)
        assert Order.objects.count() == PAGE
        assert waits == [kit.storm_wait] * 7  # the platform's own wait, each time
        # The task's retry meets a shorter storm: waited out, then the run ends.
        kit.server.fail(kit.storm(6))
        done = sync.sync_run_execute(run_id=run.pk, adapter_factory=factory)
        assert done.state == "done", done.error
        assert waits == [kit.storm_wait] * 13
        assert not kit.server.failures
        _assert_every_order_once(kit, store)


# --- webhooks: taken once, never across workspaces; forged and malformed ----------------------------------
def test_a_webhook_is_taken_once_and_never_written_into_another_workspace(kit, tenants):
    a, b = tenants
    store = _finish(kit, a.schema)
    order = kit.store.add_order()
    body, headers = kit.delivery(order)
    path = kit.endpoint(store)

    on_b = _post(Client(HTTP_HOST=b.host), path, body, headers)  # validly signed, the wrong workspace
    assert on_b.status_code == 404, on_b.content
    alpha = Client(HTTP_HOST=a.host)
    assert _post(alpha, path, body, headers).json() == {"status": "accepted"}
    assert _post(alpha, path, body, headers).json() == {"status": "duplicate"}  # the platform retried
    with schema_context(a.schema):
        assert webhooks.webhooks_drain() == 1
        delivery = WebhookDelivery.objects.get()
        assert (delivery.store_id, delivery.status) == (store.pk, "processed")
        stored = Order.objects.get(store=store, platform_id=str(order.id))
        assert stored.total == order.total
        assert stored.items.count() == len(order.lines)
    assert _post(alpha, path, body, headers).json() == {"status": "duplicate"}  # after processing too
    with schema_context(a.schema):
        assert webhooks.webhooks_drain() == 0
        assert WebhookDelivery.objects.count() == 1
        _assert_every_order_once(kit, store)
    with schema_context(b.schema):
        assert not WebhookDelivery.objects.exists()
        assert not Order.objects.exists()


def test_forged_and_malformed_deliveries_write_nothing(kit, tenants):
    a, _ = tenants
    store = _finish(kit, a.schema)
    path = kit.endpoint(store)
    alpha = Client(HTTP_HOST=a.host)
    order = kit.store.add_order()
    body, headers = kit.delivery(order)

    tampered = body[:-1] + b',"total":"0.01"}'  # the body changed under the platform's signature
    forged = [
        _post(alpha, path, tampered, headers),
        _post(alpha, path, body, kit.sign(body, headers, secret="not-the-secret")),
        _post(alpha, path, body, {k: v for k, v in headers.items() if k != kit.signature_header}),
    ]
    assert [r.status_code for r in forged] == [401, 401, 401]
    assert forged[0].json()["error"]["code"] == "bad_signature"
    with schema_context(a.schema):
        assert not WebhookDelivery.objects.exists()
        assert not Order.objects.filter(platform_id=str(order.id)).exists()

    # Validly signed, but not JSON: refused with 400, kept as failed (with why) where the store is known.
    not_json = b'{"id": 3,'
    _, fresh_headers = kit.delivery(kit.store.add_order())
    malformed = _post(alpha, path, not_json, kit.sign(not_json, fresh_headers))
    assert malformed.status_code == 400, malformed.content
    assert malformed.json()["error"]["code"] == "malformed"
    with schema_context(a.schema):
        if kit.malformed_kept:
            kept = WebhookDelivery.objects.get()
            assert (kept.status, kept.store_id) == ("failed", store.pk)
            assert "not JSON" in kept.error
        else:
            assert not WebhookDelivery.objects.exists()

    # Validly signed JSON that is no order: stored, then failed with its reason; nothing written.
    junk, junk_headers = kit.junk()
    assert _post(alpha, path, junk, junk_headers).json() == {"status": "accepted"}
    with schema_context(a.schema):
        before = Order.objects.count()
        received = WebhookDelivery.objects.get(status="received")
        failed = webhooks.webhook_process(delivery_id=received.pk)
        assert failed.status == "failed"
        assert failed.error.startswith("ValueError")  # why, for the Admin who replays it
        assert Order.objects.count() == before == ORDERS

    # The genuine delivery, sent after all that, is still taken.
    assert _post(alpha, path, body, headers).json() == {"status": "accepted"}
    with schema_context(a.schema):
        assert webhooks.webhooks_drain() == 1
        assert Order.objects.filter(platform_id=str(order.id)).count() == 1
