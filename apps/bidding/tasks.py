"""Bidding tasks: LTV training (ml queue), batch scoring of stored customers, and the ad platforms:
changes pushed through the outbox and spend reports read back (bidding queue)."""

from __future__ import annotations

from datetime import date

from django.db import InterfaceError, OperationalError

from apps.bidding import services
from apps.bidding.errors import CircuitOpen, PlatformError
from apps.core.actor import Actor
from apps.core.tasks import Queue, TransientError, kiki_task

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
    run = services.ltv_training_scheduled(actor=Actor.system("celery:bidding.train_ltv_scheduled"))
    return "skipped" if run is None else run.status


@kiki_task("bidding.score_customers", queue=Queue.BIDDING, soft_time_limit=1800, time_limit=1900)
def score_customers(customer_ids: list[int] | None = None) -> int:
    """All customers (nightly, via core.dispatch_to_tenants) or the given ones (after new orders)."""
    return services.ltv_score_customers_batch(
        customer_ids=customer_ids, actor=Actor.system("celery:bidding.score_customers")
    ).written


# --- ad platforms ---------------------------------------------------------------------------------
@kiki_task("bidding.apply_platform_change", queue=Queue.BIDDING, soft_time_limit=240, time_limit=300)
def apply_platform_change(change_id: int) -> str:
    """Send one queued change (retries of platform errors are the service's: it re-enqueues itself)."""
    return str(services.platform_change_apply(change_id=change_id).status)


@kiki_task(
    "bidding.sweep_platform_changes", queue=Queue.BIDDING, max_retries=0, soft_time_limit=60, time_limit=90
)
def sweep_platform_changes() -> int:
    """Beat, every minute per workspace: enqueue the queued changes that are due."""
    return services.platform_changes_sweep()


@kiki_task("bidding.fetch_spend", queue=Queue.BIDDING, max_retries=5, soft_time_limit=240, time_limit=300)
def fetch_spend(account_id: int, day_from: str | None = None, day_to: str | None = None) -> int:
    """One account's spend report (default: the lookback window) into the ledger; returns the rows
    written. A platform that is down or an open breaker is retried with back-off; a refusal is not."""
    start, end = services.spend_window()
    try:
        result = services.spend_fetch(
            account_id=account_id,
            day_from=date.fromisoformat(day_from) if day_from else start,
            day_to=date.fromisoformat(day_to) if day_to else end,
        )
    except CircuitOpen as exc:
        raise TransientError(str(exc)) from exc
    except PlatformError as exc:
        if exc.transient:
            raise TransientError(str(exc)) from exc
        raise
    return result.created + result.updated


@kiki_task("bidding.fetch_spend_all", queue=Queue.BIDDING, max_retries=0, soft_time_limit=60, time_limit=90)
def fetch_spend_all() -> int:
    """Beat, hourly per workspace: a ``bidding.fetch_spend`` for each active account."""
    accounts = services.spend_accounts_due()
    for account_id in accounts:
        fetch_spend.apply_async(kwargs={"account_id": account_id})
    return len(accounts)


# --- the inventory breaker ------------------------------------------------------------------------
@kiki_task(
    "bidding.apply_inventory_breaker",
    queue=Queue.BIDDING,
    retry_for=(TransientError, OperationalError, InterfaceError),
    soft_time_limit=120,
    time_limit=150,
)
def apply_inventory_breaker(store_id: int, product_platform_id: str, event_id: int | None = None) -> str:
    """The breaker for one product, when running it inline (the stores hook) failed; idempotent."""
    return services.inventory_breaker_apply(
        store_id=store_id, product_platform_id=product_platform_id, event_id=event_id
    ).summary


@kiki_task(
    "bidding.review_inventory_holds", queue=Queue.BIDDING, max_retries=0, soft_time_limit=240, time_limit=300
)
def review_inventory_holds() -> str:
    """Beat, hourly per workspace: open holds whose products are all back in stock are released."""
    return services.inventory_holds_review().summary


@kiki_task("bidding.record_bid_decisions", queue=Queue.BIDDING, max_retries=5)
def record_bid_decisions() -> int:
    """Write the bidder's waiting decision batches of this workspace (idempotent by batch)."""
    try:
        return services.bid_decisions_flush()
    except (OperationalError, InterfaceError) as exc:
        raise TransientError(str(exc)) from exc
