"""How polymon's columns are sent to ClickHouse: the clickhouse-connect type of each.

Prices and sizes are integer 1e-6 units (`rows.UNITS`), written straight into Decimal(18, 6)
columns without a Decimal object per value; depth arrays (`rows.UNITS_ARRAY`) go in one numpy
pass each for offsets and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.datatypes.container import Array
from clickhouse_connect.datatypes.numeric import Decimal as DecimalType
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.common import write_array
from clickhouse_connect.driver.exceptions import DataError

from polymon.core.prices import PRICE_SCALE
from polymon.storage.rows import UNITS, UNITS_ARRAY

_UNITS_TYPE = "Decimal(18, 6)"  # what the schema declares a price or size column as
_ARRAY_ROWS_PER_PIECE = 500  # ~50k array values: well under a millisecond of numpy


class _UnitsDecimal(DecimalType, registered=False):
    """Decimal(P, S) written from integers already scaled by 10**S (no Decimal objects)."""

    def _write_column_binary(self, column: Sequence[Any], dest: bytearray, ctx: Any) -> None:
        write_array(self._array_type, column, dest, ctx.column_name)


class _UnitsArray(Array, registered=False):
    """Array(Decimal(18, 6)) written from lists of integers scaled by 10**6: the offsets and
    the values in one numpy pass each (the generic path builds a Decimal per value)."""

    def write_column_data(self, column: Sequence[Any], dest: bytearray, ctx: Any) -> None:
        lengths = np.fromiter(map(len, column), dtype=np.uint64, count=len(column))
        dest += np.cumsum(lengths, dtype=np.uint64).astype("<u8").tobytes()
        # In pieces: each is one C call holding the GIL, and this runs in a worker thread
        # while the event loop waits for it between pieces.
        for start in range(0, len(column), _ARRAY_ROWS_PER_PIECE):
            piece = column[start : start + _ARRAY_ROWS_PER_PIECE]
            count = int(lengths[start : start + _ARRAY_ROWS_PER_PIECE].sum())
            try:
                values = np.fromiter(chain.from_iterable(piece), dtype=np.int64, count=count)
            except (TypeError, ValueError, OverflowError) as e:
                raise DataError(f"column {ctx.column_name}: not integer units ({e})") from e
            dest += values.astype("<i8").tobytes()


def column_type(type_name: str) -> ClickHouseType:
    """The clickhouse-connect type a column is sent as.

    `UNITS` is Decimal(18, 6) from 1e-6 units, `UNITS_ARRAY` an Array of them.
    LowCardinality(String) goes as String: the server builds the dictionary in C++, much
    faster than the client does in Python.
    """
    if type_name == "LowCardinality(String)":
        type_name = "String"
    if type_name == UNITS:
        base = get_from_name(_UNITS_TYPE)
        assert isinstance(base, DecimalType)
        assert 10**base.scale == PRICE_SCALE  # the units rows.py converts to
        return _UnitsDecimal(base.type_def, base.prec, base.byte_size * 8, base.scale)
    if type_name == UNITS_ARRAY:
        return _UnitsArray(get_from_name(f"Array({_UNITS_TYPE})").type_def)
    return get_from_name(type_name)
