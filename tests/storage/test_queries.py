"""Read queries on the real embedded engine, checked against values computed by hand."""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from polymon.core.model import GapEvent
from polymon.errors import BadRequest
from polymon.storage import export as backtest
from polymon.storage import queries, sql
from polymon.storage.rows import BBO, CONVERTERS, GAPS, LEVELS, SNAPSHOTS, TRADES, Table
from polymon.storage.store import Store
from tests.storage.helpers import ASSET, MARKET, bbo_row

OTHER = "1234567890"
MIN_MS = 60_000
OFFLINE = Store("chdb:///nonexistent", database="never_opened")
"""For argument checks that must fail before any query (construction opens nothing)."""


async def put(store: Store, table: Table, rows: list[Any]) -> None:
    """Insert rows as a writer would: one batch, its own dedup token."""
    columns = CONVERTERS[table.name]([(0, rows)], "r1")
    await store.insert(table, columns, uuid.uuid4().hex)


def minute_ms() -> int:
    """A minute boundary two hours ago (recent: the TTL removes old rows at once)."""
    return (time.time_ns() // 1_000_000 // MIN_MS) * MIN_MS - 120 * MIN_MS


def text(value: Decimal) -> str:
    """An exact decimal as ClickHouse prints it (trailing zeros trimmed)."""
    return format(value.normalize(), "f")


def mid(bid: int, ask: int) -> str:
    return text(Decimal(bid + ask) / 2_000_000)


def spread_bps(bid: int, ask: int) -> float:
    return (ask - bid) / 1e6 * 20000 / ((bid + ask) / 1e6)


def trade(
    trade_id: str, ts_ms: int, price: int, size: str, side: str, seq: int, asset: str = ASSET
) -> tuple[Any, ...]:
    return (asset, MARKET, ts_ms, ts_ms * 1000 + 9, trade_id, price, size, float(size), side,
            "0", "0xabc", seq)  # fmt: skip


# -- OHLC ------------------------------------------------------------------------------------
def hand_ohlc(
    ticks: list[tuple[Any, ...]], step: int, lo_us: int, hi_us: int
) -> list[dict[str, Any]]:
    """Bars from raw BboRows: two-sided ticks of ASSET, by bucket, overlapping [lo, hi)."""
    buckets: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for aid, _m, ts_ms, _recv, bid, _bs, ask, _as, _seq in ticks:
        if aid == ASSET and bid > 0 and ask > 0:
            buckets[ts_ms // 1000 // step * step].append((ts_ms, bid, ask))
    bars = []
    for t in sorted(buckets):
        if not (t + step) * 1_000_000 > lo_us or not t * 1_000_000 < hi_us:
            continue
        rows = sorted(buckets[t])
        mids = [Decimal(b + a) / 2_000_000 for _, b, a in rows]
        bars.append({
            "t": t, "open": text(mids[0]), "high": text(max(mids)), "low": text(min(mids)),
            "close": text(mids[-1]), "ticks": len(rows),
        })  # fmt: skip
    return bars


async def test_ohlc_equals_the_bars_computed_by_hand(store: Store) -> None:
    rng = random.Random(7)
    t0 = minute_ms() // 300_000 * 300_000  # a 5-minute boundary
    # Ticks from 1.5 minutes before t0 to 11 minutes after, at distinct times, several per
    # minute, some exactly on minute and 5-minute boundaries.
    offsets = set(rng.sample(range(-90_000, 660_000), 80)) | {0, 60_000, 299_999, 300_000}
    ticks = []
    for seq, off in enumerate(sorted(offsets)):
        bid = rng.randrange(300_000, 600_000)
        ask = bid + rng.randrange(1, 20_000)
        if rng.random() < 0.15:  # a one-sided book: no mid, not in any bar
            bid, ask = (0, 990_000) if rng.random() < 0.5 else (10_000, 0)
        ticks.append(bbo_row(seq, t0 + off, bid, ask))
    ticks[0] = bbo_row(0, t0 - 90_000 - 1, 0, 999_000)  # one-sided first tick of its bars
    ticks.append(bbo_row(900, t0 + 299_998, 1, 999_999))  # a wide book: mid 0.5
    ticks.append(bbo_row(901, t0 - 40 * MIN_MS, 400_000, 410_000))  # before the window
    ticks.append(bbo_row(902, t0 + 16 * MIN_MS, 400_000, 410_000))  # after now
    ticks += [bbo_row(1000 + i, t0 + i * 7_000, 100_000, 200_000, OTHER) for i in range(40)]
    rng.shuffle(ticks)  # inserted out of time order, in three parts: -Merge must order them
    for part in (ticks[:30], ticks[30:70], ticks[70:]):
        await put(store, BBO, part)

    now_us = (t0 + 15 * MIN_MS) * 1000
    for interval, step in (("1m", 60), ("5m", 300)):
        result = await queries.ohlc(store, ASSET, interval, 0.5, now_us)
        expected = hand_ohlc(ticks, step, now_us - 1800 * 1_000_000, now_us)
        assert msgspec.to_builtins(result) == {
            "asset_id": ASSET, "interval": interval, "candles": expected
        }  # fmt: skip
        assert len(expected) >= (12 if step == 60 else 3)
        assert sum(c.ticks for c in result.candles) == sum(b["ticks"] for b in expected)

    narrow = await queries.ohlc(store, ASSET, "1m", 1 / 60, now_us)
    assert narrow.candles == []  # the last minute before now holds no tick
    assert (await queries.ohlc(store, "nope", "1m", 1, now_us)).candles == []


@pytest.mark.parametrize(
    ("interval", "hours", "param"),
    [("15m", 1, "interval"), ("1m", 0, "hours"), ("1m", -1, "hours"),
     ("5m", float("nan"), "hours"), ("1m", 24 * 365, "hours")],
)  # fmt: skip
async def test_ohlc_rejects_bad_parameters(interval: str, hours: float, param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await queries.ohlc(OFFLINE, ASSET, interval, hours, time.time_ns() // 1000)
    assert param in caught.value.detail


# -- 24 h statistics -------------------------------------------------------------------------
async def test_stats_24h_exact_values(store: Store) -> None:
    t = minute_ms()
    now_us = (t + 60 * MIN_MS) * 1000
    await put(store, BBO, [
        bbo_row(1, t, 480_000, 520_000),
        bbo_row(2, t + 1000, 470_000, 0),
        bbo_row(3, t + 2000, 490_000, 500_000),
        bbo_row(4, t + 3000, 510_000, 515_000),
        bbo_row(5, t + 4000, 0, 530_000),  # the last tick: one-sided
        bbo_row(6, t - 25 * 60 * MIN_MS, 100_000, 900_000),  # older than 24 h
        bbo_row(7, t + 61 * MIN_MS, 100_000, 900_000),  # after now
        bbo_row(8, t + 500, 100_000, 900_000, OTHER),
    ])  # fmt: skip
    await put(store, TRADES, [
        trade("a", t + 100, 500_000, "10", "BUY", 1),
        trade("b", t + 3100, 520_000, "5.5", "SELL", 2),
        trade("old", t - 25 * 60 * MIN_MS, 900_000, "1000", "BUY", 3),
        trade("x", t + 200, 900_000, "1000", "BUY", 4, OTHER),
    ])  # fmt: skip
    await put(store, TRADES, [trade("a", t + 100, 500_000, "10", "BUY", 9)])  # a replay
    raw = await store.query(f"SELECT count() FROM {store.database}.trade_ticks")
    assert raw == [(5,)]  # the replay is stored twice until a merge

    stats = await queries.stats_24h(store, ASSET, now_us)
    spreads = [spread_bps(480_000, 520_000), spread_bps(490_000, 500_000),
               spread_bps(510_000, 515_000)]  # fmt: skip
    assert stats.mean_spread_bps == pytest.approx(sum(spreads) / 3, rel=1e-12)
    assert stats.mid_change_pct == pytest.approx(2.5, rel=1e-12)
    assert msgspec.structs.replace(stats, mean_spread_bps=None, mid_change_pct=None) == (
        queries.Stats24h(
            asset_id=ASSET, condition_id=MARKET, start_us=now_us - 86_400_000_000, end_us=now_us,
            ticks=5, two_sided_ticks=3, first_tick_us=t * 1000, last_tick_us=(t + 4000) * 1000,
            mid_open="0.5", mid_close="0.5125", mid_high="0.5125", mid_low="0.495",
            mid_change_pct=None, mean_spread_bps=None,
            last_bbo=queries.Bbo(
                ts_us=(t + 4000) * 1000, best_bid=None, bid_size=None, best_ask="0.53",
                ask_size="250.5", mid_price=None, spread_bps=None,
            ),
            trades=2, buy_trades=1, volume="15.5", notional="7.86", last_trade_price="0.52",
            last_trade_us=(t + 3100) * 1000,
        )
    )  # fmt: skip
    encoded = msgspec.json.decode(msgspec.json.encode(stats))
    assert encoded["last_bbo"]["best_ask"] == "0.53"

    empty = await queries.stats_24h(store, "nope", now_us)
    assert (empty.ticks, empty.trades, empty.volume, empty.notional) == (0, 0, "0", "0")
    assert empty.condition_id == ""
    assert empty.first_tick_us is None
    assert empty.last_bbo is None
    assert empty.mid_open is None
    assert empty.mid_change_pct is None
    assert empty.mean_spread_bps is None
    assert empty.last_trade_price is None


async def test_stats_24h_last_bbo_of_a_two_sided_book(store: Store) -> None:
    t = minute_ms()
    await put(store, BBO, [bbo_row(1, t, 480_000, 0), bbo_row(2, t + 5, 480_000, 490_000)])
    stats = await queries.stats_24h(store, ASSET, (t + MIN_MS) * 1000)
    assert stats.last_bbo == queries.Bbo(
        ts_us=(t + 5) * 1000, best_bid="0.48", bid_size="100", best_ask="0.49",
        ask_size="250.5", mid_price="0.485", spread_bps=pytest.approx(spread_bps(480_000, 490_000)),
    )  # fmt: skip
    assert stats.mid_open == stats.mid_close == "0.485"
    assert stats.mid_change_pct == 0.0


# -- backtest export -------------------------------------------------------------------------
async def collect(export: backtest.Export) -> list[list[tuple[Any, ...]]]:
    return [block async for block in export]


async def test_export_streams_ticks_in_blocks_within_range_and_limit(store: Store) -> None:
    t = minute_ms()
    rows = [bbo_row(i, t + i * 1000, 480_000 + i * 1000, 0 if i == 10 else 530_000)
            for i in range(30)]  # fmt: skip
    other = [bbo_row(100 + i, t + i * 3000 + 500, 100_000, 200_000, OTHER) for i in range(10)]
    await put(store, BBO, rows[::2] + other)
    await put(store, BBO, rows[1::2])

    def expected(i: int) -> tuple[Any, ...]:
        bid, ask = 480_000 + i * 1000, 0 if i == 10 else 530_000
        two = ask > 0
        return (
            (t + i * 1000) * 1000, (t + i * 1000) * 1000 + 500, ASSET,
            text(Decimal(bid) / 1_000_000), "100", text(Decimal(ask) / 1_000_000), "250.5",
            mid(bid, ask) if two else None, pytest.approx(spread_bps(bid, ask)) if two else None,
        )  # fmt: skip

    start, end = (t + 5000) * 1000, (t + 25_000) * 1000
    # A limit above 10 000: ClickHouse hands smaller ones over in one block (documented).
    export = await backtest.export_backtest(store, ASSET, start, end, "tick", 20_000, block_rows=4)
    assert export.columns == backtest.TICK_COLUMNS
    assert len(export.columns) == 9
    blocks = await collect(export)
    assert len(blocks) >= 5
    assert all(0 < len(b) <= 4 for b in blocks)
    assert [r for b in blocks for r in b] == [expected(i) for i in range(5, 25)]

    limited = await backtest.export_backtest(store, ASSET, start, end, "tick", 7, block_rows=3)
    assert [r for b in await collect(limited) for r in b] == [expected(i) for i in range(5, 12)]

    both = await backtest.export_backtest(store, None, start, end, "tick", 20_000, block_rows=5)
    both_blocks = await collect(both)
    assert len(both_blocks) > 1
    assert all(0 < len(b) <= 5 for b in both_blocks)
    got = [r for b in both_blocks for r in b]
    assert len(got) == 20 + sum(start <= (t + i * 3000 + 500) * 1000 < end for i in range(10))
    assert [r[0] for r in got] == sorted(r[0] for r in got)
    assert {r[2] for r in got} == {ASSET, OTHER}


async def test_export_ohlc_and_trades(store: Store) -> None:
    t = minute_ms() // 300_000 * 300_000  # the ticks all fall in one 5-minute bar
    await put(store, BBO, [bbo_row(i, t + i * 20_000, 400_000 + i, 410_000) for i in range(9)])
    await put(store, TRADES, [trade("a", t + 10, 500_000, "2", "BUY", 1),
                              trade("b", t + 20, 510_000, "3", "SELL", 2)])  # fmt: skip
    await put(store, TRADES, [trade("a", t + 10, 500_000, "2", "BUY", 3)])
    start, end = t * 1000, (t + 3 * MIN_MS) * 1000

    bars = await backtest.export_backtest(store, ASSET, start, end, "ohlc", 10, "1m")
    assert bars.columns == ("t", "asset_id", "open", "high", "low", "close", "ticks")
    assert [r for b in await collect(bars) for r in b] == [
        (t // 1000 + 60 * k, ASSET, mid(400_000 + 3 * k, 410_000),
         mid(400_000 + 3 * k + 2, 410_000), mid(400_000 + 3 * k, 410_000),
         mid(400_000 + 3 * k + 2, 410_000), 3)
        for k in range(3)
    ]  # fmt: skip
    five = await backtest.export_backtest(store, None, start, end, "ohlc", 1, "5m")
    assert [r for b in await collect(five) for r in b] == [
        (
            t // 1000 // 300 * 300,
            ASSET,
            mid(400_000, 410_000),
            mid(400_008, 410_000),
            mid(400_000, 410_000),
            mid(400_008, 410_000),
            9,
        )
    ]

    trades = await backtest.export_backtest(store, ASSET, start, end, "trades")
    assert trades.columns == backtest.TRADE_COLUMNS
    assert [r for b in await collect(trades) for r in b] == [
        ((t + 10) * 1000, (t + 10) * 1000 + 9, ASSET, "a", "BUY", "0.5", "2", 0),
        ((t + 20) * 1000, (t + 20) * 1000 + 9, ASSET, "b", "SELL", "0.51", "3", 0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"granularity": "minute"}, "granularity"), ({"end_us": -5}, "end"),
     ({"start_us": -1}, "start"), ({"limit": 0}, "limit"),
     ({"limit": sql.MAX_EXPORT_ROWS + 1}, "limit"),
     ({"granularity": "ohlc", "interval": "1h"}, "interval")],
)  # fmt: skip
async def test_export_rejects_bad_parameters(kwargs: dict[str, Any], param: str) -> None:
    args: dict[str, Any] = {"asset_id": ASSET, "start_us": 10, "end_us": 20} | kwargs
    with pytest.raises(BadRequest) as caught:
        await backtest.export_backtest(OFFLINE, **args)
    assert param in caught.value.detail


async def test_an_empty_range_exports_no_rows(store: Store) -> None:
    t = time.time_ns() // 1_000_000 - 10 * MIN_MS
    await put(store, BBO, [bbo_row(1, t, 400_000, 410_000)])
    for granularity in ("tick", "trades", "ohlc"):
        export = await backtest.export_backtest(
            store, ASSET, (t + 5) * 1000, t * 1000, granularity=granularity
        )
        assert await collect(export) in ([], [[]])


# -- assets with ticks -----------------------------------------------------------------------
async def test_assets_with_ticks_applies_the_threshold(store: Store) -> None:
    now_ms = time.time_ns() // 1_000_000
    t = now_ms - 30 * MIN_MS
    await put(store, BBO, [
        *[bbo_row(i, t + i, 400_000, 0 if i % 2 else 410_000) for i in range(12)],
        *[bbo_row(20 + i, t + 100 + i, 400_000, 410_000, "B") for i in range(5)],
        *[bbo_row(30 + i, t + 200 + i, 400_000, 410_000, "C") for i in range(2)],
        *[bbo_row(40 + i, now_ms - 300 * MIN_MS + i, 400_000, 410_000, "D") for i in range(50)],
    ])  # fmt: skip
    now_us = now_ms * 1000
    found = await queries.assets_with_ticks(store, 5, 2, now_us)
    assert found == [
        queries.AssetTicks(asset_id=ASSET, condition_id=MARKET, ticks=12, first_tick_us=t * 1000,
                           last_tick_us=(t + 11) * 1000),
        queries.AssetTicks(asset_id="B", condition_id=MARKET, ticks=5,
                           first_tick_us=(t + 100) * 1000, last_tick_us=(t + 104) * 1000),
    ]  # fmt: skip
    assert [a.asset_id for a in await queries.assets_with_ticks(store, 1, 2, now_us)] == [
        ASSET, "B", "C"
    ]  # fmt: skip
    assert [a.asset_id for a in await queries.assets_with_ticks(store, 0, 2, now_us, 1)] == [ASSET]
    assert await queries.assets_with_ticks(store, 13, 2, now_us) == []
    assert len(await queries.assets_with_ticks(store, 1, 24, now_us)) == 4
    for kwargs, param in [({"min_ticks": -1}, "min_ticks"), ({"limit": 0}, "limit"),
                          ({"hours": 0}, "hours")]:  # fmt: skip
        args: dict[str, Any] = {"min_ticks": 1, "hours": 1, "now_us": now_us} | kwargs
        with pytest.raises(BadRequest) as caught:
            await queries.assets_with_ticks(store, **args)
        assert param in caught.value.detail


# -- data quality ----------------------------------------------------------------------------
def gap(reason: str, detected_ms: int, resolved_ms: int = 0, asset: str = ASSET) -> GapEvent:
    return GapEvent(
        asset_id=asset, market=MARKET, reason=reason, detected_us=detected_ms * 1000,
        resolved_us=resolved_ms * 1000, how="rest_snapshot" if resolved_ms else "",
    )  # fmt: skip


async def test_quality_with_resolved_and_open_gaps(store: Store) -> None:
    now = minute_ms() + 60 * MIN_MS  # a minute boundary: the hour window spans 60 minutes
    await put(store, BBO, [
        bbo_row(1, now - 50 * MIN_MS, 480_000, 520_000),
        bbo_row(2, now - 50 * MIN_MS + 30_000, 480_000, 0),
        bbo_row(3, now - 40 * MIN_MS, 480_000, 520_000),
        bbo_row(4, now - 61 * MIN_MS, 480_000, 520_000),  # before the window
        bbo_row(5, now, 480_000, 520_000),  # at its end: out
    ])  # fmt: skip
    await put(store, TRADES, [trade("a", now - 20 * MIN_MS, 500_000, "1", "BUY", 1),
                              trade("b", now - 19 * MIN_MS, 500_000, "1", "BUY", 2)])  # fmt: skip
    await put(store, TRADES, [trade("a", now - 20 * MIN_MS, 500_000, "1", "BUY", 3)])
    level = (ASSET, MARKET, 0, 0, 0, 480_000, "5", 5.0, 0.0, 0)
    await put(store, LEVELS, [(*level[:2], now - k * MIN_MS, *level[3:]) for k in (1, 2, 3, 70)])
    snapshot = (ASSET, MARKET, now - 5 * MIN_MS, 0, "periodic", "fresh", "h", "0.01",
                [480_000], [5.0], [520_000], [7.0], 1)  # fmt: skip
    await put(store, SNAPSHOTS, [snapshot])
    await put(store, GAPS, [
        gap("silence", now - 30 * MIN_MS),  # open at first...
        gap("hash_mismatch", now - 10 * MIN_MS),  # still open
        gap("disconnect", now - 70 * MIN_MS, now - 55 * MIN_MS),  # straddles the start
        gap("crossed", now - 8 * MIN_MS, now - 7 * MIN_MS),  # inside the open one
        gap("silence", now - 180 * MIN_MS, now - 120 * MIN_MS),  # over before the window
        gap("silence", now - 30 * MIN_MS, asset=OTHER),
    ])  # fmt: skip
    await put(store, GAPS, [gap("silence", now - 30 * MIN_MS, now - 29 * MIN_MS)])  # ...resolved

    result = await queries.quality(store, ASSET, 1, now * 1000)
    assert result == queries.Quality(
        asset_id=ASSET, start_us=(now - 60 * MIN_MS) * 1000, end_us=now * 1000,
        bbo_ticks=3, one_sided_ticks=1, trades=2, level_changes=3, snapshots=1,
        first_tick_us=(now - 50 * MIN_MS) * 1000, last_tick_us=(now - 40 * MIN_MS) * 1000,
        gaps=4, open_gaps=1,
        gaps_by_reason={"silence": 1, "hash_mismatch": 1, "disconnect": 1, "crossed": 1},
        gap_ms_total=60_000 + 600_000 + 900_000 + 60_000, gap_ms_max=900_000,
        coverage=pytest.approx(1 - (5 + 1 + 10) / 60),
        tick_minutes=2, window_minutes=60, minute_coverage=pytest.approx(2 / 60),
    )  # fmt: skip

    empty = await queries.quality(store, "nope", 1, now * 1000)
    assert (empty.bbo_ticks, empty.gaps, empty.coverage, empty.minute_coverage) == (0, 0, 1.0, 0)
    assert empty.first_tick_us is None
    assert empty.gaps_by_reason == {}
    with pytest.raises(BadRequest, match="hours"):
        await queries.quality(store, ASSET, 0, now * 1000)
