"""The one module through which Django reaches ml/ (the LTV scoring worker)."""

from __future__ import annotations

import functools
from typing import Any

import redis
from django.conf import settings

from ml.serving.worker import read_heartbeats


@functools.cache
def _ml_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


def ml_redis() -> redis.Redis:
    return _ml_redis(settings.REDIS_ML_URL)


def ml_worker_status(*, max_age_s: float) -> dict[str, Any]:
    fresh = [b for b in read_heartbeats(ml_redis()) if float(b["age_s"]) <= max_age_s]
    if not fresh:
        return {"ok": False, "error": "no live ml worker heartbeat"}
    return {
        "ok": True,
        "workers": len(fresh),
        "model_versions": sorted({str(b["model_version"]) for b in fresh}),
    }
