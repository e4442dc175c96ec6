"""Full sync of a fake Shopify store: orders per second end to end (adapter, HTTP, parsing, the
set-based upsert), and the syncing process's peak memory for a 10,000- and a 100,000-order store
(it must not grow with the store: pages are written as they come).

The fake's GraphQL cost bucket is switched off here (what our side and the machine can do); with
Shopify Plus's restore rate (1,000 points/s) a 50-order page costs 802 points, which caps paginated
full syncs at about 62 orders/s whatever the client does: ``--one 10000 1000`` measures that.

Each size runs in a fresh process (its peak memory is its own), with the fake shop in another
process. Goal: ≥ 2,000 orders/s; peak memory about equal for both sizes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import subprocess
import sys
import time

from apps.core.actor import Actor

SIZES = (10_000, 100_000)
SHOP = "bench-shop.myshopify.com"
CLIENT_ID, CLIENT_SECRET = "bench-app", "bench-app-secret"  # noqa: S105 - a loopback fake's


def _serve(orders: int, port_queue: mp.Queue, restore_rate: float) -> None:  # type: ignore[type-arg]
    from apps.stores.integrations.fakes.store import FakeStore
    from apps.stores.integrations.shopify.fake import FakeShopify

    fake = FakeShopify(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    shop = fake.add_shop(
        SHOP, FakeStore.generate(orders=orders, customers=max(200, orders // 6), products=40, seed=1)
    )
    shop.restore_rate = restore_rate
    fake.server.start()
    port_queue.put(fake.server.url)
    while True:
        time.sleep(3600)


def run_one(orders: int, restore_rate: float = 1e9) -> dict[str, float]:
    """In this (fresh) process: connect through the real install flow, then sync and time it."""
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    server = mp.get_context("fork").Process(target=_serve, args=(orders, queue, restore_rate), daemon=True)
    server.start()
    url = queue.get(timeout=600)
    from bench.stores_env import bench_workspace, django_ready

    django_ready()
    from django.conf import settings

    settings.KIKI_SHOPIFY_CLIENT_ID, settings.KIKI_SHOPIFY_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.KIKI_SHOPIFY_API_BASE = f"{url}/shops/{{shop}}"
    from urllib.parse import parse_qsl, urlsplit

    import requests
    from django_tenants.utils import schema_context

    from apps.stores import services
    from apps.stores.integrations.shopify import bulk
    from apps.stores.models import Order
    from apps.stores.services import sync

    # The time Shopify takes to prepare the bulk operation's file is the platform's (here: the fake
    # writing it on the same cores); it is timed apart, so both figures can be read.
    waited = [0.0]
    wait = bulk.BulkReader.wait

    def timed_wait(self: bulk.BulkReader, operation_id: str, budget_s: float = bulk.POLL_BUDGET_S) -> dict:  # type: ignore[type-arg]
        began = time.perf_counter()
        try:
            return wait(self, operation_id, budget_s)
        finally:
            waited[0] += time.perf_counter() - began

    bulk.BulkReader.wait = timed_wait  # type: ignore[method-assign]
    schema = bench_workspace()
    with schema_context(schema):
        install = services.shopify_install_start(
            shop=SHOP, redirect_uri="http://bench/cb", actor=Actor.system("bench")
        )
        approved = requests.get(install, allow_redirects=False, timeout=30)
        store = services.shopify_connect(params=dict(parse_qsl(urlsplit(approved.headers["Location"]).query)))
        timings = {}
        for resource_name in ("products", "customers", "orders"):
            run = sync.sync_request(
                store=store, resource=resource_name, mode="full", actor=Actor.system("bench"), enqueue=False
            )
            waited[0] = 0.0
            started = time.perf_counter()
            done = sync.sync_run_execute(run_id=run.pk)
            timings[resource_name] = time.perf_counter() - started
            timings[f"{resource_name}_file_wait"] = waited[0]
            assert done.state == "done", done.error
        stored = Order.objects.filter(store=store).count()
    server.terminate()
    assert stored == orders, (stored, orders)
    return {
        "orders": orders,
        "orders_seconds": timings["orders"],
        "orders_per_s": orders / timings["orders"],
        "orders_file_wait_seconds": timings["orders_file_wait"],
        "orders_per_s_after_file": orders / (timings["orders"] - timings["orders_file_wait"]),
        "catalog_and_customers_seconds": timings["products"] + timings["customers"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    results = []
    for size in SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_stores_sync", "--one", str(size)],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if out.returncode != 0:
            print(f"sync of {size} orders failed:\n{out.stderr[-3000:]}")
            return
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r in results:
        print(
            f"full sync, {r['orders']:>7,} orders: {r['orders_per_s']:,.0f} orders/s "
            f"({r['orders_seconds']:.1f} s, of which {r['orders_file_wait_seconds']:.1f} s waiting for the "
            f"platform's file: {r['orders_per_s_after_file']:,.0f} orders/s after it; products + customers "
            f"{r['catalog_and_customers_seconds']:.1f} s), peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    small, big = results
    print(
        f"  goal ≥ 2,000 orders/s: {'met' if big['orders_per_s'] >= 2000 else 'NOT met'} "
        f"({big['orders_per_s'] / 2000:.2f} × goal); peak memory 100k ÷ 10k = {big['peak_rss_mb'] / small['peak_rss_mb']:.2f}"
    )


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--one":
        print(json.dumps(run_one(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 1e9)))
    else:
        main()
