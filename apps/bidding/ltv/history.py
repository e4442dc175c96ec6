"""A workspace's purchase history in ml.ltv's form (customers referenced by their pk)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from ml.ltv.data import EPOCH, Transactions, from_arrays, to_day


def day_to_date(day: int) -> date:
    """An ml.ltv day number as a date."""
    return EPOCH + timedelta(days=int(day))


@dataclass(frozen=True)
class CustomerHistory:
    """A purchase history sent by an integrator: its reference, purchase dates (UTC) and amounts."""

    ref: str
    dates: list[date]
    amounts: list[float]


@dataclass(frozen=True)
class LtvHistory:
    """A workspace's purchase history in ml.ltv's form; customers are referenced by their pk.
    Same-day purchases of a customer are one transaction for the model."""

    tx: Transactions
    orders: int

    @property
    def customers(self) -> int:
        return int(self.tx.n_customers)

    @property
    def first_date(self) -> date | None:
        return day_to_date(int(self.tx.day.min())) if len(self.tx.day) else None

    @property
    def last_date(self) -> date | None:
        return day_to_date(int(self.tx.day.max())) if len(self.tx.day) else None

    def customers_until(self, day: date) -> int:
        """Customers with a purchase on or before ``day``."""
        return len(np.unique(self.tx.cust[self.tx.day <= to_day(day)]))


def ltv_history(
    customer_ids: Sequence[int],
    dates: Sequence[date],
    amounts: Sequence[Decimal],
    channels: Sequence[str] | None = None,
) -> LtvHistory:
    """``channels``: each row's customer acquisition source ("" = unknown); a model trained on a
    history with channels takes them as inputs (``ml.ltv.features.ChannelCoding``)."""
    refs = np.array([str(c) for c in customer_ids], dtype=str)
    days = np.array([to_day(d) for d in dates], dtype=np.int64)
    values = np.array([float(a) for a in amounts], dtype=np.float64)
    chans = np.array([str(c or "") for c in channels], dtype=str) if channels else None
    return LtvHistory(from_arrays(refs, days, values, chans), orders=len(refs))
