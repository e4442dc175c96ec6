"""A real Celery worker killed (SIGKILL) in the middle of a full sync: the run keeps its cursor, the
hourly sweep resumes it on a new worker, and the store ends with every order exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.shopify.fake import FakeShopify
from tests.celery_worker import celery_worker, worker_database_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHOP = "killed.myshopify.com"


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    shopify = FakeShopify()
    shopify.add_shop(SHOP, FakeStore.generate(orders=1500, customers=200, products=8, seed=9))
    with shopify.server:
        yield shopify


def _wait(what: str, check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s")


def test_a_worker_killed_mid_sync_loses_nothing_and_counts_nothing_twice(committed_db, settings, fake):
    from apps.stores import services
    from apps.stores.models import Order, StoreConnection, SyncRun
    from apps.stores.services import sync
    from apps.stores.tasks import poll_stores, run_sync

    schema = committed_db.a.schema
    env = {
        "KIKI_SHOPIFY_CLIENT_ID": fake.client_id,
        "KIKI_SHOPIFY_CLIENT_SECRET": fake.client_secret,
        "KIKI_SHOPIFY_API_BASE": fake.api_base_template(),
        "KIKI_SYNC_STALLED_MINUTES": "0",
        # Paginated: 30 slow pages, so the kill lands between them. The bulk path's resume (a byte
        # offset into the operation's file, read by a new adapter) is tested in apps/stores/tests.
        "KIKI_SHOPIFY_BULK_SYNC": "0",
    }
    settings.KIKI_SHOPIFY_CLIENT_ID, settings.KIKI_SHOPIFY_CLIENT_SECRET = fake.client_id, fake.client_secret
    settings.KIKI_SHOPIFY_API_BASE = fake.api_base_template()
    settings.KIKI_SHOPIFY_BULK_SYNC = False
    try:
        with schema_context(schema):
            url = services.shopify_install_start(
                shop=SHOP, redirect_uri="http://x/cb", actor=Actor.system("tests")
            )
            approved = requests.get(url, allow_redirects=False, timeout=10)
            store = services.shopify_connect(
                params=dict(parse_qsl(urlsplit(approved.headers["Location"]).query))
            )
            StoreConnection.objects.filter(pk=store.pk).update(status="active")
            run = sync.sync_request(
                store=store, resource="orders", mode="full", actor=Actor.system("tests"), enqueue=False
            )
        fake.server.delay_s = 0.25  # a slow platform, so the kill lands mid-sync
        database_url = worker_database_url()
        with celery_worker("sync", database_url=database_url, env=env) as proc:
            run_sync.apply_async(kwargs={"run_id": run.pk}, headers={"_schema_name": schema})

            def some_pages() -> bool:
                with schema_context(schema):
                    return SyncRun.objects.get(pk=run.pk).pages >= 3

            _wait("a few pages written", some_pages)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        with schema_context(schema):
            stopped = SyncRun.objects.get(pk=run.pk)
            assert stopped.state == "running"
            assert 3 <= stopped.pages < 30
            assert Order.objects.filter(store=store).count() == stopped.items  # committed pages only
        fake.server.delay_s = 0.0
        with celery_worker("sync", database_url=database_url, env=env):
            poll_stores.apply_async(headers={"_schema_name": schema})  # the hourly sweep finds it stalled

            def finished() -> SyncRun | None:
                with schema_context(schema):
                    done = SyncRun.objects.get(pk=run.pk)
                return done if done.state == "done" else None

            done = _wait("the stalled run resumed and finished", finished)
        with schema_context(schema):
            assert (
                done.items == Order.objects.filter(store=store).count() == len(fake.shops[SHOP].store.orders)
            )
            assert done.pages == 30  # 1,500 orders by 50: the killed page was read again, not counted twice
    finally:
        with schema_context(schema):
            from apps.stores.services.privacy import store_redact

            for leftover in StoreConnection.objects.all():
                store_redact(store=leftover, actor=Actor.system("tests"))
