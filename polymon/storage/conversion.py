"""A sealed batch's rows (shard items) to insert columns, on the event loop in slices.

A batch is converted `CONVERT_SLICE_ROWS` rows per step (fewer for big rows,
`rows.SLICE_ROWS`) with a checkpoint between slices (a slice is well under a millisecond).
A worker thread would not run it in parallel (the conversion is Python code, it holds the
GIL) and would make the loop wait for the GIL up to the interpreter's switch interval (5 ms
by default) each time it comes back from I/O: that delay went straight into the alert
latency. A row that cannot be converted is set apart with the reason, for the dead letters.
"""

from __future__ import annotations

import trio

from polymon.errors import StorageRejected
from polymon.storage.rejects import encode_row
from polymon.storage.rows import Columns, Converter, Item

CONVERT_SLICE_ROWS = 250
"""Rows converted per step of the event loop: 0.2-0.5 ms in the running service on the 2-core
VM (0.8-2 µs a row there: four times the cost of a warm micro-benchmark)."""
_CONVERT_ERRORS = (StorageRejected, ValueError, TypeError, KeyError, IndexError)


def convert_items(
    convert: Converter, items: list[Item], run_id: str
) -> tuple[Columns | None, list[tuple[str, str]]]:
    """Columns of a batch, and (row JSON, reason) for each row that cannot be converted.

    Pure; O(rows), or O(rows) conversions of one row each when some row is bad.
    """
    try:
        return convert(items, run_id), []
    except _CONVERT_ERRORS:
        pass
    good: list[Item] = []
    bad: list[tuple[str, str]] = []
    for shard, rows in items:
        for row in rows:
            try:
                convert([(shard, [row])], run_id)
            except _CONVERT_ERRORS as e:
                bad.append((encode_row(row), str(e)))
            else:
                good.append((shard, [row]))
    return (convert(good, run_id) if good else None), bad


def slice_items(items: list[Item], rows_per_slice: int) -> list[list[Item]]:
    """`items` cut into consecutive slices of at most `rows_per_slice` rows each (an item
    longer than that is split), in order; O(items + slices)."""
    slices: list[list[Item]] = []
    current: list[Item] = []
    room = rows_per_slice
    for shard, rows in items:
        start = 0
        while start < len(rows):
            take = min(room, len(rows) - start)
            whole = take == len(rows)
            current.append((shard, rows if whole else rows[start : start + take]))
            start += take
            room -= take
            if not room:
                slices.append(current)
                current, room = [], rows_per_slice
    if current:
        slices.append(current)
    return slices


async def convert_in_slices(
    convert: Converter, items: list[Item], run_id: str, rows_per_slice: int = CONVERT_SLICE_ROWS
) -> tuple[Columns | None, list[tuple[str, str]]]:
    """`convert_items` on the event loop, one slice of rows per step (a checkpoint between
    slices); the same result. O(rows)."""
    columns: Columns | None = None
    bad: list[tuple[str, str]] = []
    for n, piece in enumerate(slice_items(items, rows_per_slice)):
        if n:
            await trio.lowlevel.checkpoint()
        part, part_bad = convert_items(convert, piece, run_id)
        bad.extend(part_bad)
        if part is None:
            continue
        if columns is None:
            columns = part
        else:
            for column, more in zip(columns, part, strict=True):
                column.extend(more)
    return columns, bad
