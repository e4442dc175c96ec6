"""Seeded generator of transaction logs from a buy-till-you-die process with structure BG/NBD cannot see.

Each customer has a Gamma-distributed purchase rate and a Beta-distributed dropout probability after
each purchase (the BG/NBD story), Gamma-Gamma spend, plus: yearly seasonality of the purchase rate, a
"fading" segment whose rate decays with tenure, and a spend trend that grows with repeat purchases;
with ``--channels``, an acquisition channel per customer that changes its rate and dropout.

    python -m ml.ltv.synth --customers 25000 --out tx.csv --seed 0 [--channels]
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np

START = date(2023, 1, 1)
# Acquisition channels (``--channels``): share of customers, and what each does to the purchase rate
# and to the dropout probability: email signups come back more and stay, social ones churn.
CHANNELS = ("search", "social", "email", "direct")
CHANNEL_SHARE = (0.4, 0.25, 0.2, 0.15)
CHANNEL_RATE = (1.0, 0.8, 1.5, 1.0)
CHANNEL_DROP = (1.0, 1.8, 0.45, 1.0)


def customer_channels(customers: int, seed: int) -> np.ndarray:
    """Each customer's channel (an index into CHANNELS), from a random stream of its own so that the
    rest of a seed's draws do not depend on it."""
    return np.random.default_rng([seed, 7]).choice(len(CHANNELS), customers, p=CHANNEL_SHARE)


def simulate(
    customers: int,
    *,
    days: int = 730,
    acquisition_days: int = 365,
    seed: int = 0,
    channels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer index, day offset from START, amount) arrays, unsorted. With ``channels`` (per
    customer, from ``customer_channels``) the channel changes the purchase rate and the dropout."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.9, 1 / 30.0, customers)  # purchases per day
    drop = rng.beta(1.0, 6.0, customers)
    if channels is not None:
        lam = lam * np.asarray(CHANNEL_RATE)[channels]
        drop = np.clip(drop * np.asarray(CHANNEL_DROP)[channels], 0.0, 0.95)
    fading = rng.random(customers) < 0.3
    fade_rate = np.where(fading, rng.uniform(1 / 365, 1 / 120, customers), 0.0)
    spend_mean = rng.gamma(4.0, 15.0, customers)
    trend = np.clip(rng.normal(0.03, 0.03, customers), -0.02, 0.1)
    start = rng.integers(0, acquisition_days, customers)
    alive = np.ones(customers, dtype=bool)
    n_tx = np.zeros(customers, dtype=np.int64)
    out_c, out_d, out_a = [], [], []
    # First purchase at acquisition.
    out_c.append(np.arange(customers))
    out_d.append(start)
    out_a.append(rng.gamma(5.0, spend_mean / 5.0))
    for day in range(days):
        active = alive & (day > start)
        if not active.any():
            continue
        tenure = day - start
        season = 1.0 + 0.6 * np.sin(2 * np.pi * (day - 300) / 365.0)
        rate = lam * season * np.exp(-fade_rate * tenure)
        buys = active & (rng.random(customers) < np.minimum(rate, 1.0))
        idx = np.flatnonzero(buys)
        if idx.size == 0:
            continue
        n_tx[idx] += 1
        mean = spend_mean[idx] * (1.0 + trend[idx] * np.minimum(n_tx[idx], 25))
        out_c.append(idx)
        out_d.append(np.full(idx.size, day))
        out_a.append(rng.gamma(5.0, mean / 5.0))
        alive[idx] &= rng.random(idx.size) >= drop[idx]
    return np.concatenate(out_c), np.concatenate(out_d), np.round(np.concatenate(out_a), 2)


def write_csv(
    path: str | Path, customers: int, *, seed: int = 0, days: int = 730, channels: bool = False
) -> int:
    """Without ``channels`` the file (columns customer_id,date,amount) is what earlier versions wrote
    for the same seed; with it, customers have channels that matter and a ``channel`` column."""
    chan = customer_channels(customers, seed) if channels else None
    cust, day, amount = simulate(customers, days=days, seed=seed, channels=chan)
    order = np.lexsort((cust, day))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "date", "amount", *(["channel"] if chan is not None else [])])
        for i in order:
            row = [f"c{cust[i]:06d}", (START + timedelta(days=int(day[i]))).isoformat(), f"{amount[i]:.2f}"]
            if chan is not None:
                row.append(CHANNELS[chan[cust[i]]])
            writer.writerow(row)
    return len(order)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--channels",
        action="store_true",
        help="acquisition channels that change behaviour (+ a channel column)",
    )
    args = parser.parse_args(argv)
    rows = write_csv(args.out, args.customers, seed=args.seed, days=args.days, channels=args.channels)
    sys.stdout.write(f"wrote {rows} transactions for {args.customers} customers to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
