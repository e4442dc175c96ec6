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
    from apps.bidding.selectors import active_ltv_model
    from apps.bidding.services import ltv_training_request
    from apps.core.actor import Actor
    from apps.core.errors import KikiError

    try:
        with schema_context(schema):
            if active_ltv_model() is None:
                ltv_training_request(actor=Actor.system(f"signal:stores.store_connected:{store_id}"))
    except KikiError as exc:
        logger.info("no LTV training after store %s connected: %s", store_id, exc.message)
    except Exception:
        logger.exception("could not request LTV training after store %s connected", store_id)


def carry_out_approved_campaign_change(
    sender: Any, *, approval: Any, action: Any, approved: bool, actor: Any, schema: str, **kwargs: Any
) -> None:
    """``governance.services.approval_decided`` (sent after commit) → an approved budget change or
    max bid that a person asked for is queued for the platform (``campaign_change_from_approval``:
    idempotent by the request). The decision stands if this fails: the failure is logged."""
    if not approved:
        return
    from apps.bidding.services import campaign_change_from_approval
    from apps.core.errors import KikiError

    try:
        with schema_context(schema):
            campaign_change_from_approval(
                approval_id=int(approval.pk),
                action=action,
                reserve=bool(approval.reserve),
                note=f"Approved request #{approval.pk}: {approval.reason}",
                actor=actor,
            )
    except KikiError as exc:
        logger.warning("approved request %s not carried out: %s", approval.pk, exc.message)
    except Exception:
        logger.exception("could not carry out approved request %s", approval.pk)


def breaker_on_stock_transition(transition: Any) -> None:
    """``stores.services.on_inventory_transition`` (after commit, once per variant transition, inside
    the webhook drain or the sync that wrote it): the inventory breaker runs here, at once, so the
    pause is enqueued as soon as the stock-out is committed. Should it raise (a database hiccup), the
    same evaluation is queued as ``bidding.apply_inventory_breaker``, which retries; the store's write
    is never failed by it."""
    from apps.bidding.services import inventory_breaker_apply
    from apps.bidding.tasks import apply_inventory_breaker

    args = [transition.store_id, transition.product_platform_id, transition.event_id]
    with schema_context(transition.schema):
        try:
            inventory_breaker_apply(
                store_id=transition.store_id,
                product_platform_id=transition.product_platform_id,
                event_id=transition.event_id,
            )
        except Exception:
            logger.exception(
                "inventory breaker failed; queued for a retry", extra={"event_id": transition.event_id}
            )
            try:
                apply_inventory_breaker.apply_async(args=args)
            except Exception:
                logger.exception(
                    "could not enqueue the inventory breaker", extra={"event_id": transition.event_id}
                )
