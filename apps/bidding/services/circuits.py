"""Circuit breakers: one per ad platform account, shared by every web and worker process through Redis.

``breaker_call`` wraps each call to a platform. The breaker is **closed** (calls go through) until the
account's calls fail ``KIKI_BREAKER_FAILURES`` times in a row, or at least
``KIKI_BREAKER_FAILURE_RATE_PCT`` % of at least ``KIKI_BREAKER_MIN_CALLS`` calls fail within the last
``KIKI_BREAKER_WINDOW_S`` seconds. Then it is **open**: calls fail fast with ``CircuitOpen`` (its
``retry_after_s`` is the rest of the cool-down) and the platform is left alone for
``KIKI_BREAKER_COOLDOWN_S``. The first call after the cool-down turns it **half-open** and is the one
probe admitted, across all processes; every other caller gets ``CircuitOpen`` while it runs. The probe's
success closes the breaker (counters reset); its failure opens it again for a fresh cool-down. A probe
that never reports (its worker died) is replaced after ``KIKI_BREAKER_PROBE_LEASE_S``.

What counts as a failure: a ``PlatformError`` with ``transient=True`` (timeouts, connection errors, 5xx,
429) and any exception that is not a ``PlatformError``. A non-transient ``PlatformError`` (a 400, a
refused bid) is the platform answering: it counts as a healthy call. Exceptions always propagate.

State lives in Redis and every decision is one Lua script, so it is atomic across processes:

- ``kiki:bidding:breaker:{<schema>:<account id>}`` — hash: ``state``, ``gen`` (incremented on every
  transition), ``failures`` (consecutive), ``until`` (end of the cool-down, µs), ``opened`` (µs),
  ``probe``/``probe_until`` (the half-open probe's token and lease, µs), ``changed`` (µs of the last
  transition, strictly increasing).
- ``…:calls`` / ``…:fails`` — sorted sets of the closed breaker's calls and failures in the window
  (score: µs; member: the call's token), trimmed on each report and expiring with the window.

The braces are a Redis Cluster hash tag: an account's keys live on one node. Times come from Redis's
clock (``TIME``), so workers' clocks never disagree about a cool-down. If Redis is flushed or loses the
keys, the breaker starts **closed** (the safe default: calls go through and failures trip it again); the
first call that finds no state sets the mirror row back to closed (audited) if it said otherwise. If
Redis is unreachable, ``breaker_call`` raises before calling the platform (nothing is called without
the shared state).

Transitions (never ordinary calls) are mirrored into the account's ``CircuitState`` row, which the admin
and the ``syncflow_circuit_breaker_state_count`` gauge read, and audited (``circuit.open``,
``circuit.half_open``, ``circuit.close``, ``circuit.reset``) by the process that made them, in one
transaction. The mirror is updated only by a newer transition than the one it holds, so processes
that record out of order never leave it stale. Call ``breaker_call`` outside a transaction (external
calls never run in one): inside one, the mirror and the audit entry commit or roll back with it. A
failure to record a transition is logged and never replaces the outcome of the platform call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from redis.commands.core import Script

from apps.bidding.errors import CircuitOpen, PlatformError
from apps.bidding.models import AdPlatformAccount, CircuitState
from apps.core.actor import Actor, require_actor
from apps.core.errors import KikiError
from apps.core.redis import get_redis
from apps.core.tenant_context import require_tenant
from apps.governance import services as governance

logger = logging.getLogger(__name__)

T = TypeVar("T")

BREAKER_ACTOR = Actor.system("circuit-breaker")
AUDIT_OBJECT_TYPE = "bidding.adplatformaccount"
_LAST_FAILURE_MAX = 500
_US = 1_000_000

CLOSED, OPEN, HALF_OPEN = CircuitState.State.CLOSED, CircuitState.State.OPEN, CircuitState.State.HALF_OPEN
_ACTIONS = {CLOSED: "circuit.close", OPEN: "circuit.open", HALF_OPEN: "circuit.half_open"}

# Shared prologue: Redis's clock in µs, and the time of a new transition (strictly after the last one,
# so the mirror can order transitions by it).
_LUA_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function next_change(last)
  last = tonumber(last) or 0
  if now > last then return now end
  return last + 1
end
"""

# May I call? KEYS: hash. ARGV: token, probe lease (µs).
# Returns {admitted 0/1, state, wait µs, transition from ('' if none), gen, changed µs, fresh 0/1,
# opened µs, failures}.
_ACQUIRE = (
    _LUA_CLOCK
    + """
local h = KEYS[1]
local token, lease = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', h, 'state', 'gen', 'until', 'probe', 'probe_until', 'changed', 'opened',
                     'failures')
local state = f[1]
if not state then
  redis.call('HSET', h, 'state', 'closed', 'gen', 1, 'failures', 0, 'changed', now)
  return {1, 'closed', 0, '', 1, now, 1, 0, 0}
end
local gen, changed, opened, failures = tonumber(f[2]), tonumber(f[6]), tonumber(f[7]) or 0, tonumber(f[8]) or 0
if state == 'closed' then
  return {1, 'closed', 0, '', gen, changed, 0, 0, failures}
end
if state == 'open' then
  local cool_until = tonumber(f[3])
  if now < cool_until then
    return {0, 'open', cool_until - now, '', gen, changed, 0, opened, failures}
  end
  gen, changed = gen + 1, next_change(changed)
  redis.call('HSET', h, 'state', 'half_open', 'gen', gen, 'probe', token, 'probe_until', now + lease,
             'changed', changed)
  return {1, 'half_open', 0, 'open', gen, changed, 0, opened, failures}
end
local probe_until = tonumber(f[5]) or 0
if f[4] and f[4] ~= '' and now < probe_until then
  return {0, 'half_open', probe_until - now, '', gen, changed, 0, opened, failures}
end
redis.call('HSET', h, 'probe', token, 'probe_until', now + lease)
return {1, 'half_open', 0, '', gen, changed, 0, opened, failures}
"""
)

# Report a result. KEYS: hash, calls, fails. ARGV: token, gen, outcome (ok | fail | neutral | abandon),
# consecutive failures to open, window µs, min calls, failure rate %, cool-down µs.
# Returns {state, transition from ('' if none), failures, calls in window, failures in window,
# changed µs, opened µs, reason}.
_REPORT = (
    _LUA_CLOCK
    + """
local h, calls, fails = KEYS[1], KEYS[2], KEYS[3]
local token, call_gen, outcome = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local threshold, window, min_calls = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local rate, cooldown = tonumber(ARGV[7]), tonumber(ARGV[8])
local f = redis.call('HMGET', h, 'state', 'gen', 'probe', 'failures', 'changed', 'opened')
local state = f[1]
if not state then
  return {'closed', '', 0, 0, 0, 0, 0, ''}
end
local gen, failures, changed, opened = tonumber(f[2]), tonumber(f[4]) or 0, tonumber(f[5]), tonumber(f[6]) or 0
if state == 'half_open' then
  if f[3] ~= token then
    return {state, '', failures, 0, 0, changed, opened, ''}
  end
  if outcome == 'abandon' then
    redis.call('HSET', h, 'probe', '', 'probe_until', 0)
    return {state, '', failures, 0, 0, changed, opened, ''}
  end
  gen, changed = gen + 1, next_change(changed)
  if outcome == 'fail' then
    failures = failures + 1
    redis.call('HSET', h, 'state', 'open', 'gen', gen, 'until', now + cooldown, 'opened', now,
               'failures', failures, 'probe', '', 'probe_until', 0, 'changed', changed)
    return {'open', 'half_open', failures, 0, 0, changed, now, 'the half-open probe failed'}
  end
  redis.call('HSET', h, 'state', 'closed', 'gen', gen, 'failures', 0, 'until', 0, 'opened', 0,
             'probe', '', 'probe_until', 0, 'changed', changed)
  redis.call('DEL', calls, fails)
  return {'closed', 'half_open', 0, 0, 0, changed, 0, 'the half-open probe succeeded'}
end
if state ~= 'closed' or gen ~= call_gen or outcome == 'abandon' then
  return {state, '', failures, 0, 0, changed, opened, ''}
end
local horizon = '(' .. (now - window)
local ttl = math.floor(window / 1000) + 1000
redis.call('ZADD', calls, now, token)
redis.call('ZREMRANGEBYSCORE', calls, '-inf', horizon)
redis.call('PEXPIRE', calls, ttl)
if outcome == 'fail' then
  redis.call('ZADD', fails, now, token)
  redis.call('PEXPIRE', fails, ttl)
  failures = redis.call('HINCRBY', h, 'failures', 1)
elseif failures > 0 then
  redis.call('HSET', h, 'failures', 0)
  failures = 0
end
redis.call('ZREMRANGEBYSCORE', fails, '-inf', horizon)
local n, nf = redis.call('ZCARD', calls), redis.call('ZCARD', fails)
local reason = ''
if outcome == 'fail' then
  if failures >= threshold then
    reason = failures .. ' consecutive failures'
  elseif n >= min_calls and nf * 100 >= rate * n then
    reason = nf .. ' of ' .. n .. ' calls failed within the window'
    failures = nf
  end
end
if reason == '' then
  return {'closed', '', failures, n, nf, changed, 0, ''}
end
gen, changed = gen + 1, next_change(changed)
redis.call('HSET', h, 'state', 'open', 'gen', gen, 'until', now + cooldown, 'opened', now,
           'failures', failures, 'changed', changed)
redis.call('DEL', calls, fails)
return {'open', 'closed', failures, n, nf, changed, now, reason}
"""
)

# Read the state. KEYS: hash, calls, fails. ARGV: window µs.
# Returns {state, failures, until µs, opened µs, probe in flight 0/1, changed µs, calls, fails, now µs}.
_SNAPSHOT = (
    _LUA_CLOCK
    + """
local f = redis.call('HMGET', KEYS[1], 'state', 'failures', 'until', 'opened', 'probe', 'probe_until',
                     'changed')
local horizon = '(' .. (now - tonumber(ARGV[1]))
local n = redis.call('ZCOUNT', KEYS[2], horizon, '+inf')
local nf = redis.call('ZCOUNT', KEYS[3], horizon, '+inf')
local probing = 0
if f[5] and f[5] ~= '' and now < (tonumber(f[6]) or 0) then probing = 1 end
return {f[1] or 'closed', tonumber(f[2]) or 0, tonumber(f[3]) or 0, tonumber(f[4]) or 0, probing,
        tonumber(f[7]) or 0, n, nf, now}
"""
)

# Force closed (an Admin's reset). KEYS: hash, calls, fails. Returns {previous state, changed µs}.
_RESET = (
    _LUA_CLOCK
    + """
local f = redis.call('HMGET', KEYS[1], 'state', 'gen', 'changed')
local changed = next_change(f[3])
redis.call('HSET', KEYS[1], 'state', 'closed', 'gen', (tonumber(f[2]) or 0) + 1, 'failures', 0, 'until', 0,
           'opened', 0, 'probe', '', 'probe_until', 0, 'changed', changed)
redis.call('DEL', KEYS[2], KEYS[3])
return {f[1] or 'closed', changed}
"""
)

_SCRIPT_SOURCES = {"acquire": _ACQUIRE, "report": _REPORT, "snapshot": _SNAPSHOT, "reset": _RESET}
_scripts: dict[str, Script] = {}


def _run(name: str, keys: list[str], args: list[Any], client: redis.Redis) -> list[Any]:
    """EVALSHA the named script (loaded again by redis-py if Redis lost its script cache)."""
    script = _scripts.get(name)
    if script is None:
        script = _scripts[name] = client.register_script(_SCRIPT_SOURCES[name])
    return [v.decode() if isinstance(v, bytes) else v for v in script(keys=keys, args=args, client=client)]


def breaker_keys(*, schema: str, account_id: int) -> tuple[str, str, str]:
    """The account's Redis keys: state hash, calls in the window, failures in the window."""
    base = f"kiki:bidding:breaker:{{{schema}:{account_id}}}"
    return base, f"{base}:calls", f"{base}:fails"


def _us(seconds: float) -> int:
    return max(1, int(round(float(seconds) * _US)))


def _time(us: int) -> datetime | None:
    return datetime.fromtimestamp(us / _US, tz=UTC) if us else None


@dataclass(frozen=True, slots=True)
class _Transition:
    before: str
    after: str
    failures: int
    changed_us: int
    opened_us: int
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """An account's breaker as Redis holds it now (``last_failure`` is the mirror row's)."""

    account_id: int
    platform: str
    state: str  # closed | open | half_open
    failures: int  # consecutive failures while closed; the failures that opened it otherwise
    window_calls: int  # calls and failures in the rate window (closed only)
    window_failures: int
    opened_at: datetime | None
    changed_at: datetime | None
    retry_after_s: float  # open: the rest of the cool-down (0 once the next call may probe)
    probe_in_flight: bool
    last_failure: str


def _describe(exc: BaseException, operation: str) -> str:
    return f"{operation}: {type(exc).__name__}: {exc}"[:_LAST_FAILURE_MAX]


def _record(
    *,
    account: AdPlatformAccount,
    transition: _Transition,
    operation: str,
    actor: Actor = BREAKER_ACTOR,
    action: str | None = None,
    last_failure: str = "",
) -> None:
    """Mirror one transition into the CircuitState row (only if it is newer than what the row holds)
    and audit it, in one transaction."""
    opened_at = _time(transition.opened_us) if transition.after != CLOSED else None
    table = connection.ops.quote_name(CircuitState._meta.db_table)
    after: dict[str, Any] = {"state": transition.after, "failures": transition.failures}
    if transition.reason:
        after["reason"] = transition.reason
    if operation:
        after["operation"] = operation
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS c (account_id, state, failures, opened_at, last_failure, changed_at)"  # noqa: S608 - quoted table name
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account_id) DO UPDATE SET state = EXCLUDED.state,"
                " failures = EXCLUDED.failures, opened_at = EXCLUDED.opened_at,"
                " last_failure = CASE WHEN EXCLUDED.last_failure <> '' THEN EXCLUDED.last_failure"
                " ELSE c.last_failure END, changed_at = EXCLUDED.changed_at"
                " WHERE c.changed_at < EXCLUDED.changed_at",
                [
                    account.pk,
                    transition.after,
                    transition.failures,
                    opened_at,
                    last_failure,
                    _time(transition.changed_us),
                ],
            )
        governance.audit_record(
            actor=actor,
            action=action or _ACTIONS[CircuitState.State(transition.after)],
            object_type=AUDIT_OBJECT_TYPE,
            object_id=account.pk,
            before={"state": transition.before},
            after=after,
        )
    log = logger.warning if transition.after != CLOSED else logger.info
    log(
        "circuit breaker %s -> %s",
        transition.before,
        transition.after,
        extra={
            "account_id": account.pk,
            "platform": account.platform,
            "operation": operation,
            "reason": transition.reason,
        },
    )


def _record_safely(**kwargs: Any) -> None:
    """Record a transition Redis has already made; a failure here must not change the call's outcome."""
    try:
        _record(**kwargs)
    except (DatabaseError, KikiError) as exc:
        logger.exception(
            "recording a circuit breaker transition failed",
            extra={"account_id": kwargs["account"].pk, "error": type(exc).__name__},
        )


def _resync_after_loss(*, account: AdPlatformAccount, changed_us: int) -> None:
    """Redis had no state for the account (first call ever, or a flush): the breaker starts closed;
    a mirror row that says otherwise is set back to closed."""
    stale = (
        CircuitState.objects.filter(account_id=account.pk)
        .exclude(state=CLOSED)
        .values_list("state", flat=True)
        .first()
    )
    if stale is not None:
        reason = "the shared breaker state was lost (Redis flushed or restarted); it starts closed"
        _record_safely(
            account=account,
            transition=_Transition(stale, CLOSED, 0, changed_us, 0, reason),
            operation="",
        )


def breaker_call(*, account: AdPlatformAccount, operation: str, call: Callable[[], T]) -> T:
    """Run ``call`` (one request to ``account``'s platform) behind the account's circuit breaker and
    return its result, or raise ``CircuitOpen`` without running it while the breaker is open, or
    half-open with its probe in flight. Every exception of ``call`` propagates unchanged.

    ``operation`` names the call (``"set_bid"``, ``"fetch_spend"``) in logs, the mirror's
    ``last_failure`` and the audit entry of a transition it causes.
    """
    schema = require_tenant("the circuit breaker")
    client = get_redis()
    keys = breaker_keys(schema=schema, account_id=account.pk)
    token = uuid.uuid4().hex
    admitted, state, wait_us, moved_from, gen, changed_us, fresh, opened_us, failures = _run(
        "acquire", [keys[0]], [token, _us(settings.KIKI_BREAKER_PROBE_LEASE_S)], client
    )
    if fresh:
        _resync_after_loss(account=account, changed_us=int(changed_us))
    if moved_from:
        reason = "the cool-down is over; one probe call is admitted"
        _record_safely(
            account=account,
            transition=_Transition(moved_from, state, int(failures), int(changed_us), int(opened_us), reason),
            operation=operation,
        )
    if not admitted:
        wait_s = int(wait_us) / _US
        if state == HALF_OPEN:
            wait_s = min(wait_s, float(settings.KIKI_BREAKER_COOLDOWN_S))
        raise CircuitOpen(account_id=account.pk, platform=account.platform, state=state, retry_after_s=wait_s)

    def report(outcome: str, failure: BaseException | None = None) -> None:
        try:
            after, before, n_failures, _, _, changed, opened, reason = _run(
                "report",
                list(keys),
                [
                    token,
                    gen,
                    outcome,
                    int(settings.KIKI_BREAKER_FAILURES),
                    _us(settings.KIKI_BREAKER_WINDOW_S),
                    int(settings.KIKI_BREAKER_MIN_CALLS),
                    float(settings.KIKI_BREAKER_FAILURE_RATE_PCT),
                    _us(settings.KIKI_BREAKER_COOLDOWN_S),
                ],
                client,
            )
        except redis.RedisError:
            logger.exception("reporting to the circuit breaker failed", extra={"account_id": account.pk})
            return
        if before:
            _record_safely(
                account=account,
                transition=_Transition(before, after, int(n_failures), int(changed), int(opened), reason),
                operation=operation,
                last_failure=_describe(failure, operation) if failure is not None else "",
            )

    try:
        result = call()
    except PlatformError as exc:
        report("fail" if exc.transient else "neutral", exc if exc.transient else None)
        raise
    except Exception as exc:
        report("fail", exc)
        raise
    except BaseException:
        report("abandon")  # interrupted, not a platform outcome: free the probe slot if it held it
        raise
    report("ok")
    return result


def breaker_state(*, account: AdPlatformAccount) -> BreakerSnapshot:
    """The account's breaker now (Redis), for the admin and the API. An open breaker whose cool-down
    is over reads ``open`` with ``retry_after_s == 0``: the next call turns it half-open."""
    schema = require_tenant("the circuit breaker")
    keys = breaker_keys(schema=schema, account_id=account.pk)
    state, failures, until, opened, probing, changed, n, nf, now = _run(
        "snapshot", list(keys), [_us(settings.KIKI_BREAKER_WINDOW_S)], get_redis()
    )
    last_failure = (
        CircuitState.objects.filter(account_id=account.pk).values_list("last_failure", flat=True).first()
    )
    return BreakerSnapshot(
        account_id=account.pk,
        platform=account.platform,
        state=str(state),
        failures=int(failures),
        window_calls=int(n),
        window_failures=int(nf),
        opened_at=_time(int(opened)) if state != CLOSED else None,
        changed_at=_time(int(changed)),
        retry_after_s=max(0, int(until) - int(now)) / _US if state == OPEN else 0.0,
        probe_in_flight=bool(probing),
        last_failure=last_failure or "",
    )


def breaker_reset(*, account: AdPlatformAccount, actor: Actor) -> BreakerSnapshot:
    """Close the account's breaker now and clear its counters (an Admin's action; the caller checks
    the permission). Audited as ``circuit.reset`` with the state it had, even if that was closed."""
    schema = require_tenant("the circuit breaker")
    require_actor(actor)
    keys = breaker_keys(schema=schema, account_id=account.pk)
    before, changed_us = _run("reset", list(keys), [], get_redis())
    _record(
        account=account,
        transition=_Transition(str(before), CLOSED, 0, int(changed_us), 0, "reset by a person"),
        operation="",
        actor=actor,
        action="circuit.reset",
    )
    return breaker_state(account=account)
