"""Budget guardrails: spend is reserved atomically in Redis against every cap; PostgreSQL is the truth.

Caps (from the policy): a campaign's daily and monthly cap, the platform's daily and monthly cap; any
may be absent (no cap), every counter counts all the same, so a cap set later applies at once.

Periods are the workspace's local day and month (``Tenant.timezone``), as ad platforms count daily
budgets; the ledger stores each row's ``day`` and ``month``, so counters are rebuilt exactly.

Redis keys (one hash tag per workspace, so every key a script touches is in one cluster slot)::

    kiki:budget:{<schema>.<id>}:epoch                   marker: the counters are loaded (a random token)
    kiki:budget:{<schema>.<id>}:d:<YYYY-MM-DD>:c:<campaign>   campaign day
    kiki:budget:{<schema>.<id>}:m:<YYYY-MM>:c:<campaign>      campaign month
    kiki:budget:{<schema>.<id>}:d:<YYYY-MM-DD>:p:<platform>   platform day
    kiki:budget:{<schema>.<id>}:m:<YYYY-MM>:p:<platform>      platform month

``<id>`` is the workspace's id: a workspace deleted and made again under the same schema never meets
the counters of the earlier one.

Why nothing can overspend, even with Redis flushed or restarted mid-way:

- A reservation increments the counters in ONE Lua call (every cap checked, all or nothing), then
  writes its ledger row. Both happen while the transaction holds the workspace's budget lock in
  shared mode (a PostgreSQL transaction-level advisory lock), until the row is committed.
- The counters are rebuilt from the ledger only under the same lock in exclusive mode, so a rebuild
  waits for every reservation in flight to commit (or roll back) and sees it. A rebuild writes the
  counters and a new epoch token in one Redis transaction.
- Every later change to a counter (commit below the reserved amount, release, expiry, a spend
  report) carries the epoch read under the lock, and applies only if the epoch is unchanged: a
  rebuild in between already counted the ledger. Decreases are applied after the ledger change is
  committed; increases before (under the lock). So the counters are never below the ledger; at
  worst above it (a crash between the two writes, a caller's rollback) until the hourly reconcile
  (``budget_rebuild(force=True)``) or the next rebuild.
- A missing epoch is detected inside the reservation script (nothing is reserved then); the caller
  rebuilds (under the exclusive lock, once, whoever comes first) and tries again.

Call these services outside long transactions: the shared lock is held until the caller's transaction
ends, and a rebuild waits for it. Reservations, commits, releases and expiries are recorded in the
ledger itself (one row each, high volume); rebuilds that found the counters missing or drifted are
audited.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import redis
from django.db import transaction
from django.db.models import BigIntegerField, Case, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.locks import advisory_xact_lock
from apps.core.redis import get_redis
from apps.core.tenant_context import require_tenant
from apps.governance.errors import ErrorCode, GovernanceError
from apps.governance.errors import invalid as _invalid
from apps.governance.models import ALL_PLATFORMS, BudgetLedgerEntry, PolicyVersion
from apps.governance.services.audit import audit_record
from apps.governance.services.policy import (
    MAX_CAMPAIGN_KEY,
    MAX_MICROS,
    Workspace,
    current_workspace,
    policy_current,
    workspace_timezone,
)

# First key of the two-key advisory lock guarding one schema's counters ("KIKB").
_LOCK_CLASS = 0x4B494B42
DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(days=2)
# How far a reservation's time may be from now: periods are current ones, never long past or future.
MAX_SKEW = timedelta(hours=36)
DAY_TTL_S = 4 * 86_400
MONTH_TTL_S = 62 * 86_400
REBUILD_DAYS = 3  # a rebuild loads day counters from this many days back (UTC; local days lag ≤ 1)
EXPIRE_BATCH = 5_000
SCOPES = ("campaign_daily", "campaign_monthly", "platform_daily", "platform_monthly")
_HERE = Path(__file__).resolve().parent
_ATTEMPTS = 3


class _EpochLost(Exception):
    """The counters vanished between the check and the reservation: rebuild and try again."""


@dataclass(frozen=True, slots=True)
class BudgetRequest:
    platform: str
    campaign: str
    amount_micros: int
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    """A granted reservation (``reservation_id``) or a refusal naming the cap (``refused_by`` is one of
    ``SCOPES``, ``cap_micros`` that cap and ``used_micros`` what was counted against it)."""

    granted: bool
    platform: str
    campaign: str
    amount_micros: int
    day: date
    reservation_id: uuid.UUID | None = None
    expires_at: datetime | None = None
    refused_by: str | None = None
    cap_micros: int | None = None
    used_micros: int | None = None

    @property
    def message(self) -> str:
        if self.granted:
            return f"Reserved {self.amount_micros} micros until {self.expires_at:%Y-%m-%d %H:%M:%S} UTC."
        return (
            f"Reserving {self.amount_micros} micros would exceed the {self.refused_by.replace('_', ' ')} cap "
            f"of {self.cap_micros} micros ({self.used_micros} already counted for {self.day})."
            if self.refused_by
            else "Not reserved."
        )


@dataclass(frozen=True, slots=True)
class SpendRecorded:
    entry: BudgetLedgerEntry
    created: bool
    delta_micros: int


@dataclass(frozen=True, slots=True)
class CampaignUsage:
    campaign: str
    day: date
    spent_micros: int
    limit_micros: int | None


# --- keys, scripts, lock ---------------------------------------------------------------------------
def key_scope(workspace: Workspace | None = None) -> str:
    """The part of every budget key naming the workspace: ``<schema>.<id>``."""
    workspace = workspace or current_workspace()
    return f"{workspace.schema}.{workspace.id}"


def _prefix(scope: str) -> str:
    return f"kiki:budget:{{{scope}}}"


def epoch_key(scope: str) -> str:
    return f"{_prefix(scope)}:epoch"


def _day_key(scope: str, day: date, kind: str, name: str) -> str:
    return f"{_prefix(scope)}:d:{day.isoformat()}:{kind}:{name}"


def _month_key(scope: str, day: date, kind: str, name: str) -> str:
    return f"{_prefix(scope)}:m:{day:%Y-%m}:{kind}:{name}"


def counter_keys(scope: str, *, platform: str, campaign: str, day: date) -> tuple[str, str, str, str]:
    """The four counters a spend on ``day`` (local) counts against, in ``SCOPES`` order."""
    return (
        _day_key(scope, day, "c", campaign),
        _month_key(scope, day, "c", campaign),
        _day_key(scope, day, "p", platform),
        _month_key(scope, day, "p", platform),
    )


_TTLS = (DAY_TTL_S, MONTH_TTL_S, DAY_TTL_S, MONTH_TTL_S)


@cache
def _script_source(name: str) -> str:
    return (_HERE / name).read_text()


_SCRIPTS: dict[tuple[int, str], Any] = {}


def _script(client: redis.Redis, name: str) -> Any:
    """The registered script (EVALSHA, loaded on first use), one per client and script."""
    key = (id(client), name)
    script = _SCRIPTS.get(key)
    if script is None or script.registered_client is not client:
        script = _SCRIPTS[key] = client.register_script(_script_source(name))
    return script


def _lock(schema: str, *, shared: bool) -> None:
    """The budget lock, held until the transaction ends (shared: reserving and settling; exclusive:
    rebuilding)."""
    advisory_xact_lock(schema, namespace=_LOCK_CLASS, shared=shared)


def _unavailable(exc: Exception) -> GovernanceError:
    return GovernanceError(
        ErrorCode.UPSTREAM,
        "The budget counters cannot be reached; nothing was reserved.",
        details={"redis": [type(exc).__name__]},
        http_status=503,
    )


def _read_epoch(client: redis.Redis, scope: str) -> str | None:
    value = client.get(epoch_key(scope))
    return value.decode() if isinstance(value, bytes) else value


def _adjust(client: redis.Redis, scope: str, deltas: dict[str, tuple[int, int]], epoch: str | None) -> bool:
    """Apply ``{key: (delta, ttl)}`` under ``epoch`` (skipped when it changed or is unknown)."""
    deltas = {k: v for k, v in deltas.items() if v[0]}
    if epoch is None or not deltas:
        return False
    args: list[Any] = [epoch]
    for delta, ttl in deltas.values():
        args += [delta, ttl]
    return bool(
        _script(client, "budget_adjust.lua")(keys=[epoch_key(scope), *deltas], args=args, client=client)
    )


def _deltas(scope: str, entries: Iterable[tuple[str, str, date, int]]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for platform, campaign, day, delta in entries:
        for key, ttl in zip(
            counter_keys(scope, platform=platform, campaign=campaign, day=day), _TTLS, strict=True
        ):
            out.setdefault(key, [0, ttl])[0] += delta
    return {k: (v[0], v[1]) for k, v in out.items()}


def _adjust_after_commit(scope: str, deltas: dict[str, tuple[int, int]], epoch: str | None) -> None:
    def apply() -> None:
        try:
            _adjust(get_redis(), scope, deltas, epoch)
        except redis.RedisError:  # the counters stay high (safe) until the next reconcile
            pass

    transaction.on_commit(apply)


# --- caps and periods -----------------------------------------------------------------------------
def _cap(value: Any) -> int | None:
    return None if value is None else int(value)


def caps_for(policy: PolicyVersion, *, platform: str, campaign: str) -> tuple[int | None, ...]:
    """The four caps (``SCOPES`` order) that apply to a campaign on a platform; None: no cap."""
    override = (policy.campaign_caps or {}).get(campaign) or {}
    platform_caps = (policy.platform_caps or {}).get(platform) or {}
    return (
        _cap(override["daily"]) if "daily" in override else _cap(policy.campaign_daily_cap_micros),
        _cap(override["monthly"]) if "monthly" in override else _cap(policy.campaign_monthly_cap_micros),
        _cap(platform_caps.get("daily")),
        _cap(platform_caps.get("monthly")),
    )


def local_day(at: datetime, tz: zoneinfo.ZoneInfo) -> date:
    return at.astimezone(tz).date()


def _check_scope(platform: str, campaign: str) -> None:
    if platform not in ALL_PLATFORMS:
        raise _invalid("platform", f"Unknown platform {platform!r}; one of {', '.join(ALL_PLATFORMS)}.")
    if not isinstance(campaign, str) or not campaign or len(campaign) > MAX_CAMPAIGN_KEY:
        raise _invalid("campaign", f"A campaign key is 1 to {MAX_CAMPAIGN_KEY} characters.")


def _check_amount(field_name: str, amount: Any, *, positive: bool) -> int:
    low = 1 if positive else 0
    if isinstance(amount, bool) or not isinstance(amount, int) or not low <= amount <= MAX_MICROS:
        raise _invalid(field_name, f"A whole number of micros from {low} to {MAX_MICROS}.")
    return amount


# --- rebuild ----------------------------------------------------------------------------------------
_COUNTED = Case(
    When(state=BudgetLedgerEntry.State.RESERVED, then="amount_micros"),
    When(state=BudgetLedgerEntry.State.COMMITTED, then=Coalesce("actual_micros", Value(0))),
    default=Value(0),
    output_field=BigIntegerField(),
)


def _ledger_counters(scope: str) -> dict[str, int]:
    today = timezone.now().date()
    first_day = today - timedelta(days=REBUILD_DAYS)
    first_month = (today - timedelta(seconds=MONTH_TTL_S)).replace(day=1)
    rows = (
        BudgetLedgerEntry.objects.filter(month__gte=first_month)
        .values("platform", "campaign_key", "day")
        .annotate(total=Sum(_COUNTED))
        .order_by()
    )
    counters: dict[str, int] = defaultdict(int)
    for row in rows:
        keys = counter_keys(scope, platform=row["platform"], campaign=row["campaign_key"], day=row["day"])
        total = int(row["total"] or 0)
        for i, key in enumerate(keys):
            if i % 2 == 0 and row["day"] < first_day:
                continue  # a day counter that expired already
            counters[key] += total
    return dict(counters)


def budget_rebuild(*, force: bool = False, actor: Actor | None = None) -> bool:
    """Load the counters from the ledger. Without ``force`` only when the epoch marker is missing
    (Redis flushed or restarted); with it, always (the periodic reconcile). Runs under the exclusive
    budget lock: every reservation in flight is committed (or rolled back) first, and none starts until
    the new counters and epoch are written, in one Redis transaction. Returns whether it rebuilt.

    Audited when the counters were missing or differed from the ledger."""
    workspace = current_workspace()
    schema, scope = workspace.schema, key_scope(workspace)
    client = get_redis()
    actor = actor or Actor.system("governance.budget_rebuild")
    try:
        with transaction.atomic():
            _lock(schema, shared=False)
            missing = not client.exists(epoch_key(scope))
            if not missing and not force:
                return False
            counters = _ledger_counters(scope)
            old_keys = [k for k in client.scan_iter(match=f"{_prefix(scope)}:[dm]:*", count=1000)]
            old = dict(zip(old_keys, client.mget(old_keys), strict=True)) if old_keys else {}
            old_values = {
                (k.decode() if isinstance(k, bytes) else k): int(v) for k, v in old.items() if v is not None
            }
            pipe = client.pipeline(transaction=True)
            for start in range(0, len(old_keys), 1000):
                pipe.delete(*old_keys[start : start + 1000])
            for key, value in counters.items():
                pipe.set(key, value, ex=DAY_TTL_S if ":d:" in key else MONTH_TTL_S)
            new_epoch = uuid.uuid4().hex
            pipe.set(epoch_key(scope), new_epoch)
            pipe.execute()
            drift = {k: (old_values.get(k, 0), v) for k, v in counters.items() if old_values.get(k, 0) != v}
            drift.update({k: (v, 0) for k, v in old_values.items() if k not in counters and v})
            if missing or drift:
                audit_record(
                    actor=actor,
                    action="budget.rebuild",
                    object_type="governance.budget",
                    object_id=schema,
                    before=None if missing else {"drifted_counters": len(drift)},
                    after={
                        "cause": "counters missing (Redis flushed or restarted)" if missing else "reconcile",
                        "counters": len(counters),
                        "epoch": new_epoch,
                    },
                )
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc
    return True


# --- reserving --------------------------------------------------------------------------------------
def budget_reserve_many(
    *,
    requests: Sequence[BudgetRequest],
    actor: Actor,
    policy: PolicyVersion | None = None,
    ttl: timedelta | None = None,
) -> list[BudgetOutcome]:
    """Reserve each request against its caps, in order, in ONE Redis script call; each reservation is
    all or nothing. Granted ones get a ledger row (state ``reserved``, expiring after ``ttl``);
    refused ones name the cap. Raises ``GovernanceError`` (503) when Redis cannot be reached."""
    require_tenant("reserving budget")
    if not requests:
        return []
    policy = policy or policy_current()
    ttl = ttl or DEFAULT_TTL
    if not timedelta(seconds=1) <= ttl <= MAX_TTL:
        raise _invalid("ttl", f"A reservation lasts from 1 second to {MAX_TTL}.")
    workspace = current_workspace()
    schema, scope, tz = workspace.schema, key_scope(workspace), workspace.timezone
    now = timezone.now()
    keys: list[str] = []
    args: list[int] = [len(requests), DAY_TTL_S, MONTH_TTL_S]
    days: list[date] = []
    caps_seen: list[tuple[int | None, ...]] = []
    for request in requests:
        _check_scope(request.platform, request.campaign)
        amount = _check_amount("amount_micros", request.amount_micros, positive=True)
        at = request.at or now
        if timezone.is_naive(at) or abs(at - now) > MAX_SKEW:
            raise _invalid("at", f"A reservation is for now (within {MAX_SKEW}), in an aware datetime.")
        day = local_day(at, tz)
        caps = caps_for(policy, platform=request.platform, campaign=request.campaign)
        keys += counter_keys(scope, platform=request.platform, campaign=request.campaign, day=day)
        args += [amount, *(-1 if c is None else c for c in caps)]
        days.append(day)
        caps_seen.append(caps)
    client = get_redis()
    expires_at = now + ttl
    try:
        for _attempt in range(_ATTEMPTS):
            try:
                return _reserve(
                    client,
                    (schema, scope),
                    requests,
                    keys,
                    args,
                    days,
                    caps_seen,
                    policy,
                    actor,
                    now,
                    expires_at,
                )
            except _EpochLost:
                # Redis was flushed or restarted: load the counters from the ledger (under the exclusive
                # lock, once, whoever comes first), then try again.
                budget_rebuild()
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc
    raise _unavailable(RuntimeError("the budget counters kept disappearing"))


def _reserve(
    client: redis.Redis,
    where: tuple[str, str],
    requests: Sequence[BudgetRequest],
    keys: list[str],
    args: list[int],
    days: list[date],
    caps_seen: list[tuple[int | None, ...]],
    policy: PolicyVersion,
    actor: Actor,
    now: datetime,
    expires_at: datetime,
) -> list[BudgetOutcome]:
    schema, scope = where
    with transaction.atomic():  # a savepoint when the caller has a transaction: its rollback frees the lock
        _lock(schema, shared=True)
        reply = _script(client, "budget_reserve.lua")(
            keys=[epoch_key(scope), *keys], args=args, client=client
        )
        if int(reply[0]) == 0:
            raise _EpochLost
        epoch = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        outcomes: list[BudgetOutcome] = []
        rows: list[BudgetLedgerEntry] = []
        for i, request in enumerate(requests):
            refused, used = int(reply[2 + 2 * i]), int(reply[3 + 2 * i])
            if refused:
                outcomes.append(
                    BudgetOutcome(
                        granted=False,
                        platform=request.platform,
                        campaign=request.campaign,
                        amount_micros=request.amount_micros,
                        day=days[i],
                        refused_by=SCOPES[refused - 1],
                        cap_micros=caps_seen[i][refused - 1],
                        used_micros=used,
                    )
                )
                continue
            row = BudgetLedgerEntry(
                id=uuid.uuid4(),
                platform=request.platform,
                campaign_key=request.campaign,
                day=days[i],
                month=days[i].replace(day=1),
                amount_micros=request.amount_micros,
                policy_version=policy.version,
                requested_by=actor.label[:200],
                created_at=now,
                expires_at=expires_at,
            )
            rows.append(row)
            outcomes.append(
                BudgetOutcome(
                    granted=True,
                    platform=request.platform,
                    campaign=request.campaign,
                    amount_micros=request.amount_micros,
                    day=days[i],
                    reservation_id=row.id,
                    expires_at=expires_at,
                )
            )
        try:
            BudgetLedgerEntry.objects.bulk_create(rows, batch_size=2000)
        except Exception:
            # No row was written: give the counters back (still under the lock and epoch).
            granted = [(r.platform, r.campaign_key, r.day, -r.amount_micros) for r in rows]
            _adjust(client, scope, _deltas(scope, granted), epoch)
            raise
    return outcomes


def budget_reserve(
    *,
    platform: str,
    campaign: str,
    amount_micros: int,
    actor: Actor,
    at: datetime | None = None,
    policy: PolicyVersion | None = None,
    ttl: timedelta | None = None,
) -> BudgetOutcome:
    """One reservation: ``budget_reserve_many`` of one."""
    request = BudgetRequest(platform=platform, campaign=campaign, amount_micros=amount_micros, at=at)
    return budget_reserve_many(requests=[request], actor=actor, policy=policy, ttl=ttl)[0]


# --- settling -----------------------------------------------------------------------------------------
def _locked_entry(reservation_id: uuid.UUID | str) -> BudgetLedgerEntry:
    try:
        pk = uuid.UUID(str(reservation_id))
    except ValueError as exc:
        raise GovernanceError(ErrorCode.NOT_FOUND, f"No reservation {reservation_id}.") from exc
    entry = BudgetLedgerEntry.objects.select_for_update().filter(pk=pk).first()
    if entry is None or entry.source != BudgetLedgerEntry.Source.RESERVATION:
        raise GovernanceError(ErrorCode.NOT_FOUND, f"No reservation {reservation_id} in this workspace.")
    return entry


def _settle(*, reservation_id: uuid.UUID | str, actual_micros: int | None, actor: Actor) -> BudgetLedgerEntry:
    workspace = current_workspace()
    schema, scope = workspace.schema, key_scope(workspace)
    client = get_redis()
    try:
        with transaction.atomic():
            _lock(schema, shared=True)
            epoch = _read_epoch(client, scope)
            entry = _locked_entry(reservation_id)
            state = entry.state
            State = BudgetLedgerEntry.State
            if actual_micros is None:  # release
                if state in (State.RELEASED, State.EXPIRED):
                    return entry
                if state == State.COMMITTED:
                    raise GovernanceError(
                        ErrorCode.CONFLICT, "The reservation was committed; it cannot be released."
                    )
                delta = -entry.amount_micros
                entry.state = State.RELEASED
            else:
                if actual_micros > entry.amount_micros:
                    raise _invalid(
                        "actual_micros",
                        f"Actual spend {actual_micros} is above the {entry.amount_micros} micros reserved; "
                        "record the excess as a spend report.",
                    )
                if state == State.COMMITTED:
                    if entry.actual_micros == actual_micros:
                        return entry
                    raise GovernanceError(
                        ErrorCode.CONFLICT,
                        f"The reservation was committed with {entry.actual_micros} micros already.",
                    )
                if state == State.RELEASED:
                    raise GovernanceError(
                        ErrorCode.CONFLICT, "The reservation was released; it cannot be committed."
                    )
                # Reserved: give back what was not spent. Expired (spend reported late): count it again.
                delta = actual_micros - entry.amount_micros if state == State.RESERVED else actual_micros
                entry.state = State.COMMITTED
                entry.actual_micros = actual_micros
            entry.settled_at = timezone.now()
            entry.save(update_fields=["state", "actual_micros", "settled_at"])
            deltas = _deltas(scope, [(entry.platform, entry.campaign_key, entry.day, delta)])
            if delta > 0:
                _adjust(client, scope, deltas, epoch)
            else:
                _adjust_after_commit(scope, deltas, epoch)
            return entry
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc


def budget_commit(*, reservation_id: uuid.UUID | str, actual_micros: int, actor: Actor) -> BudgetLedgerEntry:
    """Record the actual spend of a reservation (at most what was reserved) and give the rest back.
    Idempotent: committing the same amount again changes nothing."""
    _check_amount("actual_micros", actual_micros, positive=False)
    return _settle(reservation_id=reservation_id, actual_micros=actual_micros, actor=actor)


def budget_release(*, reservation_id: uuid.UUID | str, actor: Actor) -> BudgetLedgerEntry:
    """Give a reservation back whole (the action was not carried out). Idempotent."""
    return _settle(reservation_id=reservation_id, actual_micros=None, actor=actor)


def budget_expire(*, now: datetime | None = None) -> int:
    """Expire reservations past their ``expires_at`` and give their amounts back; returns how many.
    Idempotent (the periodic task ``governance.expire_budget_reservations``)."""
    workspace = current_workspace()
    schema, scope = workspace.schema, key_scope(workspace)
    now = now or timezone.now()
    client = get_redis()
    with transaction.atomic():
        _lock(schema, shared=True)
        try:
            epoch = _read_epoch(client, scope)
        except redis.RedisError:
            epoch = None  # the ledger still moves on; the next rebuild counts it
        stale = list(
            BudgetLedgerEntry.objects.select_for_update(skip_locked=True)
            .filter(state=BudgetLedgerEntry.State.RESERVED, expires_at__lte=now)
            .order_by("expires_at")[:EXPIRE_BATCH]
        )
        if not stale:
            return 0
        BudgetLedgerEntry.objects.filter(pk__in=[e.pk for e in stale]).update(
            state=BudgetLedgerEntry.State.EXPIRED, settled_at=now
        )
        deltas = _deltas(scope, [(e.platform, e.campaign_key, e.day, -e.amount_micros) for e in stale])
        _adjust_after_commit(scope, deltas, epoch)
    return len(stale)


# --- spend from platform reports ------------------------------------------------------------------------
def budget_spend_record(
    *,
    report_key: str,
    platform: str,
    campaign: str,
    day: date,
    amount_micros: int,
    actor: Actor,
) -> SpendRecorded:
    """Count spend a platform reported (``day``: the report's local date) against the caps.

    Idempotent by ``report_key`` (the platform's report row): the same amount again changes nothing; a
    restated amount moves the counters by the difference. Reported spend is never refused (it
    happened); it makes later reservations see less room."""
    workspace = current_workspace()
    schema, scope = workspace.schema, key_scope(workspace)
    _check_scope(platform, campaign)
    amount = _check_amount("amount_micros", amount_micros, positive=False)
    if not isinstance(report_key, str) or not report_key.strip() or len(report_key) > 200:
        raise _invalid("report_key", "A report key is 1 to 200 characters.")
    if not isinstance(day, date) or isinstance(day, datetime):
        raise _invalid("day", "The report's day is a date.")
    client = get_redis()
    try:
        with transaction.atomic():
            _lock(schema, shared=True)
            epoch = _read_epoch(client, scope)
            entry = BudgetLedgerEntry.objects.select_for_update().filter(report_key=report_key).first()
            created = entry is None
            if entry is None:
                entry = BudgetLedgerEntry.objects.create(
                    source=BudgetLedgerEntry.Source.REPORT,
                    state=BudgetLedgerEntry.State.COMMITTED,
                    platform=platform,
                    campaign_key=campaign,
                    day=day,
                    month=day.replace(day=1),
                    amount_micros=amount,
                    actual_micros=amount,
                    report_key=report_key,
                    requested_by=actor.label[:200],
                    created_at=timezone.now(),
                    settled_at=timezone.now(),
                )
                delta = amount
            else:
                if (entry.platform, entry.campaign_key, entry.day) != (platform, campaign, day):
                    raise GovernanceError(
                        ErrorCode.CONFLICT,
                        f"Report {report_key!r} was recorded for {entry.platform}:{entry.campaign_key} on {entry.day}.",
                    )
                delta = amount - (entry.actual_micros or 0)
                if delta:
                    entry.amount_micros = entry.actual_micros = amount
                    entry.settled_at = timezone.now()
                    entry.save(update_fields=["amount_micros", "actual_micros", "settled_at"])
            deltas = _deltas(scope, [(platform, campaign, day, delta)])
            if delta > 0:
                _adjust(client, scope, deltas, epoch)
            elif delta < 0:
                _adjust_after_commit(scope, deltas, epoch)
            return SpendRecorded(entry=entry, created=created, delta_micros=delta)
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc


# --- reading ----------------------------------------------------------------------------------------
def budget_counters(*, platform: str, campaign: str, day: date | None = None) -> dict[str, int]:
    """What the Redis counters hold now for a campaign (``SCOPES`` → micros), for tests and the admin."""
    workspace = current_workspace()
    day = day or local_day(timezone.now(), workspace.timezone)
    keys = counter_keys(key_scope(workspace), platform=platform, campaign=campaign, day=day)
    values = get_redis().mget(keys)
    return {scope: int(v or 0) for scope, v in zip(SCOPES, values, strict=True)}


def budget_campaign_usage(
    *, policy: PolicyVersion | None = None, day: date | None = None, create_policy: bool = True
) -> list[CampaignUsage]:
    """Per campaign, the day's (default: today, local) actual spend (committed reservations and reported
    spend) and its daily cap: every campaign with spend that day or a cap of its own in the policy.
    ``create_policy=False`` (the metrics) reads a workspace without a policy as the default, writing
    nothing."""
    require_tenant("reading budget usage")
    if policy is None:
        latest = PolicyVersion.objects.order_by("-version").first()
        policy = latest if latest is not None or not create_policy else policy_current()
        policy = policy or PolicyVersion()
    day = day or local_day(timezone.now(), workspace_timezone())
    spent = dict(
        BudgetLedgerEntry.objects.filter(day=day, state=BudgetLedgerEntry.State.COMMITTED)
        .values("campaign_key")
        .annotate(total=Sum(Coalesce("actual_micros", Value(0))))
        .order_by()
        .values_list("campaign_key", "total")
    )
    campaigns = sorted(set(spent) | set(policy.campaign_caps or {}))
    out = []
    for campaign in campaigns:
        override = (policy.campaign_caps or {}).get(campaign) or {}
        limit = _cap(override["daily"]) if "daily" in override else _cap(policy.campaign_daily_cap_micros)
        out.append(CampaignUsage(campaign, day, int(spent.get(campaign) or 0), limit))
    return out


# --- the bidder's batch form ------------------------------------------------------------------------
def budget_reserve_grouped(
    *,
    groups: np.ndarray,
    platforms: Sequence[str],
    campaigns: Sequence[str],
    amounts: np.ndarray,
    mask: np.ndarray,
    actor: Actor,
    at: datetime | None = None,
    policy: PolicyVersion | None = None,
    hold: bool = True,
    ttl: timedelta | None = None,
) -> tuple[dict[int, str], np.ndarray]:
    """Reserve, per group (a campaign: ``platforms[g]``, ``campaigns[g]``), the sum of the amounts of
    its items in ``mask``, as ONE reservation through ``budget_reserve_many`` (one Redis call for all
    groups). Where a cap cannot hold a group's sum, the longest prefix of its items (in order) that fits
    under that cap's headroom is tried again, up to three more rounds (another cap may be tighter).

    Returns ``{group: reservation id}`` and the mask of items refused for budget. With ``hold=False``
    (dry run) every grant is released at once: the answer says what would have fit, nothing stays held.
    """
    require_tenant("reserving budget")
    amounts = np.asarray(amounts, dtype=np.int64)
    over = np.zeros(len(amounts), dtype=bool)
    items = np.flatnonzero(np.asarray(mask, dtype=bool) & (amounts > 0))
    if not len(items):
        return {}, over
    items = items[np.argsort(groups[items], kind="stable")]  # by group, request order kept within
    item_groups = groups[items]
    starts = np.flatnonzero(np.r_[True, item_groups[1:] != item_groups[:-1]])
    ends = np.r_[starts[1:], len(items)]
    cums = {int(item_groups[a]): np.cumsum(amounts[items[a:b]]) for a, b in zip(starts, ends, strict=True)}
    kept = {g: len(c) for g, c in cums.items()}
    pending = list(cums)
    granted: dict[int, BudgetOutcome] = {}
    for _round in range(4):
        requests = [BudgetRequest(platforms[g], campaigns[g], int(cums[g][kept[g] - 1]), at) for g in pending]
        outcomes = budget_reserve_many(requests=requests, actor=actor, policy=policy, ttl=ttl)
        retry = []
        for g, outcome in zip(pending, outcomes, strict=True):
            if outcome.granted:
                granted[g] = outcome
                continue
            headroom = int(outcome.cap_micros or 0) - int(outcome.used_micros or 0)
            fit = int(np.searchsorted(cums[g][: kept[g]], headroom, side="right"))
            kept[g] = fit if fit < kept[g] else kept[g] - 1  # always shrinks, so the rounds end
            if kept[g] > 0:
                retry.append(g)
        pending = retry
        if not pending:
            break
    for (a, b), g in zip(zip(starts, ends, strict=True), cums, strict=True):
        if g not in granted:  # refused, or still refused after the last round
            kept[g] = 0
        over[items[a + kept[g] : b]] = True
    if not hold:
        for outcome in granted.values():
            if outcome.reservation_id is not None:
                budget_release(reservation_id=outcome.reservation_id, actor=actor)
    return {g: str(o.reservation_id) for g, o in granted.items()}, over


def budget_campaign_spent_today(*, campaigns: Sequence[str], at: datetime | None = None) -> dict[str, int]:
    """What each campaign's day counter holds now (reserved and spent, micros; the workspace's local
    day at ``at``): one Redis MGET. Pacing reads it; unreachable counters read as nothing spent."""
    workspace = current_workspace()
    scope, tz = key_scope(workspace), workspace.timezone
    day = local_day(at or timezone.now(), tz)
    if not campaigns:
        return {}
    try:
        values = get_redis().mget([_day_key(scope, day, "c", c) for c in campaigns])
    except redis.RedisError:
        return {}
    return {c: int(v or 0) for c, v in zip(campaigns, values, strict=True)}
