"""Failure paths of the writers: a journal that refuses batches, memory that runs out, damaged
journal records, a cancel mid-insert, a shutdown while ClickHouse is down. Nothing is lost
silently: each loss is counted and becomes a gap row (table, time span, rows)."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from polymon.config import StorageConfig
from polymon.storage.backlog import Backlog, Outcome
from polymon.storage.journal import HEADER_SIZE, Journal, encode_record
from polymon.storage.rows import BBO, Columns, Table
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet
from tests.storage.helpers import FaultyStore, bbo_row, journal_records
from tests.storage.test_writer import base_ms, count, wait_until

BBO_ONE = Table(name="t", columns=(("seq", "UInt64"),))
CFG = StorageConfig(batch_max_rows=100, batch_max_age_secs=0.2, probe_interval_secs=0.5)


class HangingStore(FaultyStore):
    """`hang`: inserts wait until cancelled (a blackholed server)."""

    hang = False

    async def insert(self, table: Table, columns: Columns, token: str = "") -> None:
        if self.hang:
            self.inserts += 1
            await trio.sleep_forever()
        await super().insert(table, columns, token)


def refuse_journal(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every journal append fails as on a full disk; returns the list of refusals."""
    refused: list[int] = []

    def full(self: Journal, *args: Any, **kwargs: Any) -> int:
        refused.append(1)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Journal, "append", full)
    return refused


def rows(first: int, n: int, t: int) -> list[tuple[Any, ...]]:
    return [bbo_row(i, t + i, 480_000, 520_000) for i in range(first, first + n)]


async def gap_rows(store: Store) -> list[tuple[Any, ...]]:
    return await store.query(
        "SELECT asset_id, reason, toUnixTimestamp64Micro(detected_at),"
        " toUnixTimestamp64Micro(assumeNotNull(resolved_at)), resolution, detail"
        f" FROM {store.database}.ob_gap_events FINAL WHERE reason LIKE '%:ob_bbo' ORDER BY 3"
    )


async def test_batches_the_journal_refuses_are_held_in_memory_and_stored_later(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty = FaultyStore(store)
    t = base_ms()
    writers = WriterSet(faulty, CFG, tmp_path)
    writer = writers.writers["ob_bbo"]
    refused = refuse_journal(monkeypatch)
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        faulty.down = True
        for k in range(4):
            writers.put(BBO, rows(100 * k, 100, t))
            await trio.sleep(0.25)
        await wait_until(lambda: writer.stats.rows_held == 400)
        assert refused
        assert writer.backlog_rows == 400
        assert writer.stats.rows_dropped == 0
        faulty.down = False
        await wait_until(lambda: writer.stats.rows_written == 400)
        writers.close_intake()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 400
    assert writer.stats.rows_held == 0
    assert await gap_rows(store) == []


def test_a_batch_journaled_while_a_held_one_is_replayed_is_not_popped_in_its_place(
    tmp_path: Path,
) -> None:
    """The writer peeks a held batch and inserts it; meanwhile the journal takes a new batch
    (it has room again). Popping the stored batch must pop the held one, not the journaled
    one, which was never inserted (it used to vanish without a loss: the disk-full fault
    test saw about one batch a run missing and unreported)."""
    small = [[1]]
    big = [[1] * 200]
    size = len(encode_record("journaled", small, 0, 0))
    backlog = Backlog(BBO_ONE, Journal(tmp_path, "t", max_bytes=size, fsync_interval_secs=1.0),
                      max_memory_rows=1000)  # fmt: skip
    assert backlog.put("held", big, 0, 0.0) is Outcome.HELD  # too big for the journal
    assert backlog.peek() == ("held", big)  # the writer starts inserting it ...
    assert backlog.put("journaled", small, 0, 0.0) is Outcome.JOURNALED  # ... this arrives
    backlog.pop()  # ... and "held" is stored
    assert backlog.held_rows == 0
    assert backlog.peek() == ("journaled", small)
    backlog.pop()
    assert backlog.pending == 0


async def test_a_batch_beyond_journal_and_memory_is_dropped_as_a_gap_row(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty = FaultyStore(store)
    t = base_ms()
    cfg = msgspec.structs.replace(CFG, max_pending_rows=150)
    writers = WriterSet(faulty, cfg, tmp_path)
    writer = writers.writers["ob_bbo"]
    refuse_journal(monkeypatch)
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        faulty.down = True
        writers.put(BBO, rows(0, 100, t))
        await wait_until(lambda: writer.stats.rows_held == 100)
        writers.put(BBO, rows(100, 100, t))  # no room left: dropped, recorded
        await wait_until(lambda: writer.stats.rows_dropped == 100)
        monkeypatch.undo()
        faulty.down = False
        await wait_until(lambda: writer.stats.rows_written == 100)
        gaps = writers.writers["ob_gap_events"]
        await wait_until(lambda: gaps.stats.rows_written == 1)
        writers.close_intake()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 100
    [(asset, reason, first, last, how, detail)] = await gap_rows(store)
    assert (asset, reason, how) == ("", "dropped:ob_bbo", "lost")
    assert (first, last) == ((t + 100) * 1000 + 500, (t + 199) * 1000 + 500)  # ingest times
    assert json.loads(detail)["rows"] == 100
    assert "No space left" in json.loads(detail)["cause"]


async def test_a_damaged_journal_record_costs_only_itself_and_is_recorded(
    store: Store, tmp_path: Path
) -> None:
    faulty = FaultyStore(store)
    faulty.down = True
    t = base_ms()
    cfg = msgspec.structs.replace(CFG, batch_max_rows=50)
    first = WriterSet(faulty, cfg, tmp_path, run_id="a")
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        for k in range(9):
            first.put(BBO, rows(50 * k, 50, t))
        first.close_intake()  # ClickHouse down: everything journaled at once
    assert first.writers["ob_bbo"].stats.rows_journaled == 450
    journal = tmp_path / "journal" / "ob_bbo.log"
    records = journal_records(journal)  # batches may have been merged: read the layout
    assert len(records) >= 2
    offset, _length, lost, first_us, last_us = records[1]
    data = bytearray(journal.read_bytes())
    data[offset + HEADER_SIZE + 40] ^= 0xFF  # inside the second record's payload
    journal.write_bytes(bytes(data))
    again = WriterSet(store, cfg, tmp_path, run_id="b")
    stats = again.stats()["ob_bbo"]
    assert stats["journal_corrupt_records"] == 1
    assert stats["journal_lost_rows"] == lost
    async with trio.open_nursery() as nursery:
        await nursery.start(again.run)
        again.close_intake()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 450 - lost
    [(asset, reason, gap_first, gap_last, how, detail)] = await gap_rows(store)
    assert (asset, reason, how) == ("", "corrupt:ob_bbo", "lost")
    assert (gap_first, gap_last) == (first_us, last_us)  # the lost rows' ingest times
    assert first_us >= (t + 50) * 1000  # not the first record's
    assert json.loads(detail)["rows"] == lost


async def test_a_batch_cut_short_mid_insert_is_journaled_and_replayed_once(
    store: Store, tmp_path: Path
) -> None:
    hanging = HangingStore(store)
    hanging.hang = True
    t = base_ms()
    writers = WriterSet(hanging, CFG, tmp_path, run_id="a")
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        writers.put(BBO, rows(0, 80, t))
        await wait_until(lambda: hanging.inserts == 1)
        nursery.cancel_scope.cancel()  # the shutdown deadline passed mid-insert
    assert writers.writers["ob_bbo"].stats.rows_journaled == 80
    again = WriterSet(store, CFG, tmp_path, run_id="b")
    async with trio.open_nursery() as nursery:
        await nursery.start(again.run)
        again.close_intake()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 80


async def test_closing_while_clickhouse_is_down_journals_at_once(
    store: Store, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    faulty = FaultyStore(store)
    faulty.down = True
    cfg = msgspec.structs.replace(CFG, probe_interval_secs=30.0)
    writers = WriterSet(faulty, cfg, tmp_path)
    writer = writers.writers["ob_bbo"]
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        writers.put(BBO, rows(0, 10, base_ms()))
        while not writer.outage:  # noqa: ASYNC110 - set by the writer's insert loop
            await trio.sleep(0.1)
        await trio.sleep(1.0)  # now waiting for the next probe
        closed_at = trio.current_time()
        writers.close_intake()
        await writers.done.wait()
        assert trio.current_time() - closed_at < 0.01  # not a probe interval (30 s)
    assert writer.stats.rows_journaled == 10


async def test_the_watermark_trails_the_oldest_row_only_in_memory(
    store: Store, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    faulty = FaultyStore(store)
    cfg = msgspec.structs.replace(CFG, batch_max_age_secs=3600.0)
    writers = WriterSet(faulty, cfg, tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        before = time.time_ns() // 1000
        assert writers.durable_through_us(before) == before  # nothing in memory
        writers.put(BBO, rows(0, 5, base_ms()))
        await trio.sleep(0.1)
        mark = writers.durable_through_us(time.time_ns() // 1000 + 10_000_000)
        assert before <= mark <= time.time_ns() // 1000
        writers.close_intake()


class SlowStore(FaultyStore):
    """Each insert takes `delay` seconds longer (a ClickHouse slowed by a busy host)."""

    delay = 0.0

    async def insert(self, table: Table, columns: Columns, token: str = "") -> None:
        await trio.sleep(self.delay)
        await super().insert(table, columns, token)


async def test_rows_a_slow_clickhouse_has_not_taken_are_journaled_by_their_due_time(
    store: Store, tmp_path: Path
) -> None:
    """R4 whatever ClickHouse's speed: 0.3 s (1.5 x batch age) after a row arrives it is in
    ClickHouse or the journal. The batch in a slow insert is journaled meanwhile (its copy
    popped when the insert lands), the batch waiting behind it is journaled and replayed
    from there; every row lands once."""
    slow = SlowStore(store)
    slow.delay = 1.5
    t = base_ms()
    writers = WriterSet(slow, CFG, tmp_path)
    writer = writers.writers["ob_bbo"]
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        writers.put(BBO, rows(0, 50, t))
        await trio.sleep(0.5)  # sealed at 0.2 s, in its insert since, due at 0.3 s
        assert writer.journal.pending == 1
        writers.put(BBO, rows(50, 50, t))
        await trio.sleep(0.5)  # sealed, waiting behind the slow insert, due
        assert writer.journal.pending == 2
        now_us = time.time_ns() // 1000
        assert writer.durable_through_us(now_us) == now_us  # nothing only in memory
        await wait_until(lambda: writer.stats.rows_written == 100)
        assert writer.journal.pending == 0
        writers.close_intake()
    assert await count(store, "SELECT count() FROM {db}.ob_bbo") == 100
    assert writer.stats.rows_journaled == 50  # the waiting batch; the copy was not needed
    assert writer.stats.rows_replayed == 50
    assert len(set(slow.tokens)) == 2 == len(slow.tokens)  # the copy was never inserted
