"""Training the workspace's own LTV model: requesting a run (API, admin, a store's first sync), the
weekly run, and the run itself: train, compare with the active model on the same window, promote or
reject with the rule's reasons.

The decision is audited in the transaction that makes it: ``ltv_model.promote`` or ``ltv_model.reject``
(version, figures, the rule's reasons), and ``ltv_model.retire`` for the model a promotion replaces;
publishing the promoted artefact to the ml workers after commit is ``ltv_model.publish``.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.bidding import ltv
from apps.bidding.errors import BiddingError, ErrorCode
from apps.bidding.metrics import LTV_MODELS_TRAINED
from apps.bidding.models import LtvModel, LtvTrainingRun
from apps.bidding.selectors import active_ltv_model, ltv_purchase_history
from apps.bidding.services.ltv_registry import (
    artefact_loader,
    ltv_model_publish,
    ltv_promotion_text,
    ltv_write_lock,
    session_lock,
)
from apps.core.actor import Actor
from apps.core.money import today_utc
from apps.core.tenant_context import require_tenant
from apps.governance import services as governance

logger = logging.getLogger(__name__)
HORIZON_RANGE = (30, 1095)
MODEL_TYPE = LtvModel._meta.label_lower  # "bidding.ltvmodel"
TRAINER = Actor.system("celery:bidding.train_ltv_model")


def _figures(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """Evaluation figures as the audit trail records them (a non-finite number has no JSON form)."""
    if metrics is None:
        return None
    return {
        k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in sorted(metrics.items())
    }


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
def ltv_training_request(*, actor: Actor, horizon_days: int | None = None) -> LtvTrainingRun:
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
    run = LtvTrainingRun.objects.create(horizon_days=horizon, requested_by=actor.label)
    transaction.on_commit(lambda: _enqueue_training(schema, run.pk))
    return run


def _enqueue_training(schema: str, run_id: int) -> None:
    from apps.bidding.tasks import train_ltv_model

    with schema_context(schema):  # the task carries the schema it is published from
        train_ltv_model.delay(run_id)


class _TooLittleData(Exception):
    pass


def _check_enough(history: ltv.LtvHistory, calibration_end: date) -> None:
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
    with session_lock(f"kiki:ltv:train:{schema}:{run.pk}") as mine:
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
    history = ltv_purchase_history()
    _check_enough(history, calibration_end)
    trained = ltv.ltv_train(
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
        ltv.ltv_evaluate(active.version, artefact_loader(active.pk), history, window) if active else None
    )
    verdict = ltv.ltv_promotion_decision(trained.candidate_metrics, current)
    promote = verdict.promote
    reasons = list(verdict.reasons)
    decision = ltv_promotion_text(
        verdict,
        candidate=trained.candidate_metrics,
        current=current,
        against=active.version if active else "",
        window=f"{window[0] + timedelta(days=1)}…{window[1]}",
    )
    with transaction.atomic():
        ltv_write_lock(schema)
        now_active = LtvModel.objects.select_for_update().filter(status=LtvModel.Status.ACTIVE).first()
        if (now_active.pk if now_active else None) != (active.pk if active else None):
            promote = False
            decision = "Rejected: another model was promoted while this one trained; train again to compare."
            reasons = ["another model was promoted while this one trained"]
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
            transaction.on_commit(lambda: _after_promotion(schema, candidate.pk, version, artefact))
        _audit_decision(
            run=run,
            candidate=candidate,
            retired=now_active if promote else None,
            promote=promote,
            reasons=reasons,
            decision=decision,
            against=active.version if active else "",
            current=current,
        )
    LTV_MODELS_TRAINED.labels(outcome="promoted" if promote else "rejected").inc()
    logger.info("LTV model %s %s", trained.version, "promoted" if promote else "rejected")


def _audit_decision(
    *,
    run: LtvTrainingRun,
    candidate: LtvModel,
    retired: LtvModel | None,
    promote: bool,
    reasons: list[str],
    decision: str,
    against: str,
    current: dict[str, float] | None,
) -> None:
    """The promotion decision's audit entries (the transaction's last writes): the retired model's,
    then the candidate's with its version, figures and the rule's reasons."""
    if retired is not None:
        governance.audit_record(
            actor=TRAINER,
            action="ltv_model.retire",
            object_type=MODEL_TYPE,
            object_id=retired.pk,
            before={"version": retired.version, "status": LtvModel.Status.ACTIVE},
            after={
                "version": retired.version,
                "status": LtvModel.Status.RETIRED,
                "replaced_by": candidate.version,
            },
        )
    governance.audit_record(
        actor=TRAINER,
        action="ltv_model.promote" if promote else "ltv_model.reject",
        object_type=MODEL_TYPE,
        object_id=candidate.pk,
        before={"version": candidate.version, "status": LtvModel.Status.CANDIDATE},
        after={
            "version": candidate.version,
            "status": LtvModel.Status.ACTIVE if promote else LtvModel.Status.REJECTED,
            "training_run": run.pk,
            "requested_by": run.requested_by,
            "horizon_days": candidate.horizon_days,
            "calibration_end": candidate.calibration_end,
            "validation_window": [candidate.validation_from, candidate.validation_to],
            "compared_with": against,
            "candidate_metrics": _figures(candidate.candidate_metrics),
            "current_metrics": _figures(current),
            "reasons": reasons,
            "decision": decision,
        },
    )


def _after_promotion(schema: str, model_pk: int, version: str, artefact: bytes) -> None:
    published = ltv_model_publish(version=version, artefact=artefact)
    from apps.bidding.tasks import score_customers

    with schema_context(schema):
        with transaction.atomic():
            governance.audit_record(
                actor=TRAINER,
                action="ltv_model.publish",
                object_type=MODEL_TYPE,
                object_id=model_pk,
                after={"version": version, "published": published},
            )
        score_customers.delay(customer_ids=None)


def ltv_training_scheduled(*, actor: Actor) -> LtvTrainingRun | None:
    """The weekly training: skipped while a run is in flight or while the workspace has too little
    data (no failed run is recorded every week for a workspace that is just starting)."""
    require_tenant("scheduled LTV training")
    if LtvTrainingRun.objects.filter(
        status__in=[LtvTrainingRun.Status.REQUESTED, LtvTrainingRun.Status.RUNNING]
    ).exists():
        return None
    try:
        _check_enough(ltv_purchase_history(), today_utc() - timedelta(days=1))
    except _TooLittleData as exc:
        logger.info("weekly LTV training skipped: %s", exc)
        return None
    run = LtvTrainingRun.objects.create(horizon_days=settings.KIKI_LTV_HORIZON_DAYS, requested_by=actor.label)
    return ltv_model_train(run_id=run.pk)
