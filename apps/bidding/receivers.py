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
