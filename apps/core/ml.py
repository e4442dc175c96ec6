"""The one module through which Django reaches ml/ (the LTV scoring worker)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import redis
from django.conf import settings

from apps.core.redis import client_for
from ml.ltv.data import from_arrays, summarise, to_day, weekly_sequences
from ml.ltv.features import WEEKS
from ml.serving.client import LtvClient, Prediction
from ml.serving.wire import ScoreItem
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


@dataclass(frozen=True)
class CustomerHistory:
    ref: str
    dates: list[date]  # purchase dates (UTC)
    amounts: list[float]


@dataclass(frozen=True)
class LtvScore:
    ref: str
    prediction: Prediction


def ltv_score_histories(
    customers: list[CustomerHistory],
    *,
    as_of: date,
    horizon_days: int,
    timeout_ms: int = 200,
    on_result: Callable[[float, bool], None] | None = None,
) -> list[LtvScore]:
    """Build each customer's features from its purchase history (ml.ltv) and score them in one request
    to the ml worker; the client falls back to BG/NBD+GG by itself when the worker cannot answer."""
    refs = np.array([c.ref for c in customers for _ in c.dates])
    days = np.array([to_day(d) for c in customers for d in c.dates], dtype=np.int64)
    as_of_day = to_day(as_of)
    amounts = np.array([a for c in customers for a in c.amounts], dtype=np.float64)
    tx = from_arrays(refs, days, amounts)
    s = summarise(tx, as_of_day)
    seqs = weekly_sequences(tx, as_of_day, WEEKS)
    index = {str(ref): i for i, ref in enumerate(tx.ids)}
    items = []
    for c in customers:
        i = index[c.ref]
        items.append(
            ScoreItem(
                float(s.frequency[i]),
                float(s.recency[i]),
                float(s.t[i]),
                float(s.monetary[i]),
                float(s.first_value[i]),
                as_of_day,
                seq=seqs[i],
            )
        )
    client = LtvClient(ml_redis(), on_result=on_result)
    predictions = client.score_many(items, horizon_days=horizon_days, timeout_ms=timeout_ms)
    return [LtvScore(c.ref, p) for c, p in zip(customers, predictions, strict=True)]
