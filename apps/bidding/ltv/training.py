"""Training, loading, evaluating, comparing and publishing a workspace's LTV models (``ml.ltv.train``,
``ml.serving``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import torch
from django.conf import settings

from apps.bidding.ltv.history import LtvHistory, day_to_date
from apps.core.ml import ml_redis
from ml.ltv import train
from ml.ltv.data import to_day
from ml.ltv.train import PromotionDecision, TrainResult
from ml.serving.client import publish_artefact

_MODEL_CACHE_SIZE = 4
_model_cache: OrderedDict[str, TrainResult] = OrderedDict()
_model_cache_lock = threading.Lock()


def torch_threads() -> None:
    """One setting for every torch use in Django processes (a Celery worker per core)."""
    wanted = max(1, int(settings.KIKI_LTV_TORCH_THREADS))
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


@dataclass(frozen=True)
class TrainedLtv:
    version: str
    artefact: bytes  # ml.ltv.train.dumps
    metadata: dict[str, Any]
    inner_horizon_days: int
    candidate_metrics: dict[str, float]  # the shipped (blended) figures on its own validation window
    validation_window: tuple[date, date]  # (as_of, end]: inputs as of the first, actuals up to the second


def ltv_train(
    history: LtvHistory, *, calibration_end: date, horizon_days: int, max_epochs: int, seed: int = 0
) -> TrainedLtv:
    """Fit the LTV network on the history up to ``calibration_end`` (deterministic for a seed)."""
    torch_threads()
    result = train.fit(
        history.tx, to_day(calibration_end), horizon_days, train.TrainConfig(seed=seed, max_epochs=max_epochs)
    )
    version = str(result.metadata["model_version"])
    _cache_put(version, result)
    as_of, end = train.validation_window(result)
    return TrainedLtv(
        version=version,
        artefact=train.dumps(result),
        metadata=result.metadata,
        inner_horizon_days=int(result.inner_horizon),
        candidate_metrics=asdict(result.validation["blend"]),
        validation_window=(day_to_date(as_of), day_to_date(end)),
    )


def _cache_put(version: str, result: TrainResult) -> None:
    with _model_cache_lock:
        _model_cache[version] = result
        _model_cache.move_to_end(version)
        while len(_model_cache) > _MODEL_CACHE_SIZE:
            _model_cache.popitem(last=False)


def ltv_model(version: str, artefact: Callable[[], bytes]) -> TrainResult:
    """The loaded model of a version, from this process's cache (``artefact`` is called only on a miss:
    pass a loader that reads the bytes from the database)."""
    with _model_cache_lock:
        cached = _model_cache.get(version)
        if cached is not None:
            _model_cache.move_to_end(version)
            return cached
    result = train.loads(artefact())
    if result.metadata.get("model_version") != version:
        raise ValueError(f"artefact holds {result.metadata.get('model_version')!r}, not {version!r}")
    _cache_put(version, result)
    return result


def ltv_evaluate(
    version: str, artefact: Callable[[], bytes], history: LtvHistory, window: tuple[date, date]
) -> dict[str, float]:
    """A stored model's figures on a window (the candidate's validation window), for comparison."""
    torch_threads()
    result = ltv_model(version, artefact)
    return asdict(train.evaluate_window(result, history.tx, to_day(window[0]), to_day(window[1])))


def ltv_promotion_decision(
    candidate: dict[str, float], current: dict[str, float] | None
) -> PromotionDecision:
    """The promotion rule (``ml.ltv.train.promotion_decision``) on stored figures: whether to promote,
    and the reasons (every rejection has at least one)."""
    return train.promotion_decision(train.Metrics(**candidate), train.Metrics(**current) if current else None)


def ltv_should_promote(candidate: dict[str, float], current: dict[str, float] | None) -> bool:
    return ltv_promotion_decision(candidate, current).promote


def ltv_publish(version: str, artefact: bytes) -> None:
    """Make an artefact loadable by every ml worker under its version (idempotent)."""
    publish_artefact(ml_redis(), version, artefact)
