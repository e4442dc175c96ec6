"""Policies and the one decision rule every automated action goes through.

``actions_check`` decides a batch of proposed actions against one policy version with numpy arrays:
the policy is loaded once, every rule is one vector operation over the batch, and identical outcomes
share one immutable ``CheckResult``. ``action_check`` is that rule on a batch of one.

Rules (each adds a reason; any reason but ``above_approval_threshold`` denies, that one alone asks a
person; pausing is always allowed, it only lowers spend):

========================== =========================================================================
kill_switch                the workspace's kill switch is on (every kind but pause)
platform_not_allowed       the platform is not in ``allowed_platforms`` (every kind but pause)
bid_above_max              a bid above ``max_bid_micros`` (exactly the max is allowed)
roas_below_min             a predicted ROAS below ``min_roas`` (only when the action carries one)
blackout_hours             the action's local hour (workspace time zone) is a blackout hour
paused_by_person           automation (a system actor or an API key) resuming what a person paused
above_approval_threshold   a bid, budget change or spend above ``approval_threshold_micros``
over_budget                added by ``action_authorize`` when the budget reservation is refused
budget_unavailable         added by ``action_authorize`` when the budget counters cannot be reached
========================== =========================================================================
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from apps.core.actor import Actor, ActorKind, require_actor
from apps.core.locks import advisory_xact_lock
from apps.core.money import micros_to_decimal
from apps.core.tenant_context import db, require_tenant
from apps.governance.errors import ErrorCode, GovernanceError
from apps.governance.errors import invalid as _invalid
from apps.governance.models import ALL_PLATFORMS, PolicyVersion
from apps.governance.services.audit import audit_record

# First key of the two-key advisory lock that serialises new versions of one schema's policy ("KIKP").
_LOCK_CLASS = 0x4B494B50
MAX_MICROS = 2**62
MAX_ROAS = Decimal(1_000_000)
MAX_CAMPAIGN_KEY = 100
MAX_REASON = 2000
ROAS_SCALE = 10_000  # ROAS compared as integers of 1/10,000 (``min_roas`` has four decimal places)
_BUCKET_S = 900  # every UTC offset and every transition in use is a multiple of 15 minutes


class ActionKind(StrEnum):
    BID = "bid"
    BUDGET_CHANGE = "budget_change"
    PAUSE = "pause"
    RESUME = "resume"
    SPEND = "spend"


KINDS: tuple[ActionKind, ...] = tuple(ActionKind)
MONEY_KINDS = frozenset({ActionKind.BID, ActionKind.BUDGET_CHANGE, ActionKind.SPEND})  # carry an amount
SPEND_KINDS = frozenset({ActionKind.BID, ActionKind.SPEND})  # reserve budget when authorised
_KIND_INDEX = {k.value: i for i, k in enumerate(KINDS)}
_KIND_BY_VALUE = {k.value: k for k in KINDS}
_PLATFORM_INDEX = {p: i for i, p in enumerate(ALL_PLATFORMS)}


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    NEEDS_APPROVAL = "needs_approval"


class ReasonCode(StrEnum):
    KILL_SWITCH = "kill_switch"
    PLATFORM_NOT_ALLOWED = "platform_not_allowed"
    BID_ABOVE_MAX = "bid_above_max"
    ROAS_BELOW_MIN = "roas_below_min"
    BLACKOUT_HOURS = "blackout_hours"
    PAUSED_BY_PERSON = "paused_by_person"
    ABOVE_APPROVAL_THRESHOLD = "above_approval_threshold"
    OVER_BUDGET = "over_budget"
    BUDGET_UNAVAILABLE = "budget_unavailable"


# One bit per rule, in the order reasons are listed.
_BITS: dict[ReasonCode, int] = {code: 1 << i for i, code in enumerate(ReasonCode)}
_APPROVAL_BIT = _BITS[ReasonCode.ABOVE_APPROVAL_THRESHOLD]
_DENY_BITS = sum(_BITS.values()) & ~_APPROVAL_BIT


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class CheckResult:
    decision: Decision
    reasons: tuple[Reason, ...]
    policy_version: int
    dry_run: bool

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "reasons": [r.as_dict() for r in self.reasons],
            "policy_version": self.policy_version,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True, slots=True)
class ProposedAction:
    """An action automation (or a person, through the API) proposes. ``campaign`` is the campaign's
    key (its id or its platform's external id, as the policy's per-campaign caps name it);
    ``amount_micros`` is the bid, the new budget or the spend; ``at`` when it would happen."""

    kind: str
    platform: str
    campaign: str
    amount_micros: int | None = None
    predicted_roas: Decimal | None = None
    at: datetime = field(default_factory=timezone.now)
    paused_by_person: bool = False

    def __post_init__(self) -> None:
        kind = _KIND_BY_VALUE.get(self.kind) if isinstance(self.kind, str) else None
        if kind is None:
            raise _invalid("kind", f"Unknown action kind {self.kind!r}; one of {', '.join(_KIND_INDEX)}.")
        if kind is not self.kind:
            object.__setattr__(self, "kind", kind)
        if self.platform not in _PLATFORM_INDEX:
            raise _invalid(
                "platform", f"Unknown platform {self.platform!r}; one of {', '.join(ALL_PLATFORMS)}."
            )
        if not isinstance(self.campaign, str) or not self.campaign or len(self.campaign) > MAX_CAMPAIGN_KEY:
            raise _invalid("campaign", f"A campaign key is 1 to {MAX_CAMPAIGN_KEY} characters.")
        amount = self.amount_micros
        if amount is not None and (
            not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= MAX_MICROS
        ):
            raise _invalid("amount_micros", f"An amount is a whole number of micros from 0 to {MAX_MICROS}.")
        if amount is None and self.kind in MONEY_KINDS:
            raise _invalid("amount_micros", f"A {self.kind} needs amount_micros.")
        roas = self.predicted_roas
        if roas is not None:
            if isinstance(roas, bool) or not isinstance(roas, int | Decimal):
                raise _invalid("predicted_roas", "Predicted ROAS is a Decimal (never a float).")
            if isinstance(roas, Decimal) and not roas.is_finite():
                raise _invalid("predicted_roas", "Predicted ROAS must be a finite number.")
            if not 0 <= roas <= MAX_ROAS:
                raise _invalid("predicted_roas", f"Predicted ROAS is from 0 to {MAX_ROAS}.")
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise _invalid("at", "The action's time must be a timezone-aware datetime.")
        if not isinstance(self.paused_by_person, bool):
            raise _invalid("paused_by_person", "paused_by_person is true or false.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "platform": self.platform,
            "campaign": self.campaign,
            "amount_micros": self.amount_micros,
            "predicted_roas": None if self.predicted_roas is None else str(self.predicted_roas),
            "at": self.at.isoformat(),
            "paused_by_person": self.paused_by_person,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProposedAction:
        roas = data.get("predicted_roas")
        return cls(
            kind=data["kind"],
            platform=data["platform"],
            campaign=data["campaign"],
            amount_micros=data.get("amount_micros"),
            predicted_roas=None if roas is None else Decimal(str(roas)),
            at=datetime.fromisoformat(data["at"]) if data.get("at") else timezone.now(),
            paused_by_person=bool(data.get("paused_by_person", False)),
        )


# --- reading and changing the policy ---------------------------------------------------------------
def _lock_policy(schema: str) -> None:
    advisory_xact_lock(schema, namespace=_LOCK_CLASS)


@dataclass(frozen=True, slots=True)
class Workspace:
    """What governance needs of the workspace row: its id (distinguishes a workspace from an earlier one
    deleted under the same schema), time zone and dry-run setting."""

    schema: str
    id: int
    timezone: zoneinfo.ZoneInfo
    dry_run: bool


def _zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def current_workspace() -> Workspace:
    """The workspace of the connection: from the tenant a request or task set (no query), else read
    once (``schema_context`` only knows the schema)."""
    schema = require_tenant("reading the workspace")
    tenant = db().tenant
    if getattr(tenant, "pk", None) is not None and hasattr(tenant, "timezone"):
        return Workspace(schema, int(tenant.pk), _zone(tenant.timezone), bool(tenant.dry_run))
    from apps.governance.tenancy.models import Tenant

    row = Tenant.objects.filter(schema_name=schema).values_list("pk", "timezone", "dry_run").first()
    if row is None:
        raise GovernanceError(ErrorCode.NOT_FOUND, f"No workspace with schema {schema!r}.")
    return Workspace(schema, int(row[0]), _zone(row[1]), bool(row[2]))


def workspace_timezone() -> zoneinfo.ZoneInfo:
    """The workspace's time zone (``Tenant.timezone``; UTC when it names no zone this machine knows)."""
    return current_workspace().timezone


def _create(*, version: int, rules: Mapping[str, Any], reason: str, actor: Actor) -> PolicyVersion:
    return PolicyVersion.objects.create(
        version=version,
        created_at=timezone.now(),
        author_kind=str(actor.kind),
        author_id=actor.id,
        author_name=actor.name,
        reason=reason,
        **rules,
    )


def _audit_state(policy: PolicyVersion) -> dict[str, Any]:
    return {"version": policy.version, "reason": policy.reason, **policy.rules()}


def policy_current() -> PolicyVersion:
    """This workspace's policy: its latest version. A workspace without one gets version 1 (dry run as
    the workspace was created, on for every new one; no caps, every platform), written and audited."""
    schema = require_tenant("reading the policy")
    latest = PolicyVersion.objects.order_by("-version").first()
    if latest is not None:
        return latest
    with transaction.atomic():
        _lock_policy(schema)
        latest = PolicyVersion.objects.order_by("-version").first()
        if latest is not None:
            return latest
        actor = Actor.system("governance.policy_default")
        first = _create(
            version=1,
            rules={"dry_run": current_workspace().dry_run},
            reason="Initial policy of the workspace: dry run, no caps, every platform.",
            actor=actor,
        )
        audit_record(
            actor=actor,
            action="policy.create",
            object_type="governance.policyversion",
            object_id=first.version,
            after=_audit_state(first),
        )
        return first


def _micros_or_none(field_name: str, value: Any, errors: dict[str, list[str]]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MICROS:
        errors.setdefault(field_name, []).append(f"A whole number of micros from 0 to {MAX_MICROS}, or null.")
        return None
    return value


def _caps_map(
    field_name: str, value: Any, errors: dict[str, list[str]], *, keys: tuple[str, ...] | None
) -> dict[str, dict[str, int | None]]:
    if not isinstance(value, Mapping):
        errors.setdefault(field_name, []).append(
            'A mapping {key: {"daily": micros|null, "monthly": micros|null}}.'
        )
        return {}
    out: dict[str, dict[str, int | None]] = {}
    for key, caps in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_CAMPAIGN_KEY:
            errors.setdefault(field_name, []).append(f"Keys are 1 to {MAX_CAMPAIGN_KEY} characters.")
            continue
        if keys is not None and key not in keys:
            errors.setdefault(field_name, []).append(f"Unknown platform {key!r}; one of {', '.join(keys)}.")
            continue
        if not isinstance(caps, Mapping) or not caps or set(caps) - {"daily", "monthly"}:
            errors.setdefault(field_name, []).append(
                f'{key}: give "daily" and/or "monthly" (micros or null).'
            )
            continue
        out[key] = {p: _micros_or_none(f"{field_name}.{key}.{p}", caps[p], errors) for p in sorted(caps)}
    return dict(sorted(out.items()))


def _validated(rules: Mapping[str, Any]) -> dict[str, Any]:
    """The rule fields, checked and normalised (sorted lists and maps), or a 400 naming each field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for name in (
        "max_bid_micros",
        "campaign_daily_cap_micros",
        "campaign_monthly_cap_micros",
        "approval_threshold_micros",
    ):
        out[name] = _micros_or_none(name, rules.get(name), errors)
    out["campaign_caps"] = _caps_map("campaign_caps", rules.get("campaign_caps") or {}, errors, keys=None)
    out["platform_caps"] = _caps_map(
        "platform_caps", rules.get("platform_caps") or {}, errors, keys=ALL_PLATFORMS
    )
    allowed = rules.get("allowed_platforms")
    if not isinstance(allowed, list | tuple) or any(p not in ALL_PLATFORMS for p in allowed):
        errors["allowed_platforms"] = [f"A list of platforms among {', '.join(ALL_PLATFORMS)}."]
        allowed = []
    out["allowed_platforms"] = [p for p in ALL_PLATFORMS if p in allowed]
    roas = rules.get("min_roas")
    if roas is not None:
        try:
            roas = (
                Decimal(roas)
                if isinstance(roas, int | str | Decimal) and not isinstance(roas, bool)
                else None
            )
        except InvalidOperation:
            roas = None
        if (
            roas is None
            or not roas.is_finite()
            or not 0 <= roas < MAX_ROAS
            or roas != roas.quantize(Decimal("0.0001"))
        ):
            errors["min_roas"] = [
                f"A decimal from 0 to {MAX_ROAS} with at most four decimal places, or null."
            ]
            roas = None
        else:
            roas = roas.quantize(Decimal("0.0001"))
    out["min_roas"] = roas
    hours = rules.get("blackout_hours") or []
    if not isinstance(hours, list | tuple) or any(
        isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23 for h in hours
    ):
        errors["blackout_hours"] = ["A list of local hours, whole numbers from 0 to 23."]
        hours = []
    out["blackout_hours"] = sorted(set(hours))
    for flag in ("kill_switch", "dry_run"):
        if not isinstance(rules.get(flag), bool):
            errors[flag] = ["true or false."]
        out[flag] = bool(rules.get(flag))
    if errors:
        raise GovernanceError(ErrorCode.VALIDATION, "The policy has invalid fields.", details=errors)
    return out


def validate_rules(rules: Mapping[str, Any]) -> dict[str, Any]:
    """Every rule field checked and normalised (what a new version would store); raises a 400
    ``GovernanceError`` naming each bad field. Writes nothing (the admin's form runs it first)."""
    return _validated(rules)


def policy_update(
    *, actor: Actor, reason: str, changes: Mapping[str, Any], request_id: str | None = None
) -> PolicyVersion:
    """A new policy version: the current one with ``changes`` (any of ``PolicyVersion.RULE_FIELDS``),
    with its author and reason, audited in the same transaction. Leaving dry run is a person's decision
    (a system actor may not); the workspace's ``dry_run`` setting follows the policy."""
    schema = require_tenant("changing the policy")
    require_actor(actor)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise _invalid("reason", "Say why the policy changes (reason is required).")
    if len(reason) > MAX_REASON:
        raise _invalid("reason", f"A reason is at most {MAX_REASON} characters.")
    unknown = set(changes) - set(PolicyVersion.RULE_FIELDS)
    if unknown:
        raise GovernanceError(
            ErrorCode.VALIDATION,
            "Unknown policy fields.",
            details={name: ["Not a policy field."] for name in sorted(unknown)},
        )
    with transaction.atomic():
        current = policy_current()
        _lock_policy(schema)
        current = PolicyVersion.objects.order_by("-version").first() or current
        before = current.rules()
        rules = _validated({**before, **changes})
        if rules == _validated(before):
            raise GovernanceError(ErrorCode.VALIDATION, "The new version would change nothing.")
        if before["dry_run"] and not rules["dry_run"] and actor.kind is ActorKind.SYSTEM:
            raise GovernanceError(
                ErrorCode.PERMISSION_DENIED, "Only a person (an Admin) may turn dry run off.", http_status=403
            )
        new = _create(version=current.version + 1, rules=rules, reason=reason, actor=actor)
        if rules["dry_run"] != before["dry_run"]:
            _mirror_dry_run(schema, rules["dry_run"])
        audit_record(
            actor=actor,
            action="policy.update",
            object_type="governance.policyversion",
            object_id=new.version,
            before=_audit_state(current),
            after=_audit_state(new),
            request_id=request_id,
        )
    return new


def _mirror_dry_run(schema: str, dry_run: bool) -> None:
    """The workspace's ``dry_run`` (what /api/v1/workspace and the platform admin show) follows the policy."""
    from apps.governance.tenancy.models import Tenant

    Tenant.objects.filter(schema_name=schema).update(dry_run=dry_run)
    tenant = db().tenant
    if getattr(tenant, "schema_name", None) == schema and hasattr(tenant, "dry_run"):
        tenant.dry_run = dry_run


# --- the decision rule --------------------------------------------------------------------------
def _money(micros: int) -> str:
    return f"{micros_to_decimal(micros)} ({micros} micros)"


def _hours_text(hours: list[int]) -> str:
    return ", ".join(f"{h:02d}:00–{h:02d}:59" for h in hours)


@dataclass(frozen=True)
class _Rules:
    """One policy version compiled for vector evaluation (versions are immutable, so this is cached)."""

    version: int
    dry_run: bool
    kill_switch: bool
    allowed: np.ndarray  # bool per platform index
    max_bid: int | None
    min_roas_scaled: int | None
    blackout: np.ndarray | None  # bool per local hour, None when there is no blackout hour
    threshold: int | None
    tz: zoneinfo.ZoneInfo
    reasons: dict[ReasonCode, Reason]
    results: dict[int, CheckResult] = field(default_factory=dict)

    def result(self, bits: int) -> CheckResult:
        found = self.results.get(bits)
        if found is None:
            decision = (
                Decision.DENY if bits & _DENY_BITS else Decision.NEEDS_APPROVAL if bits else Decision.ALLOW
            )
            reasons = tuple(self.reasons[code] for code, bit in _BITS.items() if bits & bit)
            found = self.results[bits] = CheckResult(decision, reasons, self.version, self.dry_run)
        return found


# Compiled versions by (schema, version, created_at, zone): a version never changes, and a workspace
# deleted and made again under the same schema starts new versions at other times.
_COMPILED: dict[tuple[str, int, datetime, str], _Rules] = {}
_COMPILED_MAX = 256


def _compile(policy: PolicyVersion, schema: str) -> _Rules:
    tz = workspace_timezone()
    cache_key = (schema, policy.version, policy.created_at, str(tz.key))
    cached = _COMPILED.get(cache_key)
    if cached is not None:
        return cached
    allowed = np.array([p in (policy.allowed_platforms or []) for p in ALL_PLATFORMS], dtype=bool)
    hours = sorted(set(policy.blackout_hours or []))
    blackout = np.zeros(24, dtype=bool) if hours else None
    if blackout is not None:
        blackout[hours] = True
    min_roas = policy.min_roas
    v = f"policy v{policy.version}"
    reasons = {
        ReasonCode.KILL_SWITCH: f"The workspace's kill switch is on ({v}): automation may only pause.",
        ReasonCode.PLATFORM_NOT_ALLOWED: (
            f"The platform is not allowed ({v} allows: {', '.join(policy.allowed_platforms) or 'none'})."
        ),
        ReasonCode.BID_ABOVE_MAX: (
            f"The bid is above the max bid of {_money(policy.max_bid_micros)} ({v})."
            if policy.max_bid_micros is not None
            else ""
        ),
        ReasonCode.ROAS_BELOW_MIN: f"The predicted ROAS is below the minimum of {min_roas} ({v}).",
        ReasonCode.BLACKOUT_HOURS: f"No automation during blackout hours {_hours_text(hours)} {tz.key} ({v}).",
        ReasonCode.PAUSED_BY_PERSON: "A person paused this campaign; automation never resumes it.",
        ReasonCode.ABOVE_APPROVAL_THRESHOLD: (
            f"The amount is above the approval threshold of {_money(policy.approval_threshold_micros)} "
            f"({v}): a person must approve it."
            if policy.approval_threshold_micros is not None
            else ""
        ),
        ReasonCode.OVER_BUDGET: "The budget reservation was refused by a cap.",
        ReasonCode.BUDGET_UNAVAILABLE: "The budget counters could not be reached; nothing was reserved.",
    }
    rules = _Rules(
        version=policy.version,
        dry_run=policy.dry_run,
        kill_switch=policy.kill_switch,
        allowed=allowed,
        max_bid=policy.max_bid_micros,
        min_roas_scaled=None if min_roas is None else int(min_roas * ROAS_SCALE),
        blackout=blackout,
        threshold=policy.approval_threshold_micros,
        tz=tz,
        reasons={code: Reason(code.value, text) for code, text in reasons.items()},
    )
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[cache_key] = rules
    return rules


def _local_hours(at_s: np.ndarray, tz: zoneinfo.ZoneInfo) -> np.ndarray:
    """Local hour of each epoch second: one zone lookup per distinct quarter hour, not per action."""
    buckets, inverse = np.unique(at_s // _BUCKET_S, return_inverse=True)
    hours = np.fromiter(
        (datetime.fromtimestamp(int(b) * _BUCKET_S, tz).hour for b in buckets),
        dtype=np.int8,
        count=len(buckets),
    )
    return hours[inverse]


def _roas_scaled(roas: Decimal | int | None) -> int:
    return -1 if roas is None else math.floor(roas * ROAS_SCALE)


def _evaluate(actions: Sequence[ProposedAction], actor: Actor, rules: _Rules) -> np.ndarray:
    """The reason bits of every action: the actions as columns, then ``_evaluate_columns``."""
    n = len(actions)
    return _evaluate_columns(
        kind=np.fromiter((_KIND_INDEX[a.kind] for a in actions), dtype=np.int8, count=n),
        platform=np.fromiter((_PLATFORM_INDEX[a.platform] for a in actions), dtype=np.int8, count=n),
        amount=np.fromiter((a.amount_micros or 0 for a in actions), dtype=np.int64, count=n),
        roas=(
            np.fromiter((_roas_scaled(a.predicted_roas) for a in actions), dtype=np.int64, count=n)
            if rules.min_roas_scaled is not None
            else None
        ),
        at_s=(
            np.fromiter((int(a.at.timestamp()) for a in actions), dtype=np.int64, count=n)
            if rules.blackout is not None
            else None
        ),
        paused_by_person=(
            np.fromiter((a.paused_by_person for a in actions), dtype=bool, count=n)
            if actor.kind is not ActorKind.USER
            else None
        ),
        actor=actor,
        rules=rules,
    )


def _evaluate_columns(
    *,
    kind: np.ndarray,
    platform: np.ndarray,
    amount: np.ndarray,
    roas: np.ndarray | None,
    at_s: np.ndarray | None,
    paused_by_person: np.ndarray | None,
    actor: Actor,
    rules: _Rules,
) -> np.ndarray:
    """THE rule: the reason bits of every action, each rule one vector operation over the batch.
    ``roas`` is ROAS × ``ROAS_SCALE`` floored (-1: none), ``at_s`` epoch seconds."""
    n = len(kind)
    bits = np.zeros(n, dtype=np.int32)
    acting = kind != _KIND_INDEX[ActionKind.PAUSE]  # every rule but the two below spares a pause
    if rules.kill_switch:
        bits |= np.where(acting, _BITS[ReasonCode.KILL_SWITCH], 0).astype(np.int32)
    bits |= np.where(acting & ~rules.allowed[platform], _BITS[ReasonCode.PLATFORM_NOT_ALLOWED], 0).astype(
        np.int32
    )
    if rules.max_bid is not None:
        over = (kind == _KIND_INDEX[ActionKind.BID]) & (amount > rules.max_bid)
        bits |= np.where(over, _BITS[ReasonCode.BID_ABOVE_MAX], 0).astype(np.int32)
    if rules.min_roas_scaled is not None and roas is not None:
        low = acting & (roas >= 0) & (roas < rules.min_roas_scaled)
        bits |= np.where(low, _BITS[ReasonCode.ROAS_BELOW_MIN], 0).astype(np.int32)
    if rules.blackout is not None and at_s is not None:
        dark = acting & rules.blackout[_local_hours(at_s, rules.tz)]
        bits |= np.where(dark, _BITS[ReasonCode.BLACKOUT_HOURS], 0).astype(np.int32)
    if actor.kind is not ActorKind.USER and paused_by_person is not None:
        undo = (kind == _KIND_INDEX[ActionKind.RESUME]) & paused_by_person
        bits |= np.where(undo, _BITS[ReasonCode.PAUSED_BY_PERSON], 0).astype(np.int32)
    if rules.threshold is not None:
        money = (kind != _KIND_INDEX[ActionKind.PAUSE]) & (kind != _KIND_INDEX[ActionKind.RESUME])
        bits |= np.where(money & (amount > rules.threshold), _APPROVAL_BIT, 0).astype(np.int32)
    return bits


@dataclass(frozen=True)
class ColumnCheck:
    """``actions_check_columns``' answer: reason bits per action and their shared ``CheckResult``."""

    bits: np.ndarray
    rules: _Rules

    @property
    def allowed(self) -> np.ndarray:
        return self.bits == 0

    @property
    def needs_approval(self) -> np.ndarray:
        return self.bits == _APPROVAL_BIT

    @property
    def policy_version(self) -> int:
        return self.rules.version

    @property
    def dry_run(self) -> bool:
        return self.rules.dry_run

    def result(self, bits: int) -> CheckResult:
        return self.rules.result(int(bits))

    def results(self) -> list[CheckResult]:
        by_bits = {int(b): self.rules.result(int(b)) for b in np.unique(self.bits)}
        return [by_bits[b] for b in self.bits.tolist()]


def actions_check_columns(
    *,
    kind: str,
    platform: Sequence[str] | np.ndarray,
    amount_micros: np.ndarray,
    predicted_roas_scaled: np.ndarray | None = None,
    at: datetime | None = None,
    actor: Actor,
    policy: PolicyVersion | None = None,
) -> ColumnCheck:
    """``actions_check`` for a batch of one kind given as columns (the bidder's fast path): the same
    rule (``_evaluate_columns``), without building a ``ProposedAction`` per item. ``platform`` holds
    platform names, ``predicted_roas_scaled`` ROAS × ``ROAS_SCALE`` (-1: none), all at time ``at``."""
    schema = require_tenant("checking actions")
    require_actor(actor)
    if kind not in _KIND_INDEX:
        raise _invalid("kind", f"Unknown action kind {kind!r}; one of {', '.join(_KIND_INDEX)}.")
    names, inverse = np.unique(np.asarray(platform, dtype=str), return_inverse=True)
    unknown = [str(p) for p in names if p not in _PLATFORM_INDEX]
    if unknown:
        raise _invalid("platform", f"Unknown platform {unknown[0]!r}; one of {', '.join(ALL_PLATFORMS)}.")
    amount = np.asarray(amount_micros, dtype=np.int64)
    if len(amount) and (amount.min() < 0 or amount.max() > MAX_MICROS):
        raise _invalid("amount_micros", f"An amount is a whole number of micros from 0 to {MAX_MICROS}.")
    n = len(amount)
    rules = _compile(policy or policy_current(), schema)
    at_s = int((at or timezone.now()).timestamp())
    bits = _evaluate_columns(
        kind=np.full(n, _KIND_INDEX[kind], dtype=np.int8),
        platform=np.asarray([_PLATFORM_INDEX[str(p)] for p in names], dtype=np.int8)[inverse],
        amount=amount,
        roas=None if predicted_roas_scaled is None else np.asarray(predicted_roas_scaled, dtype=np.int64),
        at_s=np.full(n, at_s, dtype=np.int64),
        paused_by_person=None,
        actor=actor,
        rules=rules,
    )
    return ColumnCheck(bits=bits, rules=rules)


def over_budget_reason(check: ColumnCheck) -> dict[str, str]:
    return check.rules.reasons[ReasonCode.OVER_BUDGET].as_dict()


def compiled_rules(policy: PolicyVersion) -> _Rules:
    """The compiled form of ``policy`` (for services of this package that add reasons)."""
    return _compile(policy, require_tenant("checking actions"))


def actions_check(
    *, actions: Sequence[ProposedAction], actor: Actor, policy: PolicyVersion | None = None
) -> list[CheckResult]:
    """Decide every action of the batch against one policy version (the current one unless given).

    No side effects and no query per action: the policy is read once (and compiled once per version),
    each rule is one numpy operation over the batch, and equal outcomes share one ``CheckResult``.
    """
    schema = require_tenant("checking actions")
    require_actor(actor)
    if not actions:
        return []
    rules = _compile(policy or policy_current(), schema)
    bits = _evaluate(actions, actor, rules)
    unique = np.unique(bits)
    by_bits = {int(b): rules.result(int(b)) for b in unique}
    return [by_bits[b] for b in bits.tolist()]


def action_check(*, action: ProposedAction, actor: Actor, policy: PolicyVersion | None = None) -> CheckResult:
    """The batch rule on a batch of one."""
    return actions_check(actions=[action], actor=actor, policy=policy)[0]


def with_reason(result: CheckResult, code: ReasonCode, message: str | None, rules: _Rules) -> CheckResult:
    """``result`` with one more (denying) reason, e.g. ``over_budget`` from a refused reservation."""
    reason = rules.reasons[code] if message is None else Reason(code.value, message)
    return CheckResult(Decision.DENY, (*result.reasons, reason), result.policy_version, result.dry_run)
