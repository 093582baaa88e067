"""The documented schemas of the trigger parameters accept exactly what the decoder accepts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from polymon.core.triggers.spec import CONDITION_TYPES, Range
from polymon.core.triggers.units import check_range
from polymon.web.trigger_schema import decimal_pattern, decimal_schema

RANGES = sorted({r for c in CONDITION_TYPES for r in c.ranges.values()})
PROBES = ["0", "0.0", "0.000001", "0.0000001", "0.5", "0.999999", "1", "1.0", "1.000000",
          "1.000001", "1.5", "2", "2.000001", "9999", "10000", "10000.000001", "999999.999999",
          "1000000", "1000000.1", "999999999999.999999", "1000000000000", "1000000000000.000001",
          "00.5", ".5", "1.", "-0.5", "0.1234567", "abc", ""]  # fmt: skip


def accepted(text: str, bounds: Range) -> bool:
    try:
        value = Decimal(text)
    except ArithmeticError:
        return False
    low, high, low_open, high_open = bounds
    try:
        check_range(value, "x", low, high, low_open=low_open, high_open=high_open)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("bounds", RANGES, ids=str)
def test_the_pattern_spells_the_canonical_accepted_decimals(bounds: Range) -> None:
    pattern = re.compile(decimal_pattern(bounds))
    for text in PROBES:
        canonical = re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]{1,6})?", text) is not None
        if canonical:
            assert (pattern.match(text) is not None) == accepted(text, bounds), text
        else:
            assert pattern.match(text) is None, text


@pytest.mark.parametrize("bounds", RANGES, ids=str)
def test_the_number_branch_has_the_bounds(bounds: Range) -> None:
    number = decimal_schema(bounds)["anyOf"][0]
    low, high, low_open, high_open = bounds
    assert number["exclusiveMinimum" if low_open else "minimum"] == Decimal(low)
    assert number["exclusiveMaximum" if high_open else "maximum"] == Decimal(high)
    assert number["multipleOf"] == 0.000001
