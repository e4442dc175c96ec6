"""Policies: versioned and immutable, edited by Admins (admin and API) with a reason, read by Analysts;
and the one decision rule, table-driven over every rule, their combinations and their edges (exactly
at a limit, one micro over, blackout hours across midnight and across a DST change), batch = single."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django_tenants.utils import schema_context

from apps.core.actor import Actor, ActorKind
from apps.governance import services
from apps.governance.errors import GovernanceError
from apps.governance.models import AuditEntry, PolicyVersion
from apps.governance.services import ActionKind, ProposedAction
from apps.governance.tenancy.models import Tenant
from conftest import api_client_for

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
ALICE = Actor(ActorKind.USER, "1", "admin@alpha.test")
BOT = Actor.system("celery:bidding.decide")
KEY = Actor(ActorKind.API_KEY, "ab12cd34", "integration")

# The policy of the table: every rule set, with distinct limits so each edge is its own row.
RULES = {
    "max_bid_micros": 10_000_000,
    "min_roas": Decimal("1.5"),
    "allowed_platforms": ["google_ads", "meta"],
    "blackout_hours": [22, 23, 0, 1, 2, 3, 4, 5],  # 22:00 to 05:59 in Paris
    "approval_threshold_micros": 5_000_000,
}


def paris(y: int, m: int, d: int, h: int, mi: int = 0, s: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, s, us, tzinfo=PARIS)


NOON = paris(2026, 1, 15, 12)  # not a blackout hour


def act(kind: str = "bid", amount: int | None = 1_000_000, **kw) -> ProposedAction:
    kw.setdefault("platform", "google_ads")
    kw.setdefault("campaign", "c-1")
    kw.setdefault("at", NOON)
    return ProposedAction(kind=kind, amount_micros=amount, **kw)


# (name, action, actor, kill switch on, expected decision, expected reason codes in order)
TABLE = [
    # max bid: exactly at it is allowed, one micro over is not (and is also above the threshold)
    ("bid at max", act(amount=10_000_000), BOT, False, "needs_approval", ["above_approval_threshold"]),
    (
        "bid one micro over max",
        act(amount=10_000_001),
        BOT,
        False,
        "deny",
        ["bid_above_max", "above_approval_threshold"],
    ),
    ("small bid", act(amount=1), BOT, False, "allow", []),
    ("zero bid", act(amount=0), BOT, False, "allow", []),
    # approval threshold: exactly at it is allowed, one micro over waits for a person
    ("bid at threshold", act(amount=5_000_000), BOT, False, "allow", []),
    (
        "bid one over threshold",
        act(amount=5_000_001),
        BOT,
        False,
        "needs_approval",
        ["above_approval_threshold"],
    ),
    (
        "budget change over threshold",
        act("budget_change", 5_000_001),
        BOT,
        False,
        "needs_approval",
        ["above_approval_threshold"],
    ),
    (
        "budget change above max bid is no bid",
        act("budget_change", 4_000_000_000),
        BOT,
        False,
        "needs_approval",
        ["above_approval_threshold"],
    ),
    ("spend at threshold", act("spend", 5_000_000), BOT, False, "allow", []),
    (
        "spend one over threshold",
        act("spend", 5_000_001),
        BOT,
        False,
        "needs_approval",
        ["above_approval_threshold"],
    ),
    (
        "a person's big bid also waits",
        act(amount=5_000_001),
        ALICE,
        False,
        "needs_approval",
        ["above_approval_threshold"],
    ),
    # minimum ROAS: exactly at it is allowed; below it, even by less than the policy's precision, is not
    ("roas at min", act(predicted_roas=Decimal("1.5")), BOT, False, "allow", []),
    ("roas just below", act(predicted_roas=Decimal("1.4999")), BOT, False, "deny", ["roas_below_min"]),
    (
        "roas far below precision",
        act(predicted_roas=Decimal("1.49999999")),
        BOT,
        False,
        "deny",
        ["roas_below_min"],
    ),
    ("roas above", act(predicted_roas=Decimal("1.50000001")), BOT, False, "allow", []),
    ("no roas given", act(predicted_roas=None), BOT, False, "allow", []),
    ("roas as an integer", act(predicted_roas=1), BOT, False, "deny", ["roas_below_min"]),
    # platforms
    ("platform not allowed", act(platform="tiktok"), BOT, False, "deny", ["platform_not_allowed"]),
    ("pause on a disallowed platform", act("pause", None, platform="linkedin"), BOT, False, "allow", []),
    (
        "resume on a disallowed platform",
        act("resume", None, platform="linkedin"),
        BOT,
        False,
        "deny",
        ["platform_not_allowed"],
    ),
    # blackout hours in the workspace's zone (Paris): 22:00 to 05:59, across midnight
    ("21:59:59.999999 is before", act(at=paris(2026, 1, 15, 21, 59, 59, 999_999)), BOT, False, "allow", []),
    ("22:00:00 starts it", act(at=paris(2026, 1, 15, 22)), BOT, False, "deny", ["blackout_hours"]),
    ("23:59:59", act(at=paris(2026, 1, 15, 23, 59, 59)), BOT, False, "deny", ["blackout_hours"]),
    ("midnight", act(at=paris(2026, 1, 16, 0)), BOT, False, "deny", ["blackout_hours"]),
    ("05:59:59 still in", act(at=paris(2026, 1, 16, 5, 59, 59)), BOT, False, "deny", ["blackout_hours"]),
    ("06:00:00 ends it", act(at=paris(2026, 1, 16, 6)), BOT, False, "allow", []),
    ("pause in blackout", act("pause", None, at=paris(2026, 1, 16, 1)), BOT, False, "allow", []),
    ("spend in blackout", act("spend", 1, at=paris(2026, 1, 16, 1)), BOT, False, "deny", ["blackout_hours"]),
    # the same UTC hour is 21:00 in Paris in winter (allowed) and 22:00 in summer (blackout)
    ("20:00 UTC in January", act(at=dt.datetime(2026, 1, 15, 20, tzinfo=dt.UTC)), BOT, False, "allow", []),
    (
        "20:00 UTC in July",
        act(at=dt.datetime(2026, 7, 15, 20, tzinfo=dt.UTC)),
        BOT,
        False,
        "deny",
        ["blackout_hours"],
    ),
    # the night clocks go forward (29 March 2026, 02:00 → 03:00): 05:59 local is still dark, 06:00 not
    ("DST night 05:59", act(at=paris(2026, 3, 29, 5, 59)), BOT, False, "deny", ["blackout_hours"]),
    ("DST night 06:00", act(at=paris(2026, 3, 29, 6)), BOT, False, "allow", []),
    # automation never resumes what a person paused; a person may
    (
        "bot resumes a person's pause",
        act("resume", None, paused_by_person=True),
        BOT,
        False,
        "deny",
        ["paused_by_person"],
    ),
    (
        "API key resumes a person's pause",
        act("resume", None, paused_by_person=True),
        KEY,
        False,
        "deny",
        ["paused_by_person"],
    ),
    ("person resumes own pause", act("resume", None, paused_by_person=True), ALICE, False, "allow", []),
    ("bot resumes its own pause", act("resume", None, paused_by_person=False), BOT, False, "allow", []),
    # kill switch: everything but pause
    ("kill switch bid", act(), BOT, True, "deny", ["kill_switch"]),
    ("kill switch resume", act("resume", None), ALICE, True, "deny", ["kill_switch"]),
    ("kill switch pause", act("pause", None), BOT, True, "allow", []),
    # combinations: every reason is listed, in rule order, and any denying one denies
    (
        "everything at once",
        act(
            "bid",
            10_000_001,
            platform="tiktok",
            predicted_roas=Decimal("0.1"),
            at=paris(2026, 1, 16, 3),
        ),
        BOT,
        True,
        "deny",
        [
            "kill_switch",
            "platform_not_allowed",
            "bid_above_max",
            "roas_below_min",
            "blackout_hours",
            "above_approval_threshold",
        ],
    ),
    (
        "resume of a person's pause in blackout on a disallowed platform",
        act("resume", None, platform="tiktok", paused_by_person=True, at=paris(2026, 1, 16, 23)),
        BOT,
        False,
        "deny",
        ["platform_not_allowed", "blackout_hours", "paused_by_person"],
    ),
]


@pytest.fixture
def policy_a(tenants):
    """Tenant a in Paris with the table's policy (tenant b keeps its default)."""
    Tenant.objects.filter(schema_name=tenants.a.schema).update(timezone="Europe/Paris")
    with schema_context(tenants.a.schema):
        services.policy_update(actor=ALICE, reason="table policy", changes={**RULES, "dry_run": False})
        off = services.policy_current()
        on = services.policy_update(actor=ALICE, reason="emergency stop", changes={"kill_switch": True})
    return off, on


@pytest.mark.parametrize(
    ("name", "action", "actor", "kill", "decision", "codes"), TABLE, ids=[r[0] for r in TABLE]
)
def test_decision_table(tenants, policy_a, name, action, actor, kill, decision, codes):
    off, on = policy_a
    with schema_context(tenants.a.schema):
        result = services.action_check(action=action, actor=actor, policy=on if kill else off)
    assert result.decision == decision, (name, result)
    assert list(result.codes) == codes, name
    assert all(r.message for r in result.reasons)
    assert result.policy_version == (on if kill else off).version
    assert result.dry_run is False


def test_the_batch_rule_decides_each_action_as_a_batch_of_one(tenants, policy_a):
    off, on = policy_a
    with schema_context(tenants.a.schema):
        for policy, kill in ((off, False), (on, True)):
            rows = [r for r in TABLE if r[3] is kill]
            for actor in (BOT, KEY, ALICE):
                batch = services.actions_check(actions=[r[1] for r in rows], actor=actor, policy=policy)
                single = [services.action_check(action=r[1], actor=actor, policy=policy) for r in rows]
                assert batch == single
        # The current policy is read once and used for the whole batch when none is given.
        assert services.actions_check(actions=[act()], actor=BOT)[0].policy_version == on.version
        assert services.actions_check(actions=[], actor=BOT) == []


def test_a_large_batch_is_one_policy_read(tenants, policy_a, django_assert_max_num_queries):
    off, _ = policy_a
    actions = [act(amount=i * 1_000, at=paris(2026, 1, 15, i % 24)) for i in range(5_000)]
    with schema_context(tenants.a.schema), django_assert_max_num_queries(2):
        results = services.actions_check(actions=actions, actor=BOT, policy=off)
    assert len(results) == 5_000
    dark = {22, 23, 0, 1, 2, 3, 4, 5}
    for i, result in enumerate(results):
        expected = ["blackout_hours"] if i % 24 in dark else []
        if i * 1_000 > 5_000_000:
            expected.append("above_approval_threshold")
        assert list(result.codes) == expected, i


def test_the_workspace_time_zone_decides_blackout_hours(tenants):
    """Same policy hours, same instant: Paris is dark, the other workspace (UTC) is not."""
    Tenant.objects.filter(schema_name=tenants.a.schema).update(timezone="Europe/Paris")
    at = dt.datetime(2026, 1, 15, 21, 30, tzinfo=dt.UTC)  # 22:30 in Paris
    for info in tenants:
        with schema_context(info.schema):
            services.policy_update(actor=ALICE, reason="night", changes={"blackout_hours": [22]})
    with schema_context(tenants.a.schema):
        assert services.action_check(action=act(at=at), actor=BOT).codes == ("blackout_hours",)
    with schema_context(tenants.b.schema):
        assert services.action_check(action=act(at=at), actor=BOT).codes == ()


def test_bad_actions_are_refused_before_any_rule():
    with pytest.raises(GovernanceError) as exc:
        ProposedAction(kind="bid", platform="google_ads", campaign="c")
    assert "amount_micros" in exc.value.details
    for bad in (
        {"kind": "launch"},
        {"platform": "myspace"},
        {"campaign": ""},
        {"amount_micros": -1},
        {"amount_micros": 1.5},
        {"predicted_roas": 1.5},
        {"at": dt.datetime(2026, 1, 1, 12)},  # naive
    ):
        fields = {"kind": "bid", "platform": "meta", "campaign": "c", "amount_micros": 1, **bad}
        with pytest.raises(GovernanceError) as exc:
            ProposedAction(**fields)
        assert set(exc.value.details) == {next(iter(bad))}
    assert ProposedAction(kind="pause", platform="meta", campaign="c").kind is ActionKind.PAUSE


# --- versions -------------------------------------------------------------------------------------------
def test_a_new_workspace_starts_in_dry_run_with_version_one(tenants):
    for info in tenants:
        with schema_context(info.schema):
            first = services.policy_current()
            assert (first.version, first.dry_run, first.kill_switch) == (1, True, False)
            assert first.author_kind == "system"
            assert first.reason
            assert services.policy_current().pk == first.pk  # made once
            assert services.action_check(action=act(), actor=BOT).dry_run is True
            entry = AuditEntry.objects.get(action="policy.create")
            assert entry.after["dry_run"] is True


def test_every_change_is_a_new_audited_version_with_author_and_reason(tenants):
    a, b = tenants
    with schema_context(a.schema):
        v2 = services.policy_update(
            actor=ALICE,
            reason="Black Friday caps",
            changes={
                "campaign_daily_cap_micros": 50_000_000,
                "campaign_caps": {"c-9": {"daily": 80_000_000}},
                "platform_caps": {"meta": {"monthly": 900_000_000}},
            },
        )
        v3 = services.policy_update(actor=ALICE, reason="go live", changes={"dry_run": False})
        assert [v.version for v in PolicyVersion.objects.all()] == [3, 2, 1]
        assert (v2.author_kind, v2.author_id, v2.author_name, v2.reason) == (
            "user",
            "1",
            ALICE.name,
            "Black Friday caps",
        )
        assert v3.campaign_daily_cap_micros == 50_000_000  # carried over
        assert v3.campaign_caps == {"c-9": {"daily": 80_000_000}}
        assert services.policy_current().version == 3
        entries = list(AuditEntry.objects.filter(action="policy.update").order_by("sequence"))
        assert [e.object_id for e in entries] == ["2", "3"]
        assert entries[1].before["dry_run"] is True
        assert entries[1].after["dry_run"] is False
        assert entries[1].actor_name == ALICE.name
    assert Tenant.objects.get(schema_name=a.schema).dry_run is False  # the workspace setting follows
    assert Tenant.objects.get(schema_name=b.schema).dry_run is True
    with schema_context(b.schema):
        assert services.policy_current().version == 1
        assert services.policy_current().campaign_daily_cap_micros is None


def test_changes_are_validated_and_need_a_reason(tenants):
    with schema_context(tenants.a.schema):
        for reason in ("", "   "):
            with pytest.raises(GovernanceError) as exc:
                services.policy_update(actor=ALICE, reason=reason, changes={"kill_switch": True})
            assert "reason" in exc.value.details
        bad = {
            "max_bid_micros": -1,
            "allowed_platforms": ["myspace"],
            "blackout_hours": [24],
            "min_roas": "1.23456",
            "campaign_caps": {"c": {"weekly": 1}},
            "platform_caps": {"myspace": {"daily": 1}},
            "kill_switch": "yes",
        }
        with pytest.raises(GovernanceError) as exc:
            services.policy_update(actor=ALICE, reason="bad", changes=bad)
        assert set(bad) <= set(exc.value.details) | {"campaign_caps.c"}
        with pytest.raises(GovernanceError, match="Unknown policy fields"):
            services.policy_update(actor=ALICE, reason="x", changes={"colour": "red"})
        with pytest.raises(GovernanceError, match="change nothing"):
            services.policy_update(actor=ALICE, reason="x", changes={"dry_run": True})
        with pytest.raises(GovernanceError) as exc:
            services.policy_update(actor=BOT, reason="automation wants out", changes={"dry_run": False})
        assert exc.value.http_status == 403
        assert services.policy_current().version == 1


def test_versions_are_immutable_in_the_database(tenants):
    with schema_context(tenants.a.schema):
        first = services.policy_current()
        with pytest.raises(ValueError, match="immutable"):
            first.save()
        for sql in (
            "UPDATE governance_policyversion SET kill_switch = true",
            "DELETE FROM governance_policyversion",
        ):
            with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(sql)
        assert PolicyVersion.objects.get().kill_switch is False


# --- API ----------------------------------------------------------------------------------------------
def test_api_reads_the_policy_and_its_history_and_admins_add_versions(tenants, login_token):
    a, b = tenants
    admin = api_client_for(a.host, token=login_token(a, a.admin_email))
    analyst = api_client_for(a.host, token=login_token(a, a.analyst_email))
    current = analyst.get("/api/v1/governance/policy")
    assert current.status_code == 200, current.content
    assert current.json()["version"] == 1
    assert current.json()["dry_run"] is True

    body = {"reason": "cap meta", "platform_caps": {"meta": {"daily": 7_000_000}}, "min_roas": "2.25"}
    assert analyst.post("/api/v1/governance/policy/versions", body, format="json").status_code == 403
    created = admin.post("/api/v1/governance/policy/versions", body, format="json")
    assert created.status_code == 201, created.content
    v2 = created.json()
    assert v2["version"] == 2
    assert v2["reason"] == "cap meta"
    assert v2["min_roas"] == "2.2500"
    assert v2["platform_caps"] == {"meta": {"daily": 7_000_000}}
    assert v2["author"]["kind"] == "user"
    assert v2["author"]["name"] == a.admin_email

    no_reason = admin.post("/api/v1/governance/policy/versions", {"kill_switch": True}, format="json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]["details"]
    bad = admin.post(
        "/api/v1/governance/policy/versions", {"reason": "x", "blackout_hours": [25]}, format="json"
    )
    assert bad.status_code == 400
    assert "blackout_hours" in bad.json()["error"]["details"]

    history = analyst.get("/api/v1/governance/policy/versions").json()
    assert [v["version"] for v in history["results"]] == [2, 1]
    assert analyst.get("/api/v1/governance/policy/versions/2").json()["min_roas"] == "2.2500"
    # The other workspace: its own history, and a's version 2 is not there.
    other = api_client_for(b.host, token=login_token(b, b.admin_email))
    assert other.get("/api/v1/governance/policy").json()["version"] == 1
    assert other.get("/api/v1/governance/policy/versions/2").status_code == 404
    assert api_client_for(a.host).get("/api/v1/governance/policy").status_code == 401


def test_leaving_dry_run_through_the_api_is_an_admin_policy_change(tenants, login_token):
    a = tenants.a
    admin = api_client_for(a.host, token=login_token(a, a.admin_email))
    analyst = api_client_for(a.host, token=login_token(a, a.analyst_email))
    body = {"reason": "go live", "dry_run": False}
    assert analyst.post("/api/v1/governance/policy/versions", body, format="json").status_code == 403
    assert admin.post("/api/v1/governance/policy/versions", body, format="json").status_code == 201
    check = admin.post(
        "/api/v1/governance/check",
        {"kind": "pause", "platform": "meta", "campaign": "c"},
        format="json",
    )
    assert check.json()["dry_run"] is False
    assert check.json()["policy_version"] == 2
    assert admin.get("/api/v1/workspace").json()["dry_run"] is False


# --- admin --------------------------------------------------------------------------------------------
def _session(info, email) -> Client:
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def test_admin_form_makes_a_new_version_and_analysts_only_read(tenants):
    a = tenants.a
    admin = _session(a, a.admin_email)
    add = admin.get("/admin/governance/policyversion/add/")
    assert add.status_code == 200
    assert b'name="reason"' in add.content
    form = {
        "reason": "tighter bids",
        "max_bid_micros": "3000000",
        "campaign_daily_cap_micros": "",
        "campaign_monthly_cap_micros": "",
        "campaign_caps": "{}",
        "platform_caps": '{"google_ads": {"daily": 100000000}}',
        "allowed_platforms": '["google_ads", "meta", "tiktok", "linkedin"]',
        "min_roas": "",
        "blackout_hours": "[]",
        "approval_threshold_micros": "",
        "dry_run": "on",
    }
    missing_reason = admin.post("/admin/governance/policyversion/add/", {**form, "reason": ""})
    assert missing_reason.status_code == 200  # the form again, with the error
    with schema_context(a.schema):
        assert services.policy_current().version == 1
    saved = admin.post("/admin/governance/policyversion/add/", form)
    assert saved.status_code == 302, saved.content[:2000]
    with schema_context(a.schema):
        v2 = services.policy_current()
        assert (v2.version, v2.max_bid_micros, v2.reason) == (2, 3_000_000, "tighter bids")
        assert v2.platform_caps == {"google_ads": {"daily": 100_000_000}}
        assert v2.author_name == a.admin_email
        pk = v2.pk
    unchanged = admin.post("/admin/governance/policyversion/add/", {**form, "reason": "again"})
    assert unchanged.status_code == 200
    assert b"change nothing" in unchanged.content
    bad = admin.post("/admin/governance/policyversion/add/", {**form, "blackout_hours": "[99]"})
    assert bad.status_code == 200
    assert b"0 to 23" in bad.content

    analyst = _session(a, a.analyst_email)
    assert analyst.get("/admin/governance/policyversion/").status_code == 200
    assert analyst.get(f"/admin/governance/policyversion/{pk}/change/").status_code == 200
    assert analyst.get("/admin/governance/policyversion/add/").status_code == 403
    assert analyst.post("/admin/governance/policyversion/add/", {**form, "reason": "mine"}).status_code == 403
    with schema_context(a.schema):
        assert services.policy_current().version == 2
    # An Admin cannot change or delete a version either.
    page = admin.get(f"/admin/governance/policyversion/{pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin.post(f"/admin/governance/policyversion/{pk}/delete/", {"post": "yes"}).status_code == 403
