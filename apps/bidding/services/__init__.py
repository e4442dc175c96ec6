"""Bidding services (the only code in bidding that writes), one module per purpose:

- ``ltv_registry``: the model registry's locks, publishing a model to the ml workers, the promotion text;
- ``ltv_training``: requesting and running LTV training, promotion;
- ``ltv_scoring``: the three scoring paths (posted histories, stored customers in batch, the fast path);
- ``circuits``: each ad platform account's circuit breaker (state shared through Redis);
- ``platforms``: the outbox of changes pushed to ad platforms (pause, resume, bid, budget);
- ``inventory``: the inventory circuit breaker (out of stock → hold and pause; restock → restore, resume);
- ``campaigns``: ad accounts and campaigns as people manage them, a person's actions through governance;
- ``spend``: spend reports read from the platforms into the spend ledger;
- ``demo``: the demo workspace's ads sandbox accounts, campaigns and first bids (``seed_demo``).

Reads are in ``apps.bidding.selectors``; ml/ is reached only through the LTV gateway ``apps.bidding.ltv``.
Other apps import this package (``from apps.bidding import services as bidding``), never a submodule.
"""

from apps.bidding.ltv import SimulatedOrders, ltv_simulate
from apps.bidding.services.bidder import MAX_BATCH, BidBatch, BidReason, BidRequest, bids_decide
from apps.bidding.services.campaigns import (
    CampaignActionResult,
    ad_account_connect,
    ad_account_connect_check,
    ad_account_set_credentials,
    ad_account_set_credentials_check,
    campaign_change_from_approval,
    campaign_pause,
    campaign_products_check,
    campaign_register,
    campaign_register_check,
    campaign_resume,
    campaign_set_bid,
    campaign_set_budget,
    campaign_set_products,
    credential_keys,
)
from apps.bidding.services.circuits import BreakerSnapshot, breaker_call, breaker_reset, breaker_state
from apps.bidding.services.decision_log import bid_decisions_flush, bid_decisions_waiting
from apps.bidding.services.demo import DEMO_SPEND_DAYS, DemoAds, demo_ads_connect, demo_bids_decide
from apps.bidding.services.inventory import BreakerOutcome, inventory_breaker_apply, inventory_holds_review
from apps.bidding.services.ltv_registry import ltv_model_publish
from apps.bidding.services.ltv_scoring import (
    ScoringOutcome,
    StoredCustomerScore,
    ltv_score_customers_batch,
    ltv_score_customers_fast_path,
    ltv_score_posted_histories,
)
from apps.bidding.services.ltv_training import (
    HORIZON_RANGE,
    ltv_model_train,
    ltv_training_request,
    ltv_training_scheduled,
)
from apps.bidding.services.platforms import (
    ad_account_access,
    ad_account_adapter,
    campaign_change_request,
    platform_change_apply,
    platform_changes_sweep,
)
from apps.bidding.services.spend import SpendFetchResult, spend_accounts_due, spend_fetch, spend_window

__all__ = [
    "bid_decisions_flush",
    "bid_decisions_waiting",
    "MAX_BATCH",
    "BidBatch",
    "BidReason",
    "BidRequest",
    "bids_decide",
    "DEMO_SPEND_DAYS",
    "DemoAds",
    "demo_ads_connect",
    "demo_bids_decide",
    "BreakerOutcome",
    "inventory_breaker_apply",
    "inventory_holds_review",
    "CampaignActionResult",
    "ad_account_connect",
    "ad_account_connect_check",
    "ad_account_set_credentials",
    "ad_account_set_credentials_check",
    "campaign_change_from_approval",
    "campaign_pause",
    "campaign_products_check",
    "campaign_register",
    "campaign_register_check",
    "campaign_resume",
    "campaign_set_bid",
    "campaign_set_budget",
    "campaign_set_products",
    "credential_keys",
    "SpendFetchResult",
    "ad_account_access",
    "ad_account_adapter",
    "campaign_change_request",
    "platform_change_apply",
    "platform_changes_sweep",
    "spend_accounts_due",
    "spend_fetch",
    "spend_window",
    "BreakerSnapshot",
    "HORIZON_RANGE",
    "ScoringOutcome",
    "SimulatedOrders",
    "StoredCustomerScore",
    "breaker_call",
    "breaker_reset",
    "breaker_state",
    "ltv_model_publish",
    "ltv_model_train",
    "ltv_score_customers_batch",
    "ltv_score_customers_fast_path",
    "ltv_score_posted_histories",
    "ltv_simulate",
    "ltv_training_request",
    "ltv_training_scheduled",
]
