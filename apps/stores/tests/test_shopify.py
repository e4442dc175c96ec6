"""Shopify end to end against the loopback fake: OAuth connect, full and incremental sync through
``orders_upsert``, a 429 storm and the GraphQL cost throttle, expiring tokens, a sync stopped
mid-way, and signed webhooks (valid, duplicate, forged, malformed, too large, another workspace's)."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores.integrations.fakes.server import Failure
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.shopify.adapter import ShopifyAdapter
from apps.stores.integrations.shopify.fake import FakeShopify
from apps.stores.integrations.signatures import shopify_query_hmac
from apps.stores.models import (
    Customer,
    DataExport,
    InventoryEvent,
    Order,
    OrderItem,
    Product,
    Refund,
    StoreConnection,
    SyncRun,
    Variant,
    WebhookDelivery,
)
from apps.stores.services import catalog, connections, sync, webhooks

SHOP = "sandbox.myshopify.com"
SECRET = "fake-client-secret"


@pytest.fixture(scope="module")
def fake():
    shopify = FakeShopify()
    shopify.add_shop(
        SHOP, FakeStore.generate(orders=420, customers=90, products=12, seed=3, domain="sandbox")
    )
    with shopify.server:
        yield shopify


@pytest.fixture
def shopify_settings(settings, fake):
    settings.KIKI_SHOPIFY_CLIENT_ID = fake.client_id
    settings.KIKI_SHOPIFY_CLIENT_SECRET = SECRET
    settings.KIKI_SHOPIFY_API_BASE = fake.api_base_template()
    return settings


def _callback_params(fake: FakeShopify, state: str, *, stamp: float | None = None) -> dict[str, str]:
    params = {
        "code": fake.authorization_code(SHOP),
        "shop": SHOP,
        "state": state,
        "timestamp": str(int(stamp if stamp is not None else time.time())),
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc2FuZGJveA",
    }
    params["hmac"] = shopify_query_hmac(SECRET, params)
    return params


def _connected_store(fake: FakeShopify, schema: str) -> StoreConnection:
    """A store connected through the real services: install started (state issued), callback checked,
    code exchanged."""
    with schema_context(schema):
        url = connections.shopify_install_start(
            shop=SHOP, redirect_uri="http://x/cb", actor=Actor.system("tests")
        )
        state = parse_qs(urlsplit(url).query)["state"][0]
        return connections.shopify_connect(params=_callback_params(fake, state))


def _admin(info) -> Client:
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=info.admin_email, password=info.password)
    return client


# --- connecting ------------------------------------------------------------------------------------------
def test_an_admin_connects_a_shop_through_oauth_and_the_token_is_encrypted(tenants, shopify_settings, fake):
    a = tenants.a
    admin = _admin(a)
    started = admin.get(f"/stores/connect/shopify?shop={SHOP}")
    assert started.status_code == 302
    authorize = urlsplit(started["Location"])
    assert authorize.path == f"/shops/{SHOP}/admin/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["client_id"] == fake.client_id
    assert query["redirect_uri"] == f"http://{a.host}/stores/oauth/shopify/callback"
    # Shopify sends the merchant back with a code, the state and an HMAC over the query.
    back = admin.get("/stores/oauth/shopify/callback", _callback_params(fake, query["state"]))
    assert back.status_code == 302, back.content
    with schema_context(a.schema):
        store = StoreConnection.objects.get(shop_domain=SHOP)
        assert store.status == StoreConnection.Status.CONNECTING
        assert store.currency == "USD"
        assert connections.credentials_of(store)["access_token"].startswith("shpat_")
        assert store.token_expires_at is not None
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials FROM stores_storeconnection WHERE id = %s", [store.pk])
            assert cursor.fetchone()[0].startswith("kiki:v1:")  # ciphertext at rest
    with schema_context(tenants.b.schema):
        assert not StoreConnection.objects.filter(shop_domain=SHOP).exists()


@pytest.mark.parametrize("problem", ["bad_hmac", "stale", "wrong_state", "bad_shop"])
def test_a_callback_that_does_not_check_out_connects_nothing(tenants, shopify_settings, fake, problem):
    a = tenants.a
    admin = _admin(a)
    started = admin.get(f"/stores/connect/shopify?shop={SHOP}")
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    params = _callback_params(fake, state, stamp=time.time() - 600 if problem == "stale" else None)
    if problem == "bad_hmac":
        params["hmac"] = "0" * 64
    if problem == "wrong_state":
        params["state"] = "someone-elses-state"
        params["hmac"] = shopify_query_hmac(SECRET, params)
    if problem == "bad_shop":
        params["shop"] = "evil.example.com"
        params["hmac"] = shopify_query_hmac(SECRET, params)
    refused = admin.get("/stores/oauth/shopify/callback", params)
    assert refused.status_code in (400, 403)
    with schema_context(a.schema):
        assert not StoreConnection.objects.exists()


def test_an_analyst_cannot_connect_a_store(tenants, shopify_settings):
    a = tenants.a
    analyst = Client(HTTP_HOST=a.host)
    with schema_context(a.schema):
        assert analyst.login(username=a.analyst_email, password=a.password)
    assert analyst.get(f"/stores/connect/shopify?shop={SHOP}").status_code == 403


# --- syncing ---------------------------------------------------------------------------------------------
def _finish(store: StoreConnection, schema: str) -> StoreConnection:
    with schema_context(schema):
        return connections.store_finish_connect(store_id=store.pk, actor=Actor.system("tests"))


def _assert_mirrors(fake_store: FakeStore) -> None:
    orders = Order.objects.all()
    assert orders.count() == len(fake_store.orders)
    assert orders.aggregate(s=Sum("total"))["s"] == sum((o.total for o in fake_store.orders), Decimal("0"))
    assert Order.objects.aggregate(s=Sum("total_refunded"))["s"] == sum(
        (o.refunded for o in fake_store.orders), Decimal("0")
    )
    assert OrderItem.objects.count() == sum(len(o.lines) for o in fake_store.orders)
    assert Refund.objects.count() == sum(len(o.refunds) for o in fake_store.orders)
    assert Order.objects.filter(cancelled_at__isnull=False).count() == sum(
        1 for o in fake_store.orders if o.cancelled_at
    )
    assert Product.objects.count() == len(fake_store.products)
    assert Variant.objects.count() == sum(len(p.variants) for p in fake_store.products)
    assert OrderItem.objects.filter(variant__isnull=True).count() == 0  # items link to synced variants
    assert Customer.objects.count() == len(fake_store.customers)
    tagged = Order.objects.exclude(utm_source="")
    assert tagged.exists()
    assert tagged.exclude(gclid="", fbclid="", ttclid="").exists()


def test_connecting_runs_the_full_sync_then_the_baseline(tenants, shopify_settings, fake):
    store = _connected_store(fake, tenants.a.schema)
    store = _finish(store, tenants.a.schema)
    assert store.status == StoreConnection.Status.ACTIVE
    shop = fake.shops[SHOP]
    assert set(shop.subscriptions) >= {
        "orders/create",
        "orders/updated",
        "inventory_levels/update",
        "app/uninstalled",
    }
    with schema_context(tenants.a.schema):
        from apps.governance.tenancy.selectors import current_tenant_base_url

        address = f"{current_tenant_base_url()}/webhooks/shopify"
    assert address.startswith(f"http://{tenants.a.host}")
    assert set(shop.subscriptions.values()) == {address}
    with schema_context(tenants.a.schema):
        _assert_mirrors(shop.store)
        assert SyncRun.objects.filter(state="done", mode="full").count() == 4
        assert store.baselines.filter(is_current=True).count() == 1
        again = _finish(StoreConnection.objects.get(pk=store.pk), tenants.a.schema)  # idempotent
        assert again.status == StoreConnection.Status.ACTIVE
    with schema_context(tenants.b.schema):
        assert not Order.objects.exists()


def test_incremental_sync_picks_up_changes_and_nothing_else(tenants, shopify_settings, fake):
    store = _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    shop = fake.shops[SHOP].store
    new = [shop.add_order() for _ in range(3)]
    refunded = shop.refund(shop.orders[5].id, Decimal("4.00"))
    with schema_context(tenants.a.schema):
        runs = sync.sync_store_all(
            store=StoreConnection.objects.get(pk=store.pk),
            mode="incremental",
            actor=Actor.system("tests"),
            enqueue=False,
        )
        orders_run = next(r for r in runs if r.resource == "orders")
        assert orders_run.since is not None
        done = sync.sync_run_execute(run_id=orders_run.pk)
        assert done.state == "done"
        assert done.items < 20  # the changes (and the overlap), not the whole store
        _assert_mirrors(shop)
        assert Order.objects.get(platform_id=str(refunded.id)).total_refunded == refunded.refunded
        assert Order.objects.filter(platform_id__in=[str(o.id) for o in new]).count() == 3


def test_a_429_storm_and_the_cost_throttle_are_waited_out(tenants, shopify_settings, fake):
    fake.server.fail(Failure(429, times=4, headers={"Retry-After": "2"}, path_contains="graphql"))
    fake.server.fail(Failure(503, times=2, path_contains="graphql"))
    shop = fake.shops[SHOP]
    shop.bucket, shop.bucket_max, shop.restore_rate = 150.0, 1000.0, 2000.0  # an orders page costs 802 points
    waits: list[float] = []
    try:
        adapter = ShopifyAdapter(
            api_base=fake.api_base_template().format(shop=SHOP),
            access_token=_token(fake),
            sleep=lambda s: (waits.append(s), time.sleep(s if s < 1 else 0))[1],  # Retry-After: 2 not slept
        )
        seen = []
        cursor: dict = {}
        while True:
            page = adapter.fetch("orders", cursor=cursor, since=None)
            seen.extend(r.platform_id for r in page.records)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    finally:
        shop.bucket = shop.bucket_max = 10000.0
        shop.restore_rate = 1000.0
    assert sorted(seen) == sorted(str(o.id) for o in shop.store.orders)  # everything, once
    assert waits[:4] == [2.0, 2.0, 2.0, 2.0]  # Retry-After honoured
    throttled = [w for w in waits[4:] if w < 1]
    assert throttled  # THROTTLED: waited for the points to restore …
    assert all(0.05 <= w <= 0.41 for w in throttled)  # … (802 − available) ÷ 2000 points/s


def _token(fake: FakeShopify) -> str:
    from apps.stores.integrations.shopify.adapter import token_request

    return token_request(
        api_base=fake.api_base_template().format(shop=SHOP),
        client_id=fake.client_id,
        client_secret=SECRET,
        code=fake.authorization_code(SHOP),
    )["access_token"]


def test_an_expired_token_is_refreshed_and_the_sync_goes_on(tenants, shopify_settings, fake):
    store = _connected_store(fake, tenants.a.schema)
    fake.expire_tokens(SHOP)  # Shopify stops accepting it before our clock says so
    with schema_context(tenants.a.schema):
        before = connections.credentials_of(StoreConnection.objects.get(pk=store.pk))["access_token"]
        run = sync.sync_request(
            store=store, resource="products", mode="full", actor=Actor.system("tests"), enqueue=False
        )
        assert sync.sync_run_execute(run_id=run.pk).state == "done"
        after = connections.credentials_of(StoreConnection.objects.get(pk=store.pk))["access_token"]
        assert after != before
        assert Product.objects.count() == len(fake.shops[SHOP].store.products)


class _Dies:
    """An adapter whose worker is killed while a page is being written (after the fetch)."""

    def __init__(self, inner, after_pages: int) -> None:
        self.inner, self.left = inner, after_pages

    def fetch(self, resource, *, cursor, since):
        if self.left == 0:
            raise KeyboardInterrupt("worker killed")
        self.left -= 1
        return self.inner.fetch(resource, cursor=cursor, since=since)


@pytest.mark.parametrize("bulk", [False, True], ids=["paginated", "bulk"])
def test_a_sync_killed_mid_way_resumes_where_it_stopped_and_counts_nothing_twice(
    tenants, shopify_settings, fake, monkeypatch, bulk
):
    """Paginated: the cursor is Shopify's. Bulk: the byte offset of the next order's line in the
    operation's file, resumed with a Range request by a new adapter (a new worker)."""
    shopify_settings.KIKI_SHOPIFY_BULK_SYNC = bulk
    monkeypatch.setattr("apps.stores.integrations.shopify.adapter.BULK_CHUNK", 50)
    store = _connected_store(fake, tenants.a.schema)
    ranged_before = len([r for r in fake.server.requests_to("/bulk/") if "range" in r.headers])
    with schema_context(tenants.a.schema):
        run = sync.sync_request(
            store=store, resource="orders", mode="full", actor=Actor.system("tests"), enqueue=False
        )
        with pytest.raises(KeyboardInterrupt):
            sync.sync_run_execute(
                run_id=run.pk, adapter_factory=lambda s: _Dies(connections.adapter_for(s), 2)
            )
        stopped = SyncRun.objects.get(pk=run.pk)
        assert (stopped.state, stopped.pages) == ("running", 2)
        assert Order.objects.count() == stopped.items == 100  # 2 pages of 50
        assert ("bulk" in stopped.cursor["page"]) is bulk
        resumed = sync.sync_run_execute(run_id=run.pk)  # what redelivery or the stalled-run sweep does
        assert resumed.state == "done"
        total = len(fake.shops[SHOP].store.orders)
        assert resumed.items == Order.objects.count() == total
        assert resumed.pages == -(-total // 50)
        assert OrderItem.objects.count() == sum(len(o.lines) for o in fake.shops[SHOP].store.orders)
        if bulk:
            assert resumed.total_items == total  # the operation's rootObjectCount: the progress bar's 100 %
            ranged = [r for r in fake.server.requests_to("/bulk/") if "range" in r.headers]
            assert len(ranged) == ranged_before + 1  # resumed from its offset, not from the file's start


def test_a_bulk_operation_that_fails_or_whose_file_expired_is_run_again(tenants, shopify_settings, fake):
    store = _connected_store(fake, tenants.a.schema)
    shop = fake.shops[SHOP]
    with schema_context(tenants.a.schema):
        shop.bulk_fail_next = 1  # Shopify: FAILED, INTERNAL_SERVER_ERROR
        adapter = connections.adapter_for(store)
        started = len(shop.bulk_operations)
        page = adapter.fetch("customers", cursor={}, since=None)
        assert len(shop.bulk_operations) == started + 2  # the failed one, then a new one
        assert len(page.records) == len(shop.store.customers)
        assert page.next_cursor is None
        # A cursor naming a file that expired (it lives 7 days): a new operation, from the start.
        products = adapter.fetch("products", cursor={}, since=None)
        expired = shop.bulk_operations[len(shop.bulk_operations)]
        expired.expired = True
        stale = {
            "id": f"gid://shopify/BulkOperation/{expired.id}",
            "url": f"{fake.server.url}/shops/{SHOP}/bulk/{expired.id}.jsonl?signature={expired.secret}",
            "offset": 0,
        }
        again = connections.adapter_for(store).fetch("products", cursor={"bulk": stale}, since=None)
        assert len(shop.bulk_operations) == expired.id + 1
        assert [p.platform_id for p in again.records] == [p.platform_id for p in products.records]


def test_when_every_bulk_query_is_taken_a_full_sync_paginates(tenants, shopify_settings, fake):
    from apps.stores.integrations.shopify.fake import MAX_BULK_QUERIES, BulkOperation

    store = _connected_store(fake, tenants.a.schema)
    shop = fake.shops[SHOP]
    busy = [
        BulkOperation(id=10_000 + n, resource="orders", status="RUNNING") for n in range(MAX_BULK_QUERIES)
    ]
    shop.bulk_operations.update({op.id: op for op in busy})
    try:
        with schema_context(tenants.a.schema):
            run = sync.sync_request(
                store=store, resource="customers", mode="full", actor=Actor.system("tests"), enqueue=False
            )
            done = sync.sync_run_execute(run_id=run.pk)
            assert done.state == "done"
            assert done.items == len(shop.store.customers)
            assert "after" in json.dumps(fake.server.log[-1].json()["variables"])  # paginated queries
    finally:
        for op in busy:
            op.status = "CANCELED"


def test_a_bulk_file_with_a_child_before_its_parent_is_refused():
    from apps.stores.integrations.base import PlatformError
    from apps.stores.integrations.shopify.adapter import BULK_QUERIES
    from apps.stores.integrations.shopify.bulk import BulkReader

    class _Raw(io.BytesIO):
        auto_close = True

    class _Download:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def request(self, method, url, headers=None, stream=False):
            class _Response:
                status_code = 200
                raw = _Raw(self.data)  # noqa: RUF012 - one per response

                def close(self) -> None:
                    return None

            return _Response()

    good = b'{"id":"gid://shopify/Order/1","createdAt":"2026-01-01T00:00:00Z"}\n' + (
        b'{"id":"gid://shopify/LineItem/7","quantity":1,"__parentId":"gid://shopify/Order/1"}\n'
    )
    reader = BulkReader(graphql=lambda *a: {}, download=_Download(good), sleep=lambda s: None)  # type: ignore[arg-type]
    nodes, end = reader.read(BULK_QUERIES["orders"], "u", 0, 10)
    assert end is None
    assert nodes[0]["lineItems"]["nodes"][0]["id"].endswith("/7")
    orphan = b'{"id":"gid://shopify/LineItem/7","quantity":1,"__parentId":"gid://shopify/Order/1"}\n' + good
    reader = BulkReader(graphql=lambda *a: {}, download=_Download(orphan), sleep=lambda s: None)  # type: ignore[arg-type]
    with pytest.raises(PlatformError, match="came before it"):
        reader.read(BULK_QUERIES["orders"], "u", 0, 10)


# --- webhooks --------------------------------------------------------------------------------------------
def _post(client: Client, body: bytes, headers: dict[str, str]):
    extra = {
        f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"
    }
    return client.post("/webhooks/shopify", data=body, content_type="application/json", **extra)


def test_webhooks_are_verified_stored_once_and_processed(tenants, shopify_settings, fake):
    store = _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    shop = fake.shops[SHOP].store
    order = shop.add_order()
    body, headers = fake.signed_delivery(
        SHOP, "orders/create", fake.rest_order(shop, order), webhook_id="wh-1"
    )
    client = Client(HTTP_HOST=tenants.a.host)
    assert _post(client, body, headers).json() == {"status": "accepted"}
    assert _post(client, body, headers).json() == {"status": "duplicate"}  # Shopify retried: nothing new
    with schema_context(tenants.a.schema):
        delivery = WebhookDelivery.objects.get()
        assert delivery.store_id == store.pk
        assert "x-shopify-hmac-sha256" not in delivery.headers  # no credential kept
        assert webhooks.webhook_process(delivery_id=delivery.pk).status == "processed"
        assert webhooks.webhook_process(delivery_id=delivery.pk).status == "processed"  # idempotent
        stored = Order.objects.get(platform_id=str(order.id))
        assert stored.total == order.total
        assert stored.items.count() == len(order.lines)
        assert Order.objects.count() == len(shop.orders)
    with schema_context(tenants.b.schema):
        assert not WebhookDelivery.objects.exists()


def test_a_burst_of_deliveries_wakes_one_drain_that_processes_them_all_and_no_other_workspaces(
    tenants, shopify_settings, fake, monkeypatch, django_capture_on_commit_callbacks
):
    """One Celery publish per burst, not per delivery; a delivery stored after the drain began wakes
    another; a delivery that raises does not hold the others up; the drain stays in its workspace."""
    from apps.core.redis import get_redis
    from apps.stores.tasks import drain_webhooks

    woken: list[str] = []
    monkeypatch.setattr(
        drain_webhooks, "apply_async", lambda **kw: woken.append(kw["headers"]["_schema_name"])
    )
    store = _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    for schema in (tenants.a.schema, tenants.b.schema):
        get_redis().delete(webhooks.drain_flag(schema))
    with schema_context(tenants.b.schema):
        other = StoreConnection.objects.create(platform="manual", name="B", currency="USD")
        WebhookDelivery.objects.create(
            store=other,
            platform="manual",
            topic="orders/create",
            delivery_id="b-1",
            raw_body=b"{}",
            received_at=timezone.now(),
        )
    shop = fake.shops[SHOP].store
    client = Client(HTTP_HOST=tenants.a.host)
    orders = [shop.add_order() for _ in range(4)]
    for n, order in enumerate(orders[:3]):
        body, headers = fake.signed_delivery(
            SHOP, "orders/create", fake.rest_order(shop, order), webhook_id=f"burst-{n}"
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, body, headers).json() == {"status": "accepted"}
    assert woken == [tenants.a.schema]  # three deliveries, one drain
    with schema_context(tenants.a.schema):
        poison = WebhookDelivery.objects.order_by("pk").first()
        real = webhooks.webhook_process

        def flaky(*, delivery_id):
            if delivery_id == poison.pk:
                raise RuntimeError("database went away")
            return real(delivery_id=delivery_id)

        monkeypatch.setattr(webhooks, "webhook_process", flaky)
        assert webhooks.webhooks_drain() == 2
        assert WebhookDelivery.objects.get(pk=poison.pk).status == "received"  # waits for the next drain
        # The drain cleared the flag before reading: the next delivery wakes another.
        body, headers = fake.signed_delivery(
            SHOP, "orders/create", fake.rest_order(shop, orders[3]), webhook_id="burst-3"
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, body, headers).json() == {"status": "accepted"}
    assert woken == [tenants.a.schema, tenants.a.schema]
    monkeypatch.setattr(webhooks, "webhook_process", real)
    with schema_context(tenants.a.schema):
        assert webhooks.webhooks_drain() == 2
        assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
        assert Order.objects.filter(store=store, platform_id__in=[str(o.id) for o in orders]).count() == 4
    with schema_context(tenants.b.schema):
        assert WebhookDelivery.objects.get().status == "received"  # another workspace's drain's to do


def test_forged_unsigned_malformed_and_oversized_deliveries(tenants, shopify_settings, fake, settings):
    _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    client = Client(HTTP_HOST=tenants.a.host)
    body, headers = fake.signed_delivery(SHOP, "orders/create", {"id": 1})
    forged = _post(client, body.replace(b"1", b"2"), headers)
    assert forged.status_code == 401
    unsigned = _post(client, body, {k: v for k, v in headers.items() if "Hmac" not in k})
    assert unsigned.status_code == 401
    hexed = dict(
        headers,
        **{"X-Shopify-Hmac-Sha256": "076ded5cdebcd60674a8858d46b82dcc113d5d20e8e72694bbac1f9a1bb76bb8"},
    )
    assert _post(client, body, hexed).status_code == 401
    malformed_body = b'{"id": 3,'
    _, signed = fake.signed_delivery(SHOP, "orders/create", {})
    from apps.stores.integrations.signatures import shopify_webhook_signature

    signed["X-Shopify-Hmac-Sha256"] = shopify_webhook_signature(SECRET, malformed_body)
    malformed = _post(client, malformed_body, signed)
    assert malformed.status_code == 400
    settings.KIKI_WEBHOOK_MAX_BYTES = 64
    big, big_headers = fake.signed_delivery(SHOP, "orders/create", {"id": 4, "note": "x" * 200})
    assert _post(client, big, big_headers).status_code == 413
    with schema_context(tenants.a.schema):
        kept = WebhookDelivery.objects.get()  # only the malformed one, kept as failed with its reason
        assert kept.status == "failed"
        assert "not JSON" in kept.error
        assert not Order.objects.filter(platform_id__in=["1", "2", "3", "4"]).exists()


def test_a_delivery_for_one_workspaces_shop_never_writes_into_another(tenants, shopify_settings, fake):
    _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    shop = fake.shops[SHOP].store
    order = shop.add_order()
    body, headers = fake.signed_delivery(SHOP, "orders/create", fake.rest_order(shop, order))
    on_b = _post(Client(HTTP_HOST=tenants.b.host), body, headers)  # validly signed, wrong workspace
    assert on_b.status_code == 404
    with schema_context(tenants.b.schema):
        assert not WebhookDelivery.objects.exists()
        assert not Order.objects.exists()
    with schema_context(tenants.a.schema):
        assert not WebhookDelivery.objects.exists()


def test_stock_transitions_reach_the_inventory_hook_once_each(
    tenants, shopify_settings, fake, django_capture_on_commit_callbacks
):
    _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    seen = []
    catalog.on_inventory_transition(seen.append, key="test")
    try:
        variant = fake.shops[SHOP].store.products[0].variants[0]
        with schema_context(tenants.a.schema):
            store = StoreConnection.objects.get()
            catalog.inventory_set(
                store=store,
                levels=[catalog.InventoryInput(quantity=9, inventory_item_id=str(variant.inventory_item_id))],
                actor=Actor.system("tests"),
            )
            seen.clear()  # from in stock:
            events_before = InventoryEvent.objects.count()
            for quantity, transitions_so_far in ((0, 1), (0, 1), (7, 2), (3, 2)):
                with django_capture_on_commit_callbacks(execute=True):
                    catalog.inventory_set(
                        store=store,
                        levels=[
                            catalog.InventoryInput(
                                quantity=quantity, inventory_item_id=str(variant.inventory_item_id)
                            )
                        ],
                        actor=Actor.system("tests"),
                    )
                assert len(seen) == transitions_so_far, quantity
            assert [t.in_stock for t in seen] == [False, True]
            assert seen[0].variant_platform_id == str(variant.id)
            assert InventoryEvent.objects.count() - events_before == 2
    finally:
        catalog._hooks.pop("test", None)


def test_uninstall_and_the_compliance_topics(tenants, shopify_settings, fake):
    store = _finish(_connected_store(fake, tenants.a.schema), tenants.a.schema)
    shop = fake.shops[SHOP].store
    customer = next(c for c in shop.customers if any(o.customer_id == c.id for o in shop.orders))
    client = Client(HTTP_HOST=tenants.a.host)

    def send(topic: str, payload: dict) -> WebhookDelivery:
        body, headers = fake.signed_delivery(SHOP, topic, payload)
        assert _post(client, body, headers).status_code == 200
        with schema_context(tenants.a.schema):
            delivery = WebhookDelivery.objects.get(topic=topic)
            return webhooks.webhook_process(delivery_id=delivery.pk)

    request = {
        "shop_domain": SHOP,
        "customer": {"id": customer.id, "email": customer.email},
        "data_request": {"id": 9999},
    }
    assert send("customers/data_request", request).status == "processed"
    assert (
        send(
            "customers/redact", {"shop_domain": SHOP, "customer": {"id": customer.id}, "orders_to_redact": []}
        ).status
        == "processed"
    )
    with schema_context(tenants.a.schema):
        export = DataExport.objects.get()
        assert export.data["customer"]["email"] == customer.email
        assert export.data["orders"]
        redacted = Customer.objects.get(platform_id=str(customer.id))
        assert (redacted.email, redacted.first_name) == ("", "")
        assert redacted.orders.exclude(landing_site="").count() == 0
        assert redacted.total_spent > 0  # amounts stay for billing
        assert customer.email not in json.dumps(list(Order.objects.values("landing_site", "referrer")))
    assert send("app/uninstalled", {"id": 1}).status == "processed"
    with schema_context(tenants.a.schema):
        gone = StoreConnection.objects.get(pk=store.pk)
        assert gone.status == "uninstalled"
        assert gone.credentials == ""
    body, headers = fake.signed_delivery(SHOP, "shop/redact", {"shop_domain": SHOP})
    assert _post(client, body, headers).status_code == 200
    with schema_context(tenants.a.schema):
        webhooks.webhook_process(delivery_id=WebhookDelivery.objects.get(topic="shop/redact").pk)
        assert not StoreConnection.objects.exists()
        assert not Order.objects.exists()
        assert not Customer.objects.exists()


def test_queries_stay_under_shopifys_cost_cap_and_big_orders_come_whole(tenants, shopify_settings, fake):
    """The fake refuses a query over 1,000 points as Shopify does; an order with more lines (and a
    product with more variants) than a page asks for is completed by follow-up queries."""
    from apps.stores.integrations.fakes.store import FakeLine, FakeVariant

    shop = fake.shops[SHOP].store
    big = shop.add_order()
    variant = shop.products[0].variants[0]
    with shop.lock:
        big.lines = [
            FakeLine(shop.next_id("line"), variant.product_id, variant.id, variant.sku, "x", 1, variant.price)
            for _ in range(37)
        ]
        product = shop.products[1]
        product.variants = [
            FakeVariant(shop.next_id("variant"), product.id, f"V-{n}", str(n), variant.price, 3, 900000 + n)
            for n in range(45)
        ]
        shop.version += 1
    adapter = ShopifyAdapter(api_base=fake.api_base_template().format(shop=SHOP), access_token=_token(fake))
    too_big = adapter.http.request(
        "POST",
        "graphql.json",
        json={
            "query": "query { orders(first: 100) { nodes { lineItems(first: 100) { nodes { id } } } } }",
            "variables": {"first": 100},
        },
    ).json()
    assert too_big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    orders_seen, products_seen = {}, {}
    for resource, seen in (("orders", orders_seen), ("products", products_seen)):
        cursor: dict = {}
        while True:
            page = adapter.fetch(resource, cursor=cursor, since=None)
            seen.update({r.platform_id: r for r in page.records})
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert len(orders_seen[str(big.id)].items) == 37
    assert len(products_seen[str(product.id)].variants) == 45
