"""Circuit breakers of ad platform accounts, with two tenants: opening on consecutive failures and on a
failure rate, failing fast while open, one half-open probe at a time (in one process and across
processes), closing and reopening, what is not a failure, a Redis flush, the mirror rows, the audit
trail, the ``syncflow_circuit_breaker_state_count`` gauge on /metrics, and the admin's reset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django_tenants.utils import schema_context, schema_exists
from prometheus_client.parser import text_string_to_metric_families

from apps.bidding.errors import CircuitOpen, PlatformError
from apps.bidding.models import AdPlatformAccount, CircuitState
from apps.bidding.services import breaker_call, breaker_reset, breaker_state
from apps.bidding.services.circuits import breaker_keys
from apps.core.actor import Actor, ActorKind
from apps.core.errors import TenantRequired
from apps.core.redis import get_redis
from tests.celery_worker import worker_database_url

ROOT = Path(__file__).resolve().parents[3]
COOLDOWN_S = 0.3
METRIC = "syncflow_circuit_breaker_state_count"


@pytest.fixture(autouse=True)
def _breaker_settings(settings: Any) -> None:
    settings.KIKI_BREAKER_FAILURES = 3
    settings.KIKI_BREAKER_WINDOW_S = 60
    settings.KIKI_BREAKER_MIN_CALLS = 10
    settings.KIKI_BREAKER_FAILURE_RATE_PCT = 50
    settings.KIKI_BREAKER_COOLDOWN_S = COOLDOWN_S
    settings.KIKI_BREAKER_PROBE_LEASE_S = 60


class Platform:
    """A fake platform call: counts its calls and answers as told."""

    def __init__(self) -> None:
        self.calls = 0

    def ok(self, value: Any = "done") -> Callable[[], Any]:
        def call() -> Any:
            self.calls += 1
            return value

        return call

    def raises(self, exc: BaseException) -> Callable[[], Any]:
        def call() -> Any:
            self.calls += 1
            raise exc

        return call


def transient(status: int | None = 503) -> PlatformError:
    code = "timeout" if status is None else f"http_{status}"
    return PlatformError(platform="meta", status=status, code=code, message="unavailable", transient=True)


def refused() -> PlatformError:
    return PlatformError(platform="meta", status=400, code="100", message="Invalid bid", transient=False)


def make_account(platform: str = "meta", external_id: str = "act_1", **kwargs: Any) -> AdPlatformAccount:
    return AdPlatformAccount.objects.create(
        platform=platform, external_id=external_id, name=external_id, **kwargs
    )


def fail_times(account: AdPlatformAccount, n: int, exc: Exception | None = None) -> Platform:
    fake = Platform()
    for _ in range(n):
        with pytest.raises(type(exc or transient())):
            breaker_call(account=account, operation="set_bid", call=fake.raises(exc or transient()))
    return fake


def trip(account: AdPlatformAccount) -> None:
    fail_times(account, 3)
    assert breaker_state(account=account).state == "open"


def audits(account: AdPlatformAccount) -> list[Any]:
    entry = django_apps.get_model("governance", "AuditEntry")
    rows = entry.objects.filter(object_type="bidding.adplatformaccount", object_id=str(account.pk))
    return list(rows.order_by("sequence"))


def transitions(account: AdPlatformAccount) -> list[tuple[str, str, str]]:
    return [(e.action, e.before["state"], e.after["state"]) for e in audits(account)]


def mirror(account: AdPlatformAccount) -> CircuitState:
    return CircuitState.objects.get(account=account)


# --- closed → open → fail fast ------------------------------------------------------------------------


def test_consecutive_failures_open_the_breaker_and_open_fails_fast(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        healthy = Platform()
        # two failures, a success (resets the run), two failures: still closed
        fail_times(account, 2)
        assert breaker_call(account=account, operation="set_bid", call=healthy.ok(42)) == 42
        fail_times(account, 2)
        snap = breaker_state(account=account)
        assert (snap.state, snap.failures, snap.window_calls, snap.window_failures) == ("closed", 2, 5, 4)
        assert not CircuitState.objects.filter(account=account).exists()  # no write without a transition
        assert audits(account) == []

        with pytest.raises(PlatformError) as third:
            breaker_call(account=account, operation="set_budget", call=Platform().raises(transient(None)))
        assert third.value.transient  # the platform's own error still reaches the caller

        snap = breaker_state(account=account)
        assert (snap.state, snap.failures, snap.window_calls, snap.probe_in_flight) == ("open", 3, 0, False)
        assert 0 < snap.retry_after_s <= COOLDOWN_S
        row = mirror(account)
        assert (row.state, row.failures) == ("open", 3)
        assert row.opened_at is not None
        assert row.opened_at == snap.opened_at
        assert row.last_failure.startswith("set_budget: PlatformError: meta - timeout")
        [entry] = audits(account)
        assert (entry.action, entry.actor_kind, entry.actor_id) == (
            "circuit.open",
            "system",
            "circuit-breaker",
        )
        assert entry.before == {"state": "closed"}
        assert entry.after == {
            "state": "open",
            "failures": 3,
            "reason": "3 consecutive failures",
            "operation": "set_budget",
        }

        blocked = Platform()
        with pytest.raises(CircuitOpen) as exc:
            breaker_call(account=account, operation="pause", call=blocked.ok())
        assert blocked.calls == 0
        assert exc.value.state == "open"
        assert exc.value.account_id == account.pk
        assert exc.value.platform == "meta"
        assert 0 < exc.value.retry_after_s <= COOLDOWN_S
        assert exc.value.http_status == 503
        assert exc.value.code == "circuit_open"
        assert len(audits(account)) == 1  # fast failures write nothing


def test_any_other_exception_counts_as_a_failure_and_propagates(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        fail_times(account, 3, ValueError("adapter bug"))
        assert breaker_state(account=account).state == "open"
        assert mirror(account).last_failure == "set_bid: ValueError: adapter bug"


def test_non_transient_platform_errors_do_not_trip_it(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        fail_times(account, 2)
        fake = fail_times(account, 12, refused())  # 12 refusals (400): the platform is answering
        assert fake.calls == 12
        snap = breaker_state(account=account)
        assert (snap.state, snap.failures, snap.window_calls, snap.window_failures) == ("closed", 0, 14, 2)
        fail_times(account, 2)
        assert breaker_state(account=account).state == "closed"  # the refusals broke the run
        assert audits(account) == []


def test_a_failure_rate_over_the_window_opens_it(tenants, settings):
    settings.KIKI_BREAKER_FAILURES = 100  # only the rate can trip it here
    with schema_context(tenants.a.schema):
        account = make_account()
        healthy = Platform()
        for _ in range(6):
            breaker_call(account=account, operation="fetch_spend", call=healthy.ok())
        fail_times(account, 4)  # 4 of 10 = 40 %
        assert breaker_state(account=account).state == "closed"
        for i in range(5):  # alternate: 5 of 12 … 8 of 18 failed, all under 50 %
            breaker_call(account=account, operation="fetch_spend", call=healthy.ok())
            if i < 4:
                fail_times(account, 1)
        snap = breaker_state(account=account)
        assert (snap.state, snap.window_calls, snap.window_failures) == ("closed", 19, 8)
        fail_times(account, 1)  # 9 of 20 = 45 %
        fail_times(account, 1)  # 10 of 21 < 50 %
        fail_times(account, 1)  # 11 of 22 = 50 %: open
        snap = breaker_state(account=account)
        assert snap.state == "open"
        [entry] = audits(account)
        assert entry.after["reason"] == "11 of 22 calls failed within the window"
        assert mirror(account).failures == 11


def test_the_rate_counts_only_the_sliding_window(tenants, settings):
    settings.KIKI_BREAKER_FAILURES = 100
    settings.KIKI_BREAKER_WINDOW_S = 0.5
    with schema_context(tenants.a.schema):
        account = make_account()
        fail_times(account, 9)  # 9 of 9, but under the minimum of 10 calls
        time.sleep(0.6)  # … and then they leave the window
        healthy = Platform()
        for _ in range(9):
            breaker_call(account=account, operation="fetch_spend", call=healthy.ok())
        fail_times(account, 1)  # 1 of 10 in the window
        snap = breaker_state(account=account)
        assert (snap.state, snap.window_calls, snap.window_failures) == ("closed", 10, 1)


# --- half-open ----------------------------------------------------------------------------------------


def test_after_the_cooldown_one_probe_is_admitted_and_its_success_closes(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        trip(account)
        time.sleep(COOLDOWN_S + 0.05)
        assert breaker_state(account=account).retry_after_s == 0
        seen: dict[str, Any] = {}
        concurrent = Platform()

        def probe() -> str:
            # while the probe runs, the breaker is half-open and a second caller is refused
            seen["during"] = breaker_state(account=account)
            with pytest.raises(CircuitOpen) as exc:
                breaker_call(account=account, operation="set_bid", call=concurrent.ok())
            seen["refused"] = exc.value
            return "probed"

        assert breaker_call(account=account, operation="set_bid", call=probe) == "probed"
        assert concurrent.calls == 0
        assert seen["during"].state == "half_open"
        assert seen["during"].probe_in_flight
        assert seen["refused"].state == "half_open"
        assert 0 < seen["refused"].retry_after_s <= COOLDOWN_S

        snap = breaker_state(account=account)
        assert (snap.state, snap.failures, snap.window_calls, snap.probe_in_flight) == ("closed", 0, 0, False)
        row = mirror(account)
        assert (row.state, row.failures, row.opened_at) == ("closed", 0, None)
        assert row.last_failure.startswith("set_bid: PlatformError")  # kept for the record
        assert transitions(account) == [
            ("circuit.open", "closed", "open"),
            ("circuit.half_open", "open", "half_open"),
            ("circuit.close", "half_open", "closed"),
        ]
        # closed again, with fresh counters: it takes 3 new failures to open
        fail_times(account, 2)
        assert breaker_state(account=account).state == "closed"


def test_a_failed_probe_reopens_with_a_fresh_cooldown(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        trip(account)
        first_open = mirror(account).opened_at
        time.sleep(COOLDOWN_S + 0.05)
        fake = fail_times(account, 1)
        assert fake.calls == 1
        snap = breaker_state(account=account)
        assert snap.state == "open"
        assert snap.failures == 4
        assert COOLDOWN_S * 0.5 < snap.retry_after_s <= COOLDOWN_S  # a whole new cool-down
        row = mirror(account)
        assert row.state == "open"
        assert row.opened_at > first_open
        assert transitions(account)[-2:] == [
            ("circuit.half_open", "open", "half_open"),
            ("circuit.open", "half_open", "open"),
        ]
        assert audits(account)[-1].after["reason"] == "the half-open probe failed"
        with pytest.raises(CircuitOpen):
            breaker_call(account=account, operation="set_bid", call=Platform().ok())


def test_a_refused_probe_means_the_platform_answers_and_closes(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        trip(account)
        time.sleep(COOLDOWN_S + 0.05)
        fail_times(account, 1, refused())
        assert breaker_state(account=account).state == "closed"


class Interrupted(BaseException):
    """Like a worker's shutdown: not a platform outcome."""


def test_an_interrupted_probe_frees_the_slot_without_a_verdict(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        trip(account)
        time.sleep(COOLDOWN_S + 0.05)
        with pytest.raises(Interrupted):
            breaker_call(account=account, operation="set_bid", call=Platform().raises(Interrupted()))
        snap = breaker_state(account=account)
        assert (snap.state, snap.probe_in_flight) == ("half_open", False)
        fake = Platform()
        breaker_call(account=account, operation="set_bid", call=fake.ok())  # the next call probes
        assert fake.calls == 1
        assert breaker_state(account=account).state == "closed"


def test_a_probe_that_never_reports_is_replaced_after_its_lease(tenants, settings):
    settings.KIKI_BREAKER_PROBE_LEASE_S = 0.3
    with schema_context(tenants.a.schema):
        account = make_account()
        trip(account)
        time.sleep(COOLDOWN_S + 0.05)
        late: dict[str, Any] = {}

        def stuck_probe() -> str:
            with pytest.raises(CircuitOpen):
                breaker_call(account=account, operation="set_bid", call=Platform().ok())
            time.sleep(0.35)  # past its lease: another caller becomes the probe and closes it
            breaker_call(account=account, operation="set_bid", call=Platform().ok())
            late["state"] = breaker_state(account=account).state
            raise transient()

        with pytest.raises(PlatformError):
            breaker_call(account=account, operation="set_bid", call=stuck_probe)
        assert late["state"] == "closed"
        # the stale probe's failure is not a verdict on the new epoch
        snap = breaker_state(account=account)
        assert (snap.state, snap.failures) == ("closed", 0)


# --- shared state, tenants, Redis loss ----------------------------------------------------------------


def test_one_tenants_breaker_does_not_affect_another(tenants):
    with schema_context(tenants.a.schema):
        alpha = make_account()
        trip(alpha)
    with schema_context(tenants.b.schema):
        beta = make_account(pk=alpha.pk)  # the same account id in another workspace
        fake = Platform()
        assert breaker_call(account=beta, operation="set_bid", call=fake.ok()) == "done"
        assert fake.calls == 1
        assert breaker_state(account=beta).state == "closed"
        assert not CircuitState.objects.exists()
        assert audits(beta) == []
    with schema_context(tenants.a.schema):
        assert breaker_state(account=alpha).state == "open"
    assert get_redis().exists(*breaker_keys(schema=tenants.b.schema, account_id=alpha.pk)[:1])
    with pytest.raises(TenantRequired):  # fails closed in the public schema
        breaker_call(account=alpha, operation="set_bid", call=Platform().ok())


def test_a_redis_flush_starts_closed_and_sets_the_mirror_back(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        trip(account)
        get_redis().flushdb()
        assert breaker_state(account=account).state == "closed"
        fake = Platform()
        breaker_call(account=account, operation="set_bid", call=fake.ok())
        assert fake.calls == 1
        row = mirror(account)
        assert (row.state, row.failures, row.opened_at) == ("closed", 0, None)
        entry = audits(account)[-1]
        assert (entry.action, entry.before, entry.after["state"]) == (
            "circuit.close",
            {"state": "open"},
            "closed",
        )
        assert "Redis flushed" in entry.after["reason"]
        breaker_call(account=account, operation="set_bid", call=fake.ok())
        assert len(audits(account)) == 2  # once, not on every call


# --- the gauge on /metrics -----------------------------------------------------------------------------


def scrape() -> dict[tuple[str, str, str], float]:
    response = Client(HTTP_HOST="localhost").get("/metrics")
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name == METRIC:
            assert family.type == "gauge"
            for sample in family.samples:
                values[(sample.labels["tenant"], sample.labels["platform"], sample.labels["state"])] = (
                    sample.value
                )
    return values


def test_the_gauge_counts_breakers_per_tenant_platform_and_state(tenants, monkeypatch, tmp_path):
    a, b = tenants.a.schema, tenants.b.schema
    with schema_context(a):
        trip(make_account("meta", "act_open"))
        half = make_account("meta", "act_half")
        trip(half)
        time.sleep(COOLDOWN_S + 0.05)
        with pytest.raises(Interrupted):  # the probe was interrupted: half-open, no verdict
            breaker_call(account=half, operation="set_bid", call=Platform().raises(Interrupted()))
        recovered = make_account("meta", "act_recovered")
        trip(recovered)
        breaker_reset(account=recovered, actor=Actor.system("tests"))
        make_account("meta", "act_never")  # never tripped: no mirror row, still a closed breaker
        make_account("google_ads", "123-456-7890")
    with schema_context(b):
        trip(make_account("tiktok", "adv_1"))

    expected = {
        (a, "meta", "closed"): 2,
        (a, "meta", "open"): 1,
        (a, "meta", "half_open"): 1,
        (a, "google_ads", "closed"): 1,
        (a, "google_ads", "open"): 0,
        (a, "google_ads", "half_open"): 0,
        (b, "tiktok", "closed"): 0,
        (b, "tiktok", "open"): 1,
        (b, "tiktok", "half_open"): 0,
    }
    ours = {a, b}  # other tests' workspaces may exist
    assert {k: v for k, v in scrape().items() if k[0] in ours} == expected
    # Multiprocess mode (gunicorn): the merged process counters plus the same gauge.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert {k: v for k, v in scrape().items() if k[0] in ours} == expected


# --- the admin -----------------------------------------------------------------------------------------


def session(info: Any, email: str) -> Client:
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def test_admin_lists_breakers_and_only_admins_reset_them(tenants):
    a = tenants.a
    with schema_context(a.schema):
        account = make_account("linkedin", "urn:li:sponsoredAccount:9")
        trip(account)
        row = mirror(account)
    url = "/admin/bidding/circuitstate/"
    action = {"action": "reset_breaker", "_selected_action": [row.pk]}

    analyst = session(a, a.analyst_email)
    listing = analyst.get(url)
    assert listing.status_code == 200
    assert b"urn:li:sponsoredAccount:9" in listing.content
    assert b"LinkedIn Ads" in listing.content
    assert b"reset_breaker" not in listing.content
    analyst.post(url, action)
    with schema_context(a.schema):
        assert breaker_state(account=account).state == "open"

    admin = session(a, a.admin_email)
    assert b"reset_breaker" in admin.get(url).content
    assert admin.get(f"{url}{row.pk}/change/").status_code == 200  # read-only detail
    done = admin.post(url, action, follow=True)
    assert b"Reset 1 circuit breaker(s) to closed." in done.content
    with schema_context(a.schema):
        assert breaker_state(account=account).state == "closed"
        assert mirror(account).state == "closed"
        entry = audits(account)[-1]
        assert (entry.action, entry.actor_kind, entry.actor_name) == ("circuit.reset", "user", a.admin_email)
        assert (entry.before, entry.after["state"]) == ({"state": "open"}, "closed")
        fake = Platform()
        breaker_call(account=account, operation="set_bid", call=fake.ok())
        assert fake.calls == 1
    assert b"urn:li:sponsoredAccount:9" not in session(tenants.b, tenants.b.admin_email).get(url).content


def test_reset_takes_an_actor(tenants):
    with schema_context(tenants.a.schema):
        account = make_account()
        with pytest.raises(TypeError):
            breaker_reset(account=account, actor="alice")  # type: ignore[arg-type]
        snap = breaker_reset(account=account, actor=Actor(ActorKind.API_KEY, "kiki_ab12", "ops key"))
        assert snap.state == "closed"
        assert audits(account)[-1].actor_id == "kiki_ab12"


# --- across processes ----------------------------------------------------------------------------------

WORKER = """
import json, sys, time
from pathlib import Path
import django
django.setup()
from django_tenants.utils import schema_context
from apps.bidding.errors import CircuitOpen, PlatformError
from apps.bidding.models import AdPlatformAccount
from apps.bidding.services import breaker_call
mode, schema, account_id, sync, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
out = {"called": 0, "refused": None, "raised": None}
with schema_context(schema):
    account = AdPlatformAccount.objects.get(pk=account_id)
    if mode == "probe":
        (sync / f"ready-{name}").touch()
        while not (sync / "go").exists():
            time.sleep(0.002)
    def call():
        out["called"] += 1
        if mode == "trip":
            raise PlatformError(platform="meta", status=503, code="http_503", message="down", transient=True)
        time.sleep(1.0)  # the probe takes a while: every other process arrives while it runs
        return "ok"
    for _ in range(3 if mode == "trip" else 1):
        try:
            breaker_call(account=account, operation=f"{mode}:{name}", call=call)
        except CircuitOpen as exc:
            out["refused"] = exc.state
        except PlatformError as exc:
            out["raised"] = exc.code
print(json.dumps(out))
"""


def run_workers(
    mode: str, schema: str, account_id: int, sync: Path, names: list[str]
) -> list[dict[str, Any]]:
    env = dict(
        os.environ,
        DATABASE_URL=worker_database_url(),
        DJANGO_SETTINGS_MODULE="kiki_project.settings",
        KIKI_ENV="test",
        KIKI_BREAKER_FAILURES="3",
        KIKI_BREAKER_COOLDOWN_S="5",  # long enough for this process to look before it ends
        PYTHONUNBUFFERED="1",
    )
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", WORKER, mode, schema, str(account_id), str(sync), name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    if mode == "probe":
        deadline = time.monotonic() + 120
        while len(list(sync.glob("ready-*"))) < len(names):
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
            time.sleep(0.05)
        (sync / "go").touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_the_state_is_shared_across_processes_and_one_probe_runs_among_them(committed_db, tmp_path):
    from apps.governance.tenancy.services import SignupRequest, tenant_signup
    from conftest import PASSWORD

    tenant_model = django_apps.get_model("tenancy", "Tenant")
    schema = tenant_model.schema_for_slug("breaker-race")
    try:
        tenant_signup(
            SignupRequest(
                name="Breaker Race", slug="breaker-race", admin_email="a@race.test", password=PASSWORD
            ),
            actor=Actor.system("tests"),
        )
        with schema_context(schema):
            account = make_account()
        # another process trips the breaker; this one sees it open and fails fast without calling
        [tripper] = run_workers("trip", schema, account.pk, tmp_path, ["tripper"])
        assert tripper == {"called": 3, "refused": None, "raised": "http_503"}
        with schema_context(schema):
            assert breaker_state(account=account).state == "open"
            here = Platform()
            with pytest.raises(CircuitOpen):
                breaker_call(account=account, operation="set_bid", call=here.ok())
            assert here.calls == 0
            assert mirror(account).state == "open"
            opened_at = mirror(account).opened_at
        with schema_context(schema):
            while (left := breaker_state(account=account).retry_after_s) > 0:  # the tripper's cool-down
                time.sleep(left)
        # four processes race for the probe: exactly one calls the platform, the rest are refused
        probes = run_workers("probe", schema, account.pk, tmp_path, [f"p{i}" for i in range(4)])
        assert sorted(p["called"] for p in probes) == [0, 0, 0, 1]
        assert sorted(str(p["refused"]) for p in probes) == ["None", "half_open", "half_open", "half_open"]
        with schema_context(schema):
            assert breaker_state(account=account).state == "closed"
            row = mirror(account)
            assert (row.state, row.opened_at) == ("closed", None)
            assert row.changed_at > opened_at
            assert transitions(account) == [
                ("circuit.open", "closed", "open"),
                ("circuit.half_open", "open", "half_open"),
                ("circuit.close", "half_open", "closed"),
            ]
    finally:
        for tenant in tenant_model.objects.filter(schema_name=schema):
            tenant.delete(force_drop=True)
    assert not schema_exists(schema)
