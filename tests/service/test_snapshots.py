"""The periodic snapshot job on a mock clock: changed books only, keyframes of every book once
per keyframe cycle, and the rows made in small slices spread over half the interval."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from polymon.config import Config, StorageConfig
from polymon.core.asset import SnapshotRow
from polymon.core.book import BID
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy
from polymon.polymarket.feed import FeedActivity
from polymon.service import snapshots
from polymon.service.shards import Shard, Sinks, Tagged
from polymon.service.snapshots import Snapshotter

LEVELS = [(f"0.{40 + i:02d}", "10") for i in range(10)]  # ten bid levels a book


def shard_with_books(index: int, count: int, sinks: Sinks) -> Shard:
    shard = Shard(index, Config(), Policy(hash_mode="off"), sinks, activity=FeedActivity())
    for i in range(count):
        asset = f"{index}{i:05d}"
        shard.state.track(AssetMeta(asset_id=asset, market=f"0x{index}{i}"))
        shard.state.on_book(asset, "", 1000, "", LEVELS, [], now=0.0, wall_us=0)
    shard.state.out.drain()  # the rebuilt books' own rows
    return shard


async def test_only_changed_books_in_paced_slices_and_every_book_once_a_keyframe_cycle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[Tagged[SnapshotRow]](1000)
    sinks = Sinks(snapshots=send)
    shards = [shard_with_books(i, 300, sinks) for i in range(2)]
    cfg = StorageConfig(snapshot_interval_secs=10.0, keyframe_interval_secs=40.0)
    job = Snapshotter(shards, cfg)
    changed = [f"0{i:05d}" for i in range(0, 300, 3)]  # 100 books of shard 0
    for asset in changed:
        shards[0].state.on_level(asset, BID, "0.30", "1", ("", 1001, 1.0, 0))
    shards[0].state.out.drain()
    puts: list[tuple[float, list[SnapshotRow]]] = []

    async def collect() -> None:
        async for _shard, rows in receive:
            puts.append((trio.current_time(), rows))

    keyframed: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        start = trio.current_time()
        first = await job.run()
        assert trio.current_time() - start <= 10.0 * snapshots.SPREAD
        await trio.testing.wait_all_tasks_blocked()
        rows = [row for _at, batch in puts for row in batch]
        assert (first.changed, first.keyframes) == (100, 150)  # a quarter of each shard
        assert len({r[0] for r in rows}) == len(rows) == first.rows  # no book twice
        # Changed books in this run's keyframes have their row as a keyframe.
        assert sorted(r[0] for r in rows if r[4] == "changed" or r[0] in changed) == changed
        keyframed += [r[0] for r in rows if r[4] == "keyframe"]
        # Small slices (at most SLICE_LEVELS levels), evenly spread over the run.
        assert all(sum(len(r[8]) + len(r[10]) for r in batch) <= snapshots.SLICE_LEVELS
                   for _at, batch in puts)  # fmt: skip
        times = [at for at, _batch in puts]
        assert len(times) == first.slices > 2
        # After each slice a pause of its share of the spread, by books: 75 keyframes and
        # 100 changed of shard 0, then shard 1's 75 keyframes (it has nothing changed).
        gaps = [b - a for a, b in itertools.pairwise(times)]
        per_book = 10.0 * snapshots.SPREAD / 250
        assert gaps == [pytest.approx(75 * per_book), pytest.approx(100 * per_book)]
        for _ in range(3):  # nothing changed since: keyframes only
            puts.clear()
            result = await job.run()
            await trio.testing.wait_all_tasks_blocked()
            assert (result.changed, result.keyframes) == (0, 150)
            keyframed += [r[0] for _at, batch in puts for r in batch]
        nursery.cancel_scope.cancel()
    every = sorted(a for s in shards for a in s.state.assets)
    assert sorted(keyframed) == every  # the cycle: each book exactly once in four runs
