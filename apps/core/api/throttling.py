"""Redis-backed fixed-window throttles: atomic (INCR + EXPIRE in one round trip), per principal."""

from __future__ import annotations

import time
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.metrics import API_THROTTLED
from apps.core.redis import get_redis
from apps.core.tenant_context import current_schema

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' → (600, 60)."""
    count, _, period = rate.partition("/")
    if not count.isdigit() or period not in _PERIODS:
        raise ValueError(f"bad rate {rate!r}; expected like '600/min'")
    return int(count), _PERIODS[period]


def hit(key: str, limit: int, period_s: int) -> tuple[bool, int]:
    """Count one hit in the current window; returns (allowed, seconds until the window resets)."""
    now = int(time.time())
    window = now - now % period_s
    redis_key = f"kiki:rl:{key}:{window}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(redis_key)
    pipe.expire(redis_key, period_s + 1)
    count, _ = pipe.execute()
    return int(count) <= limit, max(1, window + period_s - now)


def client_ip(request: Any) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class RedisPrincipalThrottle(BaseThrottle):
    """Per API key, else per user, else per IP; scoped by tenant schema."""

    scope = "principal"

    def __init__(self) -> None:
        from django.conf import settings

        rates: Any = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # type: ignore[index]
        self.limit, self.period = parse_rate(rates[self.scope])
        self._wait = 0

    def principal(self, request: Request) -> str:
        auth = request.auth
        prefix = getattr(auth, "prefix", None)
        if prefix:
            return f"key:{prefix}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"ip:{client_ip(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        key = f"{self.scope}:{current_schema()}:{self.principal(request)}"
        allowed, self._wait = hit(key, self.limit, self.period)
        if not allowed:
            API_THROTTLED.labels(scope=self.scope).inc()
        return allowed

    def wait(self) -> float | None:
        return float(self._wait)
