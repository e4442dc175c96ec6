"""Bidding reads: the workspace's active LTV model and its purchase history in the LTV gateway's form."""

from __future__ import annotations

from apps.bidding.ltv import LtvHistory, ltv_history
from apps.bidding.models import LtvModel
from apps.core.tenant_context import require_tenant
from apps.stores import selectors as stores_selectors


def active_ltv_model() -> LtvModel | None:
    """The workspace's active model (without its artefact bytes), or None."""
    require_tenant("reading LTV models")
    return LtvModel.objects.defer("artefact").filter(status=LtvModel.Status.ACTIVE).first()


def ltv_purchase_history(*, customer_ids: list[int] | None = None) -> LtvHistory:
    """The workspace's purchase history (all customers, or the given ones) as training and batch
    scoring see it: same-day purchases of a customer are one transaction."""
    h = stores_selectors.purchase_history(customer_ids=customer_ids)
    return ltv_history(h.customer_ids, h.dates, h.amounts, h.channels)
