"""Budget reservations per second under 8 concurrent worker processes against one cap, and the overspend
(must be 0 micros).

Each worker is a separate process (forked after Django is set up, with its own PostgreSQL and Redis
connections) that reserves against the same campaign cap through ``budget_reserve`` (one Lua call and
one ledger row per reservation), released together by a barrier. The cap is set at 80 % of the demand,
so the last reservations are refused: the figure includes refusals, as in production. A second run
uses ``budget_reserve_many`` in batches (one Lua call and one multi-row INSERT per batch).

Overspend = what the ledger holds as reserved beyond the cap; the Redis counters must equal the ledger.

``python -m bench.bench_budget [--per-worker N] [--batch B]`` (defaults 2,000 and 100).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import Any

WORKERS = 8
AMOUNT = 10_000  # micros per reservation
CAMPAIGN = "bench-campaign"


def _worker(schema: str, n: int, batch: int, barrier: Any, results: Any) -> None:
    from django.db import connections
    from django_tenants.utils import tenant_context

    from apps.core.actor import Actor
    from apps.core.redis import get_redis
    from apps.governance import services
    from apps.governance.tenancy.models import Tenant

    try:
        # As a request or a task runs: the workspace row is on the connection (no query to find it).
        with tenant_context(Tenant.objects.get(schema_name=schema)):
            policy = services.policy_current()
            get_redis().ping()
            actor = Actor.system("bench:budget")
            granted = 0
            barrier.wait(timeout=300)
            started = time.perf_counter()
            if batch <= 1:
                for _ in range(n):
                    outcome = services.budget_reserve(
                        platform="meta", campaign=CAMPAIGN, amount_micros=AMOUNT, actor=actor, policy=policy
                    )
                    granted += outcome.granted
            else:
                request = services.BudgetRequest("meta", CAMPAIGN, AMOUNT)
                for start in range(0, n, batch):
                    size = min(batch, n - start)
                    outcomes = services.budget_reserve_many(
                        requests=[request] * size, actor=actor, policy=policy
                    )
                    granted += sum(o.granted for o in outcomes)
            elapsed = time.perf_counter() - started
        results.put(("ok", granted, elapsed))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(("error", repr(exc), 0.0))
    finally:
        connections.close_all()


def run(per_worker: int, batch: int) -> dict[str, float]:
    """One measurement on a fresh workspace: reservations/s over all workers, and the overspend."""
    from django.db import connections
    from django_tenants.utils import schema_context

    from apps.core.actor import Actor
    from apps.governance import services
    from apps.governance.models import BudgetLedgerEntry
    from bench.stores_env import bench_workspace

    schema = bench_workspace("bench-budget")
    demand = WORKERS * per_worker * AMOUNT
    cap = demand * 8 // 10
    with schema_context(schema):
        services.policy_update(
            actor=Actor.system("bench"), reason="bench cap", changes={"campaign_daily_cap_micros": cap}
        )
        services.budget_rebuild()
    connections.close_all()
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(WORKERS + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(schema, per_worker, batch, barrier, results))
        for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=300)
    wall_start = time.perf_counter()
    replies = [results.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - wall_start
    for p in procs:
        p.join(timeout=60)
    errors = [r for r in replies if r[0] == "error"]
    if errors:
        raise RuntimeError(f"workers failed: {errors}")
    granted = sum(r[1] for r in replies)
    with schema_context(schema):
        reserved = sum(
            BudgetLedgerEntry.objects.filter(campaign_key=CAMPAIGN, state="reserved").values_list(
                "amount_micros", flat=True
            )
        )
        counter = services.budget_counters(platform="meta", campaign=CAMPAIGN)["campaign_daily"]
    total = WORKERS * per_worker
    return {
        "reservations": total,
        "per_s": total / wall,
        "granted": granted,
        "cap_micros": cap,
        "reserved_micros": reserved,
        "overspend_micros": max(0, reserved - cap),
        "counter_matches_ledger": float(counter == reserved == granted * AMOUNT),
    }


def main(per_worker: int = 2_000, batch: int = 100) -> None:
    from bench.stores_env import django_ready

    django_ready()
    for label, size in (("one reservation per call", 1), (f"batches of {batch}", batch)):
        r = run(per_worker, size)
        print(
            f"budget reservations, {WORKERS} worker processes, one cap, {label}: {r['per_s']:,.0f} reservations/s "
            f"({r['reservations']:,} in all, {r['granted']:,} granted up to the cap); "
            f"overspend {r['overspend_micros']:,.0f} micros"
            f"{'' if r['counter_matches_ledger'] else ' — COUNTERS DISAGREE WITH THE LEDGER'}"
        )
        if r["overspend_micros"] or not r["counter_matches_ledger"]:
            raise SystemExit("budget guardrail broken: overspend or counters off")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-worker", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    main(args.per_worker, args.batch)
