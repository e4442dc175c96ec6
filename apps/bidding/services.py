"""Bidding services. For now: LTV scoring of purchase histories for integrators (the bidding engine,
campaigns and the spend ledger come with the bidding issue)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from apps.bidding.metrics import LTV_SCORE_SECONDS, PREDICTED_LTV
from apps.core.ml import CustomerHistory, LtvScore, ltv_score_histories
from apps.core.tenant_context import require_tenant

MICROS = Decimal(1_000_000)


def spend_micros(score: LtvScore) -> int:
    return int(Decimal(str(score.prediction.spend)) * MICROS)


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

    def observe(seconds: float, fallback: bool) -> None:
        LTV_SCORE_SECONDS.labels(fallback=str(fallback).lower()).observe(seconds)

    scores = ltv_score_histories(histories, as_of=as_of, horizon_days=horizon_days, on_result=observe)
    total = sum(spend_micros(s) for s in scores)
    PREDICTED_LTV.labels(tenant=schema).inc(total)
    return scores
