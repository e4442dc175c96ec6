"""Bidding models, one module per purpose; everything is importable from ``apps.bidding.models``."""

from apps.bidding.models.campaigns import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    CampaignProduct,
    CircuitState,
    InventoryHold,
    Platform,
    PlatformChange,
    SpendLedger,
)
from apps.bidding.models.ltv import BiddingCapability, LtvModel, LtvTrainingRun

__all__ = [
    "AdPlatformAccount",
    "BidDecision",
    "BiddingCapability",
    "Campaign",
    "CampaignProduct",
    "CircuitState",
    "InventoryHold",
    "LtvModel",
    "LtvTrainingRun",
    "Platform",
    "PlatformChange",
    "SpendLedger",
]
