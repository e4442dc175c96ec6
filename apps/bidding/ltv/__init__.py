"""The LTV gateway: the one place where Django reaches ml/ltv and ml/serving (training, comparing,
publishing and scoring a workspace's LTV models, and the generator of demo purchases). Bidding's
services call it; other apps reach LTV only through ``apps.bidding.services`` / ``selectors``.
The ml Redis connection and the worker heartbeat check are platform plumbing in ``apps.core.ml``."""

from apps.bidding.ltv.history import CustomerHistory, LtvHistory, day_to_date, ltv_history
from apps.bidding.ltv.scoring import (
    LtvBatchScore,
    LtvScore,
    StoredRfm,
    ltv_baseline_fit,
    ltv_baseline_predict_batch,
    ltv_baseline_version,
    ltv_predict_batch,
    ltv_score_from_stored_state,
    ltv_score_histories_via_worker,
    ltv_score_spend_micros,
)
from apps.bidding.ltv.simulation import SimulatedOrders, ltv_simulate
from apps.bidding.ltv.training import (
    PromotionDecision,
    TrainedLtv,
    ltv_evaluate,
    ltv_model,
    ltv_promotion_decision,
    ltv_publish,
    ltv_should_promote,
    ltv_train,
)

__all__ = [
    "CustomerHistory",
    "LtvBatchScore",
    "LtvHistory",
    "LtvScore",
    "PromotionDecision",
    "SimulatedOrders",
    "StoredRfm",
    "TrainedLtv",
    "day_to_date",
    "ltv_baseline_fit",
    "ltv_baseline_predict_batch",
    "ltv_baseline_version",
    "ltv_evaluate",
    "ltv_history",
    "ltv_model",
    "ltv_predict_batch",
    "ltv_promotion_decision",
    "ltv_publish",
    "ltv_score_from_stored_state",
    "ltv_score_histories_via_worker",
    "ltv_score_spend_micros",
    "ltv_should_promote",
    "ltv_simulate",
    "ltv_train",
]
