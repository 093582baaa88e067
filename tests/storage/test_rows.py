"""Core rows to ClickHouse columns: exact units, sides, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.errors import StorageRejected
from polymon.storage.rows import (
    bbo_columns,
    level_columns,
    parse_size_units,
    size_texts_as_units,
    sizes_as_units,
    snapshot_columns,
    trade_columns,
)
from tests.storage.helpers import ASSET, MARKET, bbo_row, trade_row


@pytest.mark.parametrize(
    ("text", "units"),
    [("0", 0), ("", 0), ("12.5", 12_500_000), ("0.000001", 1), ("1e3", 1_000_000_000),
     (".5", 500_000), ("219.217767", 219_217_767)],
)  # fmt: skip
def test_parse_size_units(text: str, units: int) -> None:
    assert parse_size_units(text) == units


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf"])
def test_bad_sizes_are_rejected(text: str) -> None:
    with pytest.raises(StorageRejected):
        parse_size_units(text)


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False))
def test_parse_size_units_is_exact(value: object) -> None:
    assert parse_size_units(str(value)) == int(value * 1_000_000)  # type: ignore[operator]


def test_bbo_columns_carry_shard_run_and_microseconds() -> None:
    cols = bbo_columns([(2, [bbo_row(5, 1_700_000_000_123, 480_000, 0)])], "run")
    assert cols == [[ASSET], [MARKET], [1_700_000_000_123_000], [1_700_000_000_123_500],
                    [480_000], [100_000_000], [0], [250_500_000], ["run"], [2], [5]]  # fmt: skip


def test_level_columns_name_the_side_and_scale_the_previous_size() -> None:
    cols = level_columns([(0, [(ASSET, MARKET, 1, 2, 0, 10_000, "3.5", 3.5, 0.1, 9)])], "r")
    assert cols[4] == ["BID"]
    assert cols[6] == [3_500_000]
    assert cols[7] == [100_000]


def test_trade_columns_reject_unknown_sides() -> None:
    with pytest.raises(StorageRejected):
        trade_columns([(0, [trade_row(1, 1, 500_000, side="HOLD")])], "r")


@given(st.lists(st.decimals(min_value=0, max_value=2 * 10**9, places=6, allow_nan=False)))
def test_sizes_as_units_of_parsed_sizes_is_exact(values: list[Any]) -> None:
    # The core parses sizes to floats; storage turns them into exact 1e-6 units in one numpy
    # pass, falling back to the exact decimal parser where the float path cannot vouch.
    assert sizes_as_units([float(v) for v in values]) == [int(v * 1_000_000) for v in values]
    texts = [str(v) for v in values]
    assert size_texts_as_units(texts) == [int(v * 1_000_000) for v in values]


@pytest.mark.parametrize(
    ("text", "units"),
    [("0.0000005", 0), ("0.0000015", 2), ("1.23456789", 1_234_568), ("12345678901.5",
     12_345_678_901_500_000), ("9007199254.740993", 9_007_199_254_740_993), ("", 0),
     ("1e3", 1_000_000_000), (".5", 500_000)],
)  # fmt: skip
def test_size_texts_as_units_past_the_float_path_round_exactly(text: str, units: int) -> None:
    assert size_texts_as_units([text]) == [units]


@pytest.mark.parametrize("text", ["-1", "nan", "inf"])
def test_size_texts_as_units_reject_what_a_size_cannot_be(text: str) -> None:
    with pytest.raises(StorageRejected):
        size_texts_as_units(["1", text])


def test_snapshot_columns_keep_unit_prices_and_convert_every_size() -> None:
    row = (ASSET, MARKET, 5, 6, "changed", "fresh", "h", "0.01",
           [480_000, 470_000], [1200.5, 0.000001], [490_000], [3e9], 9)  # fmt: skip
    cols = snapshot_columns([(1, [row, (*row[:8], [], [], [], [], 10)])], "r")
    assert cols[2] == [5000, 5000]
    assert cols[8:12] == [
        [[480_000, 470_000], []], [[1_200_500_000, 1], []],
        [[490_000], []], [[3_000_000_000_000_000], []],
    ]  # fmt: skip
    assert cols[12:] == [["r", "r"], [9, 10]]
