"""Budget pacing: spread each campaign's daily budget over the day.

One rule, vectorised (a single campaign is a batch of one). At local time ``t`` (fraction of the
day, 0 ≤ t < 1) a campaign should have spent ``budget × target(t)``, where ``target`` is the
cumulative share of the day's budget due by ``t``: uniform by default, or the cumulative sum of 24
hourly weights. The multiplier applied to bids is a proportional controller on the schedule error:

    due      = budget × max(target(t), FLOOR)         FLOOR: a quarter-hour's share, so the first
                                                       minutes of a day don't divide by ~0
    ratio    = spent / due                            1: on schedule; 2: twice ahead; 0: nothing spent
    m        = clip(1 + GAIN × (1 − ratio), LOW, HIGH)
    m        = 0 when spent ≥ budget                  the day's budget is gone: bid nothing

So a campaign behind schedule bids up to ``HIGH`` times its value, one ahead bids down to ``LOW``,
and one that has spent its day bids zero. Multipliers are returned as float64 arrays (a factor,
not money); bids are rounded to integer micros by the bidder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

GAIN = 1.0
LOW = 0.25
HIGH = 2.0
FLOOR = 1.0 / 96.0  # 15 minutes of a uniform day


@dataclass(frozen=True)
class PacingCurve:
    """Cumulative share of the daily budget due by each hour's end (24 values, last = 1)."""

    cumulative: tuple[float, ...]

    @classmethod
    def uniform(cls) -> PacingCurve:
        return cls(tuple((h + 1) / 24.0 for h in range(24)))

    @classmethod
    def from_hourly_weights(cls, weights: Sequence[float]) -> PacingCurve:
        if len(weights) != 24 or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("pacing needs 24 non-negative hourly weights with a positive sum")
        total = float(sum(weights))
        acc, out = 0.0, []
        for w in weights:
            acc += w / total
            out.append(acc)
        out[-1] = 1.0
        return cls(tuple(out))

    def target(self, day_fraction: NDArray[np.float64]) -> NDArray[np.float64]:
        """Share of the day's budget due by ``day_fraction`` (linear within each hour)."""
        hours = np.clip(day_fraction, 0.0, 1.0) * 24.0
        h = np.minimum(hours.astype(np.int64), 23)
        cum = np.asarray((0.0, *self.cumulative), dtype=np.float64)
        return np.asarray(cum[h] + (cum[h + 1] - cum[h]) * (hours - h), dtype=np.float64)


UNIFORM = PacingCurve.uniform()


def day_fraction(now: datetime, tz: str = "UTC") -> float:
    """How far through its local day ``now`` is, in the workspace's timezone."""
    local = now.astimezone(ZoneInfo(tz))
    return (local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6) / 86400.0


def pacing_multipliers(
    *,
    daily_budget_micros: NDArray[np.int64],
    spent_micros: NDArray[np.int64],
    day_fraction: NDArray[np.float64] | float,
    curve: PacingCurve = UNIFORM,
) -> NDArray[np.float64]:
    """The bid multiplier of each campaign (arrays aligned by campaign)."""
    budget = np.asarray(daily_budget_micros, dtype=np.float64)
    spent = np.asarray(spent_micros, dtype=np.float64)
    frac = np.broadcast_to(np.asarray(day_fraction, dtype=np.float64), budget.shape)
    due = budget * np.maximum(curve.target(frac), FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(due > 0, spent / due, np.inf)
    m = np.clip(1.0 + GAIN * (1.0 - ratio), LOW, HIGH)
    return np.where(spent >= budget, 0.0, m)


def pacing_multiplier(
    *, daily_budget_micros: int, spent_micros: int, day_fraction: float, curve: PacingCurve = UNIFORM
) -> float:
    """One campaign: the batch rule on a batch of one."""
    return float(
        pacing_multipliers(
            daily_budget_micros=np.asarray([daily_budget_micros], dtype=np.int64),
            spent_micros=np.asarray([spent_micros], dtype=np.int64),
            day_fraction=day_fraction,
            curve=curve,
        )[0]
    )
