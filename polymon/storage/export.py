"""Backtest export: ticks, trades or OHLC bars of a time range, streamed in row blocks so a
large export never sits in memory. Units as in `queries`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Final

from polymon.errors import BadRequest
from polymon.storage.sql import (
    DEFAULT_EXPORT_ROWS,
    GRANULARITIES,
    MAX_EXPORT_ROWS,
    OHLC_VIEWS,
    TWO_SIDED,
    bar_bounds,
    check_limit,
    interval_secs,
    ts,
)  # fmt: skip
from polymon.storage.store import Store

# -- 3. backtest export ----------------------------------------------------------------------
TICK_COLUMNS: Final = (
    "source_ts_us", "ingest_ts_us", "asset_id", "best_bid", "bid_size", "best_ask", "ask_size",
    "mid_price", "spread_bps",
)  # fmt: skip
"""tick export: one row per ob_bbo tick. Prices and sizes exact strings as stored ("0" = that
side of the book is empty); mid_price (string) and spread_bps (float) are None for a one-sided
book; times µs."""
TRADE_COLUMNS: Final = (
    "source_ts_us", "ingest_ts_us", "asset_id", "trade_id", "side", "price", "size",
    "fee_rate_bps",
)  # fmt: skip
"""trades export: one row per distinct trade (trade_ticks FINAL); side BUY | SELL; price and
size exact strings; fee_rate_bps int; times µs."""
OHLC_COLUMNS: Final = ("t", "asset_id", "open", "high", "low", "close", "ticks")
"""ohlc export: one row per bar (as `ohlc()`): t = bucket start in Unix seconds."""


class Export:
    """A validated backtest export: `columns` names the fields of every row; iterating (async)
    yields blocks of row tuples, one store stream read per block, so no export is ever held in
    memory whole. Each iteration runs the query anew. Storage errors surface while iterating.
    Close an iteration you leave early (`contextlib.aclosing(aiter(export))`) to release its
    stream at once.

    A block holds at most `block_rows` rows, with one exception: ClickHouse 25+ may hand an
    export whose limit is at most query_plan_max_limit_for_lazy_materialization (10 000 by
    default) over as a single block of up to `limit` rows (lazy materialization)."""

    __slots__ = ("_params", "_sql", "_store", "block_rows", "columns", "granularity")

    def __init__(
        self,
        store: Store,
        granularity: str,
        columns: tuple[str, ...],
        sql: str,
        params: dict[str, Any],
        block_rows: int,
    ) -> None:
        self._store = store
        self._sql = sql
        self._params = params
        self.granularity = granularity
        self.columns = columns
        self.block_rows = block_rows

    def __aiter__(self) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        return self._store.stream(self._sql, self._params, block_rows=self.block_rows)


async def export_backtest(
    store: Store,
    asset_id: str | None,
    start_us: int,
    end_us: int,
    granularity: str = "tick",
    limit: int = DEFAULT_EXPORT_ROWS,
    interval: str = "1m",
    *,
    block_rows: int = 10_000,
) -> Export:
    """History of one asset (or of every asset when `asset_id` is None) for backtesting.

    granularity:
    - "tick": ob_bbo rows with venue time in [start_us, end_us), columns TICK_COLUMNS;
    - "trades": distinct trade_ticks rows in the range, TRADE_COLUMNS;
    - "ohlc": `interval` (1m | 5m) mid bars overlapping the range, OHLC_COLUMNS.
    Rows are in venue-time order (ties: asset id, then receive time and seq; trades: asset id,
    trade id; bars: asset id), at most `limit` of them.

    Validates at once (before any query): BadRequest naming granularity, interval (ohlc
    only), start or end (< 0) or limit (outside 1..MAX_EXPORT_ROWS).
    """
    if granularity not in GRANULARITIES:
        raise BadRequest(
            f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
        )
    if isinstance(start_us, bool) or not isinstance(start_us, int) or start_us < 0:
        raise BadRequest(f"start must be a time at or after the epoch, got {start_us!r}")
    if isinstance(end_us, bool) or not isinstance(end_us, int) or end_us < 0:
        raise BadRequest(f"end must be a time at or after the epoch, got {end_us!r}")
    check_limit(limit, MAX_EXPORT_ROWS)
    if isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows <= 0:
        raise BadRequest(f"block_rows must be a positive integer, got {block_rows!r}")
    db = store.database
    asset = "asset_id = {asset:String} AND " if asset_id is not None else ""
    # An empty range (end <= start) is valid and holds no rows.
    params: dict[str, Any] = {"asset": asset_id or "", "limit": limit if end_us > start_us else 0}
    if granularity == "ohlc":
        lo, hi = bar_bounds(start_us, end_us, interval_secs(interval))
        params |= {"lo": lo, "hi": hi}
        sql = (
            "SELECT toUnixTimestamp(bucket), asset_id, toString(argMinMerge(open)),"
            " toString(maxMerge(high)), toString(minMerge(low)), toString(argMaxMerge(close)),"
            f" sum(ticks) FROM {db}.{OHLC_VIEWS[interval]}"
            f" WHERE {asset}bucket >= toDateTime({{lo:Int64}}, 'UTC')"
            " AND bucket < toDateTime({hi:Int64}, 'UTC')"
            " GROUP BY asset_id, bucket ORDER BY bucket, asset_id LIMIT {limit:UInt64}"
        )
        return Export(store, granularity, OHLC_COLUMNS, sql, params, block_rows)
    params |= {"start": start_us, "end": end_us}
    window = f"{asset}source_ts >= {ts('start')} AND source_ts < {ts('end')}"
    times = "toUnixTimestamp64Micro(source_ts), toUnixTimestamp64Micro(ingest_ts), asset_id"
    if granularity == "trades":
        sql = (
            f"SELECT {times}, trade_id, toString(side), toString(price), toString(size),"
            f" fee_rate_bps FROM {db}.trade_ticks FINAL WHERE {window}"
            " ORDER BY source_ts, asset_id, trade_id LIMIT {limit:UInt64}"
        )
        return Export(store, granularity, TRADE_COLUMNS, sql, params, block_rows)
    # One asset: the table's own order (asset_id, source_ts, seq) is read as it lies on disk
    # and only ties are sorted, so the rows stream; every asset: a sort over the range.
    order = (
        "source_ts, ingest_ts, seq"
        if asset_id is not None
        else "source_ts, asset_id, ingest_ts, seq"
    )
    sql = (
        f"SELECT {times}, toString(best_bid), toString(bid_size), toString(best_ask),"
        f" toString(ask_size), if({TWO_SIDED}, toString(mid_price), NULL),"
        f" if({TWO_SIDED}, spread_bps, NULL)"
        f" FROM {db}.ob_bbo WHERE {window} ORDER BY {order} LIMIT {{limit:UInt64}}"
    )
    return Export(store, granularity, TICK_COLUMNS, sql, params, block_rows)
