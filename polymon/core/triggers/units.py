"""Exact user decimals (thresholds, sizes, percentages, multipliers) -> integer units of 1e-6.

Users send thresholds as JSON numbers or strings (`0.90`, `"0.90"`). The spec decodes them as
`Decimal` (never through a float) and they are converted here once, at registration, so that
evaluation compares integers only. Prices use the same 1e-6 scale as `core.prices`; sizes,
percentages and multipliers use it too.
"""

from __future__ import annotations

from decimal import Decimal

from polymon.core.prices import PRICE_DECIMALS as _DECIMALS
from polymon.core.prices import PRICE_SCALE as SCALE

__all__ = ["SCALE"]  # units per 1 (price, size, percent or multiplier): core.prices' scale


def check_range(
    value: Decimal,
    name: str,
    low: str,
    high: str,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError naming `name` unless `value` is finite, in the interval and exact in 1e-6.

    The interval is `[low, high]`, opened at either end by `low_open` / `high_open`.
    """
    inside = value.is_finite() and (
        (value > Decimal(low) if low_open else value >= Decimal(low))
        and (value < Decimal(high) if high_open else value <= Decimal(high))
    )
    if not inside:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"`{name}` must be a number in {left}{low}, {high}{right}")
    if _exponent(value) < -_DECIMALS:
        raise ValueError(f"`{name}` has more than 6 decimal places")


def to_units(value: Decimal) -> int:
    """`value` × 1e6 as an exact int; `value` must have passed `check_range` (≤ 6 places)."""
    sign, digits, _exponent_raw = value.as_tuple()
    if not any(digits):
        return 0
    exponent = _exponent(value)
    significant = digits[: len(digits) - (exponent - int(_exponent_raw))]
    magnitude = int("".join(map(str, significant))) * int(10 ** (exponent + _DECIMALS))
    return -magnitude if sign else magnitude


def size_units(size: float) -> int:
    """A venue size (float parsed from a decimal string) in 1e-6 units, rounded to nearest.

    Exact for every size the venue writes with at most six decimals, so windowed sums of sizes
    are integers and never drift.
    """
    return round(size * SCALE)


def _exponent(value: Decimal) -> int:
    # The exponent once trailing zeros are dropped ("0.900" -> -1), decided on the digits
    # because normalize() would round in Decimal's 28-digit context.
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    if not any(digits):
        return 0
    n = len(digits)
    while digits[n - 1] == 0:
        n -= 1
        exponent += 1
    return exponent
