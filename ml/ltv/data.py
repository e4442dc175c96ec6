"""Transactions → per-customer summaries and weekly sequences (numpy, vectorised).

Days are integers (days since 1970-01-01). Same-day purchases of one customer are one transaction.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

EPOCH = date(1970, 1, 1)


class DataError(ValueError):
    """Bad input, with a one-line message for the user."""


def to_day(value: date) -> int:
    return (value - EPOCH).days


def parse_day(text: str) -> int:
    try:
        return to_day(date.fromisoformat(text.strip()[:10]))
    except ValueError as exc:
        raise DataError(f"unparsable date {text!r} (expected ISO, e.g. 1997-09-30)") from exc


@dataclass(frozen=True)
class Transactions:
    """One row per (customer, day), amounts summed; customers indexed 0..n-1 in ``ids``."""

    ids: np.ndarray  # (n_customers,) str
    cust: np.ndarray  # (n_tx,) int64 index into ids, sorted by (cust, day)
    day: np.ndarray  # (n_tx,) int64
    amount: np.ndarray  # (n_tx,) float64
    # (n_customers,) str: each customer's acquisition channel ("" = unknown), or None without any
    channel: np.ndarray | None = None

    @property
    def n_customers(self) -> int:
        return len(self.ids)

    def until(self, last_day: int) -> Transactions:
        keep = self.day <= last_day
        return Transactions(self.ids, self.cust[keep], self.day[keep], self.amount[keep], self.channel)


def read_csv(path: str | Path, *, channel_column: str | None = None) -> Transactions:
    """``customer_id,date,amount`` (other columns ignored); with ``channel_column``, that column too:
    the customer's acquisition channel (its value on the customer's earliest row that has one)."""
    try:
        handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path} is empty")
        cols = [h.strip().lower() for h in header]
        missing = {"customer_id", "date", "amount"} - set(cols)
        if missing:
            raise DataError(
                f"{path} lacks column(s) {', '.join(sorted(missing))}; need customer_id,date,amount"
            )
        ci, di, ai = cols.index("customer_id"), cols.index("date"), cols.index("amount")
        chi = None
        if channel_column is not None:
            if channel_column.strip().lower() not in cols:
                raise DataError(f"{path} lacks the channel column {channel_column!r}")
            chi = cols.index(channel_column.strip().lower())
        channels: list[str] = []
        ids: list[str] = []
        days: list[int] = []
        amounts: list[float] = []
        day_cache: dict[str, int] = {}
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                cid, d, a = row[ci].strip(), row[di].strip(), row[ai].strip()
            except IndexError as exc:
                raise DataError(f"line {line_no}: too few columns") from exc
            if not cid:
                raise DataError(f"line {line_no}: empty customer_id")
            day = day_cache.get(d[:10])
            if day is None:
                try:
                    day = day_cache[d[:10]] = parse_day(d)
                except DataError as exc:
                    raise DataError(f"line {line_no}: {exc}") from exc
            try:
                amount = float(a)
            except ValueError as exc:
                raise DataError(f"line {line_no}: unparsable amount {a!r}") from exc
            if not np.isfinite(amount):
                raise DataError(f"line {line_no}: amount must be a finite number")
            ids.append(cid)
            days.append(day)
            amounts.append(amount)
            if chi is not None:
                channels.append(row[chi].strip() if chi < len(row) else "")
    if not ids:
        raise DataError(f"{path} has a header but no transactions")
    return from_arrays(
        np.array(ids),
        np.array(days, dtype=np.int64),
        np.array(amounts, dtype=np.float64),
        np.array(channels, dtype=str) if chi is not None else None,
    )


def from_arrays(
    customer_ids: np.ndarray, days: np.ndarray, amounts: np.ndarray, channels: np.ndarray | None = None
) -> Transactions:
    """From one row per purchase; ``channels`` (per row, "" = unknown) gives each customer the channel
    of their earliest row that names one."""
    uniq, cust = np.unique(customer_ids.astype(str), return_inverse=True)
    order = np.lexsort((days, cust))
    cust, days, amounts = cust[order], days[order], amounts[order]
    customer_channel = None
    if channels is not None:
        named = np.asarray(channels, dtype=str)[order]
        known = np.flatnonzero(named != "")
        customer_channel = np.full(len(uniq), "", dtype=named.dtype if len(named) else "<U1")
        # rows are sorted by (customer, day): the first named row of each customer is its earliest
        firsts = known[np.unique(cust[known], return_index=True)[1]]
        customer_channel[cust[firsts]] = named[firsts]
    key = cust.astype(np.int64) * 1_000_000 + days
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    group = np.cumsum(first) - 1
    summed = np.zeros(int(first.sum()))
    np.add.at(summed, group, amounts)
    return Transactions(uniq, cust[first].astype(np.int64), days[first], summed, customer_channel)


def cut(tx: Transactions, calibration_end: int) -> tuple[Transactions, int]:
    """Transactions dated on or before ``calibration_end`` and the number of later (dropped) ones."""
    return tx.until(calibration_end), int((tx.day > calibration_end).sum())


@dataclass(frozen=True)
class Summary:
    """BG/NBD + Gamma-Gamma inputs per customer, as of a day (customers not yet seen: seen=False)."""

    frequency: np.ndarray
    recency: np.ndarray
    t: np.ndarray
    monetary: np.ndarray
    first_value: np.ndarray
    seen: np.ndarray

    @classmethod
    def from_rfm(cls, rows: np.ndarray) -> Summary:
        """From rows of (frequency, recency, t, monetary, first_value); every customer counts as seen."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        return cls(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4], np.ones(len(rows), dtype=bool))


def summarise(tx: Transactions, as_of: int) -> Summary:
    tx = tx.until(as_of)
    n = tx.n_customers
    count = np.bincount(tx.cust, minlength=n)
    seen = count > 0
    first_day = np.full(n, as_of, dtype=np.int64)
    last_day = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first_day, tx.cust, tx.day)
    np.maximum.at(last_day, tx.cust, tx.day)
    total = np.bincount(tx.cust, weights=tx.amount, minlength=n)
    is_first = np.ones(len(tx.cust), dtype=bool)
    is_first[1:] = tx.cust[1:] != tx.cust[:-1]
    first_value = np.zeros(n)
    first_value[tx.cust[is_first]] = tx.amount[is_first]
    freq = np.maximum(count - 1, 0).astype(np.float64)
    repeat_total = total - first_value
    monetary = np.divide(repeat_total, freq, out=np.zeros(n), where=freq > 0)
    return Summary(
        frequency=freq,
        recency=np.where(seen, last_day - first_day, 0).astype(np.float64),
        t=np.where(seen, as_of - first_day, 0).astype(np.float64),
        monetary=np.maximum(monetary, 0.0),
        first_value=first_value,
        seen=seen,
    )


def window_totals(tx: Transactions, start_excl: int, end_incl: int) -> tuple[np.ndarray, np.ndarray]:
    """Transactions and spend per customer in (start_excl, end_incl]."""
    mask = (tx.day > start_excl) & (tx.day <= end_incl)
    n = tx.n_customers
    return (
        np.bincount(tx.cust[mask], minlength=n).astype(np.float64),
        np.bincount(tx.cust[mask], weights=tx.amount[mask], minlength=n),
    )


def weekly_sequences(tx: Transactions, as_of: int, weeks: int) -> np.ndarray:
    """(n, weeks, 3) float32: transactions, log1p(spend), and 'already a customer' per week, the last
    week ending on ``as_of``."""
    tx = tx.until(as_of)
    n = tx.n_customers
    week = (as_of - tx.day) // 7  # 0 = the most recent week
    keep = week < weeks
    slot = weeks - 1 - week[keep]
    counts = np.zeros((n, weeks), dtype=np.float32)
    spend = np.zeros((n, weeks), dtype=np.float32)
    np.add.at(counts, (tx.cust[keep], slot), 1.0)
    np.add.at(spend, (tx.cust[keep], slot), tx.amount[keep])
    first_day = np.full(n, as_of + 1, dtype=np.int64)
    np.minimum.at(first_day, tx.cust, tx.day)
    first_week = np.clip((as_of - first_day) // 7, -1, weeks - 1)
    alive = (np.arange(weeks)[None, :] >= (weeks - 1 - first_week)[:, None]) & (first_week[:, None] >= 0)
    return np.stack([counts, np.log1p(np.maximum(spend, 0)), alive.astype(np.float32)], axis=-1)
