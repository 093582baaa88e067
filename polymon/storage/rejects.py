"""Rows ClickHouse will not take: a rejected batch split in halves until the bad rows are
alone, and those rows as `ob_dead_letters` rows with the reason.

Each piece of a split batch gets a token of its own (`<token>/a`, `<token>/b`, ...), derived
from the batch's, so a retried bisection lands each piece once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from polymon.errors import StorageRejected, StorageUnavailable
from polymon.storage.rows import Columns, Table, row_count, rows_of, take_rows

DeadLetter = tuple[int, str, str, str, str]
"""(failed_at µs, target table, reason, row JSON, batch token): an ob_dead_letters row."""
Insert = Callable[[Table, Columns, str], Awaitable[None]]
"""`Inserter.insert`: insert a batch of a table under a deduplication token."""
_json = msgspec.json.Encoder()
_REASON_CHARS = 2000


def encode_row(row: Any) -> str:
    """A row (a dict, or a tuple / struct in column order) as the JSON a dead letter keeps."""
    return _json.encode(row if isinstance(row, dict) else list(row)).decode()


def dead_letters(
    table: str, rows: Sequence[tuple[str, str]], token: str, now_us: int
) -> list[DeadLetter]:
    """The ob_dead_letters rows for (row JSON, reason) pairs of one batch of `table`."""
    return [(now_us, table, reason[:_REASON_CHARS], row, token) for row, reason in rows]


async def bisect(
    insert: Insert,
    table: Table,
    token: str,
    columns: Columns,
    reason: str,
    *,
    written: Callable[[Columns], None],
    reject: Callable[[Sequence[tuple[str, str]], str], None],
) -> list[tuple[str, Columns]]:
    """Split a batch ClickHouse rejected (with `reason`) until the bad rows are alone: each
    stored piece goes to `written`, each bad row to `reject((row JSON, reason), token)`.

    Returns the pieces not stored, as (token, columns), when ClickHouse became unavailable
    midway (the caller journals them); [] once every row is stored or rejected.
    O(rows log rows) row copies, O(bad rows x log rows) inserts.
    """
    stack: list[tuple[str, Columns, str]] = [(token, columns, reason)]
    while stack:
        piece_token, piece, why = stack.pop()
        rows = row_count(piece)
        if rows == 1 and piece_token != token:
            reject([(encode_row(rows_of(table, piece)[0]), why)], piece_token)
            continue
        if piece_token != token:
            try:
                await insert(table, piece, piece_token)
            except StorageRejected as e:
                why = str(e)
            except StorageUnavailable:
                return [(piece_token, piece), *((t, rest) for t, rest, _ in stack)]
            else:
                written(piece)
                continue
        if rows == 1:
            reject([(encode_row(rows_of(table, piece)[0]), why)], piece_token)
            continue
        half = rows // 2
        stack.append((f"{piece_token}/b", take_rows(piece, half, rows), why))
        stack.append((f"{piece_token}/a", take_rows(piece, 0, half), why))
    return []
