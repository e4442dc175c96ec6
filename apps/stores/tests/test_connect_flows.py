"""Connecting stores end to end over HTTP, two workspaces present: WooCommerce's key generation
(``/wc-auth/v1/authorize`` on the loopback fake, which POSTs the keys back to us), BigCommerce's load
callback, and the app-level callbacks on the public host (Shopify's compliance webhooks, BigCommerce's
install, load and uninstall), routed by the shop → workspace registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores.integrations.bigcommerce.fake import FakeBigCommerce
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.shopify.fake import FakeShopify
from apps.stores.integrations.signatures import shopify_webhook_signature
from apps.stores.integrations.woocommerce.fake import FakeWooCommerce
from apps.stores.models import DataExport, Order, StoreConnection, WebhookDelivery
from apps.stores.routing.models import StoreRoute
from apps.stores.services import connections, webhooks
from apps.stores.services.privacy import store_redact
from apps.stores.tests.factories import StoreFactory
from apps.stores.tests.loopback import django_on_loopback
from conftest import api_client_for

HASH = "bc7store"
SHOP_A, SHOP_B = "acme.myshopify.com", "bolt.myshopify.com"
KEYS = {
    "key_id": 7,
    "consumer_key": "ck_" + "a" * 40,
    "consumer_secret": "cs_" + "b" * 40,
    "key_permissions": "read_write",
}


def _small(seed: int) -> FakeStore:
    return FakeStore.generate(orders=24, customers=8, products=3, seed=seed)


def _admin(info: Any, host: str | None = None) -> Client:
    client = Client(HTTP_HOST=host or info.host)
    with schema_context(info.schema):
        assert client.login(username=info.admin_email, password=info.password)
    return client


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _stores(schema: str, platform: str) -> list[StoreConnection]:
    with schema_context(schema):
        return list(StoreConnection.objects.filter(platform=platform))


def _raw_credentials(schema: str, store_id: int) -> str:
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM stores_storeconnection WHERE id = %s", [store_id])
        return str(cursor.fetchone()[0])


@pytest.fixture
def public(settings) -> Client:
    return Client(HTTP_HOST=settings.KIKI_BASE_DOMAIN, HTTP_ACCEPT="application/json")


# --- WooCommerce key generation --------------------------------------------------------------------------
@pytest.fixture
def woo() -> Iterator[FakeWooCommerce]:
    fake = FakeWooCommerce(_small(5))
    fake.allow_http_callback = True  # our loopback callback is plain http (WooCommerce wants https)
    with fake.server:
        yield fake


@pytest.fixture
def loopback() -> Iterator[int]:
    with django_on_loopback() as port:
        yield port


def _start_woo(admin: Client, woo: FakeWooCommerce) -> str:
    started = admin.get("/stores/connect/woocommerce", {"store_url": woo.url})
    assert started.status_code == 302, started.content
    return str(started["Location"])


def _post_keys(client: Client, **body: Any):
    return client.post(
        "/stores/oauth/woocommerce/callback", data=json.dumps(body), content_type="application/json"
    )


def test_woocommerce_key_generation_connects_the_store_through_the_pasted_keys_path(
    tenants, woo, loopback, monkeypatch, django_capture_on_commit_callbacks
):
    a, b = tenants
    host = f"{a.host}:{loopback}"
    admin = _admin(a, host)
    url = _start_woo(admin, woo)
    assert url.startswith(f"{woo.url}/wc-auth/v1/authorize?")
    query = _query(url)
    assert (query["app_name"], query["scope"]) == ("KIKI", "read_write")
    assert query["callback_url"] == f"http://{host}/stores/oauth/woocommerce/callback"
    assert query["return_url"] == f"http://{host}/stores/oauth/woocommerce/return"
    enqueued: list[dict[str, Any]] = []
    from apps.stores.tasks import connect_store

    monkeypatch.setattr(connect_store, "apply_async", lambda **kw: enqueued.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        # The shop manager approves: the fake POSTs the new keys to our callback, then redirects.
        approved = requests.get(url, allow_redirects=False, timeout=30)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    assert _query(approved.headers["Location"]) == {"success": "1", "user_id": query["user_id"]}
    [key] = woo.granted
    [store] = _stores(a.schema, "woocommerce")
    assert (store.shop_domain, store.status) == (woo.url, StoreConnection.Status.CONNECTING)
    assert connections.credentials_of(store) == {
        "consumer_key": key["consumer_key"],
        "consumer_secret": key["consumer_secret"],
    }
    raw = _raw_credentials(a.schema, store.pk)
    assert raw.startswith("kiki:v1:")  # encrypted at rest
    assert key["consumer_secret"] not in raw
    assert store.webhook_secret
    assert enqueued == [{"kwargs": {"store_id": store.pk}, "headers": {"_schema_name": a.schema}}]
    assert not _stores(b.schema, "woocommerce")
    # The Admin lands on the store's page.
    page = admin.get(back.path, _query(approved.headers["Location"]))
    assert page.status_code == 302
    assert page["Location"] == f"/admin/stores/storeconnection/{store.pk}/change/"
    # The connect task, with the generated read/write keys: webhooks, the full sync, the baseline.
    with schema_context(a.schema):
        done = connections.store_finish_connect(store_id=store.pk, actor=Actor.system("tests"))
        assert done.status == StoreConnection.Status.ACTIVE, done.last_error
        assert Order.objects.filter(store=done).count() == len(woo.store.orders)
        assert done.baselines.filter(is_current=True).exists()
    hooks = list(woo.webhooks.values())
    assert hooks
    assert all(h.delivery_url.endswith(f"/webhooks/woocommerce/{store.pk}") for h in hooks)
    assert all(urlsplit(h.delivery_url).hostname == a.host for h in hooks)


def test_a_key_delivery_we_did_not_ask_for_stores_nothing(tenants, woo):
    a, b = tenants
    admin = _admin(a)
    nonce = _query(_start_woo(admin, woo))["user_id"]
    alpha, beta = Client(HTTP_HOST=a.host), Client(HTTP_HOST=b.host)

    def refused(response, status: int, code: str) -> None:
        assert response.status_code == status, response.content
        assert response.json()["error"]["code"] == code

    refused(_post_keys(alpha, user_id="never-issued", **KEYS), 403, "permission_denied")
    refused(_post_keys(alpha, **KEYS), 403, "permission_denied")  # no nonce at all
    refused(_post_keys(beta, user_id=nonce, **KEYS), 403, "permission_denied")  # another workspace's
    not_json = alpha.post("/stores/oauth/woocommerce/callback", data="key_id=1", content_type="text/plain")
    refused(not_json, 400, "validation_error")
    assert alpha.get("/stores/oauth/woocommerce/callback").status_code == 405
    # Read-only keys are refused, and the nonce is spent with them.
    refused(_post_keys(alpha, user_id=nonce, **{**KEYS, "key_permissions": "read"}), 400, "validation_error")
    refused(_post_keys(alpha, user_id=nonce, **KEYS), 403, "permission_denied")
    # Keys that are not a WooCommerce pair go through the pasted keys' checks.
    fresh = _query(_start_woo(admin, woo))["user_id"]
    refused(_post_keys(alpha, user_id=fresh, **{**KEYS, "consumer_key": "nope"}), 400, "validation_error")
    assert not _stores(a.schema, "woocommerce")
    assert not _stores(b.schema, "woocommerce")
    # A nonce we issued is good once.
    once = _query(_start_woo(admin, woo))["user_id"]
    assert _post_keys(alpha, user_id=once, **KEYS).status_code == 200
    replay = _post_keys(alpha, user_id=once, **{**KEYS, "consumer_key": "ck_" + "c" * 40})
    refused(replay, 403, "permission_denied")
    [store] = _stores(a.schema, "woocommerce")
    assert connections.credentials_of(store)["consumer_key"] == KEYS["consumer_key"]
    assert not _stores(b.schema, "woocommerce")


def test_a_refusal_in_the_store_connects_nothing_and_spends_the_nonce(tenants, woo):
    a, _ = tenants
    admin = _admin(a)
    url = _start_woo(admin, woo)
    woo.authorize_decision = "deny"
    denied = requests.get(url, allow_redirects=False, timeout=30)
    assert denied.status_code == 302
    back = denied.headers["Location"]
    assert _query(back) == {"success": "0", "user_id": _query(url)["user_id"]}
    page = admin.get(urlsplit(back).path, _query(back), HTTP_ACCEPT="application/json")
    assert page.status_code == 403
    assert page.json()["error"]["code"] == "access_denied"
    late = _post_keys(Client(HTTP_HOST=a.host), user_id=_query(url)["user_id"], **KEYS)
    assert late.status_code == 403
    assert not woo.granted
    assert not _stores(a.schema, "woocommerce")


def test_the_fake_keeps_no_key_we_refuse_and_wants_an_https_callback(tenants, woo, loopback):
    a, b = tenants
    admin = _admin(a, f"{a.host}:{loopback}")
    url = _start_woo(admin, woo)
    read_only = url.replace("scope=read_write", "scope=read")  # an altered request: read keys come back
    answer = requests.get(read_only, allow_redirects=False, timeout=30)
    assert answer.status_code == 401  # our callback said 400, so WooCommerce deletes the key
    assert "unable to send the consumer data" in answer.text
    assert not woo.granted
    assert set(woo.api_keys) == {woo.consumer_key}
    assert not _stores(a.schema, "woocommerce")
    woo.allow_http_callback = False
    insecure = requests.get(_start_woo(admin, woo), allow_redirects=False, timeout=30)
    assert insecure.status_code == 401
    assert "needs to be over SSL" in insecure.text
    assert not _stores(a.schema, "woocommerce")
    assert not _stores(b.schema, "woocommerce")


def test_the_admins_connect_page_offers_key_generation_and_the_bigcommerce_install(tenants, woo, bc):
    a, _ = tenants
    admin = _admin(a)
    page = admin.get("/admin/stores/storeconnection/connect/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="woocommerce-authorize"' in html
    assert 'href="/stores/connect/bigcommerce"' in html
    chosen = admin.post(
        "/admin/stores/storeconnection/connect/",
        {"platform": "woocommerce-authorize", "wooauth-store_url": woo.url},
    )
    assert chosen.status_code == 302
    assert chosen["Location"] == f"/stores/connect/woocommerce?{urlencode({'store_url': woo.url})}"
    assert admin.get(chosen["Location"])["Location"].startswith(f"{woo.url}/wc-auth/v1/authorize?")
    analyst = Client(HTTP_HOST=a.host)
    with schema_context(a.schema):
        assert analyst.login(username=a.analyst_email, password=a.password)
    assert analyst.get(chosen["Location"]).status_code == 403
    assert analyst.get("/stores/connect/bigcommerce").status_code == 403


def test_the_connect_api_starts_key_generation_and_the_bigcommerce_install(
    tenants, woo, login_token, settings
):
    a, _ = tenants
    settings.KIKI_BIGCOMMERCE_CLIENT_ID = "fake-bc-client-id"
    api = api_client_for(a.host, token=login_token(a, a.admin_email))
    started = api.post(
        "/api/v1/stores/connect", {"platform": "woocommerce", "store_url": woo.url}, format="json"
    )
    assert started.status_code == 200, started.content
    assert started.json()["install_url"].startswith(f"{woo.url}/wc-auth/v1/authorize?")
    half = api.post(
        "/api/v1/stores/connect",
        {"platform": "woocommerce", "store_url": woo.url, "consumer_key": KEYS["consumer_key"]},
        format="json",
    )
    assert half.status_code == 400
    assert "consumer_secret" in half.json()["error"]["details"]
    private = api.post(
        "/api/v1/stores/connect", {"platform": "woocommerce", "store_url": "https://10.0.0.7"}, format="json"
    )
    assert private.status_code == 400
    bigcommerce = api.post("/api/v1/stores/connect", {"platform": "bigcommerce"}, format="json")
    assert bigcommerce.status_code == 200
    begin = urlsplit(bigcommerce.json()["install_url"])
    assert (begin.hostname, begin.path) == (settings.KIKI_BASE_DOMAIN, "/stores/oauth/bigcommerce/begin")
    analyst = api_client_for(a.host, token=login_token(a, a.analyst_email))
    assert (
        analyst.post(
            "/api/v1/stores/connect", {"platform": "woocommerce", "store_url": woo.url}, format="json"
        ).status_code
        == 403
    )
    assert not _stores(a.schema, "woocommerce")


# --- BigCommerce ----------------------------------------------------------------------------------------
@pytest.fixture
def bc(settings) -> Iterator[FakeBigCommerce]:
    fake = FakeBigCommerce()
    fake.add_store(HASH, _small(9))
    with fake.server:
        settings.KIKI_BIGCOMMERCE_CLIENT_ID = fake.client_id
        settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = fake.client_secret
        settings.KIKI_BIGCOMMERCE_API_BASE = fake.server.url
        settings.KIKI_BIGCOMMERCE_LOGIN_BASE = fake.server.url
        yield fake


def _connect_bigcommerce(bc: FakeBigCommerce, schema: str) -> StoreConnection:
    with schema_context(schema):
        return connections.bigcommerce_connect(
            code=bc.authorization_code(HASH),
            context=f"stores/{HASH}",
            scope=bc.app_scope,
            redirect_uri="https://kiki.example/stores/oauth/bigcommerce/auth",
        )


def _json(response) -> dict[str, Any]:
    return json.loads(response.content)


def test_the_load_callback_opens_the_store_of_this_workspace_only(tenants, bc):
    a, b = tenants
    with schema_context(a.schema):
        store = StoreFactory(platform="bigcommerce", shop_domain=HASH)
    alpha = Client(HTTP_HOST=a.host, HTTP_ACCEPT="application/json")
    opened = alpha.get("/stores/oauth/bigcommerce/load", bc.load_query(HASH))
    assert opened.status_code == 302
    assert opened["Location"] == f"/admin/stores/storeconnection/{store.pk}/change/"
    on_b = Client(HTTP_HOST=b.host, HTTP_ACCEPT="application/json").get(
        "/stores/oauth/bigcommerce/load", bc.load_query(HASH)
    )
    assert on_b.status_code == 404
    assert _json(on_b)["error"]["code"] == "not_found"
    for bad in (
        bc.load_query(HASH, aud="someone-elses-app"),
        bc.load_query(HASH, now=1_000_000_000),  # expired long ago
        {"signed_payload_jwt": bc.load_query(HASH)["signed_payload_jwt"][:-4] + "AAAA"},
        {},
    ):
        refused = alpha.get("/stores/oauth/bigcommerce/load", bad)
        assert refused.status_code == 401, bad
        assert _json(refused)["error"]["code"] == "not_authenticated"


def test_installing_the_bigcommerce_app_connects_the_store_where_the_install_started(
    tenants, bc, public, settings
):
    a, b = tenants
    started = _admin(a).get("/stores/connect/bigcommerce")
    assert started.status_code == 302
    begin = urlsplit(started["Location"])
    assert (begin.hostname, begin.path) == (settings.KIKI_BASE_DOMAIN, "/stores/oauth/bigcommerce/begin")
    to_bigcommerce = public.get(begin.path, _query(started["Location"]))
    assert to_bigcommerce.status_code == 302
    assert to_bigcommerce["Location"] == f"{bc.server.url}/app/{bc.client_id}/install"
    cookie = public.cookies["kiki_bc_install"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    # The merchant picks the store and approves; BigCommerce sends the browser to the app's auth URL.
    bc.auth_callback_url = f"http://{settings.KIKI_BASE_DOMAIN}/stores/oauth/bigcommerce/auth"
    bc.installing = HASH
    approved = requests.get(to_bigcommerce["Location"], allow_redirects=False, timeout=30)
    assert approved.status_code == 302
    callback = urlsplit(approved.headers["Location"])
    done = public.get(callback.path, _query(approved.headers["Location"]))
    assert done.status_code == 302, done.content
    [store] = _stores(a.schema, "bigcommerce")
    assert done["Location"].endswith(f"/admin/stores/storeconnection/{store.pk}/change/")
    assert urlsplit(done["Location"]).hostname == a.host
    assert public.cookies["kiki_bc_install"].value == ""  # spent
    assert (store.shop_domain, store.status) == (HASH, StoreConnection.Status.CONNECTING)
    assert connections.credentials_of(store)["access_token"] in bc.stores[HASH].tokens
    assert _raw_credentials(a.schema, store.pk).startswith("kiki:v1:")
    [token_request] = bc.server.requests_to("/oauth2/token")
    assert token_request.json()["redirect_uri"] == bc.auth_callback_url
    route = StoreRoute.objects.select_related("tenant").get(platform="bigcommerce", key=HASH)
    assert route.tenant.schema_name == a.schema
    assert not _stores(b.schema, "bigcommerce")


def test_an_install_no_workspace_started_is_refused_before_the_code_is_used(tenants, bc, public, settings):
    a, b = tenants
    bc.auth_callback_url = f"http://{settings.KIKI_BASE_DOMAIN}/stores/oauth/bigcommerce/auth"
    bc.installing = HASH
    approved = requests.get(f"{bc.server.url}/app/{bc.client_id}/install", allow_redirects=False, timeout=30)
    callback = urlsplit(approved.headers["Location"])
    stray = public.get(callback.path, _query(approved.headers["Location"]))
    assert stray.status_code == 404
    assert _json(stray)["error"]["code"] == "unknown_store"
    public.cookies["kiki_bc_install"] = "made-up-nonce"
    assert public.get(callback.path, _query(approved.headers["Location"])).status_code == 404
    assert not bc.server.requests_to("/oauth2/token")  # the code was never exchanged
    assert public.get("/stores/oauth/bigcommerce/begin", {"install": "made-up-nonce"}).status_code == 403
    bad_context = public.get(callback.path, {**_query(approved.headers["Location"]), "context": "stores/"})
    assert bad_context.status_code == 400
    # A nonce issued in a workspace is good once, and only on the public host's auth callback.
    nonce = _query(_admin(b).get("/stores/connect/bigcommerce")["Location"])["install"]
    public.cookies["kiki_bc_install"] = nonce
    assert public.get(callback.path, _query(approved.headers["Location"])).status_code == 302
    public.cookies["kiki_bc_install"] = nonce
    again = requests.get(f"{bc.server.url}/app/{bc.client_id}/install", allow_redirects=False, timeout=30)
    # Spent: without it the registry routes the (now known) store back to beta, never to alpha.
    assert public.get(callback.path, _query(again.headers["Location"])).status_code == 302
    assert len(_stores(b.schema, "bigcommerce")) == 1
    assert not _stores(a.schema, "bigcommerce")


def test_load_and_uninstall_on_the_public_host_reach_the_routed_workspace(tenants, bc, public):
    a, b = tenants
    store = _connect_bigcommerce(bc, a.schema)
    opened = public.get("/stores/oauth/bigcommerce/load", bc.load_query(HASH))
    assert opened.status_code == 302
    assert urlsplit(opened["Location"]).hostname == a.host
    assert opened["Location"].endswith(f"/admin/stores/storeconnection/{store.pk}/change/")
    forged = bc.load_query(HASH, aud="someone-elses-app")
    for path in ("/stores/oauth/bigcommerce/load", "/stores/oauth/bigcommerce/uninstall"):
        refused = public.get(path, forged)
        assert refused.status_code == 401
        assert _json(refused)["error"]["code"] == "not_authenticated"
        unknown = public.get(path, bc.load_query("nosuchstore"))
        assert unknown.status_code == 404
        assert _json(unknown)["error"]["code"] == "unknown_store"
    [still] = _stores(a.schema, "bigcommerce")
    assert still.status == StoreConnection.Status.CONNECTING
    removed = public.get("/stores/oauth/bigcommerce/uninstall", bc.load_query(HASH))
    assert removed.status_code == 200
    assert removed.json() == {"status": "uninstalled"}
    [gone] = _stores(a.schema, "bigcommerce")
    assert (gone.status, gone.credentials) == (StoreConnection.Status.UNINSTALLED, "")
    route = StoreRoute.objects.get(platform="bigcommerce", key=HASH)
    assert route.uninstalled_at is not None  # kept: privacy callbacks may follow
    assert not _stores(b.schema, "bigcommerce")


# --- Shopify compliance webhooks on the public host ----------------------------------------------------
@pytest.fixture
def shopify(settings) -> Iterator[FakeShopify]:
    fake = FakeShopify()
    fake.add_shop(SHOP_A, _small(3))
    fake.add_shop(SHOP_B, _small(4))
    with fake.server:
        settings.KIKI_SHOPIFY_CLIENT_ID = fake.client_id
        settings.KIKI_SHOPIFY_CLIENT_SECRET = fake.client_secret
        settings.KIKI_SHOPIFY_API_BASE = fake.api_base_template()
        yield fake


def _connect_shopify(info: Any, shop: str) -> None:
    """An Admin installs the app over HTTP: our install page, Shopify's approval, our callback."""
    admin = _admin(info)
    started = admin.get("/stores/connect/shopify", {"shop": shop})
    approved = requests.get(started["Location"], allow_redirects=False, timeout=30)
    back = admin.get("/stores/oauth/shopify/callback", _query(approved.headers["Location"]))
    assert back.status_code == 302, back.content


def _send(public: Client, body: bytes, headers: dict[str, str]):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return public.post("/webhooks/shopify", data=body, content_type="application/json", **extra)


def _deliveries(schema: str) -> list[tuple[str, str]]:
    with schema_context(schema):
        return list(WebhookDelivery.objects.order_by("pk").values_list("store__shop_domain", "topic"))


def test_compliance_webhooks_reach_only_the_workspace_the_registry_names(tenants, shopify, public):
    a, b = tenants
    _connect_shopify(a, SHOP_A)
    _connect_shopify(b, SHOP_B)
    routes = dict(StoreRoute.objects.filter(platform="shopify").values_list("key", "tenant__schema_name"))
    assert routes == {SHOP_A: a.schema, SHOP_B: b.schema}
    request = {"shop_domain": SHOP_A, "customer": {"id": 191167}, "data_request": {"id": 9999}}
    body, headers = shopify.signed_delivery(SHOP_A, "customers/data_request", request)
    assert _send(public, body, headers).json() == {"status": "accepted"}
    assert _send(public, body, headers).json() == {"status": "duplicate"}
    redact_b, redact_headers = shopify.signed_delivery(
        SHOP_B, "customers/redact", {"shop_domain": SHOP_B, "customer": {"id": 5}, "orders_to_redact": []}
    )
    assert _send(public, redact_b, redact_headers).status_code == 200
    assert _deliveries(a.schema) == [(SHOP_A, "customers/data_request")]
    assert _deliveries(b.schema) == [(SHOP_B, "customers/redact")]
    with schema_context(a.schema):
        delivery = WebhookDelivery.objects.get()
        assert webhooks.webhook_process(delivery_id=delivery.pk).status == "processed"
        assert DataExport.objects.get().request_reference == "9999"
    with schema_context(b.schema):
        assert not DataExport.objects.exists()

    # Verified first: forged, unsigned or hex-signed deliveries are refused and nothing is stored.
    forged = _send(public, body.replace(b"191167", b"191168"), headers)
    unsigned = _send(public, body, {k: v for k, v in headers.items() if "Hmac" not in k})
    hexed = _send(public, body, {**headers, "X-Shopify-Hmac-Sha256": "ab" * 32})
    assert [r.status_code for r in (forged, unsigned, hexed)] == [401, 401, 401]
    assert forged.json()["error"]["code"] == "bad_signature"
    # Validly signed for a shop no workspace holds: 404, nothing stored.
    ghost, ghost_headers = shopify.signed_delivery("ghost.myshopify.com", "shop/redact", {"shop_domain": "x"})
    assert _send(public, ghost, ghost_headers).status_code == 404
    # A delivery naming shop B in its body but signed for shop A's header goes to A only.
    crossed = json.dumps({"shop_domain": SHOP_B, "customer": {"id": 1}, "orders_to_redact": []}).encode()
    crossed_headers = {
        **headers,
        "X-Shopify-Topic": "customers/redact",
        "X-Shopify-Webhook-Id": "crossed-1",
        "X-Shopify-Hmac-Sha256": shopify_webhook_signature(shopify.client_secret, crossed),
    }
    assert _send(public, crossed, crossed_headers).status_code == 200
    assert _deliveries(a.schema)[-1] == (SHOP_A, "customers/redact")
    assert _deliveries(b.schema) == [(SHOP_B, "customers/redact")]
    assert (
        public.post("/webhooks/woocommerce", data=b"{}", content_type="application/json").status_code == 404
    )


def test_shop_redact_through_the_public_host_forgets_the_route(tenants, shopify, public):
    a, b = tenants
    _connect_shopify(a, SHOP_A)
    body, headers = shopify.signed_delivery(SHOP_A, "shop/redact", {"shop_id": 1, "shop_domain": SHOP_A})
    assert _send(public, body, headers).status_code == 200
    with schema_context(a.schema):
        redact = WebhookDelivery.objects.get(topic="shop/redact")
        webhooks.webhook_process(delivery_id=redact.pk)
        assert not StoreConnection.objects.exists()
    assert not StoreRoute.objects.filter(platform="shopify", key=SHOP_A).exists()
    again, again_headers = shopify.signed_delivery(SHOP_A, "customers/redact", {"shop_domain": SHOP_A})
    assert _send(public, again, again_headers).status_code == 404
    assert not _deliveries(b.schema)


def test_the_registry_follows_connect_uninstall_and_redact_of_its_own_workspace_only(tenants, shopify):
    a, b = tenants
    _connect_shopify(a, SHOP_A)
    _connect_shopify(a, SHOP_A)  # reconnecting: still one route
    assert list(StoreRoute.objects.values_list("key", "tenant__schema_name")) == [(SHOP_A, a.schema)]
    _connect_shopify(b, SHOP_A)  # the shop's owner connects it to another workspace: it follows
    route = StoreRoute.objects.get(platform="shopify", key=SHOP_A)
    assert route.tenant.schema_name == b.schema
    with schema_context(a.schema):
        old = StoreConnection.objects.get(shop_domain=SHOP_A)
        webhooks.store_uninstalled(store=old, actor=Actor.system("tests"))
        store_redact(store=StoreConnection.objects.get(pk=old.pk), actor=Actor.system("tests"))
    route.refresh_from_db()  # alpha's uninstall and redact leave beta's route alone
    assert (route.tenant.schema_name, route.uninstalled_at) == (b.schema, None)
    with schema_context(b.schema):
        webhooks.store_uninstalled(
            store=StoreConnection.objects.get(shop_domain=SHOP_A), actor=Actor.system("tests")
        )
    route.refresh_from_db()
    assert route.uninstalled_at is not None
    _connect_shopify(b, SHOP_A)  # reinstalled
    route.refresh_from_db()
    assert route.uninstalled_at is None


def test_stores_connected_before_the_registry_get_routes_without_taking_a_shop_over(tenants, shopify):
    from apps.stores.routing.services import routes_backfill

    a, b = tenants
    _connect_shopify(a, SHOP_A)
    _connect_shopify(b, SHOP_A)  # beta holds the shop now
    StoreRoute.objects.all().delete()  # as before the registry existed
    with schema_context(b.schema):  # beta's store of that shop predates alpha's in this story
        StoreConnection.objects.filter(shop_domain=SHOP_A).update(status="uninstalled")
    assert routes_backfill() == 1
    assert list(StoreRoute.objects.values_list("key", "tenant__schema_name")) == [(SHOP_A, a.schema)]
    assert routes_backfill() == 0  # run again (migration 0002 runs it once): nothing new, nothing moved
    assert StoreRoute.objects.get().tenant.schema_name == a.schema
