"""The stored top-of-book ticks of one asset in receive order, for backtesting a trigger.

Units as in `queries`: prices and sizes come back as exact decimal strings ("0" = that side of
the book was empty), times in µs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from polymon.storage.sql import ts
from polymon.storage.store import Store

TickRow = tuple[int, int, str, str, str, str]
"""(venue ts ms, receive µs, best bid, bid size, best ask, ask size)."""


async def bbo_ticks(
    store: Store, asset_id: str, start_us: int, end_us: int, *, block_rows: int = 10_000
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """Blocks of TickRow: the ob_bbo ticks of `asset_id` received in [start_us, end_us), in the
    order polymon saw them (receive time, then the shard's sequence)."""
    sql = (
        "SELECT intDiv(toUnixTimestamp64Micro(source_ts), 1000), toUnixTimestamp64Micro(ingest_ts),"
        " toString(best_bid), toString(bid_size), toString(best_ask), toString(ask_size)"
        f" FROM {store.database}.ob_bbo WHERE asset_id = {{asset:String}}"
        f" AND ingest_ts >= {ts('start')} AND ingest_ts < {ts('end')}"
        " ORDER BY ingest_ts, seq"
    )
    params = {"asset": asset_id, "start": start_us, "end": end_us}
    async for block in store.stream(sql, params, block_rows=block_rows):
        yield block
