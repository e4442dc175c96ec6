"""Model inputs as of a day: weekly sequences + the static vector (incl. the baseline's prediction)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import Summary, Transactions, summarise, weekly_sequences, window_totals

WEEKS = 52


@dataclass(frozen=True)
class Inputs:
    seq: np.ndarray  # (n, WEEKS, 3) float32
    static: np.ndarray  # (n, S) float32
    summary: Summary
    baseline: dict[str, np.ndarray]


def build(tx: Transactions, as_of: int, horizon_days: float, baseline: BaselinePredictor) -> Inputs:
    s = summarise(tx, as_of)
    base = baseline.predict(s, horizon_days)
    static = np.stack(
        [
            np.log1p(s.first_value),
            np.log1p(s.t / 7),
            np.log1p(s.recency / 7),
            np.log1p(s.frequency),
            np.log1p(s.monetary),
            np.full(len(s.t), np.log(horizon_days)),
            np.log1p(base["purchases"]),
            np.log1p(base["spend"]),
            np.full(len(s.t), np.sin(2 * np.pi * (as_of % 365.25) / 365.25)),
            np.full(len(s.t), np.cos(2 * np.pi * (as_of % 365.25) / 365.25)),
        ],
        axis=1,
    ).astype(np.float32)
    return Inputs(weekly_sequences(tx, as_of, WEEKS), static, s, base)


def targets(tx: Transactions, as_of: int, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    return window_totals(tx, as_of, as_of + horizon_days)
