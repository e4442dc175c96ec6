"""The promotion rule decides and explains in one place: ``ltv_promotion_decision`` returns the verdict
and its reasons, the stored text is written from them, and no rejection goes without a reason."""

from __future__ import annotations

import pytest

from apps.bidding.ltv import PromotionDecision, ltv_promotion_decision, ltv_should_promote
from apps.bidding.services.ltv_registry import ltv_promotion_text


def figures(spend_mae: float, *, below_low: float = 0.10, above_high: float = 0.10) -> dict[str, float]:
    """Stored figures of a model (``asdict(ml.ltv.train.Metrics)``); tails 10 % each = calibrated."""
    return {
        "spend_mae": spend_mae,
        "purchases_mae": 0.5,
        "coverage_10_90": 1 - below_low - above_high,
        "top20_capture": 0.4,
        "gini": 0.3,
        "total_ratio": 1.0,
        "below_low": below_low,
        "above_high": above_high,
    }


CURRENT = figures(20.0, below_low=0.10, above_high=0.12)  # interval error 0.02
CASES = [
    # (name, candidate, current, promote, words that must be in the reasons)
    ("no current model", figures(50.0, above_high=0.6), None, True, ["no current model"]),
    (
        "all criteria pass",
        figures(18.0, above_high=0.13),
        CURRENT,
        True,
        ["lower than 20.00", "at most 0.05 worse"],
    ),
    ("tails a little worse pass", figures(18.0, above_high=0.16), CURRENT, True, ["at most 0.05 worse"]),
    ("spend MAE not lower", figures(21.0), CURRENT, False, ["spend MAE 21.00 is not lower than 20.00"]),
    ("equal spend MAE", figures(20.0), CURRENT, False, ["equal figures are not better"]),
    (
        "tails too far",
        figures(18.0, above_high=0.30),
        CURRENT,
        False,
        ["interval tails", "more than 0.05 worse"],
    ),
    (
        "a low tail too heavy",
        figures(18.0, below_low=0.25),
        CURRENT,
        False,
        ["0.250 below", "more than 0.05"],
    ),
    (
        "both fail",
        figures(25.0, above_high=0.01, below_low=0.3),
        CURRENT,
        False,
        ["not lower", "more than 0.05"],
    ),
]


@pytest.mark.parametrize(
    ("name", "candidate", "current", "promote", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_the_decision_and_its_reasons_come_from_one_rule(name, candidate, current, promote, words):
    decision = ltv_promotion_decision(candidate, current)
    assert isinstance(decision, PromotionDecision)
    assert decision.promote is promote
    assert ltv_should_promote(candidate, current) is promote  # the boolean is the decision's
    assert decision.reasons, "every decision, and above all every rejection, has a reason"
    joined = "; ".join(decision.reasons)
    for word in words:
        assert word in joined
    with pytest.raises(AttributeError):
        decision.promote = not promote  # type: ignore[misc]  # frozen


def test_each_failed_criterion_is_a_reason_of_its_own():
    decision = ltv_promotion_decision(figures(25.0, above_high=0.5), CURRENT)
    assert not decision.promote
    assert len(decision.reasons) == 2
    assert decision.reasons[0].startswith("spend MAE 25.00 is not lower than 20.00")
    assert decision.reasons[1].startswith("interval tails 0.100 below / 0.500 above")


def test_old_figures_without_tails_are_compared_with_empty_tails():
    """Models stored before the tails were recorded: their figures default to no tail at all (an
    interval error of 0.10 on the high side)."""
    old = {k: v for k, v in CURRENT.items() if k not in ("below_low", "above_high")}
    decision = ltv_promotion_decision(figures(18.0), old)
    assert decision.promote  # candidate's error 0.0 vs old's 0.1 (no high tail at all)


@pytest.mark.parametrize(
    ("name", "candidate", "current", "promote", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_the_stored_text_is_written_from_the_decision(name, candidate, current, promote, words):
    decision = ltv_promotion_decision(candidate, current)
    text = ltv_promotion_text(decision, candidate=candidate, current=current, against="v-old", window="a…b")
    assert text.startswith("Promoted:" if promote else "Rejected:")
    assert "coverage" not in text  # the rule judges the interval's tails, and so does its text
    if current is None:
        assert "first model" in text
        return
    assert "v-old" in text
    assert "a…b" in text
    assert f"{current['spend_mae']:.2f}" in text
    for reason in decision.reasons:
        assert reason in text
