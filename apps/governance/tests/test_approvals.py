"""The door for automation (``action_authorize``) and the approval queue behind it, through the services,
the API and the admin, with two tenants present."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.core.actor import Actor, ActorKind
from apps.governance import services, tasks
from apps.governance.errors import GovernanceError
from apps.governance.models import ApprovalRequest, AuditEntry, BudgetLedgerEntry
from apps.governance.services import ProposedAction
from conftest import api_client_for

ALICE = Actor(ActorKind.USER, "1", "admin@alpha.test")
BOT = Actor.system("celery:bidding.decide")
M = 1_000_000


def bid(amount: int, campaign: str = "c-1", **kw) -> ProposedAction:
    return ProposedAction(kind="bid", platform="meta", campaign=campaign, amount_micros=amount, **kw)


@pytest.fixture
def guarded(tenants):
    """Tenant a: bids up to 10, a person above 3, 8 a day per campaign."""
    with schema_context(tenants.a.schema):
        return services.policy_update(
            actor=ALICE,
            reason="approvals test",
            changes={
                "max_bid_micros": 10 * M,
                "approval_threshold_micros": 3 * M,
                "campaign_daily_cap_micros": 8 * M,
            },
        )


@pytest.fixture
def decided(monkeypatch):
    """Everything ``approval_decided`` sends."""
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append({"sender": sender, **kwargs})

    services.approval_decided.connect(receiver, weak=False, dispatch_uid="test-approvals")
    yield seen
    services.approval_decided.disconnect(dispatch_uid="test-approvals")


def test_the_door_decides_queues_and_reserves(tenants, guarded):
    with schema_context(tenants.a.schema):
        ok, big, too_big, pause = services.actions_authorize(
            actions=[
                bid(2 * M),
                bid(4 * M),
                bid(11 * M),
                ProposedAction(kind="pause", platform="meta", campaign="c-1"),
            ],
            actor=BOT,
            reserve=True,
        )
        assert ok.allowed
        assert ok.reservation is not None
        assert ok.reservation.granted
        assert BudgetLedgerEntry.objects.get(pk=ok.reservation_id).amount_micros == 2 * M
        assert big.decision == "needs_approval"
        assert big.reservation is None
        assert too_big.decision == "deny"
        assert too_big.approval_id is None
        assert pause.allowed
        assert pause.reservation is None
        assert {r.dry_run for r in (ok, big, too_big, pause)} == {True}
        queued = ApprovalRequest.objects.get(pk=big.approval_id)
        assert (queued.status, queued.kind, queued.amount_micros, queued.reserve) == (
            "pending",
            "bid",
            4 * M,
            True,
        )
        assert (queued.requested_by_kind, queued.requested_by_id) == ("system", BOT.id)
        assert queued.reasons[0]["code"] == "above_approval_threshold"
        assert queued.policy_version == guarded.version
        assert queued.action["amount_micros"] == 4 * M
        # The same proposal again is the same request; a different amount is another one.
        again = services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True)
        assert again.approval_id == big.approval_id
        other = services.action_authorize(action=bid(5 * M), actor=BOT, reserve=True)
        assert other.approval_id != big.approval_id
        assert ApprovalRequest.objects.filter(status="pending").count() == 2
        assert AuditEntry.objects.filter(action="approval.request").count() == 2
        # Over budget: the reservation is refused, the decision is deny with the cap named.
        for _ in range(3):
            services.action_authorize(action=bid(2 * M), actor=BOT, reserve=True)
        refused = services.action_authorize(action=bid(2 * M), actor=BOT, reserve=True)
        assert refused.decision == "deny"
        assert refused.codes == ("over_budget",)
        assert "campaign daily cap" in refused.reasons[0].message
        assert refused.reservation is not None
        assert refused.reservation.refused_by == "campaign_daily"
        # Without reserve, nothing is reserved.
        assert services.action_authorize(action=bid(2 * M), actor=BOT, reserve=False).reservation is None
        assert BudgetLedgerEntry.objects.count() == 4


def test_the_door_denies_when_the_budget_cannot_be_reached(tenants, guarded, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr("apps.governance.services.budget.get_redis", lambda: dead)
    with schema_context(tenants.a.schema):
        result = services.action_authorize(action=bid(1 * M), actor=BOT, reserve=True)
        assert result.decision == "deny"
        assert result.codes == ("budget_unavailable",)
        assert not BudgetLedgerEntry.objects.exists()


def test_a_person_approves_in_the_api_and_bidding_is_told(
    tenants, guarded, login_token, decided, django_capture_on_commit_callbacks
):
    a, b = tenants
    with schema_context(a.schema):
        queued = services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True).approval_id
    admin = api_client_for(a.host, token=login_token(a, a.admin_email))
    analyst = api_client_for(a.host, token=login_token(a, a.analyst_email))

    listed = analyst.get("/api/v1/governance/approvals?status=pending")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [queued]
    assert listed.json()["results"][0]["requested_by"]["id"] == BOT.id
    assert (
        analyst.post(
            f"/api/v1/governance/approvals/{queued}/approve", {"reason": "ok"}, format="json"
        ).status_code
        == 403
    )
    assert admin.post(f"/api/v1/governance/approvals/{queued}/approve", {}, format="json").status_code == 400
    assert admin.get("/api/v1/governance/approvals?status=maybe").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post(
            f"/api/v1/governance/approvals/{queued}/approve", {"reason": "seasonal push"}, format="json"
        )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "approved"
    assert body["reason"] == "seasonal push"
    assert body["decided_by"]["name"] == a.admin_email
    assert body["reservation_id"]
    with schema_context(a.schema):
        reservation = BudgetLedgerEntry.objects.get(pk=body["reservation_id"])
        assert (reservation.amount_micros, reservation.state) == (4 * M, "reserved")
        entry = AuditEntry.objects.get(action="approval.approve")
        assert entry.before["status"] == "pending"
        assert entry.after["status"] == "approved"
    assert len(decided) == 1
    sent = decided[0]
    assert sent["sender"] is ApprovalRequest
    assert sent["approved"] is True
    assert sent["schema"] == a.schema
    assert sent["action"].amount_micros == 4 * M
    assert str(sent["reservation_id"]) == body["reservation_id"]
    assert sent["actor"].kind == "user"

    again = admin.post(
        f"/api/v1/governance/approvals/{queued}/reject", {"reason": "changed my mind"}, format="json"
    )
    assert again.status_code == 409
    # The other workspace sees none of it.
    other = api_client_for(b.host, token=login_token(b, b.admin_email))
    assert other.get("/api/v1/governance/approvals").json()["count"] == 0
    assert (
        other.post(
            f"/api/v1/governance/approvals/{queued}/reject", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )


def test_rejecting_needs_a_person_and_a_reason(
    tenants, guarded, login_token, decided, django_capture_on_commit_callbacks
):
    a = tenants.a
    with schema_context(a.schema):
        queued = services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True).approval_id
        key = services.apikey_create(name="ops", role="admin", actor=ALICE).plaintext
        with pytest.raises(GovernanceError) as exc:
            services.approval_reject(approval_id=queued, reason="bots may not", actor=BOT)
        assert exc.value.http_status == 403
    by_key = api_client_for(a.host, api_key=key).post(
        f"/api/v1/governance/approvals/{queued}/reject", {"reason": "a key is no person"}, format="json"
    )
    assert by_key.status_code == 403
    admin = api_client_for(a.host, token=login_token(a, a.admin_email))
    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post(f"/api/v1/governance/approvals/{queued}/reject", {"reason": "too much"}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    assert r.json()["reservation_id"] is None
    assert [d["approved"] for d in decided] == [False]
    with schema_context(a.schema):
        assert not BudgetLedgerEntry.objects.exists()
        assert AuditEntry.objects.filter(action="approval.reject").count() == 1


def test_approval_rechecks_the_current_policy(tenants, guarded):
    with schema_context(tenants.a.schema):
        queued = services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True).approval_id
        services.policy_update(actor=ALICE, reason="stop everything", changes={"kill_switch": True})
        with pytest.raises(GovernanceError) as exc:
            services.approval_approve(approval_id=queued, reason="please", actor=ALICE)
        assert exc.value.code == "conflict"
        assert [r["code"] for r in exc.value.details["reasons"]] == ["kill_switch"]
        assert ApprovalRequest.objects.get(pk=queued).status == "pending"
        services.policy_update(
            actor=ALICE, reason="resume", changes={"kill_switch": False, "campaign_daily_cap_micros": M}
        )
        with pytest.raises(GovernanceError) as exc:
            services.approval_approve(approval_id=queued, reason="please", actor=ALICE)
        assert exc.value.details["reasons"][0]["code"] == "over_budget"
        assert not BudgetLedgerEntry.objects.exists()


def test_stale_requests_expire_through_the_periodic_task(tenants, guarded):
    with schema_context(tenants.a.schema):
        queued = services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True).approval_id
        ApprovalRequest.objects.filter(pk=queued).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert tasks.expire_approvals() == 1
        assert tasks.expire_approvals() == 0
        assert ApprovalRequest.objects.get(pk=queued).status == "expired"
        assert AuditEntry.objects.filter(action="approval.expire").count() == 1
        with pytest.raises(GovernanceError, match="expired"):
            services.approval_approve(approval_id=queued, reason="late", actor=ALICE)
        # Proposed again, it is a new request.
        assert services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True).approval_id != queued


# --- admin --------------------------------------------------------------------------------------------
def _session(info, email) -> Client:
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def test_admin_queue_approves_and_rejects_with_a_reason(
    tenants, guarded, decided, django_capture_on_commit_callbacks
):
    a = tenants.a
    with schema_context(a.schema):
        first = services.action_authorize(action=bid(4 * M), actor=BOT, reserve=True).approval_id
        second = services.action_authorize(action=bid(5 * M, "c-2"), actor=BOT, reserve=True).approval_id
    admin = _session(a, a.admin_email)
    url = "/admin/governance/approvalrequest/"
    opened = admin.get(url)
    assert opened.status_code == 302
    assert "status__exact=pending" in opened["Location"]
    page = admin.get(opened["Location"])
    assert page.status_code == 200
    assert b"Approve selected requests" in page.content
    asked = admin.post(url + "?status__exact=pending", {"action": "approve", "_selected_action": [first]})
    assert asked.status_code == 200
    assert b'name="reason"' in asked.content
    no_reason = admin.post(
        url, {"action": "approve", "_selected_action": [first], "apply": "1", "reason": ""}
    )
    assert no_reason.status_code == 200
    with schema_context(a.schema):
        assert ApprovalRequest.objects.get(pk=first).status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(
            url, {"action": "approve", "_selected_action": [first], "apply": "1", "reason": "fine"}
        )
        assert done.status_code == 302
        admin.post(url, {"action": "reject", "_selected_action": [second], "apply": "1", "reason": "no"})
    with schema_context(a.schema):
        statuses = dict(ApprovalRequest.objects.values_list("pk", "status"))
        assert statuses == {first: "approved", second: "rejected"}
        assert ApprovalRequest.objects.get(pk=first).decided_by_name == a.admin_email
    assert [(d["approval"].pk, d["approved"]) for d in decided] == [(first, True), (second, False)]

    # An Analyst sees the queue but has no approve/reject action, and posting one changes nothing.
    with schema_context(a.schema):
        third = services.action_authorize(action=bid(6 * M), actor=BOT, reserve=True).approval_id
    analyst = _session(a, a.analyst_email)
    listing = analyst.get(url + "?status__exact=pending")
    assert listing.status_code == 200
    assert b"Approve selected requests" not in listing.content
    analyst.post(url, {"action": "approve", "_selected_action": [third], "apply": "1", "reason": "me too"})
    with schema_context(a.schema):
        assert ApprovalRequest.objects.get(pk=third).status == "pending"
    assert analyst.get(f"{url}add/").status_code == 403
