"""Money and dates, converted in one place.

Money is ``Decimal`` (to the cent at the edges) or integer micros (1 unit = 1_000_000 micros), never a
float; a float that comes out of ml/ is rounded to the cent once, here, and never truncated. Dates are
UTC days.
"""

from __future__ import annotations

from datetime import UTC, date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from django.utils import timezone

CENT = Decimal("0.01")
MICROS_PER_UNIT = 1_000_000
_MICRO = Decimal(1) / MICROS_PER_UNIT


def to_cents(value: Decimal) -> Decimal:
    """``value`` to the cent, halves away from zero (how amounts are shown and stored)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def has_whole_cents(value: Decimal) -> bool:
    """Whether ``value`` has at most two decimal places (``10.5``, ``10.50``; not ``10.505``)."""
    return value == value.quantize(CENT)


def to_micros(value: Decimal) -> int:
    """An amount in micros; a fraction of a micro is rounded half to even."""
    return int((value * MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))


def micros_to_decimal(micros: int) -> Decimal:
    """Micros back to an exact amount (``1_500_000`` → ``Decimal("1.500000")``)."""
    return (Decimal(micros) * _MICRO).quantize(_MICRO)


def float_to_decimal(value: float, places: Decimal) -> Decimal:
    """A float (from ml/) as the decimal it prints as, rounded to ``places`` halves away from zero:
    ``0.125`` → ``0.13`` and ``2.675`` → ``2.68`` with ``CENT`` (the float's shortest repr is rounded,
    not its binary expansion, so what a person reads is what is rounded)."""
    return Decimal(repr(float(value))).quantize(places, rounding=ROUND_HALF_UP)


def float_to_money(value: float) -> Decimal:
    """A float amount to the cent (rounded, never truncated)."""
    return float_to_decimal(value, CENT)


def float_to_micros(value: float) -> int:
    """A float amount in micros (rounded half to even, never truncated)."""
    return to_micros(Decimal(repr(float(value))))


def today_utc() -> date:
    """Today's date in UTC."""
    return timezone.now().astimezone(UTC).date()
