"""Browser gate: the main user flows in a real Chromium (Debian's, driven by Playwright for Python)
against the real web process on a non-default port.

1. the landing page, signup through the form, landing signed in on the new workspace's admin at its
   own host name (the hand-off link must carry the port the server listens on);
2. as an Admin: add an Analyst, issue an API key (its secret shown once), see stores, customers with
   predicted LTV and intervals, and LTV models;
3. as an Analyst: the same pages, no credential visible, no Admin-only action offered;
4. ``/api/docs`` renders from our own static files and lists every operation;
5. on a second workspace's host, the first workspace's session is refused;
6. an Admin connects the sandbox Shopify (a loopback fake, as ``make run`` serves it) from "Connect a
   store": through its authorize page back to our callback, then watches the sync (a real Celery
   worker) until the store is active with every order and product; an Analyst cannot connect.

Without ``/usr/bin/chromium`` these are skipped with one line saying so (``.ci/run`` installs it).
A failing test leaves a screenshot and the page's HTML under ``.kiki/test-artifacts/browser/``; the
failure report names the directory. Later capabilities add their flows here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from apps.core.actor import Actor
from apps.stores.integrations.fakes.sandbox import SANDBOX_SHOP
from conftest import PASSWORD
from tests.celery_worker import celery_worker, worker_database_url
from tests.gates.conftest import shopify_env
from tests.live_server import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path(os.environ.get("KIKI_CHROMIUM", "/usr/bin/chromium"))
SKIP_REASON = (
    f"browser gate skipped: Chromium not found at {CHROMIUM} "
    "(apt-get install chromium, or set KIKI_CHROMIUM; .ci/run installs it)"
)
SHOP, OTHER, CONNECT = "browser-shop", "browser-other", "browser-connect"
TIMEOUT_MS = 20_000
SYNC_TIMEOUT_S = 90


@dataclass(frozen=True)
class Shop:
    slug: str
    admin_email: str
    analyst_email: str
    store_name: str
    model_version: str


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    return CHROMIUM


def _seed_shop(server: LiveServer) -> Shop:
    """A workspace with a store, two years of generated orders sent through the API, a trained (and
    promoted or rejected) LTV model and every customer scored: what the pages must show."""
    from django.conf import settings
    from django.test import override_settings
    from django_tenants.utils import schema_context

    from apps.bidding import services as bidding
    from apps.bidding.models import LtvModel
    from apps.governance.services import user_create
    from apps.governance.tenancy.services import SignupRequest, tenant_signup
    from tests.ltv_data import simulated_orders

    admin, analyst = f"admin@{SHOP}.test", f"analyst@{SHOP}.test"
    result = tenant_signup(
        SignupRequest(name="Browser Shop", slug=SHOP, admin_email=admin, password=PASSWORD),
        actor=Actor.system("tests"),
    )
    with schema_context(result.schema_name):
        user_create(email=analyst, password=PASSWORD, role="analyst", actor=Actor.system("tests"))
    host = server.host(SHOP)
    token = requests.post(
        f"{server.url}/api/v1/auth/login/",
        json={"username": admin, "password": PASSWORD},
        headers={"Host": host},
        timeout=10,
    ).json()["key"]
    auth = {"Host": host, "Authorization": f"Token {token}"}
    store = requests.post(
        f"{server.url}/api/v1/stores",
        json={"name": "Browser Boutique", "currency": "USD"},
        headers=auth,
        timeout=10,
    ).json()
    orders = simulated_orders(120, seed=11)
    for start in range(0, len(orders), 1000):
        sent = requests.post(
            f"{server.url}/api/v1/orders",
            json={"store": store["id"], "orders": orders[start : start + 1000]},
            headers=auth,
            timeout=60,
        )
        assert sent.status_code == 200, sent.text[:500]
    with schema_context(result.schema_name), override_settings(KIKI_LTV_TRAIN_MAX_EPOCHS=2):
        assert settings.KIKI_LTV_TRAIN_MAX_EPOCHS == 2
        run = bidding.ltv_training_request(actor=Actor.system("tests"))
        bidding.ltv_model_train(run_id=run.pk)
        bidding.ltv_score_customers_batch(customer_ids=None, actor=Actor.system("tests"))
        version = LtvModel.objects.latest("trained_at").version
    return Shop(SHOP, admin, analyst, store["name"], version)


def _seed_connect() -> str:
    """A workspace with no store yet, an Admin and an Analyst: the one that connects the sandbox."""
    from django_tenants.utils import schema_context

    from apps.governance.services import user_create
    from apps.governance.tenancy.services import SignupRequest, tenant_signup

    result = tenant_signup(
        SignupRequest(
            name="Browser Connect", slug=CONNECT, admin_email=f"admin@{CONNECT}.test", password=PASSWORD
        ),
        actor=Actor.system("tests"),
    )
    with schema_context(result.schema_name):
        user_create(
            email=f"analyst@{CONNECT}.test", password=PASSWORD, role="analyst", actor=Actor.system("tests")
        )
    return CONNECT


@pytest.fixture(scope="module")
def workspaces(gate_server: LiveServer, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    from apps.governance.tenancy.models import Tenant
    from apps.governance.tenancy.services import SignupRequest, tenant_signup

    with django_db_blocker.unblock():
        shop = _seed_shop(gate_server)
        tenant_signup(
            SignupRequest(
                name="Browser Other", slug=OTHER, admin_email=f"admin@{OTHER}.test", password=PASSWORD
            ),
            actor=Actor.system("tests"),
        )
        connect = _seed_connect()
    yield {"shop": shop, "other": OTHER, "connect": connect}
    with django_db_blocker.unblock():
        for tenant in Tenant.objects.filter(slug__startswith="browser-"):
            tenant.delete(force_drop=True)


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the fixtures above already wrote what
    # the flows need, and the flows reach the database only through the server.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    request.node.kiki_page = page  # tests/gates/conftest.py saves it when the test fails
    yield page
    context.close()


def sign_in(page: Any, server: LiveServer, slug: str, email: str) -> None:
    page.goto(server.browser_url(slug, "/admin/login/"))
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    submit(page, "input[type=submit]")
    page.wait_for_url(re.compile(rf"^http://{re.escape(server.host(slug))}:{server.port}/admin/$"))


def text(page: Any) -> str:
    return str(page.inner_text("body"))


def submit(page: Any, selector: str) -> None:
    """Click what submits a form or follows a link and wait until the page it leads to has loaded.
    A bare click returns once the navigation starts; reading the body then can see an empty page."""
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


# --- 1 ----------------------------------------------------------------------------------------------
def test_signup_lands_signed_in_on_the_new_workspace(
    gate_server: LiveServer, workspaces: Any, page: Any
) -> None:
    slug = "browser-signup"
    page.goto(gate_server.browser_url(None, "/"))
    page.fill("input[name=name]", "Browser Signup Co")
    page.fill("input[name=slug]", slug)
    page.fill("input[name=admin_email]", f"founder@{slug}.test")
    page.fill("input[name=password]", PASSWORD)
    submit(page, "button[type=submit]")
    # The hand-off goes to the workspace's own host, at the port the server was started on.
    page.wait_for_url(f"http://{gate_server.host(slug)}:{gate_server.port}/admin/")
    body = text(page)
    assert f"founder@{slug}.test".upper() in body.upper()  # the admin greets the signed-in user
    assert "Site administration" in body or "KIKI" in body
    assert page.get_by_role("link", name="Users").count() >= 1


# --- 2 ----------------------------------------------------------------------------------------------
def test_admin_adds_an_analyst_issues_a_key_and_sees_the_data(
    gate_server: LiveServer, workspaces: Any, page: Any, browser: Any
) -> None:
    shop: Shop = workspaces["shop"]
    sign_in(page, gate_server, shop.slug, shop.admin_email)

    # An Analyst, added through the form (and able to sign in straight away).
    page.goto(gate_server.browser_url(shop.slug, "/admin/auth/user/add/"))
    page.fill("input[name=email]", f"new-analyst@{shop.slug}.test")
    page.select_option("select[name=role]", "analyst")
    page.fill("input[name=initial_password]", PASSWORD)
    submit(page, "input[name=_save]")
    assert "was added successfully" in text(page)
    page.goto(gate_server.browser_url(shop.slug, "/admin/auth/user/"))
    row = page.locator("tr", has_text=f"new-analyst@{shop.slug}.test")
    assert "Analyst" in row.inner_text()
    other = browser.new_context()
    try:
        sign_in(other.new_page(), gate_server, shop.slug, f"new-analyst@{shop.slug}.test")
    finally:
        other.close()

    # An API key: the secret is shown once, works, and is never shown again.
    page.goto(gate_server.browser_url(shop.slug, "/admin/governance/apikey/add/"))
    page.fill("input[name=name]", "Browser integration")
    page.select_option("select[name=role]", "analyst")
    submit(page, "input[name=_save]")
    shown = re.search(r"kiki_[0-9a-f]{8}\.[A-Za-z0-9_-]+", text(page))
    assert shown, "the new key's secret is shown once after saving"
    secret = shown.group(0)
    me = requests.get(
        f"{gate_server.url}/api/v1/me",
        headers={"Host": gate_server.host(shop.slug), "Authorization": f"Api-Key {secret}"},
        timeout=10,
    )
    assert me.status_code == 200
    page.goto(gate_server.browser_url(shop.slug, "/admin/governance/apikey/"))
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Browser integration").click()
    assert secret not in page.content()

    # The data: stores, customers with predicted LTV and its interval, LTV models.
    page.goto(gate_server.browser_url(shop.slug, "/admin/stores/storeconnection/"))
    assert shop.store_name in text(page)
    page.goto(gate_server.browser_url(shop.slug, "/admin/stores/customer/?o=-6"))
    customers = text(page)
    assert "p10–p90" in customers.replace("P10–P90", "p10–p90")
    assert re.search(r"\d+\.\d\d – \d+\.\d\d USD", customers), "an interval is shown for scored customers"
    page.goto(gate_server.browser_url(shop.slug, "/admin/bidding/ltvmodel/"))
    assert shop.model_version in text(page)
    page.goto(gate_server.browser_url(shop.slug, "/admin/bidding/ltvtrainingrun/"))
    assert page.get_by_role("button", name="Train now").count() == 1


# --- 3 ----------------------------------------------------------------------------------------------
def test_analyst_sees_the_data_but_no_credentials_and_no_admin_actions(
    gate_server: LiveServer, workspaces: Any, page: Any
) -> None:
    shop: Shop = workspaces["shop"]
    sign_in(page, gate_server, shop.slug, shop.analyst_email)
    index = text(page)
    assert "API keys" not in index
    assert "Secrets" not in index

    for path, expected in (
        ("/admin/stores/storeconnection/", shop.store_name),
        ("/admin/stores/customer/", "p10–p90"),
        ("/admin/bidding/ltvmodel/", shop.model_version),
    ):
        page.goto(gate_server.browser_url(shop.slug, path))
        assert expected.lower() in text(page).lower(), path
        assert page.locator("a.addlink").count() == 0, f"{path} offers an Add button to an Analyst"

    for path in ("/admin/governance/apikey/", "/admin/governance/secret/", "/admin/auth/user/add/"):
        response = page.goto(gate_server.browser_url(shop.slug, path))
        assert response.status == 403, path
        assert "kiki_" not in page.content()

    page.goto(gate_server.browser_url(shop.slug, "/admin/bidding/ltvtrainingrun/"))
    assert page.get_by_role("button", name="Train now").count() == 0
    page.goto(gate_server.browser_url(shop.slug, "/admin/auth/user/"))
    assert page.locator("a.addlink").count() == 0
    assert page.locator("select[name=action]").count() == 0  # no bulk actions either


# --- 4 ----------------------------------------------------------------------------------------------
def test_api_docs_render_from_our_own_files_and_list_every_operation(
    gate_server: LiveServer, workspaces: Any, page: Any
) -> None:
    shop: Shop = workspaces["shop"]
    origin = f"http://{gate_server.host(shop.slug)}:{gate_server.port}"
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((origin, "data:")) else foreign.append(r.url))
    schema = requests.get(
        f"{gate_server.url}/api/schema",
        params={"format": "json"},
        headers={"Host": gate_server.host(shop.slug)},
        timeout=30,
    ).json()
    operations = sum(
        1
        for item in schema["paths"].values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )
    page.goto(gate_server.browser_url(shop.slug, "/api/docs"))
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations
    assert "/api/v1/stores" in text(page)
    assert not foreign, f"the docs page loaded files from elsewhere: {foreign}"


# --- 5 ----------------------------------------------------------------------------------------------
def test_another_workspace_refuses_the_first_workspaces_session(
    gate_server: LiveServer, workspaces: Any, page: Any
) -> None:
    shop: Shop = workspaces["shop"]
    sign_in(page, gate_server, shop.slug, shop.admin_email)
    session = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    # A browser keeps the cookie to its host; an attacker can send it to the other host anyway.
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": session["value"],
                "domain": gate_server.host(workspaces["other"]),
                "path": "/",
                "expires": (datetime.now(UTC) + timedelta(hours=1)).timestamp(),
            }
        ]
    )
    page.goto(gate_server.browser_url(workspaces["other"], "/admin/"))
    assert "/admin/login/" in page.url
    assert shop.admin_email not in page.content()
    status = page.evaluate("fetch('/api/v1/me', {credentials: 'same-origin'}).then(r => r.status)")
    assert status in (401, 403)  # the API, with the same cookie, from a page on that host
    # …while on its own host the session still works.
    page.goto(gate_server.browser_url(shop.slug, "/admin/"))
    assert shop.admin_email.upper() in text(page).upper()


# --- 6 ----------------------------------------------------------------------------------------------
def _store_page_when_synced(page: Any) -> str:
    """Reload the store's page until its connection is over (active, or failed); its status."""
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while True:
        status = page.inner_text(".field-status .readonly").strip()
        if status != "Connecting":
            return status
        if time.monotonic() > deadline:
            runs = page.locator(".field-sync_progress").all_inner_texts()
            raise AssertionError(f"still connecting after {SYNC_TIMEOUT_S} s; sync runs: {runs}")
        page.wait_for_timeout(300)  # between polls of the page, as a person would press reload
        page.reload(wait_until="load")


def test_admin_connects_the_sandbox_shopify_and_watches_its_sync(
    gate_server: LiveServer,
    sandbox_shopify: Any,
    workspaces: Any,
    page: Any,
    browser: Any,
    django_db_blocker: Any,
) -> None:
    slug = workspaces["connect"]
    shop = sandbox_shopify.shops[SANDBOX_SHOP]
    fake = shop.store
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    # The worker reaches the sandbox too, and names this server's address when it registers webhooks.
    worker_env = {**shopify_env(sandbox_shopify), "KIKI_PUBLIC_URL": gate_server.browser_url().rstrip("/")}
    with celery_worker("sync", database_url=database_url, env=worker_env):
        sign_in(page, gate_server, slug, f"admin@{slug}.test")
        page.goto(gate_server.browser_url(slug, "/admin/stores/storeconnection/"))
        submit(page, "a.addlink:has-text('Connect a store')")
        assert page.url == gate_server.browser_url(slug, "/admin/stores/storeconnection/connect/")
        page.fill("input[name=shopify-shop]", SANDBOX_SHOP)
        authorized = len(sandbox_shopify.server.requests_to("/admin/oauth/authorize"))
        # Our install page → Shopify's authorize page (the sandbox approves at once) → our callback,
        # which exchanges the code → the store's page.
        submit(page, "input[value='Continue to Shopify']")
        page.wait_for_url(
            re.compile(
                rf"^{re.escape(gate_server.browser_url(slug))}admin/stores/storeconnection/\d+/change/$"
            )
        )
        visits = sandbox_shopify.server.requests_to("/admin/oauth/authorize")[authorized:]
        assert len(visits) == 1, "the browser went through the sandbox's authorize page"
        assert visits[0].arg("redirect_uri") == gate_server.browser_url(
            slug, "/stores/oauth/shopify/callback"
        )
        assert page.inner_text(".field-shop_domain .readonly").strip() == SANDBOX_SHOP
        assert page.inner_text(".field-name .readonly").strip() == fake.name

        status = _store_page_when_synced(page)
        runs = [r.strip() for r in page.locator(".field-sync_progress").all_inner_texts()]
        assert status == "Active", f"the store ended {status}: {runs}"
    assert len(runs) == 4, runs  # products, customers, orders, inventory
    assert all(r.startswith("Done · full ") for r in runs), runs
    bars = page.locator(".field-sync_progress progress")
    assert [bars.nth(i).get_attribute("value") for i in range(bars.count())] == ["100"] * bars.count()
    assert any(f"· {len(fake.orders)} items" in r for r in runs if " orders " in r), runs
    assert "Not computed yet" not in page.inner_text(".field-baseline_summary .readonly")
    store_id = re.search(r"/storeconnection/(\d+)/change/", page.url).group(1)  # type: ignore[union-attr]
    # Webhooks are registered at this server (its port), for the workspace's or the app's host.
    assert shop.subscriptions
    for address in shop.subscriptions.values():
        parts = urlsplit(address)
        assert (parts.port, parts.path) == (gate_server.port, "/webhooks/shopify"), address
        assert parts.hostname in (gate_server.host(slug), gate_server.host()), address

    for path, count in (
        ("order", len(fake.orders)),
        ("customer", len(fake.customers)),
        ("product", len(fake.products)),
    ):
        page.goto(gate_server.browser_url(slug, f"/admin/stores/{path}/?store__id__exact={store_id}"))
        assert re.search(rf"\b{count} {path}s?\b", page.inner_text(".paginator")), path
    assert page.get_by_text(fake.products[0].title).count() >= 1  # the products list shows their titles

    # An Analyst sees the store but cannot connect one.
    analyst = browser.new_context()
    try:
        other = analyst.new_page()
        sign_in(other, gate_server, slug, f"analyst@{slug}.test")
        for path in (
            "/admin/stores/storeconnection/connect/",
            f"/stores/connect/shopify?shop={SANDBOX_SHOP}",
        ):
            assert other.goto(gate_server.browser_url(slug, path)).status == 403, path
        other.goto(gate_server.browser_url(slug, "/admin/stores/storeconnection/"))
        assert fake.name in text(other)
        assert other.locator("a.addlink").count() == 0
    finally:
        analyst.close()
