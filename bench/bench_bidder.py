"""Bid decisions per second through the batch path (stored LTV → bid → policy → budget reservation →
recorded decision), in one process, at batch sizes 1,000 and 10,000; then single-decision latency
through the HTTP API (gunicorn as ``make run`` starts it).

Set-up: a fresh ``bidbench`` workspace, out of dry run, with ``BENCH_BID_CUSTOMERS`` customers (default
100,000) holding a stored prediction and 20 campaigns on the four platforms. Requests name a random
campaign and a random scored customer (5 % are audience bids). Every batch reserves budget (one
reservation per campaign per batch) and records its decisions (one COPY).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

SLUG = "bidbench"
CUSTOMERS = int(os.environ.get("BENCH_BID_CUSTOMERS", "100000"))
TOTAL = int(os.environ.get("BENCH_BID_TOTAL", "200000"))  # bids per batch size
HTTP_N = int(os.environ.get("BENCH_BID_HTTP_N", "300"))


def _setup(schema: str) -> tuple[list[int], list[int]]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.bidding import services as bidding
    from apps.core.actor import Actor, ActorKind
    from apps.governance import services as governance
    from apps.stores import selectors as store_selectors
    from apps.stores import services as stores

    person = Actor(ActorKind.USER, "1", f"admin@{SLUG}.test")
    system = Actor.system("bench")
    with schema_context(schema):
        store = stores.store_create(name="Bench shop", currency="USD", actor=system)
        for start in range(0, CUSTOMERS, 20_000):
            stores.customers_upsert(
                store=store,
                customers=[
                    stores.CustomerInput(platform_id=f"c{i}", email=f"c{i}@bench.test")
                    for i in range(start, min(start + 20_000, CUSTOMERS))
                ],
                actor=system,
            )
        with connection.cursor() as cur:  # predictions as the nightly scoring stores them, in one statement
            cur.execute(
                "UPDATE stores_customer SET predicted_ltv = p, predicted_ltv_low = round(p / 2, 2), "
                "predicted_ltv_high = p * 2, predicted_purchases = 1.5, ltv_horizon_days = 365, "
                "ltv_model_version = 'drnn-bench', ltv_scored_at = now() "
                "FROM (SELECT id AS cid, round((20 + random() * 380)::numeric, 2) AS p FROM stores_customer) s "
                "WHERE id = s.cid"
            )
        store_selectors.customer_ltv_bump()
        customers = store_selectors.customer_ltv_arrays().customer_ids.tolist()
        campaigns = []
        for p, platform in enumerate(("google_ads", "meta", "tiktok", "linkedin")):
            creds = {"access_token": "bench-token-" + "x" * 20}
            if platform == "google_ads":
                creds["developer_token"] = "bench-dev-" + "y" * 20
            account = bidding.ad_account_connect(
                platform=platform, external_id=f"{1234567890 + p}", name=platform, currency="USD",
                credentials=creds, actor=person,
            )  # fmt: skip
            for c in range(5):
                campaign = bidding.campaign_register(
                    account=account, external_id=f"{p}{c:03d}", name=f"{platform} {c}",
                    daily_budget_micros=10**15, bid_strategy="target_roas",
                    target_roas=Decimal("3") + c, actor=person,
                )  # fmt: skip
                campaigns.append(campaign.pk)
        governance.policy_update(
            actor=person, reason="bench: out of dry run, max bid 150", changes={
                "dry_run": False, "max_bid_micros": 150_000_000,
                "allowed_platforms": ["google_ads", "meta", "tiktok", "linkedin"],
            },
        )  # fmt: skip
    return customers, campaigns


def _requests(n: int, customers: list[int], campaigns: list[int], rng: Any) -> list[Any]:
    from apps.bidding.services import BidRequest

    cust = rng.choice(customers, n)
    camp = rng.choice(campaigns, n)
    audience = rng.random(n) < 0.05
    return [
        BidRequest(campaign_id=int(camp[i]), customer_id=None if audience[i] else int(cust[i]))
        for i in range(n)
    ]


def _throughput(schema: str, customers: list[int], campaigns: list[int]) -> dict[str, Any]:
    import numpy as np
    from django_tenants.utils import tenant_context

    from apps.bidding.services import bid_decisions_flush, bids_decide
    from apps.core.actor import Actor
    from apps.governance.tenancy.models import Tenant

    actor = Actor.system("bench")
    rng = np.random.default_rng(20261203)
    out: dict[str, Any] = {}
    # As a request or a task runs: with the workspace's tenant set on the connection, not only its schema.
    with tenant_context(Tenant.objects.get(schema_name=schema)):
        bids_decide(requests=_requests(1000, customers, campaigns, rng), actor=actor)  # warm: arrays loaded
        bid_decisions_flush()
        for size in (1_000, 10_000):
            batches = [_requests(size, customers, campaigns, rng) for _ in range(max(1, TOTAL // size))]
            allowed = 0
            started = time.perf_counter()
            for batch in batches:
                result = bids_decide(requests=batch, actor=actor)
                allowed += result.decision.count("allow")
            elapsed = time.perf_counter() - started
            n = size * len(batches)
            started = time.perf_counter()  # what the worker does with them: one COPY per batch
            written = bid_decisions_flush()
            flush_s = time.perf_counter() - started
            out[f"batch_{size}"] = {"bids": n, "seconds": round(elapsed, 3), "bids_per_s": round(n / elapsed),
                                   "allowed": allowed, "recorded": written,
                                   "recorded_per_s": round(written / flush_s)}  # fmt: skip
    return out


def _http(database_url: str, schema: str, campaigns: list[int], customers: list[int]) -> dict[str, Any]:
    import requests
    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.core.actor import Actor
    from apps.governance import services as governance
    from tests.live_server import web_server

    with schema_context(schema):
        key = governance.apikey_create(name="bench", role="admin", actor=Actor.system("bench")).plaintext
    host = f"{SLUG}.{settings.KIKI_BASE_DOMAIN}"
    log = Path(settings.BASE_DIR) / ".kiki" / "bench" / "gunicorn-bidder.log"
    env = {**os.environ, "KIKI_API_RATE": "1000000/min", "DB_CONN_MAX_AGE": "60"}
    times = []
    with web_server(database_url=database_url, log_path=log, env=env) as server:
        session = requests.Session()
        headers = {"Host": host, "Authorization": f"Api-Key {key}"}
        for i in range(HTTP_N + 20):
            body = {"requests": [{"campaign_id": campaigns[i % len(campaigns)],
                                  "customer_id": customers[(i * 7919) % len(customers)]}]}  # fmt: skip
            started = time.perf_counter()
            response = session.post(
                f"{server.url}/api/v1/bidding/decide", json=body, headers=headers, timeout=10
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"decide answered {response.status_code}: {response.text[:300]}")
            if i >= 20:  # the first calls warm both gunicorn workers (arrays, connections)
                times.append(elapsed * 1000)
    times.sort()
    return {
        "n": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 1),
    }


def main() -> None:
    from bench.stores_env import bench_workspace, django_ready

    database_url = django_ready()
    schema = bench_workspace(SLUG)
    customers, campaigns = _setup(schema)
    figures = _throughput(schema, customers, campaigns)
    http = _http(database_url, schema, campaigns, customers)
    goal = 132_668
    print(f"bidder: batch path in one process ({CUSTOMERS:,} customers with stored LTV, 20 campaigns)")
    for name, f in figures.items():
        print(
            f"  {name:>11}: {f['bids_per_s']:>9,} bids/s ({f['bids']:,} bids in {f['seconds']} s; "
            f"{f['bids_per_s'] / goal:.2f}× the 132,668 goal); the worker recorded {f['recorded']:,} "
            f"decisions at {f['recorded_per_s']:,}/s"
        )
    print(
        f"  HTTP, one decision per call: p50 {http['p50_ms']} ms, p99 {http['p99_ms']} ms ({http['n']} calls)"
    )
    print(json.dumps({"throughput": figures, "http_single": http, "goal_bids_per_s": goal}))


if __name__ == "__main__":
    main()
