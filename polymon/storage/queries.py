"""Read queries over the ClickHouse history: OHLC, 24 h stats, assets by ticks, data quality
(backtest exports are in `export`).

Every function takes the `Store`, sends one or two SELECTs with server-side parameters
(`{name:Type}`; only the validated database name is put into the SQL text) and returns the
msgspec Structs of `polymon.core.history` (shared with the HTTP layer), ready to encode as JSON.

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

from decimal import Decimal

from polymon.core.history import AssetTicks, Bbo, Candle, Ohlc, Quality, Stats24h
from polymon.errors import BadRequest
from polymon.storage.sql import (
    DAY_US,
    IN_WINDOW,
    MAX_ASSETS,
    OHLC_VIEWS,
    SECOND_US,
    TWO_SIDED,
    bar_bounds,
    check_limit,
    interval_secs,
    opt_float,
    opt_str,
    ts,
    window,
)  # fmt: skip
from polymon.storage.store import Store


# -- 1. OHLC ---------------------------------------------------------------------------------
async def ohlc(store: Store, asset_id: str, interval: str, hours: float, now_us: int) -> Ohlc:
    """1m or 5m mid-price bars of `asset_id` overlapping [now - hours, now), ascending by `t`.

    Read from the mv_ob_bbo_1m / mv_ob_bbo_5m views (-Merge of their partial states), so bars
    outlive the raw ticks. A bar covers the two-sided ticks of its bucket: open is the mid of
    the first by venue time, close of the last (ticks with equal timestamps are ordered as the
    engine meets them), ticks their number. The first and last bar may be partial buckets of
    the window. Raises BadRequest for an unknown interval or hours outside (0, MAX_HOURS].
    """
    step = interval_secs(interval)
    lo, hi = bar_bounds(*window(hours, now_us), step)
    db = store.database
    rows = await store.query(
        "SELECT toUnixTimestamp(bucket), toString(argMinMerge(open)), toString(maxMerge(high)),"
        " toString(minMerge(low)), toString(argMaxMerge(close)), sum(ticks)"
        f" FROM {db}.{OHLC_VIEWS[interval]}"
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
        f"  mid_price, spread_bps, ({TWO_SIDED}) AS two, (source_ts, ingest_ts, seq) AS k"
        f"  FROM {db}.ob_bbo WHERE {IN_WINDOW})",
        params,
    )
    (trades,) = await store.query(
        "SELECT count(), countIf(side = 'BUY'), toString(sum(size)),"
        " toString(sum(CAST(price AS Decimal(38, 6)) * size)),"
        " toString(argMax(price, (source_ts, trade_id))), toUnixTimestamp64Micro(max(source_ts))"
        f" FROM {db}.trade_ticks FINAL WHERE {IN_WINDOW}",
        params,
    )
    n_ticks, n_two = int(bbo[0]), int(bbo[1])
    condition_id, first_us, last_us = bbo[2:5]
    has_mid = n_two > 0
    mid_open, mid_close, mid_high, mid_low = (opt_str(str(v), has_mid) for v in bbo[5:9])
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
            best_bid=opt_str(bid, bid != "0"),
            bid_size=opt_str(bid_size, bid != "0"),
            best_ask=opt_str(ask, ask != "0"),
            ask_size=opt_str(ask_size, ask != "0"),
            mid_price=opt_str(mid, two),
            spread_bps=opt_float(spread) if two else None,
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
        mean_spread_bps=opt_float(bbo[9]) if has_mid else None,
        last_bbo=last_bbo,
        trades=int(n_trades),
        buy_trades=int(n_buys),
        volume=str(volume),
        notional=str(notional),
        last_trade_price=str(last_price) if n_trades else None,
        last_trade_us=int(last_trade_us) if n_trades else None,
    )


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
    start, end = window(hours, now_us)
    check_limit(limit, MAX_ASSETS)
    db = store.database
    rows = await store.query(
        "SELECT asset_id, any(condition_id), sum(ticks) AS n,"
        " toUnixTimestamp64Micro(min(first_ts)), toUnixTimestamp64Micro(max(last_ts))"
        f" FROM {db}.mv_ob_hourly_stats"
        " WHERE hour >= toStartOfHour(toDateTime({lo:Int64}, 'UTC'))"
        " AND hour <= toDateTime({hi:Int64}, 'UTC')"
        " GROUP BY asset_id HAVING n >= {min_ticks:UInt64} AND n > 0"
        " ORDER BY n DESC, asset_id LIMIT {limit:UInt64}",
        {"lo": start // SECOND_US, "hi": end // SECOND_US, "min_ticks": min_ticks, "limit": limit},
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
    start, end = window(hours, now_us)
    db = store.database
    params = {"asset": asset_id, "start": start, "end": end}
    ((bbo, trades, levels, snapshots),) = await store.query(
        "SELECT"
        " (SELECT tuple(count(), countIf(NOT (best_bid > 0 AND best_ask > 0)),"
        "   uniqExact(toStartOfMinute(source_ts)), toUnixTimestamp64Micro(min(source_ts)),"
        f"   toUnixTimestamp64Micro(max(source_ts))) FROM {db}.ob_bbo WHERE {IN_WINDOW}),"
        f" (SELECT count() FROM {db}.trade_ticks FINAL WHERE {IN_WINDOW}),"
        f" (SELECT count() FROM {db}.ob_level_changes WHERE {IN_WINDOW}),"
        f" (SELECT count() FROM {db}.ob_snapshots WHERE {IN_WINDOW})",
        params,
    )
    gaps = await store.query(
        "SELECT reason, toUnixTimestamp64Micro(detected_at),"
        " if(resolved_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(resolved_at))),"
        " duration_ms FROM ("
        "  SELECT reason, detected_at, resolved_at, duration_ms"
        f"  FROM {db}.ob_gap_events FINAL"
        f"  WHERE asset_id = {{asset:String}} AND detected_at < {ts('end')})"
        f" WHERE resolved_at IS NULL OR resolved_at > {ts('start')}"
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
    minute = 60 * SECOND_US
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
