"""Scoring through ml/: integrators' histories through the ml worker, stored customers in batch (with a
stored model or BG/NBD+GG), and stored customers at bid time from their stored GRU state.

Floats live only inside ml/: what leaves this module is Decimal (money to the cent, purchases to
1e-4), integer micros, dates, bytes and plain JSON-able dicts."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np

from apps.bidding.ltv.history import CustomerHistory, LtvHistory
from apps.bidding.ltv.training import ltv_model, torch_threads
from apps.core.ml import ml_redis
from apps.core.money import float_to_decimal, float_to_micros, float_to_money, to_micros
from ml.ltv import train
from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import from_arrays, summarise, to_day, weekly_sequences
from ml.ltv.features import WEEKS
from ml.serving.client import LtvClient, Prediction, baseline_predictions
from ml.serving.wire import ScoreItem

PURCHASES_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class LtvScore:
    ref: str
    prediction: Prediction


def ltv_score_histories_via_worker(
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


# --- batch scoring of a workspace's customers --------------------------------------------------
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
        spend = max(float_to_money(out["spend"][i]), Decimal(0))
        scores.append(
            LtvBatchScore(
                customer_id=int(ref),
                purchases=max(float_to_decimal(out["purchases"][i], PURCHASES_PLACES), Decimal(0)),
                spend=spend,
                spend_low=max(min(float_to_money(out["spend_low"][i]), spend), Decimal(0)),
                spend_high=max(float_to_money(out["spend_high"][i]), spend),
                state=None if states is None else np.asarray(states[i], dtype=np.float32).tobytes(),
                spend_micros=to_micros(spend),
            )
        )
    return scores


def ltv_predict_batch(
    version: str, artefact: Callable[[], bytes], history: LtvHistory, *, as_of: date, horizon_days: int
) -> list[LtvBatchScore]:
    """Vectorised scoring of every customer seen by ``as_of`` with a stored model, with GRU states."""
    torch_threads()
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


# --- bid-time fast path over stored customers -------------------------------------------------------
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


def ltv_score_from_stored_state(
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


def ltv_score_spend_micros(score: LtvScore) -> int:
    """A worker score's predicted spend in micros (rounded, never truncated)."""
    return float_to_micros(score.prediction.spend)
