"""``POST /api/v1/governance/check``: one action or a list in, a decision per action out, with reasons,
the policy version and the dry-run flag; malformed input is 400 naming each item; nothing is stored or
reserved; each workspace is decided by its own policy; the operation is in the OpenAPI schema."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.core.actor import Actor, ActorKind
from apps.governance import services
from apps.governance.models import ApprovalRequest, BudgetLedgerEntry, PolicyVersion
from conftest import api_client_for

URL = "/api/v1/governance/check"
ALICE = Actor(ActorKind.USER, "1", "admin@alpha.test")


@pytest.fixture
def a_policy(tenants):
    with schema_context(tenants.a.schema):
        return services.policy_update(
            actor=ALICE,
            reason="check api",
            changes={
                "max_bid_micros": 2_000_000,
                "approval_threshold_micros": 1_500_000,
                "allowed_platforms": ["meta"],
                "campaign_daily_cap_micros": 1,  # a check never reserves, so this never refuses
            },
        )


@pytest.fixture
def admin(tenants, login_token):
    return api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.admin_email))


def test_one_action_in_one_result_out(tenants, a_policy, admin):
    r = admin.post(
        URL, {"kind": "bid", "platform": "meta", "campaign": "c-1", "amount_micros": 2_000_001}, format="json"
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["decision"] == "deny"
    assert [x["code"] for x in body["reasons"]] == ["bid_above_max", "above_approval_threshold"]
    assert all(x["message"] for x in body["reasons"])
    assert body["policy_version"] == a_policy.version
    assert body["dry_run"] is True


def test_a_list_in_a_list_of_results_out_in_order(tenants, a_policy, admin):
    actions = [
        {"kind": "bid", "platform": "meta", "campaign": "c-1", "amount_micros": 1_000_000},
        {"kind": "bid", "platform": "meta", "campaign": "c-1", "amount_micros": 1_500_001},
        {"kind": "spend", "platform": "google_ads", "campaign": "c-2", "amount_micros": 10},
        {"kind": "pause", "platform": "google_ads", "campaign": "c-2"},
        {"kind": "resume", "platform": "meta", "campaign": "c-3", "paused_by_person": True},
        {"kind": "bid", "platform": "meta", "campaign": "c-1", "amount_micros": 5, "predicted_roas": "0.5"},
        {
            "kind": "bid",
            "platform": "meta",
            "campaign": "c-1",
            "amount_micros": 5,
            "at": "2026-01-15T03:00:00Z",
        },
    ]
    r = admin.post(URL, actions, format="json")
    assert r.status_code == 200, r.content
    decisions = [(x["decision"], [c["code"] for c in x["reasons"]]) for x in r.json()]
    assert decisions == [
        ("allow", []),
        ("needs_approval", ["above_approval_threshold"]),
        ("deny", ["platform_not_allowed"]),
        ("allow", []),
        ("allow", []),  # a person (the Admin's token) may resume what a person paused
        ("allow", []),  # no minimum ROAS in this policy
        ("allow", []),  # no blackout hours
    ]
    assert {x["policy_version"] for x in r.json()} == {a_policy.version}


def test_an_api_key_is_automation_and_never_resumes_a_persons_pause(tenants, a_policy):
    with schema_context(tenants.a.schema):
        key = services.apikey_create(name="bidder", role="admin", actor=ALICE).plaintext
    client = api_client_for(tenants.a.host, api_key=key)
    r = client.post(
        URL, {"kind": "resume", "platform": "meta", "campaign": "c", "paused_by_person": True}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["decision"] == "deny"
    assert [x["code"] for x in r.json()["reasons"]] == ["paused_by_person"]


def test_the_check_has_no_side_effects(tenants, a_policy, admin, platform_redis):
    actions = [
        {"kind": "bid", "platform": "meta", "campaign": "c-1", "amount_micros": 1_000_000},
        {"kind": "spend", "platform": "meta", "campaign": "c-1", "amount_micros": 1_900_000},
    ]
    r = admin.post(URL, actions, format="json")
    assert [x["decision"] for x in r.json()] == ["allow", "needs_approval"]
    with schema_context(tenants.a.schema):
        assert not ApprovalRequest.objects.exists()
        assert not BudgetLedgerEntry.objects.exists()
        assert PolicyVersion.objects.count() == 2
    assert not platform_redis.keys("kiki:budget:*")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"kind": "launch", "platform": "meta", "campaign": "c"}, "kind"),
        ({"kind": "bid", "platform": "myspace", "campaign": "c", "amount_micros": 1}, "platform"),
        ({"kind": "bid", "platform": "meta", "campaign": "c"}, "amount_micros"),
        ({"kind": "bid", "platform": "meta", "campaign": "c", "amount_micros": -5}, "amount_micros"),
        ({"kind": "bid", "platform": "meta", "campaign": "c", "amount_micros": "5"}, "amount_micros"),
        (
            {"kind": "bid", "platform": "meta", "campaign": "c", "amount_micros": 1, "predicted_roas": 1.5},
            "predicted_roas",
        ),
        ({"kind": "bid", "platform": "meta", "campaign": "", "amount_micros": 1}, "campaign"),
        ({"kind": "bid", "platform": "meta", "campaign": "c", "amount_micros": 1, "at": "tomorrow"}, "at"),
        ({"platform": "meta", "campaign": "c"}, "kind"),
    ],
)
def test_malformed_actions_are_400_with_reasons(tenants, admin, body, where):
    r = admin.post(URL, body, format="json")
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert where in error["details"]


def test_malformed_lists_name_each_bad_item(tenants, admin):
    good = {"kind": "pause", "platform": "meta", "campaign": "c"}
    r = admin.post(
        URL, [good, {"kind": "bid", "platform": "meta", "campaign": "c"}, good, "x"], format="json"
    )
    assert r.status_code == 400
    details = r.json()["error"]["details"]
    assert set(details) == {"1", "3"}
    assert "amount_micros" in details["1"]
    for body in ([], [good] * 1001, "a string", 7):
        r = admin.post(URL, body, format="json")
        assert r.status_code == 400, body
        assert "body" in r.json()["error"]["details"]
    assert admin.post(URL, "{not json", content_type="application/json").status_code == 400


def test_each_workspace_is_decided_by_its_own_policy(tenants, a_policy, login_token):
    b = tenants.b
    other = api_client_for(b.host, token=login_token(b, b.analyst_email))
    r = other.post(
        URL, {"kind": "bid", "platform": "tiktok", "campaign": "c", "amount_micros": 9_000_000}, format="json"
    )
    assert r.status_code == 200
    assert r.json() == {"decision": "allow", "reasons": [], "policy_version": 1, "dry_run": True}
    assert api_client_for(b.host).post(URL, {}, format="json").status_code == 401


def test_the_check_is_in_the_openapi_schema(tenants):
    schema = api_client_for(tenants.a.host).get("/api/schema", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"][URL]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    one_of = schema["components"]["schemas"][request]["oneOf"]
    assert {"type": "array", "items": one_of[0]} in one_of
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[
        1
    ]
    result = schema["components"]["schemas"][response]["oneOf"][0]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][result]["properties"]) == {
        "decision",
        "reasons",
        "policy_version",
        "dry_run",
    }
    assert {"400", "401", "403"} <= set(operation["responses"])
