"""Seeded generator of transaction logs from a buy-till-you-die process with structure BG/NBD cannot see.

Each customer has a Gamma-distributed purchase rate and a Beta-distributed dropout probability after
each purchase (the BG/NBD story), Gamma-Gamma spend, plus: yearly seasonality of the purchase rate, a
"fading" segment whose rate decays with tenure, and a spend trend that grows with repeat purchases.

    python -m ml.ltv.synth --customers 25000 --out tx.csv --seed 0
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np

START = date(2023, 1, 1)


def simulate(
    customers: int, *, days: int = 730, acquisition_days: int = 365, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer index, day offset from START, amount) arrays, unsorted."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.9, 1 / 30.0, customers)  # purchases per day
    drop = rng.beta(1.0, 6.0, customers)
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


def write_csv(path: str | Path, customers: int, *, seed: int = 0, days: int = 730) -> int:
    cust, day, amount = simulate(customers, days=days, seed=seed)
    order = np.lexsort((cust, day))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "date", "amount"])
        for i in order:
            writer.writerow(
                [f"c{cust[i]:06d}", (START + timedelta(days=int(day[i]))).isoformat(), f"{amount[i]:.2f}"]
            )
    return len(order)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows = write_csv(args.out, args.customers, seed=args.seed, days=args.days)
    sys.stdout.write(f"wrote {rows} transactions for {args.customers} customers to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
