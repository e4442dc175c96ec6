"""The one module through which Django reaches ml/ (the LTV model's serving worker)."""

from __future__ import annotations

import functools
from typing import Any

import redis
from django.conf import settings


@functools.cache
def _ml_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


def ml_redis() -> redis.Redis:
    return _ml_redis(settings.REDIS_ML_URL)


def ml_worker_status(*, max_age_s: float) -> dict[str, Any]:
    from ml.serving.worker import read_heartbeats

    beats = read_heartbeats(ml_redis())
    fresh = [b for b in beats if float(b.get("age_s", 1e9)) <= max_age_s]
    if not fresh:
        return {"ok": False, "error": "no live ml worker heartbeat", "workers": len(beats)}
    return {
        "ok": True,
        "workers": len(fresh),
        "model_versions": sorted({str(b.get("model_version")) for b in fresh}),
    }
