"""Pacing: every branch and clamp of the one rule, and the single path is the batch path of one."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from apps.bidding.services.pacing import (
    FLOOR,
    HIGH,
    LOW,
    UNIFORM,
    PacingCurve,
    day_fraction,
    pacing_multiplier,
    pacing_multipliers,
)

BUDGET = 24_000_000  # 1,000,000 µ due per hour on a uniform day


@pytest.mark.parametrize(
    ("spent", "frac", "expected", "why"),
    [
        (12_000_000, 0.5, 1.0, "exactly on schedule"),
        (6_000_000, 0.5, 1.5, "half of what is due: bid up"),
        (0, 0.5, HIGH, "nothing spent: clamped at HIGH"),
        (18_000_000, 0.5, 0.5, "1.5x ahead: bid down"),
        (23_999_999, 0.5, LOW, "far ahead: clamped at LOW"),
        (24_000_000, 0.5, 0.0, "the day's budget is spent"),
        (30_000_000, 0.9, 0.0, "overspent (late report): zero, never negative"),
        (0, 0.0, HIGH, "midnight, nothing spent"),
        (int(BUDGET * FLOOR), 0.0, 1.0, "midnight: due is the floor, not zero"),
        (int(BUDGET * FLOOR), 0.001, 1.0, "within the floor"),
        (23_000_000, 0.999999, pytest.approx(1.0 + (1 - 23_000_000 / (BUDGET * 0.999999)), rel=1e-9), "end"),
    ],
)
def test_rule_table(spent: int, frac: float, expected: float, why: str) -> None:
    assert pacing_multiplier(daily_budget_micros=BUDGET, spent_micros=spent, day_fraction=frac) == expected, (
        why
    )


def test_zero_budget_bids_nothing() -> None:
    assert pacing_multiplier(daily_budget_micros=0, spent_micros=0, day_fraction=0.5) == 0.0


def test_batch_equals_singles() -> None:
    rng = np.random.default_rng(7)
    budgets = rng.integers(0, 10**9, 500)
    spent = rng.integers(0, 10**9, 500)
    fracs = rng.random(500)
    batch = pacing_multipliers(daily_budget_micros=budgets, spent_micros=spent, day_fraction=fracs)
    singles = [
        pacing_multiplier(daily_budget_micros=int(b), spent_micros=int(s), day_fraction=float(f))
        for b, s, f in zip(budgets, spent, fracs, strict=True)
    ]
    assert batch.tolist() == singles
    assert ((batch == 0) | ((batch >= LOW) & (batch <= HIGH))).all()


def test_hourly_curve_front_loads_the_budget() -> None:
    weights = [0.0] * 24
    weights[9] = weights[10] = 1.0  # all spend due between 09:00 and 11:00
    curve = PacingCurve.from_hourly_weights(weights)
    assert curve.target(np.asarray([9 / 24]))[0] == 0.0
    assert curve.target(np.asarray([10 / 24]))[0] == pytest.approx(0.5)
    assert curve.target(np.asarray([11 / 24, 1.0]))[-1] == 1.0
    # at 08:00 nothing is due: spending anything puts the campaign ahead of schedule
    assert (
        pacing_multiplier(
            daily_budget_micros=BUDGET, spent_micros=BUDGET // 2, day_fraction=8 / 24, curve=curve
        )
        == LOW
    )
    assert UNIFORM.target(np.asarray([0.25]))[0] == pytest.approx(0.25)


@pytest.mark.parametrize("weights", [[1.0] * 23, [0.0] * 24, [-1.0] + [1.0] * 23])
def test_bad_curves_are_refused(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="24 non-negative"):
        PacingCurve.from_hourly_weights(weights)


def test_day_fraction_uses_the_workspace_timezone() -> None:
    noon_utc = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert day_fraction(noon_utc) == 0.5
    assert day_fraction(noon_utc, "America/New_York") == pytest.approx(8 / 24)  # EDT
