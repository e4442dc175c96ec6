"""Money on the ad platforms' wires: integer micros inside KIKI, each platform's unit outside.

Google Ads counts in micros already; Meta counts budgets and bids in the currency's minor unit (cents
for USD, whole yen for JPY); TikTok and LinkedIn take decimal amounts in the major unit. Going out, a
value is rounded DOWN to what the currency can hold (a bid cap or a budget is never raised by
rounding); coming back, a platform's decimal string is converted exactly (``apps.core.money``).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from apps.core.money import MICROS_PER_UNIT, micros_to_decimal, to_micros

# ISO 4217 currencies without a minor unit (the ones ad platforms bill in). Everything else has cents.
_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})  # fmt: skip
# Currencies with three decimals (Meta's currency offset 1000).
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def minor_unit_exponent(currency: str) -> int:
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def micros_per_minor_unit(currency: str) -> int:
    return MICROS_PER_UNIT // 10 ** minor_unit_exponent(currency)


def micros_to_minor_units(micros: int, currency: str) -> int:
    """``12_345_678`` USD micros → ``1234`` cents (rounded down)."""
    if micros < 0:
        raise ValueError("a negative amount cannot be sent to a platform")
    return micros // micros_per_minor_unit(currency)


def minor_units_to_micros(minor: int, currency: str) -> int:
    return int(minor) * micros_per_minor_unit(currency)


def floor_to_minor_unit(micros: int, currency: str) -> int:
    """Micros rounded down to what the currency can hold (Google takes budgets in whole cents)."""
    return minor_units_to_micros(micros_to_minor_units(micros, currency), currency)


def micros_to_amount(micros: int, currency: str) -> Decimal:
    """Micros → a decimal amount in the major unit, rounded down to the minor unit: ``Decimal("12.34")``."""
    places = Decimal(1).scaleb(-minor_unit_exponent(currency))
    return micros_to_decimal(floor_to_minor_unit(micros, currency)).quantize(places, rounding=ROUND_DOWN)


def amount_to_micros(value: object) -> int:
    """A platform's decimal amount (``"12.34"``, ``12.34``, ``"0"``) → micros, exactly."""
    if value is None or value == "":
        return 0
    try:
        return to_micros(Decimal(str(value)))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
