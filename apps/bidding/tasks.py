"""Bidding tasks: LTV training (ml queue) and batch scoring of stored customers (bidding queue)."""

from __future__ import annotations

from apps.bidding import services
from apps.core.tasks import Queue, kiki_task

# Training is long and CPU-bound; the soft limit lets the run be marked failed before the hard kill.
TRAIN_SOFT_LIMIT_S = 3300
TRAIN_HARD_LIMIT_S = 3600


@kiki_task(
    "bidding.train_ltv_model",
    queue=Queue.ML,
    max_retries=0,
    soft_time_limit=TRAIN_SOFT_LIMIT_S,
    time_limit=TRAIN_HARD_LIMIT_S,
)
def train_ltv_model(run_id: int) -> str:
    return services.ltv_model_train(run_id=run_id).status


@kiki_task(
    "bidding.train_ltv_scheduled",
    queue=Queue.ML,
    max_retries=0,
    soft_time_limit=TRAIN_SOFT_LIMIT_S,
    time_limit=TRAIN_HARD_LIMIT_S,
)
def train_ltv_scheduled() -> str:
    run = services.ltv_training_scheduled(actor="beat")
    return "skipped" if run is None else run.status


@kiki_task("bidding.score_customers", queue=Queue.BIDDING, soft_time_limit=1800, time_limit=1900)
def score_customers(customer_ids: list[int] | None = None) -> int:
    """All customers (nightly, via core.dispatch_to_tenants) or the given ones (after new orders)."""
    return services.ltv_customers_score(customer_ids=customer_ids, actor="celery").written
