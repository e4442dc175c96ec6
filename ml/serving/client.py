"""Client of the ml worker, used by Django and Celery through apps/core's ml module.

One request per call (score_many sends every item in one request): an RPUSH and a BLPOP on a
private reply key, sent together in one round trip (a non-transactional pipeline: Redis runs the
RPUSH, then blocks on the BLPOP until the worker's reply lands or the timeout passes). When the
worker is down, slow or answers an error (an unknown ``model_version`` included), the client answers
from the BG/NBD+GG baseline and marks the predictions ``fallback=True``; it raises only for bad input.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis

from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import Summary
from ml.serving import wire
from ml.serving.wire import ScoreItem


@dataclass(frozen=True)
class Prediction:
    purchases: float
    spend: float
    spend_low: float
    spend_high: float
    model_version: str
    fallback: bool


class LtvClient:
    def __init__(
        self,
        client: redis.Redis | str,
        *,
        fallback: BaselinePredictor | None = None,
        queue: str = wire.QUEUE,
        on_result: Callable[[float, bool], None] | None = None,
    ) -> None:
        self.redis = redis.Redis.from_url(client) if isinstance(client, str) else client
        self.fallback = fallback or BaselinePredictor.default()
        self.queue = queue
        self.on_result = on_result

    def score(
        self, item: ScoreItem, *, horizon_days: float, timeout_ms: int = 50, model_version: str | None = None
    ) -> Prediction:
        return self.score_many(
            [item], horizon_days=horizon_days, timeout_ms=timeout_ms, model_version=model_version
        )[0]

    def score_many(
        self,
        items: list[ScoreItem],
        *,
        horizon_days: float,
        timeout_ms: int = 50,
        model_version: str | None = None,
    ) -> list[Prediction]:
        """``model_version`` names a published artefact (``publish_artefact``); None = the worker's own
        default model. Items carrying a ``state`` must have been encoded by that same model."""
        if horizon_days <= 0:
            raise ValueError("horizon_days must be positive")
        for item in items:
            item.validate()
        if not items:
            return []
        started = time.perf_counter()
        req_id = uuid.uuid4().hex
        reply_to = wire.REPLY_PREFIX + req_id
        body = wire.encode_request(
            req_id, reply_to, int(time.time() * 1000) + timeout_ms, horizon_days, items, model=model_version
        )
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.rpush(self.queue, body)
            pipe.blpop([reply_to], timeout=max(timeout_ms, 1) / 1000)
            answer: Any = pipe.execute()[1]
        except redis.RedisError:
            answer = None
        result = None
        if answer is not None:
            try:
                msg = wire.decode(bytes(answer[1]))  # type: ignore[arg-type]
                if msg.get("ok") and len(msg["items"]) == len(items):
                    result = [
                        Prediction(
                            float(r[0]),
                            float(r[1]),
                            float(r[2]),
                            float(r[3]),
                            str(msg["model_version"]),
                            False,
                        )
                        for r in msg["items"]
                    ]
            except wire.WireError:
                result = None
        if result is None:
            result = baseline_predictions(self.fallback, items, horizon_days)
        if self.on_result:
            self.on_result(time.perf_counter() - started, result[0].fallback)
        return result


def baseline_predictions(
    baseline: BaselinePredictor, items: list[ScoreItem], horizon_days: float
) -> list[Prediction]:
    """BG/NBD+GG's answers for items (``fallback=True``): the client's fallback, and what Django uses
    for customers the worker cannot help with."""
    s = Summary.from_rfm(np.array([[i.frequency, i.recency, i.t, i.monetary, i.first_value] for i in items]))
    out = baseline.predict(s, horizon_days)
    return [
        Prediction(
            float(out["purchases"][k]),
            float(out["spend"][k]),
            float(out["spend_low"][k]),
            float(out["spend_high"][k]),
            baseline.version,
            True,
        )
        for k in range(len(items))
    ]


def publish_artefact(client: redis.Redis, version: str, blob: bytes) -> None:
    """Make an artefact (``ml.ltv.train.dumps``) loadable by every ml worker under its version.
    Idempotent: versions are content hashes, so the same version always carries the same bytes."""
    client.set(wire.artefact_key(version), blob)
