"""Bidding services. For now, the workspace's LTV: scoring purchase histories for integrators, training
and promoting the workspace's own model, batch-scoring its stored customers, and the bid-time fast
path over stored customers. (The bidding engine, campaigns and the spend ledger come later.)

Every path to ml/ goes through ``apps.core.ml``; customers and orders are reached only through
``apps.stores``' selectors and services.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.bidding.errors import BiddingError, ErrorCode
from apps.bidding.metrics import LTV_MODELS_TRAINED, LTV_SCORE_SECONDS, LTV_SCORED_CUSTOMERS, PREDICTED_LTV
from apps.bidding.models import LtvModel, LtvTrainingRun
from apps.core import ml as core_ml
from apps.core.ml import CustomerHistory, LtvHistory, LtvScore, ltv_score_histories
from apps.core.tenant_context import require_tenant
from apps.stores import selectors as stores_selectors
from apps.stores import services as stores_services

logger = logging.getLogger(__name__)
MICROS = Decimal(1_000_000)
HORIZON_RANGE = (30, 1095)
BASELINE_CACHE_TTL_S = 2 * 24 * 3600


def spend_micros(score: LtvScore) -> int:
    return int(Decimal(str(score.prediction.spend)) * MICROS)


def today_utc() -> date:
    return timezone.now().astimezone(UTC).date()


def _observe(seconds: float, fallback: bool) -> None:
    LTV_SCORE_SECONDS.labels(fallback=str(fallback).lower()).observe(seconds)


# --- integrators' histories (POST /api/v1/ltv/score with "customers") ------------------------------
def ltv_score(
    *, customers: list[tuple[str, list[tuple[date, Decimal]]]], as_of: date, horizon_days: int, actor: str
) -> list[LtvScore]:
    """Score purchase histories; purchases after ``as_of`` are ignored. Adds the predicted spend to
    ``syncvalue_predicted_ltv_total`` (micros) for this tenant."""
    schema = require_tenant("LTV scoring")
    histories = [
        CustomerHistory(ref, [d for d, _ in purchases], [float(a) for _, a in purchases])
        for ref, purchases in customers
    ]
    scores = ltv_score_histories(histories, as_of=as_of, horizon_days=horizon_days, on_result=_observe)
    total = sum(spend_micros(s) for s in scores)
    PREDICTED_LTV.labels(tenant=schema).inc(total)
    return scores


# --- locks --------------------------------------------------------------------------------------
def _ltv_write_lock(schema: str) -> None:
    """Serialises, per workspace, storing predictions with promoting a model (transaction-scoped), so
    predictions made with a model that was replaced meanwhile are never written over newer ones."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"kiki:ltv:write:{schema}"])


@contextmanager
def _session_lock(key: str) -> Iterator[bool]:
    """A session advisory lock (released on exit, or by PostgreSQL when the process dies)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


# --- the model registry: training and promotion ----------------------------------------------------
def _artefact_loader(model_pk: int) -> Callable[[], bytes]:
    def load() -> bytes:
        return bytes(LtvModel.objects.values_list("artefact", flat=True).get(pk=model_pk))

    return load


def active_ltv_model() -> LtvModel | None:
    """The workspace's active model (without its artefact bytes), or None."""
    require_tenant("reading LTV models")
    return LtvModel.objects.defer("artefact").filter(status=LtvModel.Status.ACTIVE).first()


def _validate_horizon(horizon_days: int) -> int:
    low, high = HORIZON_RANGE
    if not low <= horizon_days <= high:
        raise BiddingError(
            ErrorCode.VALIDATION,
            f"horizon_days must be between {low} and {high}.",
            details={"horizon_days": [f"Between {low} and {high} days."]},
        )
    return horizon_days


@transaction.atomic
def ltv_training_request(*, actor: str, horizon_days: int | None = None) -> LtvTrainingRun:
    """Record a training run and enqueue it after commit. One run at a time per workspace: while one
    is requested or running, another request is refused (409) with that run's id."""
    schema = require_tenant("requesting LTV training")
    horizon = _validate_horizon(horizon_days or settings.KIKI_LTV_HORIZON_DAYS)
    with connection.cursor() as cursor:  # two simultaneous requests: the second sees the first's run
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"kiki:ltv:request:{schema}"])
    busy = LtvTrainingRun.objects.filter(
        status__in=[LtvTrainingRun.Status.REQUESTED, LtvTrainingRun.Status.RUNNING]
    ).first()
    if busy is not None:
        raise BiddingError(
            ErrorCode.CONFLICT,
            f"Training run {busy.pk} is {busy.status}; wait for it to finish.",
            details={"run_id": busy.pk},
        )
    run = LtvTrainingRun.objects.create(horizon_days=horizon, requested_by=actor)
    transaction.on_commit(lambda: _enqueue_training(schema, run.pk))
    return run


def _enqueue_training(schema: str, run_id: int) -> None:
    from apps.bidding.tasks import train_ltv_model

    with schema_context(schema):  # the task carries the schema it is published from
        train_ltv_model.delay(run_id)


class _TooLittleData(Exception):
    pass


def _load_history(customer_ids: list[int] | None = None) -> LtvHistory:
    h = stores_selectors.purchase_history(customer_ids=customer_ids)
    return core_ml.ltv_history(h.customer_ids, h.dates, h.amounts, h.channels)


def _check_enough(history: LtvHistory, calibration_end: date) -> None:
    customers = history.customers_until(calibration_end)
    first = history.first_date
    span = (calibration_end - first).days + 1 if first is not None and first <= calibration_end else 0
    need_customers, need_days = settings.KIKI_LTV_MIN_CUSTOMERS, settings.KIKI_LTV_MIN_HISTORY_DAYS
    if customers < need_customers or span < need_days:
        raise _TooLittleData(
            f"Too little data to train: {customers} customer(s) with orders up to {calibration_end} "
            f"(at least {need_customers} needed) over {span} day(s) of order history "
            f"(at least {need_days} needed). Scoring uses BG/NBD+GG until then."
        )


def _fmt(m: dict[str, float]) -> str:
    return f"spend MAE {m['spend_mae']:.2f}, 10–90 coverage {m['coverage_10_90']:.3f}"


def _decision(
    promote: bool, candidate: dict[str, float], current: dict[str, float] | None, against: str, window: str
) -> str:
    if current is None:
        return (
            f"Promoted: first model of this workspace ({_fmt(candidate)} on its validation window {window})."
        )
    if promote:
        return (
            f"Promoted: {_fmt(candidate)} beats the active {against} ({_fmt(current)}) on the same window "
            f"{window}."
        )
    reasons = []
    if not candidate["spend_mae"] < current["spend_mae"]:
        reasons.append(
            f"spend MAE {candidate['spend_mae']:.2f} is not lower than {current['spend_mae']:.2f}"
            + (" (equal figures are not better)" if candidate["spend_mae"] == current["spend_mae"] else "")
        )
    if candidate["coverage_10_90"] < current["coverage_10_90"] - 0.05:
        reasons.append(
            f"coverage {candidate['coverage_10_90']:.3f} is more than 0.05 below {current['coverage_10_90']:.3f}"
        )
    return f"Rejected: against the active {against} on the same window {window}, " + "; ".join(reasons) + "."


def _finish_run(run: LtvTrainingRun, **values: object) -> None:
    LtvTrainingRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), **values)


def ltv_model_train(*, run_id: int) -> LtvTrainingRun:
    """Train the run's model on the workspace's purchase history up to yesterday (UTC), store it as a
    candidate, compare it with the active model on the candidate's validation window, and promote it
    (the active one retires) or reject it, with the reason, in one transaction. After commit a promoted
    model is published to the ml workers and every customer is re-scored.

    Idempotent on the run: a finished run is returned as is; a second delivery while the first trains
    does nothing (session advisory lock); too little data ends the run as failed with the reason."""
    schema = require_tenant("training an LTV model")
    run = LtvTrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise BiddingError(ErrorCode.NOT_FOUND, f"No LTV training run {run_id} in this workspace.")
    finished = (LtvTrainingRun.Status.DONE, LtvTrainingRun.Status.FAILED)
    if run.status in finished:
        return run
    with _session_lock(f"kiki:ltv:train:{schema}:{run.pk}") as mine:
        if not mine:
            logger.info("LTV training run %s is being trained by another delivery", run.pk)
            return run
        run.refresh_from_db()
        if run.status in finished:
            return run
        LtvTrainingRun.objects.filter(pk=run.pk).update(
            status=LtvTrainingRun.Status.RUNNING,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
            error="",
        )
        try:
            _train(run, schema)
        except _TooLittleData as exc:
            _finish_run(run, status=LtvTrainingRun.Status.FAILED, error=str(exc))
            LTV_MODELS_TRAINED.labels(outcome="too_little_data").inc()
        except Exception as exc:
            _finish_run(run, status=LtvTrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
            LTV_MODELS_TRAINED.labels(outcome="error").inc()
            raise
    run.refresh_from_db()
    return run


def _train(run: LtvTrainingRun, schema: str) -> None:
    calibration_end = today_utc() - timedelta(days=1)
    history = _load_history()
    _check_enough(history, calibration_end)
    trained = core_ml.ltv_train(
        history,
        calibration_end=calibration_end,
        horizon_days=run.horizon_days,
        max_epochs=settings.KIKI_LTV_TRAIN_MAX_EPOCHS,
    )
    same = LtvModel.objects.defer("artefact").filter(version=trained.version).first()
    if same is not None:
        _finish_run(
            run,
            status=LtvTrainingRun.Status.DONE,
            model=same,
            promoted=False,
            decision=(
                f"Not promoted: training produced version {trained.version}, identical to model #{same.pk} "
                f"({same.status}); the same data gives the same model, and equal figures are not better."
            ),
        )
        LTV_MODELS_TRAINED.labels(outcome="unchanged").inc()
        return
    window = trained.validation_window
    first_day = history.first_date
    if first_day is None:  # _check_enough saw purchases; a history emptied since is a bug, not data
        raise RuntimeError("the training history lost its purchases after the data check")
    candidate = LtvModel.objects.create(
        version=trained.version,
        status=LtvModel.Status.CANDIDATE,
        artefact=trained.artefact,
        metadata=trained.metadata,
        horizon_days=run.horizon_days,
        inner_horizon_days=trained.inner_horizon_days,
        data_first_day=first_day,
        calibration_end=calibration_end,
        validation_from=window[0],
        validation_to=window[1],
        customers_count=history.customers_until(calibration_end),
        orders_count=history.orders,
        candidate_metrics=trained.candidate_metrics,
        requested_by=run.requested_by,
        trained_at=timezone.now(),
    )
    active = active_ltv_model()
    current = (
        core_ml.ltv_evaluate(active.version, _artefact_loader(active.pk), history, window) if active else None
    )
    promote = core_ml.ltv_should_promote(trained.candidate_metrics, current)
    window_text = f"{window[0] + timedelta(days=1)}…{window[1]}"
    decision = _decision(
        promote, trained.candidate_metrics, current, active.version if active else "", window_text
    )
    with transaction.atomic():
        _ltv_write_lock(schema)
        now_active = LtvModel.objects.select_for_update().filter(status=LtvModel.Status.ACTIVE).first()
        if (now_active.pk if now_active else None) != (active.pk if active else None):
            promote = False
            decision = "Rejected: another model was promoted while this one trained; train again to compare."
        if promote and now_active is not None:
            LtvModel.objects.filter(pk=now_active.pk).update(
                status=LtvModel.Status.RETIRED, retired_at=timezone.now()
            )
        LtvModel.objects.filter(pk=candidate.pk).update(
            status=LtvModel.Status.ACTIVE if promote else LtvModel.Status.REJECTED,
            promoted_at=timezone.now() if promote else None,
            current_metrics=current,
            compared_with=active.version if active else "",
            decision=decision,
        )
        _finish_run(
            run, status=LtvTrainingRun.Status.DONE, model=candidate, promoted=promote, decision=decision
        )
        if promote:
            version, artefact = trained.version, trained.artefact
            transaction.on_commit(lambda: _after_promotion(schema, version, artefact))
    LTV_MODELS_TRAINED.labels(outcome="promoted" if promote else "rejected").inc()
    logger.info("LTV model %s %s", trained.version, "promoted" if promote else "rejected")


def _after_promotion(schema: str, version: str, artefact: bytes) -> None:
    ltv_model_publish(version=version, artefact=artefact)
    from apps.bidding.tasks import score_customers

    with schema_context(schema):
        score_customers.delay(customer_ids=None)


def ltv_model_publish(*, version: str, artefact: bytes) -> bool:
    """Publish an artefact to the ml workers (idempotent). A Redis outage is logged, not raised: the
    nightly scoring publishes the active model again, and until then the fast path falls back."""
    try:
        core_ml.ltv_publish(version, artefact)
    except Exception:
        logger.exception("could not publish LTV model %s to the ml workers", version)
        return False
    return True


def ltv_training_scheduled(*, actor: str) -> LtvTrainingRun | None:
    """The weekly training: skipped while a run is in flight or while the workspace has too little
    data (no failed run is recorded every week for a workspace that is just starting)."""
    require_tenant("scheduled LTV training")
    if LtvTrainingRun.objects.filter(
        status__in=[LtvTrainingRun.Status.REQUESTED, LtvTrainingRun.Status.RUNNING]
    ).exists():
        return None
    try:
        _check_enough(_load_history(), today_utc() - timedelta(days=1))
    except _TooLittleData as exc:
        logger.info("weekly LTV training skipped: %s", exc)
        return None
    run = LtvTrainingRun.objects.create(horizon_days=settings.KIKI_LTV_HORIZON_DAYS, requested_by=actor)
    return ltv_model_train(run_id=run.pk)


# --- batch scoring of stored customers ----------------------------------------------------------
@dataclass(frozen=True)
class ScoringOutcome:
    scored: int
    written: int
    cleared: int
    model_version: str
    fallback: bool
    skipped: bool = False  # the active model changed while scoring; the promotion re-scores everyone


def _baseline_params(as_of: date, history_all: LtvHistory | None) -> dict[str, list[float]]:
    """BG/NBD+GG fitted on the workspace's whole history as of the day, cached for the day (a full
    scoring refits it; scoring a few customers after an order reuses it)."""
    key = f"kiki:ltv:baseline:{as_of.isoformat()}"  # the cache's key function adds the tenant
    if history_all is None:
        cached = cache.get(key)
        if cached is not None:
            return dict(cached)
        history_all = _load_history()
    params = core_ml.ltv_baseline_fit(
        history_all, as_of=as_of, min_customers=settings.KIKI_LTV_BASELINE_MIN_CUSTOMERS
    )
    cache.set(key, params, BASELINE_CACHE_TTL_S)
    return params


def ltv_customers_score(
    *, customer_ids: list[int] | None, actor: str, as_of: date | None = None
) -> ScoringOutcome:
    """Score all customers (``None``) or the given ones, as of today (UTC), with the workspace's active
    model (GRU states stored for the fast path), or without one with BG/NBD+GG fitted on the
    workspace's own history (``ltv_fallback``). Customers left without a purchase history lose their
    prediction. Idempotent: the same inputs store the same values (nothing is written twice)."""
    schema = require_tenant("scoring customers")
    as_of = as_of or today_utc()
    active = active_ltv_model()
    history = _load_history(customer_ids)
    if active is not None:
        horizon, version, fallback = active.horizon_days, active.version, False
        scores = core_ml.ltv_predict_batch(
            active.version, _artefact_loader(active.pk), history, as_of=as_of, horizon_days=horizon
        )
    else:
        horizon, fallback = settings.KIKI_LTV_HORIZON_DAYS, True
        params = _baseline_params(as_of, history if customer_ids is None else None)
        version = core_ml.ltv_baseline_version(params)
        scores = core_ml.ltv_baseline_predict_batch(params, history, as_of=as_of, horizon_days=horizon)
    values = [
        stores_services.LtvValues(
            customer_id=s.customer_id,
            predicted_ltv=s.spend,
            predicted_ltv_low=s.spend_low,
            predicted_ltv_high=s.spend_high,
            predicted_purchases=s.purchases,
            ltv_horizon_days=horizon,
            ltv_model_version=version,
            ltv_fallback=fallback,
            ltv_state=s.state,
            ltv_state_as_of=as_of,
        )
        for s in scores
    ]
    scored_ids = {s.customer_id for s in scores}
    candidates = customer_ids if customer_ids is not None else stores_selectors.customer_ids_with_ltv()
    cleared = [stores_services.LtvValues.cleared(pk) for pk in candidates if pk not in scored_ids]
    with transaction.atomic():
        _ltv_write_lock(schema)
        still = active_ltv_model()
        if (still.pk if still else None) != (active.pk if active else None):
            logger.info("LTV scoring skipped: the active model changed while scoring")
            return ScoringOutcome(len(scores), 0, 0, version, fallback, skipped=True)
        written = stores_services.customer_set_ltv(
            predictions=[*values, *cleared], scored_at=timezone.now(), actor=actor
        )
    PREDICTED_LTV.labels(tenant=schema).inc(sum(s.spend_micros for s in scores))
    LTV_SCORED_CUSTOMERS.labels(fallback=str(fallback).lower()).inc(len(scores))
    if active is not None and customer_ids is None:
        # The nightly run republishes the active artefact, so a Redis that lost it heals by itself.
        ltv_model_publish(version=active.version, artefact=_artefact_loader(active.pk)())
    return ScoringOutcome(len(scores), written, len(cleared), version, fallback)


# --- bid-time fast path over stored customers (POST /api/v1/ltv/score with "customer_ids") -------------
@dataclass(frozen=True)
class StoredCustomerScore:
    customer_id: int
    score: LtvScore


def ltv_score_stored_customers(
    *, customer_ids: list[int], horizon_days: int, actor: str, as_of: date | None = None
) -> list[StoredCustomerScore]:
    """Score stored customers by id through the ml worker from their order aggregates and stored GRU
    state (the model version that encoded it), with BG/NBD+GG when the worker cannot answer.
    Unknown ids, or customers without orders by ``as_of``, are refused with their ids."""
    schema = require_tenant("LTV scoring")
    as_of = as_of or today_utc()
    rows = {r.id: r for r in stores_selectors.customers_for_scoring(customer_ids=customer_ids)}
    unknown = [pk for pk in customer_ids if pk not in rows]
    if unknown:
        raise BiddingError(
            ErrorCode.VALIDATION,
            f"Unknown customer id(s) in this workspace: {', '.join(map(str, unknown[:20]))}.",
            details={"customer_ids": [f"No customer {pk} in this workspace." for pk in unknown]},
        )
    unusable = [
        r.id
        for r in rows.values()
        if r.orders_count == 0
        or r.first_order_at is None
        or r.last_order_at is None
        or r.last_order_at.astimezone(UTC).date() > as_of
    ]
    if unusable:
        raise BiddingError(
            ErrorCode.VALIDATION,
            f"Customer(s) {', '.join(map(str, unusable[:20]))} have no orders to score as of {as_of}.",
            details={
                "customer_ids": [f"Customer {pk} has no purchase history up to {as_of}." for pk in unusable]
            },
        )
    items = []
    for pk in customer_ids:
        r = rows[pk]
        if r.first_order_at is None or r.last_order_at is None:  # ``unusable`` above refused these
            raise RuntimeError(f"customer {pk} has orders but no first or last order time")
        first, last = r.first_order_at.astimezone(UTC).date(), r.last_order_at.astimezone(UTC).date()
        repeats = r.purchase_days - 1  # repeat purchase DAYS: training merges same-day orders alike
        monetary = max((r.total_spent - r.first_order_value) / repeats, Decimal(0)) if repeats else Decimal(0)
        use_state = r.ltv_state is not None and not r.ltv_fallback
        items.append(
            core_ml.StoredRfm(
                ref=str(pk),
                frequency=repeats,
                recency_days=(last - first).days,
                t_days=(as_of - first).days,
                monetary=monetary,
                first_value=r.first_order_value,
                state=r.ltv_state if use_state else None,
                model_version=r.ltv_model_version if use_state else None,
                channel=r.acquisition_source,
            )
        )
    active = active_ltv_model()
    params = (
        active.metadata.get("baseline") if active else cache.get(f"kiki:ltv:baseline:{as_of.isoformat()}")
    )
    scores = core_ml.ltv_score_stored(
        items,
        as_of=as_of,
        horizon_days=horizon_days,
        fallback_params=params,
        timeout_ms=settings.KIKI_LTV_SCORE_TIMEOUT_MS,
        on_result=_observe,
    )
    PREDICTED_LTV.labels(tenant=schema).inc(sum(spend_micros(s) for s in scores))
    return [StoredCustomerScore(int(s.ref), s) for s in scores]
