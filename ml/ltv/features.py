"""Model inputs as of a day: weekly sequences + the static vector (incl. the baseline's prediction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.ltv.baseline import BaselinePredictor
from ml.ltv.data import Summary, Transactions, summarise, weekly_sequences, window_totals

WEEKS = 52
CHANNEL_SLOTS = 8  # one-hot inputs for the acquisition channel: the 7 most common + "other"
CHANNEL_MIN_CUSTOMERS = 20  # a channel with fewer customers in the training data counts as "other"


@dataclass(frozen=True)
class ChannelCoding:
    """The acquisition channel as static inputs: a one-hot over the training data's most common
    channels (``vocabulary``, up to ``slots`` − 1 of them) plus a last slot for any other named
    channel; an unknown channel ("" or None) is all zeros. ``slots`` is 0 when the training data had
    no channels: the network then has no channel inputs at all."""

    vocabulary: tuple[str, ...] = ()
    slots: int = 0

    @classmethod
    def learn(cls, tx: Transactions, slots: int = CHANNEL_SLOTS) -> ChannelCoding:
        if tx.channel is None:
            return cls()
        seen = np.zeros(tx.n_customers, dtype=bool)
        seen[tx.cust] = True
        named = tx.channel[seen & (tx.channel != "")]
        if len(named) == 0:
            return cls()
        names, counts = np.unique(named, return_counts=True)
        ranked = sorted(
            ((int(c), str(n)) for n, c in zip(names, counts, strict=True) if c >= CHANNEL_MIN_CUSTOMERS),
            key=lambda cn: (-cn[0], cn[1]),
        )
        return cls(tuple(n for _, n in ranked[: slots - 1]), slots)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ChannelCoding:
        return cls(tuple(d["vocabulary"]), int(d["slots"])) if d else cls()

    def to_dict(self) -> dict[str, Any]:
        return {"vocabulary": list(self.vocabulary), "slots": self.slots}

    def one_hot(self, channel: str | None) -> list[float]:
        """One customer's inputs (the serving scalar path); ``encode`` row for row."""
        inputs = [0.0] * self.slots
        if self.slots and channel:
            inputs[self.vocabulary.index(channel) if channel in self.vocabulary else self.slots - 1] = 1.0
        return inputs

    def encode(self, channels: Sequence[str | None] | np.ndarray) -> np.ndarray:
        """(n, slots) float32, vectorised (a mask per learned channel)."""
        names = np.array(["" if c is None else c for c in channels], dtype=str)
        out = np.zeros((len(names), self.slots), dtype=np.float32)
        if not self.slots:
            return out
        learned = np.zeros(len(names), dtype=bool)
        for k, name in enumerate(self.vocabulary):
            hit = names == name
            out[hit, k] = 1.0
            learned |= hit
        out[(names != "") & ~learned, self.slots - 1] = 1.0
        return out

    def encode_tx(self, tx: Transactions) -> np.ndarray:
        if tx.channel is None:
            return np.zeros((tx.n_customers, self.slots), dtype=np.float32)
        return self.encode(tx.channel)


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


def build(
    tx: Transactions,
    as_of: int,
    horizon_days: float,
    baseline: BaselinePredictor,
    channels: ChannelCoding = ChannelCoding(),
) -> Inputs:
    s = summarise(tx, as_of)
    base = baseline.predict(s, horizon_days)
    static = static_vector(s, as_of, horizon_days, base)
    if channels.slots:
        static = np.concatenate([static, channels.encode_tx(tx)], axis=1)
    return Inputs(weekly_sequences(tx, as_of, WEEKS), static, s, base)


def targets(tx: Transactions, as_of: int, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    return window_totals(tx, as_of, as_of + horizon_days)
