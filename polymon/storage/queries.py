"""Read queries over the ClickHouse history: OHLC, 24 h stats, backtest exports, data quality.

Every function takes the `Store`, sends one or two SELECTs with server-side parameters
(`{name:Type}`; only the validated database name is put into the SQL text) and returns msgspec
Structs defined here, ready to encode as JSON.

Units, everywhere in this module:
- prices, sizes, volumes and notionals are exact decimal strings as ClickHouse prints them
  (trailing zeros trimmed: "0.485", "12.5", "0"), never binary floats;
- `*_us` fields and parameters are microseconds since the Unix epoch (UTC); `t` of a candle is
  the bucket start in Unix seconds (the OHLC format of docs/interface.md);
- `*_ms` fields are durations in milliseconds; `*_bps` are basis points (floats), `*_pct` percent;
- every time window is half-open, [start, end), over the venue's event time (`source_ts`) for
  ticks, trades, level changes and snapshots, and over polymon's wall clock for gap events.

A mid price exists only for a two-sided book (best bid and best ask both > 0); one-sided ticks
count as ticks but never contribute to a mid, an OHLC bar or a spread.

Bad arguments raise `BadRequest` with a detail that names the parameter; storage failures raise
`StorageUnavailable` / `StorageRejected` from the store.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Final

import msgspec

from polymon.errors import BadRequest
from polymon.storage.store import Store

US: Final = 1_000_000
HOUR_US: Final = 3600 * US
DAY_US: Final = 24 * HOUR_US

INTERVALS: Final = {"1m": 60, "5m": 300}
"""OHLC intervals and their length in seconds."""
_OHLC_VIEWS: Final = {"1m": "mv_ob_bbo_1m", "5m": "mv_ob_bbo_5m"}

MAX_HOURS: Final = 24 * 90
"""Longest window (hours) any query here accepts: the raw tables keep 90 days."""
MAX_EXPORT_ROWS: Final = 1_000_000
"""Largest `limit` of one backtest export."""
DEFAULT_EXPORT_ROWS: Final = 100_000
MAX_ASSETS: Final = 10_000
"""Largest `limit` of `assets_with_ticks`."""
GRANULARITIES: Final = ("tick", "trades", "ohlc")

_TWO_SIDED: Final = "best_bid > 0 AND best_ask > 0"


def _ts(name: str) -> str:
    """SQL for a DateTime64(6, 'UTC') built from the Int64 µs parameter `name`."""
    return f"fromUnixTimestamp64Micro({{{name}:Int64}}, 'UTC')"


_IN_WINDOW: Final = (
    f"asset_id = {{asset:String}} AND source_ts >= {_ts('start')} AND source_ts < {_ts('end')}"
)
"""One asset's rows with venue time in [start, end) (parameters asset, start, end)."""


# -- results ---------------------------------------------------------------------------------
class Candle(msgspec.Struct, frozen=True):
    """One OHLC bar of the mid price: `t` is the bucket start (Unix seconds), prices exact."""

    t: int
    open: str
    high: str
    low: str
    close: str
    ticks: int


class Ohlc(msgspec.Struct, frozen=True):
    """The OHLC response of docs/interface.md: candles ascending by `t`."""

    asset_id: str
    interval: str
    candles: list[Candle]


class Bbo(msgspec.Struct, frozen=True, kw_only=True):
    """One top-of-book tick. An empty side has None for its price and size; mid_price and
    spread_bps are None unless both sides are present."""

    ts_us: int
    best_bid: str | None
    bid_size: str | None
    best_ask: str | None
    ask_size: str | None
    mid_price: str | None
    spread_bps: float | None


class Stats24h(msgspec.Struct, frozen=True, kw_only=True):
    """Statistics of one asset over [start_us, end_us) = the 24 h before `now`.

    ticks counts every BBO tick, two_sided_ticks those with a mid. mid_* are the mid price at
    the first / last two-sided tick (by venue time) and its extremes; mid_change_pct is
    (close - open) / open * 100; mean_spread_bps is the tick-weighted mean over two-sided
    ticks. All are None when the window holds no two-sided tick. trades counts distinct
    trades (replays collapse), volume is the sum of their sizes (shares), notional the sum of
    price x size (USDC), both exact; "0" when there is no trade.
    """

    asset_id: str
    condition_id: str
    start_us: int
    end_us: int
    ticks: int
    two_sided_ticks: int
    first_tick_us: int | None
    last_tick_us: int | None
    mid_open: str | None
    mid_close: str | None
    mid_high: str | None
    mid_low: str | None
    mid_change_pct: float | None
    mean_spread_bps: float | None
    last_bbo: Bbo | None
    trades: int
    buy_trades: int
    volume: str
    notional: str
    last_trade_price: str | None
    last_trade_us: int | None


class AssetTicks(msgspec.Struct, frozen=True, kw_only=True):
    """An asset with its BBO tick count and first / last tick time (µs) in the window."""

    asset_id: str
    condition_id: str
    ticks: int
    first_tick_us: int
    last_tick_us: int


class Quality(msgspec.Struct, frozen=True, kw_only=True):
    """Data-quality metrics of one asset over [start_us, end_us) (`hours` before `now`).

    Counts: bbo_ticks (one_sided_ticks of them without a mid), trades (distinct), level_changes,
    snapshots, all by venue time in the window.

    Gaps are the ob_gap_events (read FINAL: a resolved gap replaces its open version) whose
    span [detected_at, resolved_at) overlaps the window; an open gap spans [detected_at, end).
    gaps_by_reason counts them by reason, open_gaps those not yet resolved. gap_ms_total and
    gap_ms_max add up / take the largest of their whole durations (resolved: duration_ms as
    stored; open: detected_at to end), not clipped to the window.

    coverage is the share of the window covered by no gap: 1 - |union of the gap spans clipped
    to the window| / window length, in [0, 1].

    minute_coverage is tick_minutes / window_minutes: window_minutes counts the UTC minutes the
    window touches (a partial minute at either end counts), tick_minutes those with at least one
    BBO tick in the window. 0.0 for an empty window.
    """

    asset_id: str
    start_us: int
    end_us: int
    bbo_ticks: int
    one_sided_ticks: int
    trades: int
    level_changes: int
    snapshots: int
    first_tick_us: int | None
    last_tick_us: int | None
    gaps: int
    open_gaps: int
    gaps_by_reason: dict[str, int]
    gap_ms_total: int
    gap_ms_max: int
    coverage: float
    tick_minutes: int
    window_minutes: int
    minute_coverage: float


# -- validation ------------------------------------------------------------------------------
def _window(hours: float, now_us: int) -> tuple[int, int]:
    """[now - hours, now) in µs; raises BadRequest naming `hours` unless 0 < hours <= MAX."""
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise BadRequest("hours must be a number")
    if not math.isfinite(hours) or hours <= 0 or hours > MAX_HOURS:
        raise BadRequest(f"hours must be > 0 and at most {MAX_HOURS}, got {hours}")
    return now_us - round(hours * HOUR_US), now_us


def _interval(interval: str) -> int:
    step = INTERVALS.get(interval)
    if step is None:
        raise BadRequest(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    return step


def _limit(limit: int, maximum: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= maximum:
        raise BadRequest(f"limit must be an integer from 1 to {maximum}, got {limit!r}")
    return limit


def _bar_bounds(start_us: int, end_us: int, step: int) -> tuple[int, int]:
    """Unix-second bounds [lo, hi) on bucket starts for bars overlapping [start_us, end_us)."""
    lo = start_us // US // step * step
    hi = -(-end_us // US)  # a bar starting at or after end (rounded up to a second) is out
    return lo, hi


def _opt_str(value: str, present: bool) -> str | None:
    return value if present else None


def _opt_float(value: Any) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


# -- 1. OHLC ---------------------------------------------------------------------------------
async def ohlc(store: Store, asset_id: str, interval: str, hours: float, now_us: int) -> Ohlc:
    """1m or 5m mid-price bars of `asset_id` overlapping [now - hours, now), ascending by `t`.

    Read from the mv_ob_bbo_1m / mv_ob_bbo_5m views (-Merge of their partial states), so bars
    outlive the raw ticks. A bar covers the two-sided ticks of its bucket: open is the mid of
    the first by venue time, close of the last (ticks with equal timestamps are ordered as the
    engine meets them), ticks their number. The first and last bar may be partial buckets of
    the window. Raises BadRequest for an unknown interval or hours outside (0, MAX_HOURS].
    """
    step = _interval(interval)
    lo, hi = _bar_bounds(*_window(hours, now_us), step)
    db = store.database
    rows = await store.query(
        "SELECT toUnixTimestamp(bucket), toString(argMinMerge(open)), toString(maxMerge(high)),"
        " toString(minMerge(low)), toString(argMaxMerge(close)), sum(ticks)"
        f" FROM {db}.{_OHLC_VIEWS[interval]}"
        " WHERE asset_id = {asset:String}"
        " AND bucket >= toDateTime({lo:Int64}, 'UTC') AND bucket < toDateTime({hi:Int64}, 'UTC')"
        " GROUP BY bucket ORDER BY bucket",
        {"asset": asset_id, "lo": lo, "hi": hi},
    )
    candles = [
        Candle(t=int(t), open=o, high=h, low=lw, close=c, ticks=int(n))
        for t, o, h, lw, c, n in rows
    ]
    return Ohlc(asset_id=asset_id, interval=interval, candles=candles)


# -- 2. 24 h statistics ----------------------------------------------------------------------
async def stats_24h(store: Store, asset_id: str, now_us: int) -> Stats24h:
    """Tick, mid, spread and trade statistics of `asset_id` over [now - 24 h, now).

    Two statements over the raw tables: ob_bbo, and trade_ticks FINAL (a trade replayed after a
    reconnect counts once even before the engine merges it away). First / last are by
    (venue time, receive time, seq), so ticks with equal venue times keep their arrival order.
    """
    start, end = now_us - DAY_US, now_us
    db = store.database
    params = {"asset": asset_id, "start": start, "end": end}
    (bbo,) = await store.query(
        "SELECT count(), countIf(two), any(condition_id),"
        " toUnixTimestamp64Micro(min(source_ts)), toUnixTimestamp64Micro(max(source_ts)),"
        " toString(argMinIf(mid_price, k, two)), toString(argMaxIf(mid_price, k, two)),"
        " toString(maxIf(mid_price, two)), toString(minIf(mid_price, two)),"
        " avgIf(spread_bps, two),"
        " argMax(tuple(toUnixTimestamp64Micro(source_ts), toString(best_bid), toString(bid_size),"
        "  toString(best_ask), toString(ask_size), toString(mid_price), spread_bps), k)"
        " FROM (SELECT condition_id, source_ts, best_bid, bid_size, best_ask, ask_size,"
        f"  mid_price, spread_bps, ({_TWO_SIDED}) AS two, (source_ts, ingest_ts, seq) AS k"
        f"  FROM {db}.ob_bbo WHERE {_IN_WINDOW})",
        params,
    )
    (trades,) = await store.query(
        "SELECT count(), countIf(side = 'BUY'), toString(sum(size)),"
        " toString(sum(CAST(price AS Decimal(38, 6)) * size)),"
        " toString(argMax(price, (source_ts, trade_id))), toUnixTimestamp64Micro(max(source_ts))"
        f" FROM {db}.trade_ticks FINAL WHERE {_IN_WINDOW}",
        params,
    )
    n_ticks, n_two = int(bbo[0]), int(bbo[1])
    condition_id, first_us, last_us = bbo[2:5]
    has_mid = n_two > 0
    mid_open, mid_close, mid_high, mid_low = (_opt_str(str(v), has_mid) for v in bbo[5:9])
    change = None
    if mid_open is not None and mid_close is not None:
        opened = Decimal(mid_open)
        change = float((Decimal(mid_close) - opened) / opened * 100)
    last_bbo = None
    if n_ticks:
        ts, bid, bid_size, ask, ask_size, mid, spread = bbo[10]
        two = bid != "0" and ask != "0"
        last_bbo = Bbo(
            ts_us=int(ts),
            best_bid=_opt_str(bid, bid != "0"),
            bid_size=_opt_str(bid_size, bid != "0"),
            best_ask=_opt_str(ask, ask != "0"),
            ask_size=_opt_str(ask_size, ask != "0"),
            mid_price=_opt_str(mid, two),
            spread_bps=_opt_float(spread) if two else None,
        )
    n_trades, n_buys, volume, notional, last_price, last_trade_us = trades
    return Stats24h(
        asset_id=asset_id,
        condition_id=str(condition_id) if n_ticks else "",
        start_us=start,
        end_us=end,
        ticks=n_ticks,
        two_sided_ticks=n_two,
        first_tick_us=int(first_us) if n_ticks else None,
        last_tick_us=int(last_us) if n_ticks else None,
        mid_open=mid_open,
        mid_close=mid_close,
        mid_high=mid_high,
        mid_low=mid_low,
        mid_change_pct=change,
        mean_spread_bps=_opt_float(bbo[9]) if has_mid else None,
        last_bbo=last_bbo,
        trades=int(n_trades),
        buy_trades=int(n_buys),
        volume=str(volume),
        notional=str(notional),
        last_trade_price=str(last_price) if n_trades else None,
        last_trade_us=int(last_trade_us) if n_trades else None,
    )


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

    def __aiter__(self) -> AsyncIterator[list[tuple[Any, ...]]]:
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
    only), start (< 0), end (<= start) or limit (outside 1..MAX_EXPORT_ROWS).
    """
    if granularity not in GRANULARITIES:
        raise BadRequest(
            f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
        )
    if isinstance(start_us, bool) or not isinstance(start_us, int) or start_us < 0:
        raise BadRequest(f"start must be a time at or after the epoch, got {start_us!r}")
    if isinstance(end_us, bool) or not isinstance(end_us, int) or end_us <= start_us:
        raise BadRequest(f"end must be after start, got start={start_us!r} end={end_us!r}")
    _limit(limit, MAX_EXPORT_ROWS)
    if isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows <= 0:
        raise BadRequest(f"block_rows must be a positive integer, got {block_rows!r}")
    db = store.database
    asset = "asset_id = {asset:String} AND " if asset_id is not None else ""
    params: dict[str, Any] = {"asset": asset_id or "", "limit": limit}
    if granularity == "ohlc":
        lo, hi = _bar_bounds(start_us, end_us, _interval(interval))
        params |= {"lo": lo, "hi": hi}
        sql = (
            "SELECT toUnixTimestamp(bucket), asset_id, toString(argMinMerge(open)),"
            " toString(maxMerge(high)), toString(minMerge(low)), toString(argMaxMerge(close)),"
            f" sum(ticks) FROM {db}.{_OHLC_VIEWS[interval]}"
            f" WHERE {asset}bucket >= toDateTime({{lo:Int64}}, 'UTC')"
            " AND bucket < toDateTime({hi:Int64}, 'UTC')"
            " GROUP BY asset_id, bucket ORDER BY bucket, asset_id LIMIT {limit:UInt64}"
        )
        return Export(store, granularity, OHLC_COLUMNS, sql, params, block_rows)
    params |= {"start": start_us, "end": end_us}
    window = f"{asset}source_ts >= {_ts('start')} AND source_ts < {_ts('end')}"
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
        f" toString(ask_size), if({_TWO_SIDED}, toString(mid_price), NULL),"
        f" if({_TWO_SIDED}, spread_bps, NULL)"
        f" FROM {db}.ob_bbo WHERE {window} ORDER BY {order} LIMIT {{limit:UInt64}}"
    )
    return Export(store, granularity, TICK_COLUMNS, sql, params, block_rows)


# -- 4. assets with ticks --------------------------------------------------------------------
async def assets_with_ticks(
    store: Store, min_ticks: int, hours: float, now_us: int, limit: int = 100
) -> list[AssetTicks]:
    """Assets with at least `min_ticks` BBO ticks (one-sided included) in the recent window,
    most ticks first (then by asset id), at most `limit`.

    Read from the mv_ob_hourly_stats view, so the window is whole hours: from the start of the
    UTC hour holding now - hours through the hour holding now (first_tick_us may thus precede
    now - hours). Raises BadRequest naming min_ticks (< 0), hours or limit (1..MAX_ASSETS).
    """
    if isinstance(min_ticks, bool) or not isinstance(min_ticks, int) or min_ticks < 0:
        raise BadRequest(f"min_ticks must be a non-negative integer, got {min_ticks!r}")
    start, end = _window(hours, now_us)
    _limit(limit, MAX_ASSETS)
    db = store.database
    rows = await store.query(
        "SELECT asset_id, any(condition_id), sum(ticks) AS n,"
        " toUnixTimestamp64Micro(min(first_ts)), toUnixTimestamp64Micro(max(last_ts))"
        f" FROM {db}.mv_ob_hourly_stats"
        " WHERE hour >= toStartOfHour(toDateTime({lo:Int64}, 'UTC'))"
        " AND hour <= toDateTime({hi:Int64}, 'UTC')"
        " GROUP BY asset_id HAVING n >= {min_ticks:UInt64} AND n > 0"
        " ORDER BY n DESC, asset_id LIMIT {limit:UInt64}",
        {"lo": start // US, "hi": end // US, "min_ticks": min_ticks, "limit": limit},
    )
    return [
        AssetTicks(
            asset_id=a, condition_id=str(c), ticks=int(n), first_tick_us=int(f),
            last_tick_us=int(la),
        )
        for a, c, n, f, la in rows
    ]  # fmt: skip


# -- 5. data quality -------------------------------------------------------------------------
async def quality(store: Store, asset_id: str, hours: float, now_us: int) -> Quality:
    """Data-quality metrics of `asset_id` over [now - hours, now); see `Quality` for the exact
    definitions. Two statements: the counts, and the gap events overlapping the window."""
    start, end = _window(hours, now_us)
    db = store.database
    params = {"asset": asset_id, "start": start, "end": end}
    ((bbo, trades, levels, snapshots),) = await store.query(
        "SELECT"
        " (SELECT tuple(count(), countIf(NOT (best_bid > 0 AND best_ask > 0)),"
        "   uniqExact(toStartOfMinute(source_ts)), toUnixTimestamp64Micro(min(source_ts)),"
        f"   toUnixTimestamp64Micro(max(source_ts))) FROM {db}.ob_bbo WHERE {_IN_WINDOW}),"
        f" (SELECT count() FROM {db}.trade_ticks FINAL WHERE {_IN_WINDOW}),"
        f" (SELECT count() FROM {db}.ob_level_changes WHERE {_IN_WINDOW}),"
        f" (SELECT count() FROM {db}.ob_snapshots WHERE {_IN_WINDOW})",
        params,
    )
    gaps = await store.query(
        "SELECT reason, toUnixTimestamp64Micro(detected_at),"
        " if(resolved_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(resolved_at))),"
        " duration_ms FROM ("
        "  SELECT reason, detected_at, resolved_at, duration_ms"
        f"  FROM {db}.ob_gap_events FINAL"
        f"  WHERE asset_id = {{asset:String}} AND detected_at < {_ts('end')})"
        f" WHERE resolved_at IS NULL OR resolved_at > {_ts('start')}"
        " ORDER BY detected_at",
        params,
    )
    by_reason: dict[str, int] = {}
    open_gaps = total_ms = max_ms = 0
    spans: list[tuple[int, int]] = []
    for reason, detected, resolved, duration_ms in gaps:
        by_reason[reason] = by_reason.get(reason, 0) + 1
        if resolved is None:
            open_gaps += 1
            ms = (end - detected) // 1000
            resolved = end
        else:
            ms = int(duration_ms)
        total_ms += ms
        max_ms = max(max_ms, ms)
        lo, hi = max(detected, start), min(resolved, end)
        if hi > lo:
            spans.append((lo, hi))
    covered = 0
    reach = start
    for lo, hi in sorted(spans):  # union length of the clipped spans
        if hi > reach:
            covered += hi - max(lo, reach)
            reach = hi
    n_ticks, one_sided, tick_minutes, first_us, last_us = bbo
    n_ticks = int(n_ticks)
    minute = 60 * US
    window_minutes = -(-end // minute) - start // minute
    return Quality(
        asset_id=asset_id,
        start_us=start,
        end_us=end,
        bbo_ticks=n_ticks,
        one_sided_ticks=int(one_sided),
        trades=int(trades),
        level_changes=int(levels),
        snapshots=int(snapshots),
        first_tick_us=int(first_us) if n_ticks else None,
        last_tick_us=int(last_us) if n_ticks else None,
        gaps=len(gaps),
        open_gaps=open_gaps,
        gaps_by_reason=by_reason,
        gap_ms_total=total_ms,
        gap_ms_max=max_ms,
        coverage=1.0 - covered / (end - start),
        tick_minutes=int(tick_minutes),
        window_minutes=window_minutes,
        minute_coverage=int(tick_minutes) / window_minutes if window_minutes else 0.0,
    )
