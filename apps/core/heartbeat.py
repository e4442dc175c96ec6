"""Liveness of the background processes, kept in Redis where /health reads it."""

from __future__ import annotations

import json
import time
from typing import Any

from apps.core.redis import get_redis

KEY = "kiki:heartbeat:{component}"
TTL_S = 3600


def beat(component: str, *, detail: dict[str, Any] | None = None) -> float:
    now = time.time()
    payload = json.dumps({"ts": now, **(detail or {})})
    get_redis().set(KEY.format(component=component), payload, ex=TTL_S)
    return now


def age_seconds(component: str) -> float | None:
    """Seconds since the component last reported, or None if it never did (within the TTL)."""
    raw = get_redis().get(KEY.format(component=component))
    if raw is None:
        return None
    return max(0.0, time.time() - float(json.loads(raw)["ts"]))
