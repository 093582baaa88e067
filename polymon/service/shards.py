"""Shard tasks: each owns a ShardState, its connections, and the hand-off of what it produces.

The hot path runs inline in the connections' reader tasks (`Ingest.handle`). A flush loop
drains the shard's rows and gap events every `FLUSH_INTERVAL_SECS` and hands them on in bulk
with `send_nowait` (one channel operation per batch, never per message); due REST resyncs go
to the resync scheduler the same way.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Iterable
from typing import Generic, TypeVar

import trio

from polymon.config import Config
from polymon.core.asset import BboRow, LevelRow, TradeRow
from polymon.core.model import AssetMeta, GapEvent
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.feed import Connection, FeedActivity
from polymon.polymarket.ingest import Ingest, LifecycleSink

FLUSH_INTERVAL_SECS = 0.05
_T = TypeVar("_T")


def shard_of(asset_id: str, shards: int) -> int:
    """The stable shard index of an asset: crc32 of its id, modulo the shard count."""
    return zlib.crc32(asset_id.encode()) % shards


def wall_us() -> int:
    """Wall-clock microseconds since the epoch (for stored records only, never for timing)."""
    return time.time_ns() // 1000


class Outlet(Generic[_T]):
    """A bounded channel end that never blocks the hot path: a full channel drops and counts."""

    def __init__(self, channel: trio.MemorySendChannel[list[_T]] | None) -> None:
        self.channel = channel
        self.sent = 0
        self.dropped = 0

    def put(self, batch: list[_T]) -> bool:
        """Hand a batch on without blocking; O(1). Returns False (and counts) if not delivered."""
        if not batch:
            return True
        if self.channel is not None:
            try:
                self.channel.send_nowait(batch)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            else:
                self.sent += len(batch)
                return True
        self.dropped += len(batch)
        return False


class Sinks:
    """Where every shard sends its batches (channels are shared; each shard holds clones)."""

    def __init__(
        self,
        *,
        bbo: trio.MemorySendChannel[list[BboRow]] | None = None,
        levels: trio.MemorySendChannel[list[LevelRow]] | None = None,
        trades: trio.MemorySendChannel[list[TradeRow]] | None = None,
        gaps: trio.MemorySendChannel[list[GapEvent]] | None = None,
        resync: trio.MemorySendChannel[list[str]] | None = None,
    ) -> None:
        self.bbo = Outlet(bbo)
        self.levels = Outlet(levels)
        self.trades = Outlet(trades)
        self.gaps = Outlet(gaps)
        self.resync = Outlet(resync)


class Shard:
    """One shard: books for a stable subset of assets and the connections that feed them."""

    def __init__(
        self,
        index: int,
        cfg: Config,
        policy: Policy,
        sinks: Sinks,
        *,
        activity: FeedActivity,
        lifecycle: LifecycleSink | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.index = index
        self.cfg = cfg
        self.state = ShardState(policy)
        self.ingest = Ingest(
            self.state, max_frame_bytes=cfg.polymarket.max_frame_bytes, lifecycle=lifecycle
        )
        self.sinks = sinks
        self.activity = activity
        self.rng = rng or random.Random()
        self.connections: list[Connection] = []
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise this shard's connections and flush its output until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._flush_loop, name=f"shard-{self.index}-flush")
            task_status.started()

    async def add(self, metas: Iterable[AssetMeta]) -> int:
        """Track and subscribe tokens, filling open connections before opening new ones.

        Returns the number of newly subscribed tokens.
        """
        new = [m for m in metas if m.asset_id not in self.state.assets]
        for meta in new:
            self.state.track(meta)
        pending = [m.asset_id for m in new]
        for conn in self.connections:
            if not pending:
                break
            take, pending = pending[: conn.room], pending[conn.room :]
            if take:
                await conn.subscribe(take)
        while pending:
            conn = self._open_connection()
            take, pending = pending[: conn.room], pending[conn.room :]
            await conn.subscribe(take)
        return len(new)

    async def remove(self, asset_ids: Iterable[str]) -> None:
        """Unsubscribe tokens and drop their books."""
        gone = set(asset_ids)
        for conn in self.connections:
            mine = conn.assets & gone
            if mine:
                await conn.unsubscribe(sorted(mine))
        now_us = wall_us()
        for asset_id in gone:
            self.state.untrack(asset_id, now_us)

    def flush(self) -> None:
        """Hand everything the shard produced since the last flush to the sinks; O(1) each."""
        sinks = self.sinks
        bbo, levels, trades, gaps = self.state.out.drain()
        sinks.bbo.put(bbo)
        sinks.levels.put(levels)
        sinks.trades.put(trades)
        sinks.gaps.put(gaps)
        due = self.state.take_resyncs(trio.current_time())
        if due and not sinks.resync.put(due):
            for asset_id in due:  # the scheduler is saturated: try again next interval
                self.state.resync_failed(asset_id)

    def _open_connection(self) -> Connection:
        assert self._nursery is not None, "Shard.run must be started first"
        conn = Connection(
            self.cfg.polymarket,
            self.ingest,
            name=f"shard-{self.index}-conn-{len(self.connections)}",
            activity=self.activity,
            on_down=self._on_down,
            data_silence_secs=self.cfg.integrity.data_silence_secs,
            rng=self.rng,
            start_delay_secs=self.cfg.polymarket.connection_stagger_secs * len(self.connections),
        )
        self.connections.append(conn)
        self._nursery.start_soon(conn.run, name=conn.name)
        return conn

    def _on_down(self, asset_ids: list[str], reason: str) -> None:
        kind = "silence" if reason in ("silence", "data_silence") else "disconnect"
        self.state.on_disconnect(asset_ids, kind, wall_us=wall_us())

    async def _flush_loop(self) -> None:
        while True:
            await trio.sleep(FLUSH_INTERVAL_SECS)
            self.flush()
