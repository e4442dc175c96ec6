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


def window_season(start: np.ndarray, days: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of (sin, cos) of the yearly phase over the window (start, start + days]: where in the year a
    period lies (closed form of the integral; a whole year gives (0, 0), an empty window its start)."""
    w = 2 * np.pi / 365.25
    start = np.asarray(start, dtype=np.float64)
    span = np.broadcast_to(np.asarray(days, dtype=np.float64), start.shape) * w
    a = start * w
    b = a + span
    safe = np.maximum(span, 1e-9)
    short = span < 1e-6
    mean_sin = np.where(short, np.sin(a), (np.cos(a) - np.cos(b)) / safe)
    mean_cos = np.where(short, np.cos(a), (np.sin(b) - np.sin(a)) / safe)
    return mean_sin, mean_cos


def static_vector(
    s: Summary, as_of: np.ndarray | int, horizon_days: float, base: dict[str, np.ndarray]
) -> np.ndarray:
    """The static inputs, from summaries and the baseline's prediction for the same horizon."""
    as_of_arr = np.broadcast_to(np.asarray(as_of, dtype=np.float64), s.t.shape)
    season = 2 * np.pi * (as_of_arr % 365.25) / 365.25
    # Seasonality relative to BG/NBD: its rate averages the customer's observed time (first purchase →
    # as-of), so the network gets where in the year that history and the target window lie.
    target_sin, target_cos = window_season(as_of_arr, horizon_days)
    history_sin, history_cos = window_season(as_of_arr - s.t, s.t)
    return np.stack(
        [
            np.log1p(s.first_value),
            np.log1p(s.t / 7),
            np.log1p(s.recency / 7),
            np.log1p(s.frequency),
            np.log1p(s.monetary),
            np.full(len(s.t), np.log(horizon_days)),
            np.log1p(base["purchases"]),
            np.log1p(base["spend"]),
            np.sin(season),
            np.cos(season),
            target_sin,
            target_cos,
            history_sin,
            history_cos,
        ],
        axis=1,
    ).astype(np.float32)


def build(tx: Transactions, as_of: int, horizon_days: float, baseline: BaselinePredictor) -> Inputs:
    s = summarise(tx, as_of)
    base = baseline.predict(s, horizon_days)
    return Inputs(weekly_sequences(tx, as_of, WEEKS), static_vector(s, as_of, horizon_days, base), s, base)


def targets(tx: Transactions, as_of: int, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    return window_totals(tx, as_of, as_of + horizon_days)
