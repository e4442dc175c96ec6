"""Generated purchases (``ml.ltv.synth``) for demo data and tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from ml.ltv import synth


@dataclass(frozen=True)
class SimulatedOrders:
    """Generated purchases (``ml.ltv.synth``): customer number, date, amount (Decimal)."""

    customer: tuple[int, ...]
    dates: tuple[date, ...]
    amounts: tuple[Decimal, ...]
    channels: tuple[str, ...] = ()  # acquisition channel by customer number, when simulated with them


def ltv_simulate(
    customers: int, *, end: date, days: int = 730, seed: int = 0, channels: bool = False
) -> SimulatedOrders:
    """``customers`` generated buyers over ``days`` days ending on ``end`` (demo data and tests); with
    ``channels``, each has an acquisition channel that changes how it buys (``ml.ltv.synth``)."""
    chan = synth.customer_channels(customers, seed) if channels else None
    cust, day, amount = synth.simulate(
        customers, days=days, acquisition_days=min(365, days // 2), seed=seed, channels=chan
    )
    start = end - timedelta(days=days - 1)
    order = np.lexsort((day, cust))
    return SimulatedOrders(
        tuple(int(c) for c in cust[order]),
        tuple(start + timedelta(days=int(d)) for d in day[order]),
        # The generator's amounts as printed to the cent: the seeded demo data is part of the tests.
        tuple(Decimal(f"{a:.2f}") for a in amount[order]),
        tuple(synth.CHANNELS[k] for k in chan) if chan is not None else (),
    )
