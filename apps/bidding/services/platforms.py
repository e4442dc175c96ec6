"""Changes pushed to ad platforms (pause, resume, bid, budget) through an outbox.

``campaign_change_request`` writes a ``PlatformChange`` row (idempotent by its key) and its audit entry
in the caller's transaction, and enqueues ``bidding.apply_platform_change`` once that commits. Nothing
in a request path ever calls a platform.

``platform_change_apply`` (the task's service) sends one change:

1. Under the row's lock: a change that is no longer queued (sent, failed, dry run, cancelled) or not due
   yet is left alone, so a duplicate delivery or a retry sends nothing twice. A change that would undo
   a person's pause, or that a newer change of the same setting already overtook, is cancelled. In dry
   run (governance's policy) it is marked ``dry_run`` and nothing is sent. Otherwise it is claimed: one
   attempt more, and ``next_attempt_at`` a lease ahead, so another worker leaves it alone meanwhile.
2. Outside any transaction: the adapter call behind the account's circuit breaker (``breaker_call``).
3. The outcome, under the lock again: ``sent`` and the ``Campaign`` row updated to what the platform
   now holds (audited); ``CircuitOpen`` → still queued, due when the breaker's cool-down ends (the
   attempt is given back: nothing reached the platform); a transient ``PlatformError`` → queued again
   after a back-off (the platform's ``retry_after_s`` when it says) until
   ``KIKI_PLATFORM_CHANGE_MAX_ATTEMPTS``, then ``failed``; any other refusal → ``failed`` with the
   platform's message. Each retry is enqueued with a countdown after commit, and
   ``platform_changes_sweep`` (beat, every minute) re-enqueues whatever is due and was not picked up
   (a lost enqueue, a worker that died holding a claim).

Who paused a campaign follows the change's requester: a user or an API key is a person; a system actor
is automation, or the inventory breaker when the campaign has an open ``InventoryHold``.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.bidding.errors import BiddingError, CircuitOpen, ErrorCode, PlatformError
from apps.bidding.integrations.base import AccountAccess, AdPlatformAdapter
from apps.bidding.integrations.registry import adapter_for
from apps.bidding.metrics import PLATFORM_CHANGES
from apps.bidding.models import AdPlatformAccount, Campaign, InventoryHold, PlatformChange
from apps.bidding.services.circuits import breaker_call
from apps.core.actor import Actor, ActorKind, require_actor
from apps.core.tenant_context import require_tenant
from apps.governance import services as governance

logger = logging.getLogger(__name__)

Kind = PlatformChange.Kind
Status = PlatformChange.Status
APPLY_ACTOR = Actor.system("celery:bidding.apply_platform_change")
# Changes of the same setting: a newer one that was sent makes an older one pointless.
_SETTING = {Kind.PAUSE: "status", Kind.RESUME: "status", Kind.SET_BID: "bid", Kind.SET_BUDGET: "budget"}
_PERSON_KINDS = (ActorKind.USER.value, ActorKind.API_KEY.value)
MAX_REASON = 300
MAX_KEY = 120
MAX_VALUE_MICROS = 10**15  # a billion units: above any sane bid or daily budget
SWEEP_GRACE_S = 60  # a queued change never enqueued (a lost enqueue) is picked up after this


# --- accounts -------------------------------------------------------------------------------------
def ad_account_access(account: AdPlatformAccount) -> AccountAccess:
    """What an adapter needs of an account, its credentials decrypted (never logged: see ``AccountAccess``)."""
    raw = account.credentials or ""
    try:
        credentials = json.loads(raw) if raw.strip() else {}
    except ValueError:
        credentials = None
    if not isinstance(credentials, dict):
        raise BiddingError(
            ErrorCode.VALIDATION,
            f"Account {account.pk}'s credentials are not a JSON object; reconnect the account.",
            details={"account_id": account.pk},
        )
    return AccountAccess(
        platform=account.platform,
        external_id=account.external_id,
        currency=account.currency,
        credentials={str(k): str(v) for k, v in credentials.items() if v is not None},
    )


def ad_account_adapter(account: AdPlatformAccount) -> AdPlatformAdapter:
    """The adapter of the account's platform (base URL from settings, the standard timeout)."""
    return adapter_for(ad_account_access(account))


# --- requesting a change --------------------------------------------------------------------------
def _invalid(field: str, message: str) -> BiddingError:
    return BiddingError(ErrorCode.VALIDATION, message, details={field: [message]})


def _change_state(change: PlatformChange) -> dict[str, Any]:
    return {
        "campaign_id": change.campaign_id,
        "kind": change.kind,
        "value_micros": change.value_micros,
        "key": change.key,
        "status": change.status,
        "attempts": change.attempts,
        "reason": change.reason,
    }


@transaction.atomic
def campaign_change_request(
    *,
    campaign: Campaign,
    kind: str,
    value_micros: int | None = None,
    reason: str,
    actor: Actor,
    key: str | None = None,
) -> PlatformChange:
    """Queue a change of ``campaign`` on its platform; it is sent by a Celery task after commit.

    ``kind``: pause, resume, set_bid (``value_micros``: the bid), set_budget (``value_micros``: the daily
    budget). Idempotent by ``key``: the same key again returns the change it named (and queues nothing
    new); the same key for a different change is a conflict. Without a key every call is a new change.
    """
    schema = require_tenant("changing a campaign on its platform")
    require_actor(actor)
    if kind not in Kind.values:
        raise _invalid("kind", f"Unknown change {kind!r}; one of {', '.join(Kind.values)}.")
    if kind in (Kind.SET_BID, Kind.SET_BUDGET):
        if isinstance(value_micros, bool) or not isinstance(value_micros, int):
            raise _invalid("value_micros", f"{kind} needs value_micros, a whole number of micros.")
        if not 0 < value_micros <= MAX_VALUE_MICROS:
            raise _invalid("value_micros", f"value_micros must be between 1 and {MAX_VALUE_MICROS}.")
    elif value_micros is not None:
        raise _invalid("value_micros", f"{kind} takes no value_micros.")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise _invalid("reason", f"A reason is at most {MAX_REASON} characters.")
    if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY):
        raise _invalid("key", f"A key is 1 to {MAX_KEY} characters.")
    if campaign.status == Campaign.Status.REMOVED:
        raise BiddingError(ErrorCode.CONFLICT, f"Campaign {campaign.pk} is removed; it cannot be changed.")
    key = key or f"{kind}:{campaign.pk}:{uuid.uuid4().hex}"

    existing = PlatformChange.objects.filter(key=key).first()
    if existing is None:
        try:
            with transaction.atomic():
                change = PlatformChange.objects.create(
                    campaign=campaign,
                    kind=kind,
                    value_micros=value_micros,
                    key=key,
                    reason=reason,
                    requested_by=actor.label[:200],
                )
        except IntegrityError:  # the same key, committed by someone else meanwhile
            existing = PlatformChange.objects.get(key=key)
    if existing is not None:
        if (existing.campaign_id, existing.kind, existing.value_micros) != (campaign.pk, kind, value_micros):
            raise BiddingError(
                ErrorCode.CONFLICT,
                f"Key {key!r} already names another change ({existing.kind} of campaign {existing.campaign_id}).",
                details={"key": key, "change_id": existing.pk},
            )
        return existing
    governance.audit_record(
        actor=actor,
        action="platform_change.request",
        object_type="bidding.platformchange",
        object_id=change.pk,
        after=_change_state(change),
    )
    change_id = change.pk
    transaction.on_commit(lambda: _enqueue(schema, change_id))
    return change


def _enqueue(schema: str, change_id: int, countdown: float = 0) -> None:
    from apps.bidding.tasks import apply_platform_change

    with schema_context(schema):  # the task carries the schema it is published from
        apply_platform_change.apply_async(args=[change_id], countdown=max(0.0, countdown))


# --- applying a change ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claim:
    change: PlatformChange
    campaign: Campaign
    account: AdPlatformAccount


def _workspace_dry_run() -> bool:
    """Whether the workspace is in dry run (governance's policy; new workspaces start in it)."""
    return bool(governance.policy_current().dry_run)


def _requested_by_person(change: PlatformChange) -> bool:
    return change.requested_by.split(":", 1)[0] in _PERSON_KINDS


def _why_not(change: PlatformChange, campaign: Campaign) -> str | None:
    """Why a queued change must not be sent at all (None: send it)."""
    if campaign.status == Campaign.Status.REMOVED:
        return "the campaign was removed"
    by_person = _requested_by_person(change)
    if not by_person and campaign.paused_by_person and change.kind in (Kind.RESUME, Kind.PAUSE):
        # Automation never resumes what a person paused, nor takes the pause over.
        return "a person paused this campaign; automation does not change its status"
    newer = (
        PlatformChange.objects.filter(
            campaign_id=change.campaign_id,
            kind__in=[k for k, s in _SETTING.items() if s == _SETTING[Kind(change.kind)]],
            status=Status.SENT,
            pk__gt=change.pk,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if newer is not None:
        return f"superseded by change {newer}, already sent"
    return None


def _claim(change_id: int, now: datetime) -> _Claim | PlatformChange:
    """Lock the change; settle it without sending (returned as a ``PlatformChange``) or claim it."""
    with transaction.atomic():
        change = PlatformChange.objects.select_for_update().filter(pk=change_id).first()
        if change is None:
            raise BiddingError(ErrorCode.NOT_FOUND, f"Platform change {change_id} does not exist.")
        if change.status != Status.QUEUED or (change.next_attempt_at and change.next_attempt_at > now):
            return change
        campaign = Campaign.objects.select_related("account").get(pk=change.campaign_id)
        before = _change_state(change)
        why = _why_not(change, campaign)
        if why is not None:
            change.status, change.last_error, change.next_attempt_at = Status.CANCELLED, why, None
            change.save(update_fields=["status", "last_error", "next_attempt_at"])
            _audit(change, "platform_change.cancelled", before)
            _count(change, "cancelled")
            return change
        if _workspace_dry_run():
            change.status, change.next_attempt_at = Status.DRY_RUN, None
            change.last_error = "dry run: recorded, not sent"
            change.save(update_fields=["status", "last_error", "next_attempt_at"])
            _audit(change, "platform_change.dry_run", before)
            _count(change, "dry_run")
            return change
        change.attempts += 1
        change.next_attempt_at = now + timedelta(seconds=_claim_lease_s())
        change.save(update_fields=["attempts", "next_attempt_at"])
        return _Claim(change, campaign, campaign.account)


def _claim_lease_s() -> float:
    # A change may take a few calls (a lookup, then the update of each ad set), each with its timeout.
    return max(60.0, 6.0 * float(settings.KIKI_AD_PLATFORM_TIMEOUT_S))


def _count(change: PlatformChange, outcome: str) -> None:
    kind = str(change.kind)
    transaction.on_commit(lambda: PLATFORM_CHANGES.labels(kind=kind, outcome=outcome).inc())


def _audit(change: PlatformChange, action: str, before: dict[str, Any]) -> None:
    governance.audit_record(
        actor=APPLY_ACTOR,
        action=action,
        object_type="bidding.platformchange",
        object_id=change.pk,
        before=before,
        after={**_change_state(change), "last_error": change.last_error[:300]},
    )


def _send(adapter: AdPlatformAdapter, change: PlatformChange, external_id: str) -> int | None:
    if change.kind == Kind.PAUSE:
        adapter.pause(external_id)
        return None
    if change.kind == Kind.RESUME:
        adapter.resume(external_id)
        return None
    assert change.value_micros is not None  # noqa: S101 - validated when requested
    if change.kind == Kind.SET_BID:
        return adapter.set_bid(external_id, change.value_micros)
    return adapter.set_budget(external_id, change.value_micros)


def platform_change_apply(*, change_id: int) -> PlatformChange:
    """Send one queued change to its platform (see the module's docstring); safe to run any number
    of times for the same change. Returns the change as it stands afterwards."""
    schema = require_tenant("applying a platform change")
    claimed = _claim(change_id, timezone.now())
    if isinstance(claimed, PlatformChange):
        return claimed
    change, campaign, account = claimed.change, claimed.campaign, claimed.account
    try:
        adapter = ad_account_adapter(account)
        applied = breaker_call(
            account=account,
            operation=str(change.kind),
            call=lambda: _send(adapter, change, campaign.external_id),
        )
    except CircuitOpen as exc:
        return _settle(
            schema, change_id, retry_in_s=max(0.25, exc.retry_after_s), error=str(exc), attempt=False
        )
    except PlatformError as exc:
        if exc.transient and change.attempts < int(settings.KIKI_PLATFORM_CHANGE_MAX_ATTEMPTS):
            return _settle(schema, change_id, retry_in_s=_backoff_s(change.attempts, exc.retry_after_s), error=str(exc))  # fmt: skip
        return _settle(schema, change_id, error=str(exc))
    except (BiddingError, ValueError) as exc:  # credentials unreadable, an id the platform cannot take
        return _settle(schema, change_id, error=str(exc))
    return _sent(change_id, applied)


def _backoff_s(attempts: int, retry_after_s: float | None) -> float:
    if retry_after_s is not None:
        return max(1.0, float(retry_after_s))
    base = float(settings.KIKI_PLATFORM_CHANGE_BACKOFF_S)
    delay = min(float(settings.KIKI_PLATFORM_CHANGE_BACKOFF_MAX_S), base * 2 ** max(0, attempts - 1))
    return delay * (0.75 + random.random() / 4)  # noqa: S311 - jitter, not security


def _settle(
    schema: str, change_id: int, *, error: str, retry_in_s: float | None = None, attempt: bool = True
) -> PlatformChange:
    """Record a change that was not sent: queued again in ``retry_in_s`` seconds, or failed (None)."""
    with transaction.atomic():
        change = PlatformChange.objects.select_for_update().get(pk=change_id)
        if change.status != Status.QUEUED:
            return change
        before = _change_state(change)
        change.last_error = error[:2000]
        if not attempt:
            change.attempts = max(0, change.attempts - 1)  # the breaker refused: nothing reached the platform
        if retry_in_s is None:
            change.status, change.next_attempt_at = Status.FAILED, None
            _audit(change, "platform_change.failed", before)
            _count(change, "failed")
        else:
            _count(change, "retry" if attempt else "circuit_open")
            delay = retry_in_s
            change.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            transaction.on_commit(lambda: _enqueue(schema, change_id, countdown=delay))
        change.save(update_fields=["status", "last_error", "attempts", "next_attempt_at"])
    level = logging.WARNING if retry_in_s is None else logging.INFO
    logger.log(
        level,
        "platform change not sent",
        extra={"change_id": change_id, "retry_in_s": retry_in_s, "error": error[:300]},
    )
    return change


def _campaign_state(campaign: Campaign) -> dict[str, Any]:
    return {
        "status": campaign.status,
        "paused_by": campaign.paused_by,
        "bid_micros": campaign.bid_micros,
        "daily_budget_micros": campaign.daily_budget_micros,
    }


def _sent(change_id: int, applied_micros: int | None) -> PlatformChange:
    """The platform took the change: record it and bring the campaign row to what the platform holds."""
    now = timezone.now()
    with transaction.atomic():
        change = PlatformChange.objects.select_for_update().get(pk=change_id)
        campaign = Campaign.objects.select_for_update().get(pk=change.campaign_id)
        before_change, before = _change_state(change), _campaign_state(campaign)
        if change.kind == Kind.PAUSE:
            if campaign.status != Campaign.Status.PAUSED or not campaign.paused_by_person:
                campaign.status = Campaign.Status.PAUSED
                campaign.paused_by = _paused_by(change, campaign)
                campaign.paused_by_actor = change.requested_by
                campaign.paused_reason = change.reason[:300]
                campaign.paused_at = now
        elif change.kind == Kind.RESUME:
            campaign.status = Campaign.Status.ACTIVE
            campaign.paused_by, campaign.paused_by_actor, campaign.paused_reason = "", "", ""
            campaign.paused_at = None
        elif change.kind == Kind.SET_BID:
            campaign.bid_micros = applied_micros
        else:
            assert applied_micros is not None  # noqa: S101 - set_budget returns what the platform holds
            campaign.daily_budget_micros = applied_micros
        campaign.save()
        change.status, change.sent_at, change.next_attempt_at, change.last_error = Status.SENT, now, None, ""
        change.save(update_fields=["status", "sent_at", "next_attempt_at", "last_error"])
        _audit(change, "platform_change.sent", before_change)
        _count(change, "sent")
        governance.audit_record(
            actor=APPLY_ACTOR,
            action=f"campaign.{change.kind}",
            object_type="bidding.campaign",
            object_id=campaign.pk,
            before=before,
            after={**_campaign_state(campaign), "change_id": change.pk, "requested_by": change.requested_by},
        )
    return change


def _paused_by(change: PlatformChange, campaign: Campaign) -> str:
    if _requested_by_person(change):
        return Campaign.PausedBy.PERSON
    if InventoryHold.objects.filter(campaign=campaign, state=InventoryHold.State.HELD).exists():
        return Campaign.PausedBy.INVENTORY
    return Campaign.PausedBy.AUTOMATION


def platform_changes_sweep() -> int:
    """Enqueue every queued change that is due (its retry time has come, or a claim expired) or that
    was never picked up; returns how many. Beat runs it every minute per workspace."""
    schema = require_tenant("sweeping platform changes")
    now = timezone.now()
    due = PlatformChange.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now)
    lost = PlatformChange.objects.filter(
        status=Status.QUEUED,
        next_attempt_at__isnull=True,
        created_at__lte=now - timedelta(seconds=SWEEP_GRACE_S),
    )
    ids = sorted(set(due.values_list("pk", flat=True)) | set(lost.values_list("pk", flat=True)))
    for change_id in ids:
        _enqueue(schema, change_id)
    return len(ids)
