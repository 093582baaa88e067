"""Core rows to ClickHouse columns: exact units, sides, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.errors import StorageRejected
from polymon.storage.rows import bbo_columns, level_columns, size_units, trade_columns
from tests.storage.helpers import ASSET, MARKET, bbo_row, trade_row


@pytest.mark.parametrize(
    ("text", "units"),
    [("0", 0), ("", 0), ("12.5", 12_500_000), ("0.000001", 1), ("1e3", 1_000_000_000),
     (".5", 500_000), ("219.217767", 219_217_767)],
)  # fmt: skip
def test_size_units(text: str, units: int) -> None:
    assert size_units(text) == units


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf"])
def test_bad_sizes_are_rejected(text: str) -> None:
    with pytest.raises(StorageRejected):
        size_units(text)


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False))
def test_size_units_is_exact(value: object) -> None:
    assert size_units(str(value)) == int(value * 1_000_000)  # type: ignore[operator]


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
