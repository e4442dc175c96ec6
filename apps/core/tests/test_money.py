"""Golden tables for the one place money and dates are converted (apps.core.money)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.core import money


@pytest.mark.parametrize(
    ("amount", "micros"),
    [
        ("0", 0),
        ("1", 1_000_000),
        ("0.01", 10_000),
        ("12.345678", 12_345_678),
        ("29.99", 29_990_000),
        ("-3.50", -3_500_000),
        # a fraction of a micro: half to even, never truncated
        ("0.0000004", 0),
        ("0.0000005", 0),
        ("0.0000006", 1),
        ("0.0000015", 2),
        ("0.0000025", 2),
        ("1.0000009", 1_000_001),
        ("-0.0000015", -2),
        ("-1.0000009", -1_000_001),
    ],
)
def test_to_micros(amount, micros):
    assert money.to_micros(Decimal(amount)) == micros


@pytest.mark.parametrize(
    ("micros", "amount"),
    [(0, "0"), (1, "0.000001"), (10_000, "0.01"), (1_500_000, "1.5"), (-2_000_001, "-2.000001")],
)
def test_micros_to_decimal(micros, amount):
    value = money.micros_to_decimal(micros)
    assert value == Decimal(amount)
    assert value.as_tuple().exponent == -6  # exact to the micro
    assert money.to_micros(value) == micros  # the round trip is lossless


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (0.0, "0.00"),
        (12.0, "12.00"),
        (0.125, "0.13"),  # a half (exact in binary) goes away from zero
        (2.675, "2.68"),  # rounds what it prints as (2.675), not its binary 2.67499999…
        (1.005, "1.01"),
        (0.994999, "0.99"),
        (0.999, "1.00"),  # truncating would give 0.99
        (19.999999999, "20.00"),
        (-0.125, "-0.13"),
        (1e-9, "0.00"),
    ],
)
def test_float_to_money(value, cents):
    converted = money.float_to_money(value)
    assert converted == Decimal(cents)
    assert converted.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (0.0, 0),
        (0.1, 100_000),
        (29.99, 29_990_000),
        (1.0000009, 1_000_001),  # int(Decimal("1.0000009") * 10**6) truncated this to 1_000_000
        (1.0000015, 1_000_002),
        (1.0000005, 1_000_000),
        (123.456789999, 123_456_790),
    ],
)
def test_float_to_micros(value, micros):
    assert money.float_to_micros(value) == micros


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("2.675", "2.68"), ("2.665", "2.67"), ("2.664", "2.66"), ("-2.675", "-2.68"), ("10", "10.00")],
)
def test_to_cents(amount, cents):
    assert money.to_cents(Decimal(amount)) == Decimal(cents)


@pytest.mark.parametrize(
    ("amount", "whole"),
    [("10", True), ("10.5", True), ("10.50", True), ("10.505", False), ("0.001", False), ("-1.25", True)],
)
def test_has_whole_cents(amount, whole):
    assert money.has_whole_cents(Decimal(amount)) is whole


@pytest.mark.parametrize(
    ("now", "today"),
    [
        (datetime(2025, 1, 1, 23, 59, tzinfo=UTC), date(2025, 1, 1)),
        (datetime(2025, 1, 2, 0, 30, tzinfo=ZoneInfo("Europe/Paris")), date(2025, 1, 1)),  # 23:30 UTC
        (datetime(2025, 1, 1, 20, 0, tzinfo=ZoneInfo("America/New_York")), date(2025, 1, 2)),  # 01:00 UTC
    ],
)
def test_today_utc_is_the_utc_day(monkeypatch, now, today):
    monkeypatch.setattr(money.timezone, "now", lambda: now)
    assert money.today_utc() == today
