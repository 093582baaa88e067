"""Writers on the real embedded engine: round trips, dedup, outage, dead letters, shutdown."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import trio

from polymon.config import StorageConfig
from polymon.core.model import GapEvent
from polymon.storage.rows import BBO, GAPS, LEVELS, METADATA, SNAPSHOTS, TRADES
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet
from tests.storage.helpers import ASSET, MARKET, FaultyStore, bbo_row, trade_row

CFG = StorageConfig(batch_max_rows=100, batch_max_age_secs=0.2, probe_interval_secs=0.5)


def base_ms() -> int:
    # Recent times: rows older than a table's TTL are removed by the engine at once.
    return (time.time_ns() // 1_000_000) - 3_600_000


async def count(store: Store, sql: str) -> Any:
    return (await store.query(sql.replace("{db}", store.database)))[0][0]


async def run_writers(writers: WriterSet, nursery: trio.Nursery) -> None:
    await nursery.start(writers.run)


async def test_every_table_round_trips(store: Store, tmp_path: Path) -> None:
    t = base_ms()
    writers = WriterSet(store, CFG, tmp_path, run_id="r1")
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        writers.put(BBO, [bbo_row(1, t, 480_000, 0), bbo_row(2, t + 1, 480_000, 520_000)], shard=3)
        writers.put(LEVELS, [(ASSET, MARKET, t, t * 1000, 1, 520_000, "12.25", 12.25, 3.0, 7)])
        writers.put(TRADES, [trade_row(9, t, 510_000, "5.5", "SELL")])
        snapshot = (ASSET, MARKET, t, t * 1000, "periodic", "fresh", "abc", "0.01",
                    [480_000, 470_000], [100.0, 5.0], [520_000], [250.5], 11)  # fmt: skip
        writers.put(SNAPSHOTS, [snapshot])
        writers.put(GAPS, [GapEvent(asset_id=ASSET, market=MARKET, reason="hash_mismatch",
                                    detected_us=t * 1000, detail="x")])  # fmt: skip
        writers.put(METADATA, [(MARKET, "123", "Will it?", "will-it", "", ["Yes", "No"],
                                [ASSET, "2"], ["0.5", "0.5"], "0.01", "5", False, True, False,
                                False, True, t, None, "", "", "", None, "100", "{}",
                                t * 1000)])  # fmt: skip
        writers.close_intake()
    db = store.database
    rows = await store.query(
        f"SELECT asset_id, condition_id, toUnixTimestamp64Micro(source_ts), toString(best_bid),"
        f" toString(best_ask), toString(ask_size), toString(mid_price), shard, seq, run_id"
        f" FROM {db}.ob_bbo ORDER BY seq"
    )
    assert rows == [
        (ASSET, MARKET, t * 1000, "0.48", "0", "250.5", "0", 3, 1, "r1"),
        (ASSET, MARKET, (t + 1) * 1000, "0.48", "0.52", "250.5", "0.5", 3, 2, "r1"),
    ]
    assert await store.query(
        "SELECT side, toString(price), toString(size), toString(prev_size)"
        f" FROM {db}.ob_level_changes"
    ) == [("ASK", "0.52", "12.25", "3")]
    assert await store.query(
        f"SELECT trade_id, side, toString(price), toString(size) FROM {db}.trade_ticks"
    ) == [("t9", "SELL", "0.51", "5.5")]
    assert await store.query(
        f"SELECT arrayMap(x -> toString(x), bid_prices), arrayMap(x -> toString(x), ask_sizes),"
        f" reason FROM {db}.ob_snapshots"
    ) == [(["0.48", "0.47"], ["250.5"], "periodic")]
    assert await store.query(
        f"SELECT reason, resolved_at IS NULL, detail FROM {db}.ob_gap_events"
    ) == [("hash_mismatch", True, "x")]
    assert await store.query(
        f"SELECT question, outcomes, token_ids FROM {db}.market_metadata FINAL"
    ) == [("Will it?", ["Yes", "No"], [ASSET, "2"])]
    stats = writers.stats()
    assert stats["ob_bbo"]["rows_written"] == 2
    assert stats["ob_bbo"]["rows_dropped"] == 0
    assert writers.rows_written == sum(s["rows_written"] for s in stats.values())


async def test_a_resolved_gap_replaces_the_open_one(store: Store, tmp_path: Path) -> None:
    t = base_ms() * 1000
    gap = GapEvent(asset_id=ASSET, market=MARKET, reason="crossed", detected_us=t)
    writers = WriterSet(store, CFG, tmp_path)
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        writers.put(GAPS, [gap])
        writers.put(GAPS, [msgspec.structs.replace(gap, resolved_us=t + 2500, how="rest_snapshot")])
        writers.close_intake()
    rows = await store.query(
        f"SELECT resolution, duration_ms FROM {store.database}.ob_gap_events FINAL"
    )
    assert rows == [("rest_snapshot", 2)]


async def test_a_batch_retried_after_an_ambiguous_failure_is_stored_once(
    store: Store, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    faulty = FaultyStore(store)
    faulty.commit_then_fail = 2  # committed, then the client saw a timeout, twice
    t = base_ms()
    writers = WriterSet(faulty, CFG, tmp_path)
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        writers.put(BBO, [bbo_row(i, t + i, 480_000, 520_000) for i in range(50)])
        writers.close_intake()
    assert faulty.inserts >= 3
    assert len(set(faulty.tokens)) == 1
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 50
    assert await count(store, "SELECT sum(ticks) FROM {db}.mv_ob_bbo_1m") == 50
    assert await count(store, "SELECT sum(ticks) FROM {db}.mv_ob_bbo_5m") == 50
    assert await count(store, "SELECT sum(ticks) FROM {db}.mv_ob_hourly_stats") == 50


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a condition with a real-time bound: store calls run in worker threads, so under
    the autojump clock virtual time says nothing about how long they take."""
    deadline = time.monotonic() + 60
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached within 60 s"
        await trio.sleep(0.05)


async def test_an_outage_is_journaled_and_replayed_without_loss_or_duplicates(
    store: Store, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    faulty = FaultyStore(store)
    t = base_ms()
    writers = WriterSet(faulty, CFG, tmp_path)
    writer = writers.writers["ob_bbo"]
    stats = writer.stats
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        writers.put(BBO, [bbo_row(i, t + i, 480_000, 520_000) for i in range(0, 150)])
        await wait_until(lambda: stats.rows_written == 150)
        faulty.down = True
        for k in range(1, 6):  # 750 more rows while ClickHouse is down
            writers.put(
                BBO, [bbo_row(i, t + i, 480_000, 520_000) for i in range(150 * k, 150 * (k + 1))]
            )
            await trio.sleep(0.3)
        await wait_until(lambda: writer.backlog_rows == 0 and stats.rows_journaled == 750)
        assert writer.outage
        assert writer.journal.pending > 0
        assert writer.journal_batches == writer.journal.pending
        assert writer.journal_bytes == writer.journal.pending_bytes > 0
        assert writer.journal_counters is writer.journal.counters
        assert writer.held_rows == writer.backlog.held_rows == 0
        assert stats.outages == 1
        assert (tmp_path / "journal" / "ob_bbo.log").stat().st_size > 0
        faulty.down = False
        await wait_until(lambda: not writer.journal.pending and not writer.outage)
        writers.close_intake()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 900
    assert await count(store, "SELECT uniqExact(seq) FROM {db}.ob_bbo") == 900
    assert await count(store, "SELECT sum(ticks) FROM {db}.mv_ob_bbo_5m") == 900
    assert stats.rows_written == 900
    assert stats.rows_replayed == 750
    assert stats.rows_dropped == 0
    assert (tmp_path / "journal" / "ob_bbo.log").stat().st_size == 0


async def test_rejected_rows_go_to_the_dead_letter_table_and_the_rest_is_stored(
    store: Store, tmp_path: Path
) -> None:
    t = base_ms()
    good = [trade_row(i, t + i, 500_000) for i in range(10)]
    overflow = list(trade_row(10, t + 10, 500_000))
    overflow[9] = "99999999999"  # fee_rate_bps does not fit UInt32: the client rejects it
    bad_side = trade_row(11, t + 11, 500_000, side="HOLD")
    writers = WriterSet(store, CFG, tmp_path)
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        writers.put(TRADES, [*good[:5], tuple(overflow), *good[5:], bad_side])
        writers.close_intake()
    assert await count(store, "SELECT count() FROM {db}.trade_ticks") == 10
    letters = await store.query(
        "SELECT target_table, reason, row_json"
        f" FROM {store.database}.ob_dead_letters ORDER BY reason"
    )
    assert len(letters) == 2
    assert {row[0] for row in letters} == {"trade_ticks"}
    assert any("HOLD" in row[2] for row in letters)
    assert any("99999999999" in r[2] for r in letters)
    stats = writers.stats()["trade_ticks"]
    assert stats["rows_written"] + stats["rows_dead_lettered"] == stats["rows_in"] == 12


async def test_shutdown_flushes_without_waiting_for_batch_age(store: Store, tmp_path: Path) -> None:
    t = base_ms()
    cfg = msgspec.structs.replace(CFG, batch_max_age_secs=3600.0, batch_max_rows=1_000_000)
    writers = WriterSet(store, cfg, tmp_path)
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        for k in range(10):
            writers.put(
                BBO, [bbo_row(k * 10 + i, t + k * 10 + i, 480_000, 520_000) for i in range(10)]
            )
        with trio.fail_after(30):
            writers.close_intake()
            await writers.done.wait()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 100


async def test_cancelled_writers_journal_everything_and_the_next_run_replays_it(
    store: Store, tmp_path: Path
) -> None:
    t = base_ms()
    cfg = msgspec.structs.replace(CFG, batch_max_age_secs=3600.0, batch_max_rows=1_000_000)
    writers = WriterSet(store, cfg, tmp_path, run_id="first")
    stats = writers.writers["trade_ticks"].stats
    async with trio.open_nursery() as nursery:
        await run_writers(writers, nursery)
        for k in range(4):
            writers.put(TRADES, [trade_row(k * 25 + i, t + k * 25 + i, 500_000) for i in range(25)])
        await wait_until(lambda: stats.rows_in == 100)
        nursery.cancel_scope.cancel()  # a shutdown deadline passed before the flush
    assert stats.rows_journaled == 100
    assert stats.rows_written == 0
    again = WriterSet(store, CFG, tmp_path, run_id="second")
    async with trio.open_nursery() as nursery:
        await run_writers(again, nursery)
        again.close_intake()
    assert await count(store, "SELECT count() FROM {db}.trade_ticks") == 100
    assert again.writers["trade_ticks"].stats.rows_replayed == 100
