"""`polymon bench` storage conversion: core rows -> columns -> ClickHouse Native bytes, one core.

What a writer spends per batch in Python before the engine sees it: the column conversion
(`storage.rows`: exact integer units, numpy passes) and clickhouse-connect's Native encoding
with the types polymon sends (`storage.column_types.column_type`). Both run with the GIL held, on or
beside the event loop, so their speed bounds what a shard may produce. A value is one cell,
or one element of an array cell (the depth arrays of ob_snapshots).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform

from polymon.storage.column_types import column_type
from polymon.storage.rows import CONVERTERS, Columns, Table


def values_in(columns: Columns) -> int:
    """Cells of a column-oriented batch, counting each element of an array cell."""
    total = 0
    for column in columns:
        if column and isinstance(column[0], list):
            total += sum(map(len, column))
        else:
            total += len(column)
    return total


def encode(table: Table, columns: Columns) -> int:
    """The Native body clickhouse-connect would send for this batch; returns its size."""
    types = [column_type(t) for _, t in table.columns]
    context = InsertContext(
        table.name, table.names, types, columns, column_oriented=True, compression=None
    )
    return sum(len(block) for block in NativeTransform.build_insert(context))


def measure(table: Table, rows: Sequence[Any], runs: int = 3) -> tuple[int, float, float]:
    """(values, convert seconds, encode seconds) of one batch of `rows`, CPU time, best of
    `runs`."""
    convert = CONVERTERS[table.name]
    best: tuple[float, float] | None = None
    values = 0
    for _ in range(runs):
        gc.collect()
        t0 = time.process_time()
        columns = convert([(0, list(rows))], "bench")
        t1 = time.process_time()
        encode(table, columns)
        t2 = time.process_time()
        values = values_in(columns)
        if best is None or (t1 - t0) + (t2 - t1) < sum(best):
            best = (t1 - t0, t2 - t1)
    assert best is not None
    return values, best[0], best[1]


def conversion_line(rows: dict[Table, Sequence[Any]]) -> str:
    """One line: values/s per table through conversion + Native encoding (target ≥ 1 M/s)."""
    parts = []
    for table, table_rows in rows.items():
        if not table_rows:
            continue
        values, convert, encoded = measure(table, table_rows)
        both = max(convert + encoded, 1e-9)
        parts.append(
            f"{table.name} {values / both / 1e6:.1f} M values/s "
            f"(convert {values / max(convert, 1e-9) / 1e6:.1f}, "
            f"encode {values / max(encoded, 1e-9) / 1e6:.1f})"
        )
    return f"{'storage conversion, one core':<34} " + "; ".join(parts) + " (target >= 1 M/s)"
