"""The single door for automation (``action_authorize``) and the approval queue behind it.

``actions_authorize`` runs the decision rule on a batch, queues what needs a person as
``ApprovalRequest`` rows (one pending request per distinct action), and, when asked to, reserves budget
for the allowed spend-type actions (bid, spend) in one call; a refused reservation turns the decision
into ``deny`` with ``over_budget``. Dry run changes nothing here: the result carries the flag, and the
caller (bidding) computes and records its decision without reaching a platform, releasing what it
reserved (or letting it expire).

An Admin approves or rejects a request with a reason (``approval_approve`` / ``approval_reject``).
Approving re-checks the action against the current policy (the threshold aside) and reserves its
budget; the decision is sent as the ``approval_decided`` signal once committed, for bidding to carry
out.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.core.actor import Actor, ActorKind, require_actor
from apps.core.tenant_context import require_tenant
from apps.governance.errors import ErrorCode, GovernanceError
from apps.governance.models import ApprovalRequest, PolicyVersion
from apps.governance.services.audit import audit_record
from apps.governance.services.budget import BudgetOutcome, BudgetRequest, budget_reserve_many
from apps.governance.services.policy import (
    MAX_REASON,
    SPEND_KINDS,
    CheckResult,
    Decision,
    ProposedAction,
    ReasonCode,
    actions_check,
    compiled_rules,
    policy_current,
    with_reason,
)

APPROVAL_TTL = timedelta(hours=24)

approval_decided = Signal()
"""Sent once an approval request is decided and committed, in the workspace's schema.

Keyword arguments: ``approval`` (the ``ApprovalRequest``), ``action`` (the ``ProposedAction``),
``approved`` (bool), ``actor`` (the ``Actor`` who decided), ``schema`` (str) and ``reservation_id``
(``UUID | None``: the budget reserved for an approved spend-type action). ``sender`` is
``ApprovalRequest``. Receivers carry out approved actions; they run after the commit, so a failing
receiver cannot undo the decision.
"""


@dataclass(frozen=True, slots=True)
class Authorization(CheckResult):
    """``CheckResult`` plus what the door did: the reservation made, the approval request queued."""

    reservation: BudgetOutcome | None = None
    approval_id: int | None = None

    @property
    def reservation_id(self) -> uuid.UUID | None:
        return self.reservation.reservation_id if self.reservation is not None else None

    def as_dict(self) -> dict[str, Any]:
        # CheckResult's keys, then the door's (explicit base: zero-argument super() fails in a slots dataclass).
        return {
            **CheckResult.as_dict(self),
            "reservation_id": None if self.reservation_id is None else str(self.reservation_id),
            "approval_id": self.approval_id,
        }

    @classmethod
    def of(cls, result: CheckResult, **kwargs: Any) -> Authorization:
        return cls(result.decision, result.reasons, result.policy_version, result.dry_run, **kwargs)


def fingerprint(action: ProposedAction) -> str:
    """What makes two proposals the same request: kind, platform, campaign, amount, who paused it."""
    key = [str(action.kind), action.platform, action.campaign, action.amount_micros, action.paused_by_person]
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()


def _queue(
    items: list[tuple[int, ProposedAction, CheckResult]], *, actor: Actor, reserve: bool, now: datetime
) -> dict[int, int]:
    """Pending requests for these actions (existing ones reused), audited; index → request id."""
    prints = {i: fingerprint(a) for i, a, _ in items}
    with transaction.atomic():
        pending = dict(
            ApprovalRequest.objects.filter(
                status=ApprovalRequest.Status.PENDING, fingerprint__in=set(prints.values())
            ).values_list("fingerprint", "id")
        )
        out: dict[int, int] = {}
        for i, action, result in items:
            found = pending.get(prints[i])
            if found is None:
                found = pending[prints[i]] = _create_request(action, result, prints[i], actor, reserve, now)
            out[i] = found
    return out


def _create_request(
    action: ProposedAction, result: CheckResult, print_: str, actor: Actor, reserve: bool, now: datetime
) -> int:
    try:
        with transaction.atomic():
            request = ApprovalRequest.objects.create(
                action=action.as_dict(),
                kind=str(action.kind),
                platform=action.platform,
                campaign_key=action.campaign,
                amount_micros=action.amount_micros,
                fingerprint=print_,
                reserve=reserve and action.kind in SPEND_KINDS,
                reasons=[r.as_dict() for r in result.reasons],
                policy_version=result.policy_version,
                requested_by_kind=str(actor.kind),
                requested_by_id=actor.id,
                requested_by_name=actor.name,
                created_at=now,
                expires_at=now + APPROVAL_TTL,
            )
    except IntegrityError:  # proposed at the same moment by another process: that request it is
        existing = ApprovalRequest.objects.filter(
            status=ApprovalRequest.Status.PENDING, fingerprint=print_
        ).first()
        if existing is None:
            raise
        return int(existing.pk)
    audit_record(
        actor=actor,
        action="approval.request",
        object_type="governance.approvalrequest",
        object_id=request.pk,
        after=_audit_state(request),
    )
    return int(request.pk)


def actions_authorize(
    *,
    actions: Sequence[ProposedAction],
    actor: Actor,
    reserve: bool,
    policy: PolicyVersion | None = None,
    ttl: timedelta | None = None,
) -> list[Authorization]:
    """The door for automation, on a batch: decide (one policy version), queue what needs a person,
    reserve budget for allowed bids and spends when ``reserve`` (one Redis call for the batch)."""
    require_tenant("authorising actions")
    if not actions:
        return []
    policy = policy or policy_current()
    results = actions_check(actions=actions, actor=actor, policy=policy)
    now = timezone.now()
    queued = [
        (i, a, r)
        for i, (a, r) in enumerate(zip(actions, results, strict=True))
        if r.decision is Decision.NEEDS_APPROVAL
    ]
    approvals = _queue(queued, actor=actor, reserve=reserve, now=now) if queued else {}
    out = [Authorization.of(r, approval_id=approvals.get(i)) for i, r in enumerate(results)]
    if not reserve:
        return out
    to_reserve = [
        i
        for i, (a, r) in enumerate(zip(actions, results, strict=True))
        if r.allowed and a.kind in SPEND_KINDS
    ]
    if not to_reserve:
        return out
    rules = compiled_rules(policy)
    requests = [
        BudgetRequest(
            actions[i].platform, actions[i].campaign, int(actions[i].amount_micros or 0), actions[i].at
        )
        for i in to_reserve
    ]
    if any(r.amount_micros <= 0 for r in requests):
        # A zero bid or spend reserves nothing; it is allowed as it is.
        kept = [(i, r) for i, r in zip(to_reserve, requests, strict=True) if r.amount_micros > 0]
        to_reserve, requests = [i for i, _ in kept], [r for _, r in kept]
    try:
        outcomes = budget_reserve_many(requests=requests, actor=actor, policy=policy, ttl=ttl)
    except GovernanceError as exc:
        if exc.code != ErrorCode.UPSTREAM:
            raise
        for i in to_reserve:
            out[i] = Authorization.of(with_reason(results[i], ReasonCode.BUDGET_UNAVAILABLE, None, rules))
        return out
    for i, outcome in zip(to_reserve, outcomes, strict=True):
        if outcome.granted:
            out[i] = replace(out[i], reservation=outcome)
        else:
            denied = with_reason(results[i], ReasonCode.OVER_BUDGET, outcome.message, rules)
            out[i] = Authorization.of(denied, reservation=outcome)
    return out


def action_authorize(
    *,
    action: ProposedAction,
    actor: Actor,
    reserve: bool,
    policy: PolicyVersion | None = None,
    ttl: timedelta | None = None,
) -> Authorization:
    """The door for one action: ``actions_authorize`` on a batch of one."""
    return actions_authorize(actions=[action], actor=actor, reserve=reserve, policy=policy, ttl=ttl)[0]


# --- deciding --------------------------------------------------------------------------------------------
def _audit_state(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "status": request.status,
        "action": request.action,
        "policy_version": request.policy_version,
        "requested_by": f"{request.requested_by_kind}:{request.requested_by_name}",
        "decided_by": f"{request.decided_by_kind}:{request.decided_by_name}"
        if request.decided_by_kind
        else "",
        "reason": request.reason,
        "reservation_id": request.reservation_id,
    }


def _decide(
    *, approval_id: int, approve: bool, reason: str, actor: Actor, request_id: str | None
) -> ApprovalRequest:
    schema = require_tenant("deciding an approval request")
    require_actor(actor)
    if actor.kind is not ActorKind.USER:
        raise GovernanceError(
            ErrorCode.PERMISSION_DENIED,
            "Only a person decides an approval request (not an API key or a task).",
            http_status=403,
        )
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > MAX_REASON:
        raise GovernanceError(
            ErrorCode.VALIDATION,
            "Give a reason for the decision.",
            details={"reason": [f"Required, at most {MAX_REASON} characters."]},
        )
    now = timezone.now()
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().filter(pk=approval_id).first()
        if request is None:
            raise GovernanceError(
                ErrorCode.NOT_FOUND, f"No approval request {approval_id} in this workspace."
            )
        if request.status == ApprovalRequest.Status.PENDING and request.expires_at <= now:
            _expire([request], now=now)  # committed: the refusal below comes after this block
    if request.status != ApprovalRequest.Status.PENDING:
        raise GovernanceError(ErrorCode.CONFLICT, f"The request is {request.status}; it cannot be decided.")
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=approval_id)
        if request.status != ApprovalRequest.Status.PENDING:
            raise GovernanceError(
                ErrorCode.CONFLICT, f"The request is {request.status}; it cannot be decided."
            )
        before = _audit_state(request)
        action = replace(ProposedAction.from_dict(request.action), at=now)
        reservation_id = None
        if approve:
            policy = policy_current()
            check = actions_check(actions=[action], actor=actor, policy=policy)[0]
            blocking = [r for r in check.reasons if r.code != ReasonCode.ABOVE_APPROVAL_THRESHOLD]
            if blocking:
                raise GovernanceError(
                    ErrorCode.CONFLICT,
                    "The current policy refuses this action; reject it instead.",
                    details={"reasons": [r.as_dict() for r in blocking]},
                )
            if request.reserve and action.kind in SPEND_KINDS and action.amount_micros:
                outcome = budget_reserve_many(
                    requests=[BudgetRequest(action.platform, action.campaign, action.amount_micros, now)],
                    actor=actor,
                    policy=policy,
                )[0]
                if not outcome.granted:
                    raise GovernanceError(
                        ErrorCode.CONFLICT,
                        outcome.message,
                        details={
                            "reasons": [{"code": ReasonCode.OVER_BUDGET.value, "message": outcome.message}]
                        },
                    )
                reservation_id = outcome.reservation_id
        request.status = ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
        request.decided_by_kind, request.decided_by_id, request.decided_by_name = (
            str(actor.kind),
            actor.id,
            actor.name,
        )
        request.decided_at = now
        request.reason = reason
        request.reservation_id = reservation_id
        request.save(
            update_fields=[
                "status",
                "decided_by_kind",
                "decided_by_id",
                "decided_by_name",
                "decided_at",
                "reason",
                "reservation_id",
            ]
        )
        audit_record(
            actor=actor,
            action="approval.approve" if approve else "approval.reject",
            object_type="governance.approvalrequest",
            object_id=request.pk,
            before=before,
            after=_audit_state(request),
            request_id=request_id,
        )

        def send() -> None:
            approval_decided.send(
                sender=ApprovalRequest,
                approval=request,
                action=action,
                approved=approve,
                actor=actor,
                schema=schema,
                reservation_id=reservation_id,
            )

        transaction.on_commit(send)
    return request


def approval_approve(
    *, approval_id: int, reason: str, actor: Actor, request_id: str | None = None
) -> ApprovalRequest:
    """Approve a pending request (a person, with a reason): re-checked against the current policy,
    budget reserved for a spend-type action, ``approval_decided`` sent on commit."""
    return _decide(approval_id=approval_id, approve=True, reason=reason, actor=actor, request_id=request_id)


def approval_reject(
    *, approval_id: int, reason: str, actor: Actor, request_id: str | None = None
) -> ApprovalRequest:
    """Reject a pending request (a person, with a reason); ``approval_decided`` sent on commit."""
    return _decide(approval_id=approval_id, approve=False, reason=reason, actor=actor, request_id=request_id)


def _expire(requests: list[ApprovalRequest], *, now: datetime) -> None:
    actor = Actor.system("governance.expire_approvals")
    for request in requests:
        before = _audit_state(request)
        request.status = ApprovalRequest.Status.EXPIRED
        request.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="approval.expire",
            object_type="governance.approvalrequest",
            object_id=request.pk,
            before=before,
            after=_audit_state(request),
        )


def approvals_expire(*, now: datetime | None = None) -> int:
    """Expire pending requests older than their ``expires_at`` (audited); returns how many. Idempotent."""
    require_tenant("expiring approval requests")
    now = now or timezone.now()
    with transaction.atomic():
        stale = list(
            ApprovalRequest.objects.select_for_update(skip_locked=True).filter(
                status=ApprovalRequest.Status.PENDING, expires_at__lte=now
            )[:1000]
        )
        _expire(stale, now=now)
    return len(stale)


def approvals_queue_columns(
    *,
    indexes: Sequence[int] | np.ndarray,
    kind: str,
    platform: Sequence[str] | np.ndarray,
    campaigns: Sequence[str],
    amount_micros: np.ndarray,
    actor: Actor,
    at: datetime | None = None,
    policy: PolicyVersion | None = None,
) -> dict[int, int]:
    """The approval queue for the items ``indexes`` of a column batch (``actions_check_columns``) that
    need a person: checked again by the same rule, queued (identical proposals share one pending
    request); index → request id. Nothing is reserved: a bid is not held while it waits."""
    require_tenant("authorising actions")
    at = at or timezone.now()
    chosen = [int(i) for i in indexes]
    actions = [
        ProposedAction(kind=kind, platform=str(platform[i]), campaign=campaigns[i],
                       amount_micros=int(amount_micros[i]), at=at)
        for i in chosen
    ]  # fmt: skip
    results = actions_check(actions=actions, actor=actor, policy=policy)
    queued = [
        (i, a, r)
        for i, a, r in zip(chosen, actions, results, strict=True)
        if r.decision is Decision.NEEDS_APPROVAL
    ]
    return _queue(queued, actor=actor, reserve=False, now=timezone.now()) if queued else {}
