"""Plumbing to the ml workers: the ml Redis connection and the workers' heartbeat check (health).
The LTV domain (histories, training, scoring, baselines, simulation) is bidding's LTV gateway,
``apps.bidding.ltv``."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings

from apps.core.redis import client_for
from ml.serving.worker import read_heartbeats


def ml_redis() -> redis.Redis:
    return client_for(settings.REDIS_ML_URL)


def ml_worker_status(*, max_age_s: float) -> dict[str, Any]:
    fresh = [b for b in read_heartbeats(ml_redis()) if float(b["age_s"]) <= max_age_s]
    if not fresh:
        return {"ok": False, "error": "no live ml worker heartbeat"}
    return {
        "ok": True,
        "workers": len(fresh),
        "model_versions": sorted({str(b["model_version"]) for b in fresh}),
    }
