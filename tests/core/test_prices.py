"""Exact prices: venue decimal strings <-> integer 1e-6 units, and the derived mid/spread."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.core.prices import (
    MAX_PRICE_UNITS,
    PRICE_SCALE,
    format_mid,
    format_price,
    format_units,
    parse_price,
    parse_size,
    spread_bps,
)
from polymon.errors import BadNumber, InvalidInput

UNITS = st.integers(min_value=0, max_value=MAX_PRICE_UNITS)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0.48", 480_000),
        (".48", 480_000),
        ("0.480", 480_000),
        ("1", 1_000_000),
        ("1.0", 1_000_000),
        ("0", 0),
        ("0.0", 0),
        ("0.001", 1_000),
        ("0.0001", 100),
        ("0.000001", 1),
        ("0.999", 999_000),
        ("0.123456", 123_456),
    ],
)
def test_parse_price_accepts_exact_decimals(text: str, units: int) -> None:
    assert parse_price(text) == units
    assert parse_price(text) == units  # second call goes through the cache


@pytest.mark.parametrize(
    "text",
    [
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "-0.1",
        "-1",
        "1.5",
        "1.000001",
        "2",
        "0.1234567",
        "0.0000001",
        "abc",
        "",
        "0.4.8",
        "0,48",
        "0x1",
    ],
)
def test_parse_price_rejects(text: str) -> None:
    with pytest.raises(BadNumber):
        parse_price(text)


def test_bad_number_is_invalid_input_with_reason() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_price("nan")
    assert info.value.reason == "bad_number"


@pytest.mark.parametrize(
    "text",
    [
        # More than 28 significant digits: Decimal arithmetic in the default context rounds them
        # away, so these must be rejected before any scaling, not rounded to a valid price.
        "0.1000000000000000000000000000001",
        "0.4800000000000000000000000000009",
        "1.0000000000000000000000000000001",
        # Exponent forms beyond the decimal context's limits.
        "1e1000000",
        "1e-999999999",
    ],
)
def test_parse_price_rejects_values_that_only_rounding_would_make_valid(text: str) -> None:
    with pytest.raises(BadNumber):
        parse_price(text)


def test_parse_price_rejects_huge_exponent_quickly() -> None:
    # A hostile price must not cost the shard a huge integer conversion (quadratic in the
    # exponent: "1e999990" takes about 25 s if the range is checked only after scaling).
    start = time.perf_counter()
    with pytest.raises(BadNumber):
        parse_price("1e200000")
    assert time.perf_counter() - start < 0.2


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0.0), ("1200.5", 1200.5), ("310", 310.0), ("0.000001", 1e-6), ("1e3", 1000.0)],
)
def test_parse_size_accepts(text: str, size: float) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    ["-1", "-0.5", "nan", "NaN", "inf", "-inf", "infinity", "1e999", "abc", "", "0x10", "1,5"],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(BadNumber):
        parse_size(text)


@pytest.mark.parametrize(
    ("units", "text"),
    [
        (0, "0"),
        (1_000_000, "1"),
        (480_000, "0.48"),
        (485_000, "0.485"),
        (1, "0.000001"),
        (100, "0.0001"),
        (10_000, "0.01"),
        (999_999, "0.999999"),
    ],
)
def test_format_price_exact(units: int, text: str) -> None:
    assert format_price(units) == text


def test_format_units_other_scales() -> None:
    assert format_units(4_850_000, 10_000_000) == "0.485"
    assert format_units(5, 10) == "0.5"
    assert format_units(20, 10) == "2"


@pytest.mark.parametrize(
    ("bid", "ask", "mid", "bps"),
    [
        ("0.48", "0.49", "0.485", 206),  # the docs/interface.md example
        ("0.5", "0.5", "0.5", 0),
        ("0.01", "0.99", "0.5", 19600),
        ("0.001", "0.002", "0.0015", 6667),  # 6666.67 rounds up
        ("0.000001", "0.000002", "0.0000015", 6667),  # the mid needs a 7th decimal
        ("0", "0", "0", 0),  # mid 0: spread defined as 0
        ("0", "1", "0.5", 20000),
        ("0.3", "0.5", "0.4", 5000),
    ],
)
def test_mid_and_spread_bps_exact(bid: str, ask: str, mid: str, bps: int) -> None:
    b, a = parse_price(bid), parse_price(ask)
    assert format_mid(b, a) == mid
    assert spread_bps(b, a) == bps


def test_spread_bps_rounds_half_up() -> None:
    # spread_bps = (ask - bid) * 20000 / (ask + bid), rounded half-up.
    assert spread_bps(7_999, 8_001) == 3  # 40000 / 16000 = 2.5 exactly -> 3
    assert spread_bps(4_000, 4_001) == 2  # 20000 / 8001 = 2.4997 -> 2
    assert spread_bps(3_999, 4_000) == 3  # 20000 / 7999 = 2.5003 -> 3
    assert spread_bps(1_000, 15_000) == 17_500  # exact


@given(UNITS)
def test_format_then_parse_round_trips(units: int) -> None:
    text = format_price(units)
    assert parse_price(text) == units
    assert Decimal(text) * PRICE_SCALE == units
    # Shortest form: no trailing zeros after a decimal point, no leading "+"/exponent.
    assert not (("." in text) and text.endswith("0"))
    assert "e" not in text.lower()


@given(UNITS, UNITS)
def test_mid_and_spread_match_decimal_arithmetic(a: int, b: int) -> None:
    bid, ask = min(a, b), max(a, b)
    mid = (Decimal(bid) + Decimal(ask)) / 2 / PRICE_SCALE
    assert Decimal(format_mid(bid, ask)) == mid
    if bid + ask == 0:
        assert spread_bps(bid, ask) == 0
    else:
        exact = Decimal(ask - bid) * 20_000 / Decimal(ask + bid)
        got = spread_bps(bid, ask)
        assert got - Decimal("0.5") <= exact < got + Decimal("0.5")
