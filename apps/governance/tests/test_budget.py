"""Budget guardrails through the services, Redis and PostgreSQL, with two tenants present.

Concurrency is real: reservations race from separate processes (fork, each with its own database
connection and Redis connection) against one cap, with and without Redis flushed mid-way."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import time
import uuid
import zoneinfo
from typing import Any

import pytest
import redis
from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY

from apps.core.actor import Actor, ActorKind
from apps.core.redis import get_redis
from apps.governance import services, tasks
from apps.governance.errors import GovernanceError
from apps.governance.models import AuditEntry, BudgetLedgerEntry
from apps.governance.services.budget import counter_keys, epoch_key, key_scope
from apps.governance.tenancy.models import Tenant
from kiki_project.celery import app as celery_app

ALICE = Actor(ActorKind.USER, "1", "admin@alpha.test")
BOT = Actor.system("celery:bidding.decide")
M = 1_000_000


def set_policy(**changes: Any) -> None:
    services.policy_update(actor=ALICE, reason="budget test", changes=changes)


def reserve(amount: int, campaign: str = "c-1", platform: str = "meta", **kw: Any) -> services.BudgetOutcome:
    return services.budget_reserve(
        platform=platform, campaign=campaign, amount_micros=amount, actor=BOT, **kw
    )


def ledger_counted(**filters: Any) -> int:
    return sum(e.counted_micros for e in BudgetLedgerEntry.objects.filter(**filters))


# --- in one process ----------------------------------------------------------------------------------
def test_a_batch_reserves_in_order_each_all_or_nothing_and_names_the_refusing_cap(tenants):
    with schema_context(tenants.a.schema):
        set_policy(campaign_daily_cap_micros=10 * M, platform_caps={"meta": {"daily": 100 * M}})
        requests = [services.BudgetRequest("meta", "c-1", 4 * M) for _ in range(3)]
        requests.append(services.BudgetRequest("meta", "c-2", 2 * M))
        outcomes = services.budget_reserve_many(requests=requests, actor=BOT)
        assert [o.granted for o in outcomes] == [True, True, False, True]
        refused = outcomes[2]
        assert (refused.refused_by, refused.cap_micros, refused.used_micros) == (
            "campaign_daily",
            10 * M,
            8 * M,
        )
        assert refused.reservation_id is None
        assert "campaign daily cap" in refused.message
        # All or nothing: the refused reservation touched no counter, the platform's included.
        assert services.budget_counters(platform="meta", campaign="c-1") == {
            "campaign_daily": 8 * M,
            "campaign_monthly": 8 * M,
            "platform_daily": 10 * M,
            "platform_monthly": 10 * M,
        }
        rows = BudgetLedgerEntry.objects.order_by("campaign_key", "amount_micros")
        assert [(r.campaign_key, r.amount_micros, r.state) for r in rows] == [
            ("c-1", 4 * M, "reserved"),
            ("c-1", 4 * M, "reserved"),
            ("c-2", 2 * M, "reserved"),
        ]
        assert {r.pk for r in rows} == {o.reservation_id for o in outcomes if o.granted}
        assert all(r.policy_version == 2 and r.requested_by == BOT.label for r in rows)
        # Exactly at the cap is allowed, one micro over is not.
        assert reserve(2 * M).granted
        assert not reserve(1).granted


def test_every_cap_applies_and_overrides_win(tenants):
    with schema_context(tenants.a.schema):
        set_policy(
            campaign_daily_cap_micros=5 * M,
            campaign_monthly_cap_micros=100 * M,
            campaign_caps={"big": {"daily": 50 * M}, "free": {"daily": None}, "tight": {"monthly": 3 * M}},
            platform_caps={"google_ads": {"daily": 60 * M, "monthly": 70 * M}},
        )
        assert not reserve(5 * M + 1, "c-1").granted  # the default daily cap
        assert reserve(40 * M, "big").granted  # its own daily cap
        assert reserve(40 * M, "free").granted  # no daily cap; the default monthly one still holds
        assert reserve(60 * M + 1, "free").refused_by == "campaign_monthly"  # 40 + 60 is exactly it
        assert reserve(4 * M, "tight").refused_by == "campaign_monthly"  # its monthly, the default daily
        assert reserve(3 * M, "tight").granted
        g = [reserve(5 * M, f"g-{i}", "google_ads") for i in range(14)]
        assert [o.granted for o in g] == [True] * 12 + [False] * 2
        assert g[12].refused_by == "platform_daily"
        assert g[12].cap_micros == 60 * M


def test_counters_are_keyed_by_schema_and_the_workspaces_local_day(tenants, platform_redis):
    a, b = tenants
    Tenant.objects.filter(schema_name=a.schema).update(timezone="Pacific/Kiritimati")  # UTC+14
    for info in tenants:
        with schema_context(info.schema):
            set_policy(campaign_daily_cap_micros=10 * M)
            assert reserve(7 * M).granted
    with schema_context(a.schema):
        assert not reserve(4 * M).granted
        day = timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
        scope = key_scope()
        workspace_id = Tenant.objects.get(schema_name=a.schema).pk
        assert scope == f"{a.schema}.{workspace_id}"
        keys = counter_keys(scope, platform="meta", campaign="c-1", day=day)
        assert keys[0] == f"kiki:budget:{{{scope}}}:d:{day.isoformat()}:c:c-1"
        assert keys[3] == f"kiki:budget:{{{scope}}}:m:{day:%Y-%m}:p:meta"
        assert [int(v) for v in platform_redis.mget(keys)] == [7 * M] * 4
        assert BudgetLedgerEntry.objects.get().day == day
    with schema_context(b.schema):
        assert reserve(3 * M).granted  # b's own counters: 7 + 3 fits its cap
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 10 * M


def test_commit_below_the_reservation_gives_the_rest_back(tenants, django_capture_on_commit_callbacks):
    with schema_context(tenants.a.schema):
        set_policy(campaign_daily_cap_micros=10 * M)
        first = reserve(6 * M)
        assert not reserve(5 * M).granted
        with django_capture_on_commit_callbacks(execute=True):
            entry = services.budget_commit(
                reservation_id=first.reservation_id, actual_micros=2 * M, actor=BOT
            )
        assert (entry.state, entry.actual_micros) == ("committed", 2 * M)
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 2 * M
        assert reserve(8 * M).granted  # what was given back is usable again: 2 + 8 = the cap
        # Committing the same amount again changes nothing; another amount is a conflict.
        with django_capture_on_commit_callbacks(execute=True):
            assert services.budget_commit(
                reservation_id=first.reservation_id, actual_micros=2 * M, actor=BOT
            ).pk
        with pytest.raises(GovernanceError) as exc:
            services.budget_commit(reservation_id=first.reservation_id, actual_micros=1 * M, actor=BOT)
        assert exc.value.code == "conflict"
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 10 * M
        # More than reserved is refused; so is an unknown reservation.
        second = reserve(1, campaign="c-2")
        with pytest.raises(GovernanceError) as exc:
            services.budget_commit(reservation_id=second.reservation_id, actual_micros=2, actor=BOT)
        assert exc.value.code == "validation_error"
        with pytest.raises(GovernanceError) as exc:
            services.budget_commit(reservation_id=uuid.uuid4(), actual_micros=0, actor=BOT)
        assert exc.value.code == "not_found"
    with schema_context(tenants.b.schema), pytest.raises(GovernanceError) as exc:
        services.budget_commit(reservation_id=first.reservation_id, actual_micros=2 * M, actor=BOT)
    assert exc.value.code == "not_found"  # another workspace's reservation does not exist here


def test_release_gives_everything_back_and_is_idempotent(tenants, django_capture_on_commit_callbacks):
    with schema_context(tenants.a.schema):
        set_policy(campaign_daily_cap_micros=10 * M)
        held = reserve(10 * M)
        assert not reserve(1).granted
        with django_capture_on_commit_callbacks(execute=True):
            assert services.budget_release(reservation_id=held.reservation_id, actor=BOT).state == "released"
            assert services.budget_release(reservation_id=held.reservation_id, actor=BOT).state == "released"
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 0
        with pytest.raises(GovernanceError, match="released"):
            services.budget_commit(reservation_id=held.reservation_id, actual_micros=1, actor=BOT)
        assert reserve(10 * M).granted


def test_stale_reservations_expire_through_the_periodic_task(tenants, django_capture_on_commit_callbacks):
    entries = {
        name: e["task"] for name, e in celery_app.conf.beat_schedule.items() if name.startswith("governance-")
    }
    assert {"governance-expire-budget-reservations", "governance-reconcile-budget"} <= set(entries)
    with schema_context(tenants.a.schema):
        set_policy(campaign_daily_cap_micros=10 * M)
        stale, fresh = reserve(6 * M), reserve(3 * M)
        BudgetLedgerEntry.objects.filter(pk=stale.reservation_id).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.expire_budget_reservations() == 1
            assert tasks.expire_budget_reservations() == 0  # idempotent
        assert BudgetLedgerEntry.objects.get(pk=stale.reservation_id).state == "expired"
        assert BudgetLedgerEntry.objects.get(pk=fresh.reservation_id).state == "reserved"
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 3 * M
        assert reserve(7 * M).granted
        # Spend that is reported on an expired reservation still counts (it happened).
        entry = services.budget_commit(reservation_id=stale.reservation_id, actual_micros=5 * M, actor=BOT)
        assert entry.state == "committed"
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 15 * M


def test_a_flushed_redis_is_rebuilt_from_the_ledger_before_any_reservation(tenants, platform_redis):
    a, b = tenants
    with schema_context(a.schema):
        set_policy(campaign_daily_cap_micros=10 * M, platform_caps={"meta": {"monthly": 100 * M}})
        for _ in range(3):
            assert reserve(3 * M).granted
        kept = reserve(1 * M, campaign="c-2")
        services.budget_spend_record(
            report_key="meta:r1",
            platform="meta",
            campaign="c-2",
            day=kept.day,
            amount_micros=2 * M,
            actor=BOT,
        )
        before = services.budget_counters(platform="meta", campaign="c-1")
        loads = AuditEntry.objects.filter(
            action="budget.rebuild"
        ).count()  # the first reservation loaded them
        platform_redis.flushdb()
        assert not platform_redis.exists(epoch_key(key_scope()))
        assert not reserve(2 * M).granted  # rebuilt first: 9 already counted, 9 + 2 > 10
        assert services.budget_counters(platform="meta", campaign="c-1") == before
        assert services.budget_counters(platform="meta", campaign="c-2")["campaign_daily"] == 3 * M
        assert reserve(1 * M).granted
        assert ledger_counted(campaign_key="c-1") == 10 * M
        rebuilt = AuditEntry.objects.filter(action="budget.rebuild").order_by("-sequence")
        assert rebuilt.count() == loads + 1
        assert rebuilt[0].actor_kind == "system"
        assert "missing" in rebuilt[0].after["cause"]
        # A forced rebuild (the hourly reconcile) fixes drift, and records it.
        platform_redis.incrby(
            counter_keys(key_scope(), platform="meta", campaign="c-1", day=kept.day)[0], 5 * M
        )
        assert services.budget_rebuild(force=True)
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 10 * M
        assert rebuilt.count() == loads + 2
        assert rebuilt[0].after["cause"] == "reconcile"
        assert not services.budget_rebuild()  # loaded: nothing to do
    with schema_context(b.schema):
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 0


def test_spend_reports_count_against_caps_and_are_idempotent(tenants, django_capture_on_commit_callbacks):
    with schema_context(tenants.a.schema):
        set_policy(campaign_daily_cap_micros=10 * M)
        day = reserve(1).day
        record = services.budget_spend_record
        first = record(
            report_key="g:1", platform="meta", campaign="c-1", day=day, amount_micros=8 * M, actor=BOT
        )
        assert (first.created, first.delta_micros) == (True, 8 * M)
        again = record(
            report_key="g:1", platform="meta", campaign="c-1", day=day, amount_micros=8 * M, actor=BOT
        )
        assert (again.created, again.delta_micros, again.entry.pk) == (False, 0, first.entry.pk)
        assert BudgetLedgerEntry.objects.filter(source="report").count() == 1
        assert services.budget_counters(platform="meta", campaign="c-1")["campaign_daily"] == 8 * M + 1
        assert reserve(2 * M).refused_by == "campaign_daily"
        with django_capture_on_commit_callbacks(execute=True):
            restated = record(
                report_key="g:1", platform="meta", campaign="c-1", day=day, amount_micros=6 * M, actor=BOT
            )
        assert restated.delta_micros == -2 * M
        assert reserve(2 * M).granted
        with pytest.raises(GovernanceError) as exc:
            record(report_key="g:1", platform="meta", campaign="c-9", day=day, amount_micros=1, actor=BOT)
        assert exc.value.code == "conflict"
        # Reported spend is never refused: it happened. It only leaves less room.
        over = record(
            report_key="g:2", platform="meta", campaign="c-1", day=day, amount_micros=50 * M, actor=BOT
        )
        assert over.created
        assert not reserve(1).granted


def test_bad_input_and_an_unreachable_redis_are_refused(tenants, monkeypatch):
    with schema_context(tenants.a.schema):
        for bad in ({"amount": 0}, {"amount": -1}, {"platform": "myspace"}, {"campaign": ""}):
            args = {"amount": 1, "campaign": "c", "platform": "meta", **bad}
            with pytest.raises(GovernanceError) as exc:
                reserve(args["amount"], args["campaign"], args["platform"])
            assert exc.value.code == "validation_error"
        with pytest.raises(GovernanceError):
            reserve(1, at=timezone.now() - dt.timedelta(days=3))  # periods are current ones
        dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        monkeypatch.setattr("apps.governance.services.budget.get_redis", lambda: dead)
        with pytest.raises(GovernanceError) as exc:
            reserve(1)
        assert (exc.value.code, exc.value.http_status) == ("upstream_error", 503)
        assert not BudgetLedgerEntry.objects.exists()


def test_budget_gauges_are_read_from_the_database_at_scrape_time(tenants, django_capture_on_commit_callbacks):
    a, b = tenants

    def sample(name: str, schema: str, campaign: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"tenant": schema, "campaign_id": campaign})

    with schema_context(a.schema):
        set_policy(campaign_daily_cap_micros=10 * M, campaign_caps={"vip": {"daily": 40 * M}})
        held = reserve(6 * M)
        services.budget_commit(reservation_id=held.reservation_id, actual_micros=4 * M, actor=BOT)
        reserve(3 * M)  # reserved, not spent: not in the spent gauge
        services.budget_spend_record(
            report_key="x", platform="meta", campaign="c-1", day=held.day, amount_micros=M, actor=BOT
        )
    assert sample("syncflow_budget_spent_micros", a.schema, "c-1") == 5 * M
    assert sample("syncflow_budget_limit_micros", a.schema, "c-1") == 10 * M
    assert sample("syncflow_budget_spent_micros", a.schema, "vip") == 0
    assert sample("syncflow_budget_limit_micros", a.schema, "vip") == 40 * M
    assert sample("syncflow_budget_spent_micros", b.schema, "c-1") is None
    assert connection.schema_name == "public"


# --- across processes ----------------------------------------------------------------------------------
AMOUNT = 20_000
PROCESSES, PER_PROCESS = 20, 5  # 100 reservations of 20,000 micros: twice the cap of 1,000,000
CAP = 1_000_000


def _reserver(schema: str, barrier: Any, results: Any, campaign: str, pause: float) -> None:
    """A child process: its own database connection and Redis connection, then 5 reservations."""
    out: list[tuple[bool, str | None]] = []
    try:
        with schema_context(schema):
            policy = services.policy_current()
            get_redis().ping()
            barrier.wait(timeout=120)
            actor = Actor.system(f"test:reserver:{os.getpid()}")
            for _ in range(PER_PROCESS):
                time.sleep(pause)  # spread over the flushes, when there are some
                for attempt in range(20):
                    try:
                        outcome = services.budget_reserve(
                            platform="meta",
                            campaign=campaign,
                            amount_micros=AMOUNT,
                            actor=actor,
                            policy=policy,
                        )
                        break
                    except GovernanceError:  # Redis flushed again and again: try again
                        time.sleep(0.01 * (attempt + 1))
                else:
                    raise RuntimeError("could not reserve")
                out.append(
                    (outcome.granted, str(outcome.reservation_id) if outcome.granted else outcome.refused_by)
                )
        results.put(("ok", out))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(("error", repr(exc)))
    finally:
        connections.close_all()


def _flusher(barrier: Any, results: Any, flushes: int) -> None:
    try:
        client = get_redis()
        barrier.wait(timeout=120)
        for _ in range(flushes):
            time.sleep(0.05)
            client.flushdb()
        results.put(("flushed", flushes))
    except BaseException as exc:  # noqa: BLE001
        results.put(("error", repr(exc)))


@pytest.fixture
def race_workspace(committed_db):
    """A workspace of its own (its policy versions are immutable, so it is dropped afterwards)."""
    from apps.governance.tenancy.services import SignupRequest, tenant_signup

    slug = f"race-{uuid.uuid4().hex[:8]}"
    result = tenant_signup(
        SignupRequest(
            name="Race Ltd", slug=slug, admin_email=f"admin@{slug}.test", password="Race-Horse-42-battery"
        ),
        actor=Actor.system("tests"),
    )
    try:
        yield result.schema_name
    finally:
        connection.set_schema_to_public()
        Tenant.objects.get(schema_name=result.schema_name).delete(force_drop=True)


def _race(schema: str, *, campaign: str, flushes: int) -> list[tuple[bool, str | None]]:
    ctx = mp.get_context("fork")
    parties = PROCESSES + (1 if flushes else 0)
    barrier, results = ctx.Barrier(parties), ctx.Queue()
    connections.close_all()  # children open their own connections; none is shared across fork
    procs = [
        ctx.Process(target=_reserver, args=(schema, barrier, results, campaign, 0.03 if flushes else 0.0))
        for _ in range(PROCESSES)
    ]
    if flushes:
        procs.append(ctx.Process(target=_flusher, args=(barrier, results, flushes)))
    for p in procs:
        p.start()
    replies = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r for r in replies if r[0] == "error"]
    assert not errors, errors
    return [item for kind, items in replies if kind == "ok" for item in items]


def _assert_exact(schema: str, outcomes: list[tuple[bool, str | None]], *, cap: int, refused_by: str) -> None:
    granted = [ref for ok, ref in outcomes if ok]
    assert len(outcomes) == PROCESSES * PER_PROCESS
    assert len(granted) * AMOUNT == min(cap, PROCESSES * PER_PROCESS * AMOUNT) == cap  # exactly the cap
    assert {ref for ok, ref in outcomes if not ok} == {refused_by}
    with schema_context(schema):
        rows = BudgetLedgerEntry.objects.filter(state="reserved")
        assert {str(pk) for pk in rows.values_list("pk", flat=True)} == set(granted)
        assert sum(rows.values_list("amount_micros", flat=True)) == cap
        services.budget_rebuild()  # after a last flush: load them again (a no-op otherwise)
        counters = services.budget_counters(platform="meta", campaign="c-race")
        assert counters["campaign_daily"] == counters["platform_daily"] == cap  # Redis agrees with the ledger


@pytest.mark.slow
def test_concurrent_reservations_from_processes_never_overspend(race_workspace):
    with schema_context(race_workspace):
        set_policy(campaign_daily_cap_micros=CAP)
    outcomes = _race(race_workspace, campaign="c-race", flushes=0)
    _assert_exact(race_workspace, outcomes, cap=CAP, refused_by="campaign_daily")


@pytest.mark.slow
def test_concurrent_reservations_survive_redis_flushed_mid_way(race_workspace):
    with schema_context(race_workspace):
        set_policy(platform_caps={"meta": {"daily": CAP}})
    outcomes = _race(race_workspace, campaign="c-race", flushes=3)
    _assert_exact(race_workspace, outcomes, cap=CAP, refused_by="platform_daily")
    with schema_context(race_workspace):
        times = BudgetLedgerEntry.objects.order_by("created_at").values_list("created_at", flat=True)
        first, last = times[0], times[len(times) - 1]
        mid_way = AuditEntry.objects.filter(
            action="budget.rebuild", created_at__gt=first, created_at__lt=last
        ).count()
        assert mid_way >= 1  # the counters were rebuilt while reservations were being made
