"""Quality gates: the real web process (gunicorn, as ``make run`` starts it) against the test database
and the sandbox Shopify, for the API fuzzing and browser suites. A gate's figures are printed at the
end of the run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from apps.stores.integrations.fakes.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_SHOP
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.shopify.fake import FakeShopify
from conftest import GATE_FIGURES
from conftest import TEST_ARTIFACTS as ARTIFACTS
from tests.celery_worker import worker_database_url
from tests.live_server import LiveServer, web_server

# Test-sized limits: the fuzzer sends thousands of requests a minute from one principal. The
# throttle itself stays on (its own tests hit it); only the documented rate setting is raised.
GATE_SERVER_ENV = {
    "KIKI_API_RATE": "1000000/min",
    "KIKI_SIGNUP_RATE": "1000/min",
    "KIKI_LTV_SCORE_TIMEOUT_MS": "20",
    "DB_CONN_MAX_AGE": "60",
}


def record_figure(name: str, value: Any) -> None:
    """A figure for the end-of-run summary (operations fuzzed, examples run, seconds per gate). Kept
    as a file, so that the controller prints it (``conftest.py``) when xdist workers ran the gates."""
    GATE_FIGURES.mkdir(parents=True, exist_ok=True)
    (GATE_FIGURES / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.json").write_text(json.dumps([name, value]))


def shopify_env(shopify: FakeShopify) -> dict[str, str]:
    """What a process needs to reach the sandbox Shopify (``make run`` passes the same to each)."""
    return {
        "KIKI_SHOPIFY_CLIENT_ID": shopify.client_id,
        "KIKI_SHOPIFY_CLIENT_SECRET": shopify.client_secret,
        "KIKI_SHOPIFY_API_BASE": shopify.api_base_template(),
    }


@pytest.fixture(scope="session")
def sandbox_shopify() -> Iterator[FakeShopify]:
    """The sandbox Shopify on loopback, as ``make run`` serves it (same shop and app credentials), with
    a small generated shop; started before the web process, which is configured to reach it."""
    shopify = FakeShopify(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET)
    shopify.add_shop(
        SANDBOX_SHOP,
        FakeStore.generate(
            orders=360,
            customers=90,
            products=14,
            seed=5,
            name="KIKI Sandbox Outfitters",
            domain="kiki-sandbox",
        ),
    )
    with shopify.server:
        yield shopify


@pytest.fixture(scope="session")
def gate_server(
    django_db_setup: Any, django_db_blocker: Any, sandbox_shopify: FakeShopify
) -> Iterator[LiveServer]:
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    with web_server(
        database_url=database_url,
        log_path=ARTIFACTS / "gates" / "gunicorn.log",
        env={**GATE_SERVER_ENV, **shopify_env(sandbox_shopify)},
    ) as server:
        yield server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """A failing browser test leaves a screenshot and the page's HTML, and its report says where."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "kiki_page", None)
    if page is None or report.when != "call" or not report.failed:
        return
    target = ARTIFACTS / "browser" / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    target.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(target / "screenshot.png"), full_page=True)
        (target / "page.html").write_text(page.content())
        (target / "url.txt").write_text(page.url + "\n")
        saved = f"screenshot.png, page.html and url.txt of the failing page: {target}"
    except Exception as exc:  # noqa: BLE001 - the page may already be gone; say so instead
        saved = f"could not save the page ({exc}); directory: {target}"
    report.sections.append(("browser artifacts", saved))
