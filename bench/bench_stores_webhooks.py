"""Webhook ingest under load: 16 concurrent connections send signed Shopify deliveries (10 % of them
duplicates) to the real web process (gunicorn, 2 workers); the same server, in the same run, answers
a bare Django JSON view (``/livez``) to the same load. Reported: requests/s and p99 of each, their
ratio (goal ≥ 0.5), and the count of deliveries lost or processed twice (goal 0 and 0), checked after
a Celery worker has processed every stored delivery.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

CONNECTIONS = 16
REQUESTS = 3000
DUPLICATE_SHARE = 0.10
SHOP = "ingest-shop.myshopify.com"
SECRET = "ingest-app-secret"  # noqa: S105 - a benchmark's fake app


def _load(
    port: int, host: str, requests: list[tuple[str, str, bytes, dict[str, str]]]
) -> tuple[float, list[float], int]:
    """Send ``requests`` over CONNECTIONS keep-alive connections; (seconds, latencies, non-2xx)."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    chunks = [requests[i::CONNECTIONS] for i in range(CONNECTIONS)]
    start = threading.Barrier(CONNECTIONS + 1)

    def worker(chunk: list[tuple[str, str, bytes, dict[str, str]]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        start.wait()
        for method, path, body, headers in chunk:
            t = time.perf_counter()
            conn.request(method, path, body=body or None, headers={"Host": host, **headers})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            bad += response.status >= 300
        conn.close()
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began, latencies, failures[0]


def main() -> None:
    from bench.stores_env import bench_workspace, django_ready

    database_url = django_ready()
    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.stores.integrations.fakes.store import FakeStore
    from apps.stores.integrations.shopify.fake import FakeShopify
    from apps.stores.models import Order, StoreConnection, WebhookDelivery
    from tests.celery_worker import celery_worker
    from tests.live_server import web_server

    schema = bench_workspace()
    with schema_context(schema):
        StoreConnection.objects.create(
            platform="shopify",
            shop_domain=SHOP,
            name="Ingest",
            currency="USD",
            credentials='{"access_token": "unused: Shopify deliveries carry the whole order"}',
        )
    fake = FakeShopify(client_secret=SECRET)
    store = FakeStore.generate(orders=0, customers=50, products=5, seed=3)
    unique = [store.add_order() for _ in range(round(REQUESTS * (1 - DUPLICATE_SHARE)))]
    deliveries = []
    for n, order in enumerate(unique):
        body, headers = fake.signed_delivery(
            SHOP, "orders/create", FakeShopify.rest_order(store, order), webhook_id=f"wh-{n}"
        )
        deliveries.append(("POST", "/webhooks/shopify", body, headers))
    for n in range(REQUESTS - len(deliveries)):
        deliveries.append(deliveries[(n * 7) % len(unique)])  # a platform retrying: same id, same body
    import random

    random.Random(1).shuffle(deliveries)
    bare = [("GET", "/livez", b"", {})] * REQUESTS
    env = {"KIKI_SHOPIFY_CLIENT_SECRET": SECRET, "KIKI_API_RATE": "1000000/min", "DB_CONN_MAX_AGE": "60"}
    host = f"bench.{settings.KIKI_BASE_DOMAIN}"
    log = Path(settings.BASE_DIR) / ".kiki" / "bench" / "gunicorn-ingest.log"
    from tests.celery_worker import empty_broker

    empty_broker()
    # Ingest first (verify + store + ack; tasks queue up), then a worker processes every delivery.
    with web_server(database_url=database_url, log_path=log, env={**os.environ, **env}) as server:
        _load(server.port, host, bare[:300])  # warm up both web workers
        bare_s, bare_lat, bare_bad = _load(server.port, host, bare)
        hook_s, hook_lat, hook_bad = _load(server.port, host, deliveries)
    bare_rps, hook_rps = REQUESTS / bare_s, REQUESTS / hook_s
    with schema_context(schema):
        stored = WebhookDelivery.objects.count()
    started = time.monotonic()
    with celery_worker("webhooks", database_url=database_url, env=env, empty_first=False):
        while time.monotonic() - started < 600:
            with schema_context(schema):
                if not WebhookDelivery.objects.filter(status="received").exists():
                    break
            time.sleep(0.5)
    processing_s = time.monotonic() - started
    with schema_context(schema):
        processed = WebhookDelivery.objects.filter(status="processed").count()
        twice = WebhookDelivery.objects.filter(attempts__gt=1).count()
        orders = Order.objects.count()
    lost = len(unique) - stored
    print(
        f"webhook ingest, {CONNECTIONS} connections, {REQUESTS} requests ({DUPLICATE_SHARE:.0%} duplicates): "
        f"{hook_rps:,.0f} req/s, p99 {np.percentile(hook_lat, 99) * 1e3:.1f} ms"
    )
    print(
        f"bare Django view, same server and load: {bare_rps:,.0f} req/s, p99 {np.percentile(bare_lat, 99) * 1e3:.1f} ms"
    )
    print(
        f"  ratio {hook_rps / bare_rps:.2f} (goal ≥ 0.5); non-2xx {hook_bad + bare_bad}; stored {stored} of "
        f"{len(unique)} unique: lost {lost}; processed {processed}, processed twice {twice}; orders {orders}"
    )
    print(f"  then one worker processed them (orders_upsert each) in {processing_s:.0f} s incl. its start")
    print(json.dumps({"ratio": round(hook_rps / bare_rps, 3), "lost": lost, "twice": twice}))


if __name__ == "__main__":
    main()
