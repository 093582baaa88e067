"""Exact prices: venue decimal strings <-> integer price units of 1e-6.

Polymarket prices lie in [0, 1] with ticks of 0.01, 0.001 or 0.0001, so 1e-6 units hold every
venue price exactly and make safe sorted keys (`"0.5" != "0.50"` as strings, and floats
must never be computed into keys). Parsing goes through a bounded cache because the set of
distinct price strings on the wire is small (a few tens of thousands).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from polymon.errors import BadNumber

PRICE_SCALE = 1_000_000
"""Units per 1: prices, sizes, percentages and multipliers are integers of 1e-6."""
PRICE_DECIMALS = 6
_DECIMALS = PRICE_DECIMALS
MAX_PRICE_UNITS = PRICE_SCALE
_CACHE_LIMIT = 200_000
_INF = math.inf  # a global, not an attribute lookup per size parsed
_price_cache: dict[str, int] = {}
cached_price = _price_cache.get
"""`cached_price(text)`: the units of an already-parsed price string, else None; O(1)."""


def parse_price(text: str) -> int:
    """Parse a venue price string ("0.48", ".48", "0.480") into 1e-6 units; O(1) when cached.

    Raises BadNumber for anything that is not a finite decimal in [0, 1] with at most six
    decimal places.
    """
    try:
        return _price_cache[text]
    except KeyError:
        pass
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadNumber(f"price {text[:40]!r} is not a decimal") from None
    if not value.is_finite():
        raise BadNumber(f"price {text[:40]!r} is not finite")
    # Decide exactness on the digits: multiplying would round in Decimal's 28-digit context.
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    significant = len(digits)
    while exponent < -_DECIMALS and significant > 1 and digits[significant - 1] == 0:
        significant -= 1
        exponent += 1
    if exponent < -_DECIMALS:
        raise BadNumber(f"price {text[:40]!r} has more than six decimals")
    if significant + exponent > 1:
        raise BadNumber(f"price {text[:40]!r} is outside [0, 1]")
    units = int(value.scaleb(_DECIMALS))
    if not 0 <= units <= MAX_PRICE_UNITS:
        raise BadNumber(f"price {text[:40]!r} is outside [0, 1]")
    if len(_price_cache) < _CACHE_LIMIT:
        _price_cache[text] = units
    return units


def parse_size(text: str) -> float:
    """Parse a venue size string into a float for arithmetic (never used as a key).

    Raises BadNumber for negative, NaN or infinite sizes and for non-numbers.
    """
    try:
        value = float(text)
    except ValueError:
        raise BadNumber(f"size {text[:40]!r} is not a number") from None
    if not 0.0 <= value < _INF:  # also false for NaN
        raise BadNumber(f"size {text[:40]!r} is negative or not finite")
    return value


def format_units(units: int, scale: int = PRICE_SCALE) -> str:
    """Format `units / scale` as the shortest exact decimal string ("0.485", "1", "0")."""
    whole, frac = divmod(units, scale)
    if frac == 0:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def format_price(units: int) -> str:
    """Format 1e-6 price units as the shortest exact decimal string."""
    return format_units(units, PRICE_SCALE)


def format_mid(best_bid: int, best_ask: int) -> str:
    """The exact mid price of two prices in 1e-6 units, as a decimal string (may need 7 places)."""
    return format_units((best_bid + best_ask) * 5, PRICE_SCALE * 10)


def spread_bps(best_bid: int, best_ask: int) -> int:
    """Spread relative to the mid, in basis points, rounded half-up; 0 when the mid is 0."""
    total = best_bid + best_ask
    if total <= 0:
        return 0
    # spread / mid * 1e4 = (ask - bid) * 2e4 / (ask + bid), rounded half-up in integers.
    return ((best_ask - best_bid) * 40_000 + total) // (2 * total)


def parse_timestamp_ms(text: str | int) -> int:
    """Parse a venue millisecond timestamp (decimal string or integer); raises BadNumber."""
    if isinstance(text, int):
        value = text
    else:
        if not (text.isascii() and text.isdigit()):
            raise BadNumber(f"timestamp {text[:40]!r} is not a whole number of ms")
        value = int(text)
    if value < 0:
        raise BadNumber(f"timestamp {value} is negative")
    return value
