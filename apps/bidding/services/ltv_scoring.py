"""Scoring LTV, one service per path:

- ``ltv_score_posted_histories``: purchase histories an integrator sends (POST /api/v1/ltv/score with
  ``customers``), through the ml worker; nothing is stored.
- ``ltv_score_customers_batch``: the workspace's stored customers (all: nightly and after a promotion;
  some: after their orders changed) with the active model or BG/NBD+GG; predictions are stored.
- ``ltv_score_customers_fast_path``: stored customers at bid time (POST /api/v1/ltv/score with
  ``customer_ids``) from their order aggregates and stored GRU state; nothing is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.bidding import ltv
from apps.bidding.errors import BiddingError, ErrorCode
from apps.bidding.metrics import LTV_SCORE_SECONDS, LTV_SCORED_CUSTOMERS, PREDICTED_LTV
from apps.bidding.selectors import active_ltv_model, ltv_purchase_history
from apps.bidding.services.ltv_registry import artefact_loader, ltv_model_publish, ltv_write_lock
from apps.core.actor import Actor
from apps.core.money import today_utc
from apps.core.tenant_context import require_tenant
from apps.stores import selectors as stores_selectors
from apps.stores import services as stores_services

logger = logging.getLogger(__name__)
BASELINE_CACHE_TTL_S = 2 * 24 * 3600


def _observe(seconds: float, fallback: bool) -> None:
    LTV_SCORE_SECONDS.labels(fallback=str(fallback).lower()).observe(seconds)


def _baseline_cache_key(as_of: date) -> str:
    return f"kiki:ltv:baseline:{as_of.isoformat()}"  # the cache's key function adds the tenant


# --- integrators' histories (POST /api/v1/ltv/score with "customers") ------------------------------
def ltv_score_posted_histories(
    *, customers: list[tuple[str, list[tuple[date, Decimal]]]], as_of: date, horizon_days: int, actor: Actor
) -> list[ltv.LtvScore]:
    """Score purchase histories sent by an integrator through the ml worker; purchases after ``as_of``
    are ignored. Adds the predicted spend to ``syncvalue_predicted_ltv_total`` (micros) for this
    tenant."""
    schema = require_tenant("LTV scoring")
    histories = [
        ltv.CustomerHistory(ref, [d for d, _ in purchases], [float(a) for _, a in purchases])
        for ref, purchases in customers
    ]
    scores = ltv.ltv_score_histories_via_worker(
        histories, as_of=as_of, horizon_days=horizon_days, on_result=_observe
    )
    PREDICTED_LTV.labels(tenant=schema).inc(sum(ltv.ltv_score_spend_micros(s) for s in scores))
    return scores


# --- batch scoring of stored customers ----------------------------------------------------------
@dataclass(frozen=True)
class ScoringOutcome:
    scored: int
    written: int
    cleared: int
    model_version: str
    fallback: bool
    skipped: bool = False  # the active model changed while scoring; the promotion re-scores everyone


def _baseline_params(as_of: date, history_all: ltv.LtvHistory | None) -> dict[str, list[float]]:
    """BG/NBD+GG fitted on the workspace's whole history as of the day, cached for the day (a full
    scoring refits it; scoring a few customers after an order reuses it)."""
    key = _baseline_cache_key(as_of)
    if history_all is None:
        cached = cache.get(key)
        if cached is not None:
            return dict(cached)
        history_all = ltv_purchase_history()
    params = ltv.ltv_baseline_fit(
        history_all, as_of=as_of, min_customers=settings.KIKI_LTV_BASELINE_MIN_CUSTOMERS
    )
    cache.set(key, params, BASELINE_CACHE_TTL_S)
    return params


def ltv_score_customers_batch(
    *, customer_ids: list[int] | None, actor: Actor, as_of: date | None = None
) -> ScoringOutcome:
    """Score all customers (``None``) or the given ones, as of today (UTC), with the workspace's active
    model (GRU states stored for the fast path), or without one with BG/NBD+GG fitted on the
    workspace's own history (``ltv_fallback``), and store the predictions. Customers left without a
    purchase history lose their prediction. Idempotent: the same inputs store the same values (nothing
    is written twice)."""
    schema = require_tenant("scoring customers")
    as_of = as_of or today_utc()
    active = active_ltv_model()
    history = ltv_purchase_history(customer_ids=customer_ids)
    if active is not None:
        horizon, version, fallback = active.horizon_days, active.version, False
        scores = ltv.ltv_predict_batch(
            active.version, artefact_loader(active.pk), history, as_of=as_of, horizon_days=horizon
        )
    else:
        horizon, fallback = settings.KIKI_LTV_HORIZON_DAYS, True
        params = _baseline_params(as_of, history if customer_ids is None else None)
        version = ltv.ltv_baseline_version(params)
        scores = ltv.ltv_baseline_predict_batch(params, history, as_of=as_of, horizon_days=horizon)
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
        ltv_write_lock(schema)
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
        ltv_model_publish(version=active.version, artefact=artefact_loader(active.pk)())
    return ScoringOutcome(len(scores), written, len(cleared), version, fallback)


# --- bid-time fast path over stored customers (POST /api/v1/ltv/score with "customer_ids") -------------
@dataclass(frozen=True)
class StoredCustomerScore:
    customer_id: int
    score: ltv.LtvScore


def ltv_score_customers_fast_path(
    *, customer_ids: list[int], horizon_days: int, actor: Actor, as_of: date | None = None
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
            ltv.StoredRfm(
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
    params = active.metadata.get("baseline") if active else cache.get(_baseline_cache_key(as_of))
    scores = ltv.ltv_score_from_stored_state(
        items,
        as_of=as_of,
        horizon_days=horizon_days,
        fallback_params=params,
        timeout_ms=settings.KIKI_LTV_SCORE_TIMEOUT_MS,
        on_result=_observe,
    )
    PREDICTED_LTV.labels(tenant=schema).inc(sum(ltv.ltv_score_spend_micros(s) for s in scores))
    return [StoredCustomerScore(int(s.ref), s) for s in scores]
