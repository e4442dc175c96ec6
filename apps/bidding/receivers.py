"""Bidding's listeners to other apps' signals (connected in BiddingConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from django_tenants.utils import schema_context

logger = logging.getLogger(__name__)


def rescore_customers_after_orders(
    sender: Any, *, schema: str, customer_ids: list[int], **kwargs: Any
) -> None:
    """``stores.services.customers_orders_changed`` (sent after commit) → re-score those customers.
    A broker outage must not fail the request that stored the orders: the nightly scoring catches up."""
    from apps.bidding.tasks import score_customers

    try:
        with schema_context(schema):
            ids = list(customer_ids)
            # Celery logs a task's kwargs on receipt: a bulk upsert can name 1,000 customers.
            score_customers.apply_async(
                kwargs={"customer_ids": ids}, kwargsrepr=f"{{'customer_ids': <{len(ids)} ids>}}"
            )
    except Exception:
        logger.exception("could not enqueue LTV re-scoring of %d customer(s)", len(customer_ids))


def train_after_store_connected(sender: Any, *, schema: str, store_id: int, **kwargs: Any) -> None:
    """``stores.services.store_connected`` → a workspace without an LTV model gets one trained on the
    history that just arrived (a run already in flight, or too little data, is fine: nothing to do)."""
    from apps.bidding.services import active_ltv_model, ltv_training_request
    from apps.core.errors import KikiError

    try:
        with schema_context(schema):
            if active_ltv_model() is None:
                ltv_training_request(actor=f"store-connected:{store_id}")
    except KikiError as exc:
        logger.info("no LTV training after store %s connected: %s", store_id, exc.message)
    except Exception:
        logger.exception("could not request LTV training after store %s connected", store_id)
