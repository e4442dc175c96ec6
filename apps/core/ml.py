"""The one module through which Django reaches ml/ (the LTV scoring worker)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import redis
import torch
from django.conf import settings

from apps.core.redis import client_for
from ml.ltv import synth, train
from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import EPOCH, Transactions, from_arrays, summarise, to_day, weekly_sequences
from ml.ltv.features import WEEKS
from ml.ltv.train import TrainResult
from ml.serving.client import LtvClient, Prediction, baseline_predictions, publish_artefact
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


# --- tenant LTV models: history, training, comparison, batch scoring, publishing, fast path --------
# Floats live only inside ml/: what leaves this module is Decimal (money to the cent, purchases to
# 1e-4), dates, bytes and plain JSON-able dicts.
CENT = Decimal("0.01")
PURCHASES_PLACES = Decimal("0.0001")
_MODEL_CACHE_SIZE = 4
_model_cache: OrderedDict[str, TrainResult] = OrderedDict()
_model_cache_lock = threading.Lock()


def _torch_threads() -> None:
    """One setting for every torch use in Django processes (a Celery worker per core)."""
    wanted = max(1, int(settings.KIKI_LTV_TORCH_THREADS))
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def _money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(CENT, rounding=ROUND_HALF_UP)


def _count(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PURCHASES_PLACES, rounding=ROUND_HALF_UP)


def _date(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


@dataclass(frozen=True)
class LtvHistory:
    """A workspace's purchase history in ml.ltv's form; customers are referenced by their pk.
    Same-day purchases of a customer are one transaction for the model."""

    tx: Transactions
    orders: int

    @property
    def customers(self) -> int:
        return int(self.tx.n_customers)

    @property
    def first_date(self) -> date | None:
        return _date(int(self.tx.day.min())) if len(self.tx.day) else None

    @property
    def last_date(self) -> date | None:
        return _date(int(self.tx.day.max())) if len(self.tx.day) else None

    def customers_until(self, day: date) -> int:
        """Customers with a purchase on or before ``day``."""
        return len(np.unique(self.tx.cust[self.tx.day <= to_day(day)]))


def ltv_history(
    customer_ids: Sequence[int],
    dates: Sequence[date],
    amounts: Sequence[Decimal],
    channels: Sequence[str] | None = None,
) -> LtvHistory:
    """``channels``: each row's customer acquisition source ("" = unknown); a model trained on a
    history with channels takes them as inputs (``ml.ltv.features.ChannelCoding``)."""
    refs = np.array([str(c) for c in customer_ids], dtype=str)
    days = np.array([to_day(d) for d in dates], dtype=np.int64)
    values = np.array([float(a) for a in amounts], dtype=np.float64)
    chans = np.array([str(c or "") for c in channels], dtype=str) if channels else None
    return LtvHistory(from_arrays(refs, days, values, chans), orders=len(refs))


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
    _torch_threads()
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
        validation_window=(_date(as_of), _date(end)),
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
    _torch_threads()
    result = ltv_model(version, artefact)
    return asdict(train.evaluate_window(result, history.tx, to_day(window[0]), to_day(window[1])))


def ltv_should_promote(candidate: dict[str, float], current: dict[str, float] | None) -> bool:
    return train.should_promote(train.Metrics(**candidate), train.Metrics(**current) if current else None)


@dataclass(frozen=True)
class LtvBatchScore:
    customer_id: int
    purchases: Decimal
    spend: Decimal
    spend_low: Decimal  # 10th percentile, widened to contain ``spend``
    spend_high: Decimal  # 90th percentile, widened to contain ``spend``
    state: bytes | None  # the GRU state (float32 bytes) for the serving fast path
    spend_micros: int


def _batch_scores(
    history: LtvHistory, as_of: date, out: dict[str, np.ndarray], customer_ids: Collection[int] | None
) -> list[LtvBatchScore]:
    seen = summarise(history.tx, to_day(as_of)).seen
    wanted = None if customer_ids is None else {str(c) for c in customer_ids}
    states = out.get("state")
    scores = []
    for i, ref in enumerate(history.tx.ids):
        if not seen[i] or (wanted is not None and str(ref) not in wanted):
            continue
        spend = max(_money(out["spend"][i]), Decimal(0))
        scores.append(
            LtvBatchScore(
                customer_id=int(ref),
                purchases=max(_count(out["purchases"][i]), Decimal(0)),
                spend=spend,
                spend_low=max(min(_money(out["spend_low"][i]), spend), Decimal(0)),
                spend_high=max(_money(out["spend_high"][i]), spend),
                state=None if states is None else np.asarray(states[i], dtype=np.float32).tobytes(),
                spend_micros=int(spend * 1_000_000),
            )
        )
    return scores


def ltv_predict_batch(
    version: str, artefact: Callable[[], bytes], history: LtvHistory, *, as_of: date, horizon_days: int
) -> list[LtvBatchScore]:
    """Vectorised scoring of every customer seen by ``as_of`` with a stored model, with GRU states."""
    _torch_threads()
    result = ltv_model(version, artefact)
    out = train.predict(result, history.tx, to_day(as_of), horizon_days, states=True)
    return _batch_scores(history, as_of, out, None)


def ltv_baseline_fit(history: LtvHistory, *, as_of: date, min_customers: int) -> dict[str, list[float]]:
    """BG/NBD+GG parameters fitted on the workspace's own history (default priors below
    ``min_customers`` customers), as a JSON-able dict."""
    s = summarise(history.tx, to_day(as_of))
    if int(s.seen.sum()) < max(min_customers, 1):
        return BaselinePredictor.default().to_dict()
    return BaselinePredictor.fit(s).to_dict()


def ltv_baseline_version(params: dict[str, list[float]] | None) -> str:
    return (BaselinePredictor.from_dict(params) if params else BaselinePredictor.default()).version


def ltv_baseline_predict_batch(
    params: dict[str, list[float]],
    history: LtvHistory,
    *,
    as_of: date,
    horizon_days: int,
    customer_ids: Collection[int] | None = None,
) -> list[LtvBatchScore]:
    """BG/NBD+GG scores (no state) of the customers seen by ``as_of`` (or of the given ones)."""
    baseline = BaselinePredictor.from_dict(params)
    out = baseline.predict(summarise(history.tx, to_day(as_of)), horizon_days)
    return _batch_scores(history, as_of, out, customer_ids)


def ltv_publish(version: str, artefact: bytes) -> None:
    """Make an artefact loadable by every ml worker under its version (idempotent)."""
    publish_artefact(ml_redis(), version, artefact)


@dataclass(frozen=True)
class StoredRfm:
    """A stored customer as the fast path sees it: summary figures as of the request's day and the GRU
    state stored by the last batch scoring (with the model version that encoded it)."""

    ref: str
    frequency: int
    recency_days: int
    t_days: int
    monetary: Decimal
    first_value: Decimal
    state: bytes | None
    model_version: str | None
    channel: str = ""  # acquisition source


def _rfm_item(c: StoredRfm, as_of_day: int, state: bool) -> ScoreItem:
    return ScoreItem(
        float(c.frequency),
        float(c.recency_days),
        float(c.t_days),
        float(c.monetary),
        float(c.first_value),
        as_of_day,
        state=np.frombuffer(c.state, dtype=np.float32) if state and c.state is not None else None,
        channel=c.channel or None,
    )


def ltv_score_stored(
    customers: list[StoredRfm],
    *,
    as_of: date,
    horizon_days: int,
    fallback_params: dict[str, list[float]] | None,
    timeout_ms: int = 200,
    on_result: Callable[[float, bool], None] | None = None,
) -> list[LtvScore]:
    """The bid-time fast path: customers with a stored state go to the ml worker in one request per
    model version (the worker runs only the network's head); a worker that cannot answer, or answers
    with another model than the one that encoded the state, is replaced by BG/NBD+GG
    (``fallback_params``: the workspace's fitted parameters, else default priors). Customers without
    a state are scored by BG/NBD+GG directly: the worker could do no better without their history."""
    baseline = (
        BaselinePredictor.from_dict(fallback_params) if fallback_params else BaselinePredictor.default()
    )
    as_of_day = to_day(as_of)
    found: dict[str, Prediction] = {}
    groups: dict[str, list[StoredRfm]] = {}
    for c in customers:
        if c.state is not None and c.model_version:
            groups.setdefault(c.model_version, []).append(c)
    client = LtvClient(ml_redis(), fallback=baseline, on_result=on_result)
    for version, members in groups.items():
        items = [_rfm_item(c, as_of_day, state=True) for c in members]
        answers = client.score_many(
            items, horizon_days=horizon_days, timeout_ms=timeout_ms, model_version=version
        )
        if any(not a.fallback and a.model_version != version for a in answers):
            answers = baseline_predictions(baseline, items, horizon_days)  # a worker without that model
        found.update({c.ref: a for c, a in zip(members, answers, strict=True)})
    rest = [c for c in customers if c.ref not in found]
    if rest:
        items = [_rfm_item(c, as_of_day, state=False) for c in rest]
        found.update(
            {c.ref: a for c, a in zip(rest, baseline_predictions(baseline, items, horizon_days), strict=True)}
        )
    return [LtvScore(c.ref, found[c.ref]) for c in customers]


@dataclass(frozen=True)
class SimulatedOrders:
    """Generated purchases (``ml.ltv.synth``): customer number, date, amount (Decimal)."""

    customer: tuple[int, ...]
    dates: tuple[date, ...]
    amounts: tuple[Decimal, ...]
    channels: tuple[str, ...] = ()  # acquisition channel by customer number, when simulated with them


def ltv_simulate(
    customers: int, *, end: date, days: int = 730, seed: int = 0, channels: bool = False
) -> SimulatedOrders:
    """``customers`` generated buyers over ``days`` days ending on ``end`` (demo data and tests); with
    ``channels``, each has an acquisition channel that changes how it buys (``ml.ltv.synth``)."""
    chan = synth.customer_channels(customers, seed) if channels else None
    cust, day, amount = synth.simulate(
        customers, days=days, acquisition_days=min(365, days // 2), seed=seed, channels=chan
    )
    start = end - timedelta(days=days - 1)
    order = np.lexsort((day, cust))
    return SimulatedOrders(
        tuple(int(c) for c in cust[order]),
        tuple(start + timedelta(days=int(d)) for d in day[order]),
        tuple(Decimal(f"{a:.2f}") for a in amount[order]),
        tuple(synth.CHANNELS[k] for k in chan) if chan is not None else (),
    )
