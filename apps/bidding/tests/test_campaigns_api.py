"""The campaigns API (/api/v1/bidding/) end to end, with two workspaces: HTTP → view → service →
governance's door → the outbox → the ``bidding.apply_platform_change`` task → the platform's fake.

Covers: credentials going in and never coming out (answers, audit trail, logs, the column itself);
registering campaigns and their products (a store of another workspace is refused); a person's pause
reaching the platform as a person's, which automation then never undoes; dry run; the policy's refusals
(403 ``policy_denied`` with reasons, nothing stored) and its approval threshold (an approval request
instead of a change, and the change once an Admin approves); filters; Analysts refused on every write;
and every route refusing the other workspace's credentials and objects.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django_tenants.utils import schema_context

from apps.bidding import services
from apps.bidding.integrations.meta.fake import FakeMeta
from apps.bidding.models import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    CircuitState,
    PlatformChange,
    SpendLedger,
)
from apps.bidding.tasks import apply_platform_change
from apps.bidding.tests.helpers import record_enqueues
from apps.core.actor import Actor, ActorKind
from apps.governance import services as governance
from apps.stores import services as stores
from conftest import api_client_for

BASE = "/api/v1/bidding"
TOKEN_A = "meta-token-alpha-" + "s3cr3t" * 4  # noqa: S105 - a fake's token
TOKEN_B = "meta-token-beta-" + "t0k3n" * 4  # noqa: S105
GOOGLE_TOKEN = "ya29.google-access-" + "q" * 20  # noqa: S105
DEVELOPER_TOKEN = "dev-token-" + "d" * 16  # noqa: S105
PERSON = Actor(ActorKind.USER, "1", "admin@alpha.test")
BIDDER = Actor.system("celery:bidding.bidder")
# Other apps' models, read (never imported: apps reach each other through services and selectors).
AuditEntry = django_apps.get_model("governance", "AuditEntry")
ApprovalRequest = django_apps.get_model("governance", "ApprovalRequest")


def make_store(name: str) -> Any:
    return stores.store_create(name=name, currency="USD", actor=Actor.system("tests"))


@pytest.fixture(autouse=True)
def _breaker(settings: Any) -> None:
    settings.KIKI_AD_PLATFORM_TIMEOUT_S = 2


@pytest.fixture
def meta(settings: Any, monkeypatch: Any) -> Any:
    """Meta's loopback fake with one account per workspace; enqueued changes are recorded, not sent
    to a broker (the test runs the task itself)."""
    fake = FakeMeta().start()
    fake.add_account("501", token=TOKEN_A)
    fake.add_account("502", token=TOKEN_B)
    fake.add_campaign("501", "21", ad_set_ids=("2119",))
    fake.add_campaign("502", "22", ad_set_ids=("2129",))
    settings.KIKI_META_API_BASE = fake.url
    fake.enqueued = []
    record_enqueues(monkeypatch, apply_platform_change, fake.enqueued)
    yield fake
    fake.stop()


def admin(info: Any, login_token: Any) -> Any:
    return api_client_for(info.host, token=login_token(info, info.admin_email))


def analyst(info: Any, login_token: Any) -> Any:
    return api_client_for(info.host, token=login_token(info, info.analyst_email))


def admin_key(info: Any) -> Any:
    with schema_context(info.schema):
        issued = governance.apikey_create(name="integration", role="admin", actor=Actor.system("tests"))
    return api_client_for(info.host, api_key=issued.plaintext)


def connect_meta(client: Any, external_id: str, token: str, **extra: Any) -> Any:
    body = {
        "platform": "meta",
        "external_id": external_id,
        "name": f"Meta {external_id}",
        "currency": "USD",
        "credentials": {"access_token": token},
        **extra,
    }
    return client.post(f"{BASE}/ad-accounts", body, format="json")


def register(client: Any, account_id: int, external_id: str, **extra: Any) -> Any:
    body = {
        "account": account_id,
        "external_id": external_id,
        "name": f"Campaign {external_id}",
        "daily_budget_micros": 10_000_000,
        "bid_strategy": "target_roas",
        "target_roas": "3.5",
        "bid_micros": 2_000_000,
        **extra,
    }
    return client.post(f"{BASE}/campaigns", body, format="json")


def go_live() -> None:
    governance.policy_update(actor=PERSON, reason="Go live for the test", changes={"dry_run": False})


def run_task(change_id: int, capture: Any) -> PlatformChange:
    with capture(execute=True):
        apply_platform_change.apply(args=[change_id]).get()
    return PlatformChange.objects.get(pk=change_id)


def audit_rows(object_type: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type=object_type).order_by("sequence"))


# --- ad accounts -----------------------------------------------------------------------------------------


def test_credentials_go_in_and_never_come_out(
    tenants, login_token, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    client = admin(tenants.a, login_token)
    created = client.post(
        f"{BASE}/ad-accounts",
        {
            "platform": "google_ads",
            "external_id": "123-456-7890",
            "name": "Acme Google",
            "currency": "eur",
            "credentials": {"access_token": GOOGLE_TOKEN, "developer_token": DEVELOPER_TOKEN},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["credential_keys"] == ["access_token", "developer_token"]
    assert (body["platform"], body["currency"], body["status"], body["breaker_state"]) == (
        "google_ads",
        "EUR",
        "active",
        "closed",
    )
    rotated = client.post(
        f"{BASE}/ad-accounts/{body['id']}/rotate-credentials",
        {
            "credentials": {
                "access_token": GOOGLE_TOKEN + "-new",
                "developer_token": DEVELOPER_TOKEN,
                "login_customer_id": "999-888-7777",
            }
        },  # fmt: skip
        format="json",
    )
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["credential_keys"] == ["access_token", "developer_token", "login_customer_id"]
    answers = [
        created.content,
        rotated.content,
        client.get(f"{BASE}/ad-accounts").content,
        client.get(f"{BASE}/ad-accounts/{body['id']}").content,
        analyst(tenants.a, login_token).get(f"{BASE}/ad-accounts/{body['id']}").content,
    ]
    with schema_context(tenants.a.schema):
        account = AdPlatformAccount.objects.get(pk=body["id"])
        access = services.ad_account_access(account)  # the adapter's view: decrypted, rotated
        assert dict(access.credentials) == {
            "access_token": GOOGLE_TOKEN + "-new",
            "developer_token": DEVELOPER_TOKEN,
            "login_customer_id": "999-888-7777",
        }
        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials FROM bidding_adplatformaccount WHERE id = %s", [account.pk])
            stored = cursor.fetchone()[0]
        entries = audit_rows("bidding.adplatformaccount")
        assert [e.action for e in entries] == ["ad_account.connect", "ad_account.rotate_credentials"]
        assert entries[1].after["credentials"] == "rotated"
        assert entries[1].before["credential_keys"] == ["access_token", "developer_token"]
        audit = json.dumps([[e.before, e.after] for e in entries])
    for secret in (GOOGLE_TOKEN, DEVELOPER_TOKEN):
        assert secret not in stored  # encrypted at rest
        assert secret not in audit
        assert secret not in caplog.text
        for answer in answers:
            assert secret.encode() not in answer


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {
                "platform": "google_ads",
                "external_id": "123-456-7890",
                "credentials": {"access_token": GOOGLE_TOKEN},
            },
            "credentials.developer_token",
        ),  # fmt: skip
        ({"external_id": "campaign-7"}, "external_id"),
        ({"credentials": {"access_token": "short"}}, "credentials.access_token"),
        ({"credentials": {"access_token": "has a space in it"}}, "credentials.access_token"),
        ({"currency": "U1D"}, "currency"),
    ],
)
def test_a_bad_account_is_refused_naming_the_field(tenants, login_token, change, field):
    client = admin(tenants.a, login_token)
    body = {
        "platform": "meta",
        "external_id": "act_501",
        "name": "M",
        "credentials": {"access_token": TOKEN_A},
    }
    response = client.post(f"{BASE}/ad-accounts", {**body, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert "s3cr3t" not in response.content.decode()  # a refused token is not echoed either
    with schema_context(tenants.a.schema):
        assert not AdPlatformAccount.objects.exists()


def test_the_same_account_twice_is_a_conflict_per_workspace(tenants, login_token):
    assert connect_meta(admin(tenants.a, login_token), "501", TOKEN_A).status_code == 201
    again = connect_meta(admin(tenants.a, login_token), "act_501", TOKEN_A)
    assert again.status_code == 201  # act_501 and 501 are spelled apart: as the platform takes them
    twice = connect_meta(admin(tenants.a, login_token), "501", TOKEN_A)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "conflict")
    # Another workspace may manage the same platform account.
    assert connect_meta(admin(tenants.b, login_token), "501", TOKEN_B).status_code == 201


# --- campaigns --------------------------------------------------------------------------------------------


def test_register_a_campaign_with_products_of_this_workspace_only(tenants, login_token):
    with schema_context(tenants.a.schema):
        store_a = make_store("Alpha shop")
    with schema_context(tenants.b.schema):
        # A store of b whose id names no store of a (ids are per workspace).
        store_b = next(s for s in (make_store("Beta shop"), make_store("Beta outlet")) if s.pk != store_a.pk)
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    foreign = register(client, account["id"], "21", promoted_products=[{"store": store_b.pk, "product_platform_id": "p1"}])  # fmt: skip
    assert foreign.status_code == 400
    assert "promoted_products" in foreign.json()["error"]["details"]
    created = register(
        client,
        account["id"],
        "21",
        promoted_products=[
            {"store": store_a.pk, "product_platform_id": "sku-2"},
            {"store": store_a.pk, "product_platform_id": "sku-1"},
        ],
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["promoted_products"] == [
        {"store": store_a.pk, "product_platform_id": "sku-1"},
        {"store": store_a.pk, "product_platform_id": "sku-2"},
    ]
    assert (body["platform"], body["status"], body["paused_by"], body["target_roas"]) == ("meta", "active", "", "3.5000")  # fmt: skip
    replaced = client.post(
        f"{BASE}/campaigns/{body['id']}/products",
        {"promoted_products": [{"store": store_a.pk, "product_platform_id": "sku-3"}]},
        format="json",
    )
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["promoted_products"] == [{"store": store_a.pk, "product_platform_id": "sku-3"}]
    with schema_context(tenants.a.schema):
        actions = [e.action for e in audit_rows("bidding.campaign")]
        assert actions == ["campaign.register", "campaign.set_products"]
    # b's admin, on b's host, asking for a's campaign by id: not in b.
    assert admin(tenants.b, login_token).get(f"{BASE}/campaigns/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bid_strategy": "manual", "bid_micros": None}, "bid_micros"),
        ({"target_roas": None}, "target_roas"),
        ({"target_roas": 3.5}, "target_roas"),  # a float is never money nor a ratio here
        ({"target_roas": "3.12345"}, "target_roas"),
        ({"daily_budget_micros": 0}, "daily_budget_micros"),
        ({"daily_budget_micros": "10000000"}, "daily_budget_micros"),
        ({"external_id": "abc"}, "external_id"),
        ({"account": 10**12}, "account"),
    ],
)
def test_a_bad_campaign_is_refused_naming_the_field(tenants, login_token, change, field):
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    response = register(client, account["id"], change.pop("external_id", "21"), **change)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    with schema_context(tenants.a.schema):
        assert not Campaign.objects.exists()


def test_lists_filter_and_show_the_breaker(tenants, login_token):
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    first = register(client, account["id"], "21").json()
    register(client, account["id"], "23", bid_strategy="manual", target_roas=None)
    with schema_context(tenants.a.schema):
        Campaign.objects.filter(pk=first["id"]).update(
            status="paused", paused_by="inventory", paused_reason="out of stock"
        )
        CircuitState.objects.create(account_id=account["id"], state="open", changed_at=datetime.now(UTC))
    paused = client.get(f"{BASE}/campaigns", {"paused_by": "inventory"}).json()
    assert [c["id"] for c in paused["results"]] == [first["id"]]
    assert paused["results"][0]["breaker_state"] == "open"
    assert client.get(f"{BASE}/campaigns", {"status": "active"}).json()["count"] == 1
    assert client.get(f"{BASE}/campaigns", {"platform": "google_ads"}).json()["count"] == 0
    assert client.get(f"{BASE}/campaigns", {"account": account["id"]}).json()["count"] == 2
    assert (
        client.get(f"{BASE}/ad-accounts", {"platform": "meta"}).json()["results"][0]["breaker_state"]
        == "open"
    )
    for bad in ({"status": "sleeping"}, {"account": "x"}, {"paused_by": ""}, {"platform": "myspace"}):
        refused = client.get(f"{BASE}/campaigns", bad)
        assert refused.status_code == 400, bad
        assert next(iter(bad)) in refused.json()["error"]["details"]


# --- a person's actions --------------------------------------------------------------------------------


def test_a_persons_pause_reaches_the_platform_and_automation_never_undoes_it(
    tenants, login_token, meta, django_capture_on_commit_callbacks
):
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    campaign = register(client, account["id"], "21").json()
    with schema_context(tenants.a.schema):
        go_live()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/campaigns/{campaign['id']}/pause", {"reason": "Creative is off-brand"}, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["outcome"], body["decision"], body["dry_run"], body["approval"]) == (
        "queued",
        "allow",
        False,
        None,
    )
    change = body["change"]
    assert (change["kind"], change["status"], change["requested_by"]) == (
        "pause",
        "queued",
        "user:admin@alpha.test",
    )
    assert meta.enqueued == [(tenants.a.schema, change["id"])]
    assert meta.calls == []  # nothing reached the platform from the request
    with schema_context(tenants.a.schema):
        assert run_task(change["id"], django_capture_on_commit_callbacks).status == "sent"
        row = Campaign.objects.get(pk=campaign["id"])
        assert (row.status, row.paused_by, row.paused_by_actor, row.paused_reason) == (
            "paused",
            "person",
            "user:admin@alpha.test",
            "Creative is off-brand",
        )
        # Automation (the bidder, the inventory breaker) asks to resume: cancelled, never sent.
        with django_capture_on_commit_callbacks(execute=True):
            resume = services.campaign_change_request(
                campaign=row, kind="resume", reason="restocked", actor=BIDDER
            )
        cancelled = run_task(resume.pk, django_capture_on_commit_callbacks)
        assert cancelled.status == "cancelled"
        assert Campaign.objects.get(pk=campaign["id"]).status == "paused"
        request_entry = AuditEntry.objects.get(
            object_type="bidding.campaign", action="campaign.pause.request"
        )
        assert request_entry.actor_kind == "user"
        assert request_entry.after["change_id"] == change["id"]
    assert meta.campaigns["21"].status == "PAUSED"
    assert len(meta.mutations) == 1
    # An integration's API key may not resume what a person paused either; a person may.
    denied = admin_key(tenants.a).post(f"{BASE}/campaigns/{campaign['id']}/resume", {"reason": "go"}, format="json")  # fmt: skip
    assert denied.status_code == 403
    assert [r["code"] for r in denied.json()["error"]["details"]["reasons"]] == ["paused_by_person"]
    resumed = client.post(f"{BASE}/campaigns/{campaign['id']}/resume", {"reason": "Fixed"}, format="json")
    assert (resumed.status_code, resumed.json()["outcome"]) == (202, "queued")


def test_in_dry_run_the_change_is_recorded_and_nothing_is_sent(
    tenants, login_token, meta, django_capture_on_commit_callbacks
):
    client = admin(tenants.b, login_token)
    account = connect_meta(client, "502", TOKEN_B).json()
    campaign = register(client, account["id"], "22").json()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/campaigns/{campaign['id']}/bid", {"bid_micros": 3_000_000, "reason": "Test"}, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    assert response.json()["dry_run"] is True
    with schema_context(tenants.b.schema):
        assert (
            run_task(response.json()["change"]["id"], django_capture_on_commit_callbacks).status == "dry_run"
        )
        assert Campaign.objects.get(pk=campaign["id"]).bid_micros == 2_000_000
    assert meta.calls == []


def test_above_the_threshold_a_budget_waits_for_approval_then_is_queued(
    tenants, login_token, meta, django_capture_on_commit_callbacks
):
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    campaign = register(client, account["id"], "21").json()
    with schema_context(tenants.a.schema):
        governance.policy_update(
            actor=PERSON, reason="Big budgets need a second pair of eyes", changes={"approval_threshold_micros": 50_000_000}
        )  # fmt: skip
    small = client.post(f"{BASE}/campaigns/{campaign['id']}/budget", {"daily_budget_micros": 40_000_000, "reason": "More"}, format="json")  # fmt: skip
    assert (small.status_code, small.json()["outcome"]) == (202, "queued")
    with django_capture_on_commit_callbacks(execute=True):
        big = client.post(f"{BASE}/campaigns/{campaign['id']}/budget", {"daily_budget_micros": 80_000_000, "reason": "Black Friday"}, format="json")  # fmt: skip
    assert big.status_code == 202, big.content
    body = big.json()
    assert (body["outcome"], body["decision"], body["change"]) == ("needs_approval", "needs_approval", None)
    assert [r["code"] for r in body["reasons"]] == ["above_approval_threshold"]
    approval_id = body["approval"]["id"]
    assert body["approval"]["url"] == f"/api/v1/governance/approvals/{approval_id}"
    with schema_context(tenants.a.schema):
        assert list(PlatformChange.objects.values_list("value_micros", flat=True)) == [40_000_000]
        pending = ApprovalRequest.objects.get(pk=approval_id)
        assert (pending.kind, pending.campaign_key, pending.amount_micros, pending.requested_by_kind) == (
            "budget_change",
            str(campaign["id"]),
            80_000_000,
            "user",
        )
    # The same request again is the same approval request, still no change.
    again = client.post(f"{BASE}/campaigns/{campaign['id']}/budget", {"daily_budget_micros": 80_000_000, "reason": "Black Friday"}, format="json")  # fmt: skip
    assert again.json()["approval"]["id"] == approval_id
    # An Admin approves it (governance's API): the change is queued, once, by the request's key.
    with django_capture_on_commit_callbacks(execute=True):
        approved = client.post(f"/api/v1/governance/approvals/{approval_id}/approve", {"reason": "Planned"}, format="json")  # fmt: skip
    assert approved.status_code == 200, approved.content
    with schema_context(tenants.a.schema):
        queued = PlatformChange.objects.get(key=f"approval:{approval_id}")
        assert (queued.kind, queued.value_micros, queued.requested_by) == (
            "set_budget",
            80_000_000,
            "user:admin@alpha.test",
        )
        assert "Planned" in queued.reason
        change = services.campaign_change_from_approval(
            approval_id=approval_id,
            action=governance.ProposedAction.from_dict(pending.action),
            reserve=False,
            note="again",
            actor=PERSON,
        )
        assert change is not None
        assert change.pk == queued.pk  # idempotent by the request
    assert (tenants.a.schema, queued.pk) in meta.enqueued


def test_a_refused_action_is_403_with_the_policys_reasons_and_stores_nothing(tenants, login_token, meta):
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    campaign = register(client, account["id"], "21").json()
    with schema_context(tenants.a.schema):
        governance.policy_update(
            actor=PERSON, reason="Caps", changes={"max_bid_micros": 3_000_000, "kill_switch": True}
        )
        approvals_before = ApprovalRequest.objects.count()
    bid = client.post(f"{BASE}/campaigns/{campaign['id']}/bid", {"bid_micros": 4_000_000, "reason": "Up"}, format="json")  # fmt: skip
    assert bid.status_code == 403, bid.content
    error = bid.json()["error"]
    assert error["code"] == "policy_denied"
    assert [r["code"] for r in error["details"]["reasons"]] == ["kill_switch", "bid_above_max"]
    assert error["details"]["policy_version"] >= 2
    resume = client.post(f"{BASE}/campaigns/{campaign['id']}/resume", {"reason": "Go"}, format="json")
    assert [r["code"] for r in resume.json()["error"]["details"]["reasons"]] == ["kill_switch"]
    # Pausing only lowers spend: allowed even with the kill switch on.
    assert client.post(f"{BASE}/campaigns/{campaign['id']}/pause", {"reason": "Stop"}, format="json").status_code == 202  # fmt: skip
    with schema_context(tenants.a.schema):
        assert list(PlatformChange.objects.values_list("kind", flat=True)) == ["pause"]
        assert ApprovalRequest.objects.count() == approvals_before
    for path, body in (("bid", {"bid_micros": 0, "reason": "x"}), ("pause", {}), ("budget", {"daily_budget_micros": 10**16, "reason": "x"})):  # fmt: skip
        refused = client.post(f"{BASE}/campaigns/{campaign['id']}/{path}", body, format="json")
        assert refused.status_code == 400, (path, refused.content)


# --- read-only records and their filters ------------------------------------------------------------------


def _records(schema: str, campaign_id: int, account_id: int) -> None:
    with schema_context(schema):
        for i, (decision, dry_run) in enumerate([("allow", True), ("deny", False), ("allow", False)]):
            BidDecision.objects.create(
                campaign_id=campaign_id,
                created_at=datetime(2026, 3, 1 + i, 12, tzinfo=UTC),
                ltv_source="stored",
                pacing_multiplier=Decimal("1.2500"),
                bid_micros=1_500_000 + i,
                decision=decision,
                reasons=[{"code": "ok" if decision == "allow" else "bid_above_max", "message": "m"}],
                dry_run=dry_run,
            )
        for day in (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)):
            SpendLedger.objects.create(
                account_id=account_id,
                campaign_id=campaign_id,
                day=day,
                report_row_key=f"meta:501:21:{day}",
                spend_micros=2_000_000,
                currency="USD",
                fetched_at=datetime(2026, 3, 4, tzinfo=UTC),
            )


def test_decisions_changes_and_spend_are_listed_with_filters(tenants, login_token, meta):
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    campaign = register(client, account["id"], "21").json()
    _records(tenants.a.schema, campaign["id"], account["id"])
    client.post(f"{BASE}/campaigns/{campaign['id']}/pause", {"reason": "Stop"}, format="json")
    decisions = client.get(f"{BASE}/bid-decisions", {"campaign": campaign["id"], "decision": "allow"}).json()
    assert [d["bid_micros"] for d in decisions["results"]] == [1_500_002, 1_500_000]  # newest first
    assert decisions["results"][0]["reasons"] == [{"code": "ok", "message": "m"}]
    assert client.get(f"{BASE}/bid-decisions", {"dry_run": "true"}).json()["count"] == 1
    window = {"day_from": "2026-03-02", "day_to": "2026-03-02"}
    assert client.get(f"{BASE}/bid-decisions", window).json()["count"] == 1
    spend = client.get(f"{BASE}/spend", {"campaign": campaign["id"], "day_from": "2026-03-02"}).json()
    assert [r["day"] for r in spend["results"]] == ["2026-03-03", "2026-03-02"]
    one = spend["results"][0]
    assert client.get(f"{BASE}/spend/{one['id']}").json() == one
    changes = client.get(f"{BASE}/platform-changes", {"status": "queued", "kind": "pause"}).json()
    assert changes["count"] == 1
    assert client.get(f"{BASE}/platform-changes/{changes['results'][0]['id']}").status_code == 200
    for path, bad in (
        ("bid-decisions", {"dry_run": "yes"}),
        ("bid-decisions", {"decision": "maybe"}),
        ("bid-decisions", {"day_from": "20260301"}),
        ("spend", {"day_to": "2026-02-30"}),
        ("spend", {"campaign": "0"}),
        ("platform-changes", {"kind": "boost"}),
    ):
        refused = client.get(f"{BASE}/{path}", bad)
        assert refused.status_code == 400, (path, bad)
        assert next(iter(bad)) in refused.json()["error"]["details"]
    # The other workspace sees none of it.
    other = admin(tenants.b, login_token)
    for path in ("ad-accounts", "campaigns", "bid-decisions", "platform-changes", "spend"):
        assert other.get(f"{BASE}/{path}").json()["count"] == 0, path


# --- roles and workspaces ---------------------------------------------------------------------------------


@pytest.fixture
def a_objects(tenants, login_token, meta) -> dict[str, int]:
    client = admin(tenants.a, login_token)
    account = connect_meta(client, "501", TOKEN_A).json()
    campaign = register(client, account["id"], "21").json()
    _records(tenants.a.schema, campaign["id"], account["id"])
    change = client.post(f"{BASE}/campaigns/{campaign['id']}/pause", {"reason": "Stop"}, format="json").json()
    with schema_context(tenants.a.schema):
        decision = BidDecision.objects.order_by("pk").first().pk
        spend = SpendLedger.objects.order_by("pk").first().pk
    return {
        "account": account["id"],
        "campaign": campaign["id"],
        "change": change["change"]["id"],
        "decision": decision,
        "spend": spend,
    }


def _writes(ids: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    c = ids["campaign"]
    return [
        (
            "ad-accounts",
            {"platform": "meta", "external_id": "777", "name": "X", "credentials": {"access_token": TOKEN_A}},
        ),  # fmt: skip
        (
            f"ad-accounts/{ids['account']}/rotate-credentials",
            {"credentials": {"access_token": TOKEN_A + "2"}},
        ),
        (
            "campaigns",
            {
                "account": ids["account"],
                "external_id": "99",
                "name": "X",
                "daily_budget_micros": 1_000_000,
                "bid_strategy": "max_value",
            },
        ),  # fmt: skip
        (f"campaigns/{c}/pause", {"reason": "x"}),
        (f"campaigns/{c}/resume", {"reason": "x"}),
        (f"campaigns/{c}/bid", {"bid_micros": 1_000_000, "reason": "x"}),
        (f"campaigns/{c}/budget", {"daily_budget_micros": 1_000_000, "reason": "x"}),
        (f"campaigns/{c}/products", {"promoted_products": []}),
    ]


def _reads(ids: dict[str, int]) -> list[str]:
    return [
        "ad-accounts",
        f"ad-accounts/{ids['account']}",
        "campaigns",
        f"campaigns/{ids['campaign']}",
        "bid-decisions",
        f"bid-decisions/{ids['decision']}",
        "platform-changes",
        f"platform-changes/{ids['change']}",
        "spend",
        f"spend/{ids['spend']}",
    ]


def test_analysts_read_and_are_refused_every_write(tenants, login_token, a_objects):
    client = analyst(tenants.a, login_token)
    for path in _reads(a_objects):
        assert client.get(f"{BASE}/{path}").status_code == 200, path
    for path, body in _writes(a_objects):
        response = client.post(f"{BASE}/{path}", body, format="json")
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["code"] == "permission_denied"
    with schema_context(tenants.a.schema):
        assert AdPlatformAccount.objects.count() == 1
        assert Campaign.objects.count() == 1
        assert PlatformChange.objects.count() == 1
        assert (
            services.ad_account_access(AdPlatformAccount.objects.get()).credentials["access_token"] == TOKEN_A
        )


def test_every_route_refuses_the_other_workspace(tenants, login_token, a_objects):
    a_token = login_token(tenants.a, tenants.a.admin_email)
    a_on_b = api_client_for(tenants.b.host, token=a_token)
    b_admin = admin(tenants.b, login_token)
    for path in _reads(a_objects):
        assert a_on_b.get(f"{BASE}/{path}").status_code == 401, path  # a's token means nothing on b
        on_b = b_admin.get(f"{BASE}/{path}")
        if path.count("/") == 1:  # a detail: b has no such row
            assert on_b.status_code == 404, path
        else:
            assert on_b.json()["count"] == 0, path
    for path, body in _writes(a_objects):
        assert a_on_b.post(f"{BASE}/{path}", body, format="json").status_code == 401, path
        response = b_admin.post(f"{BASE}/{path}", body, format="json")
        if "/" in path:  # an action on a's object, from b: not found in b
            assert response.status_code == 404, (path, response.content)
        else:  # a create in b naming a's account: b has no such account
            assert response.status_code in (201, 400), (path, response.content)
    with schema_context(tenants.a.schema):
        assert PlatformChange.objects.count() == 1  # b's attempts changed nothing in a
        assert (
            services.ad_account_access(AdPlatformAccount.objects.get()).credentials["access_token"] == TOKEN_A
        )


def test_services_fail_closed_in_the_public_schema(tenants):
    from apps.core.errors import TenantRequired

    with pytest.raises(TenantRequired):
        services.ad_account_connect(
            platform="meta", external_id="1", name="x", currency="USD", credentials={"access_token": TOKEN_A}, actor=PERSON
        )  # fmt: skip
