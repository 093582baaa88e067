"""Shard tasks: each owns a ShardState, its connections, and the hand-off of what it produces.

The hot path runs inline in the connections' reader tasks (`Ingest.handle`). A flush loop
(one for every shard of the service) drains the shard's rows and gap events every
`FLUSH_INTERVAL_SECS` and hands them on in bulk
with `send_nowait` (one channel operation per batch, never per message); due REST resyncs go
to the resync scheduler the same way.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import trio

from polymon.clock import wall_us
from polymon.config import Config
from polymon.core.asset import ROW_STREAMS
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy, ShardState
from polymon.core.triggers import Trigger
from polymon.polymarket.feed import Connection, FeedActivity
from polymon.polymarket.ingest import FiredSink, Ingest, LifecycleSink
from polymon.polymarket.recording.writer import Recorder
from polymon.service.runstate import RestartGap

FLUSH_INTERVAL_SECS = 0.05
log = logging.getLogger("polymon.shards")
_T = TypeVar("_T")


def shard_of(key: str, shards: int) -> int:
    """The stable shard index of a key (a market's condition id): crc32 modulo the count."""
    return zlib.crc32(key.encode()) % shards


def down_kind(reason: str) -> str:
    """The gap reason of a connection that ended for `reason`: silence or disconnect."""
    return "silence" if reason in ("silence", "data_silence") else "disconnect"


Tagged = tuple[int, list[_T]]
"""(shard index, batch): what every sink channel carries."""


class Outlet(Generic[_T]):
    """A bounded channel end that never blocks the hot path: a full channel drops and counts.

    Writers drain their channels continuously (they spill to the journal rather than stop
    reading), so a drop means the process is starved of CPU; it is counted, logged and shown
    in /health, never silent.
    """

    def __init__(self, channel: trio.MemorySendChannel[Tagged[_T]] | None, shard: int) -> None:
        self.channel = channel
        self.shard = shard
        self.sent = 0
        self.dropped = 0

    def put(self, batch: list[_T]) -> bool:
        """Hand a batch on without blocking; O(1). Returns False (and counts) if not delivered."""
        if not batch:
            return True
        if self.channel is not None:
            try:
                self.channel.send_nowait((self.shard, batch))
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                log.warning(
                    "shard %d: a sink is full or closed, %d rows dropped", self.shard, len(batch),
                    extra={"shard": self.shard},
                )  # fmt: skip
            else:
                self.sent += len(batch)
                return True
        self.dropped += len(batch)
        return False


RowChannel = trio.MemorySendChannel[Tagged[Any]]
"""The channel one row stream (see `core.asset.ROW_STREAMS`) is sent into."""


class Sinks:
    """The channels every shard sends its batches into: one per row stream (`ROW_STREAMS`,
    by stream name; None: that stream is not kept) and the resync scheduler's."""

    def __init__(
        self,
        *,
        resync: trio.MemorySendChannel[Tagged[str]] | None = None,
        **rows: RowChannel | None,
    ) -> None:
        unknown = rows.keys() - ROW_STREAMS.keys()
        if unknown:
            raise TypeError(f"no row streams named {sorted(unknown)}")
        self.rows: dict[str, RowChannel | None] = {name: rows.get(name) for name in ROW_STREAMS}
        self.resync = resync

    @classmethod
    def by_table(
        cls,
        send: Mapping[str, RowChannel],
        *,
        resync: trio.MemorySendChannel[Tagged[str]] | None = None,
    ) -> Sinks:
        """Sinks onto channels keyed by table name (a writer set's `send`); a table missing
        there is not kept."""
        return cls(resync=resync, **{name: send.get(table) for name, table in ROW_STREAMS.items()})

    def outlets(self, shard: int) -> Outlets:
        """One shard's outlets onto these channels."""
        return Outlets(self, shard)


class Outlets:
    """A shard's non-blocking ends of the sink channels, with sent/dropped counts."""

    def __init__(self, sinks: Sinks, shard: int) -> None:
        self.rows: dict[str, Outlet[Any]] = {
            name: Outlet(channel, shard) for name, channel in sinks.rows.items()
        }
        self.resync = Outlet(sinks.resync, shard)

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows sent and dropped per row stream."""
        return {name: {"sent": o.sent, "dropped": o.dropped} for name, o in self.rows.items()}


class OpenPacer:
    """Spaces out new connections: parallel batches of at most `batch`, one batch every
    `interval_secs` on trio's clock, each as soon as it is needed (shared by every shard)."""

    def __init__(self, batch: int, interval_secs: float) -> None:
        self.batch = batch
        self.interval_secs = interval_secs
        self._slot = float("-inf")  # when the current batch opens
        self._taken = 0

    def delay(self, now: float) -> float:
        """Reserve an opening; returns how long (seconds) the connection waits for it. O(1)."""
        if now >= self._slot + self.interval_secs:
            self._slot, self._taken = now, 0  # the last batch is history: this one opens now
        elif self._taken >= self.batch:
            self._slot, self._taken = self._slot + self.interval_secs, 0
        self._taken += 1
        return max(0.0, self._slot - now)


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
        on_fired: FiredSink | None = None,
        recorder: Recorder | None = None,
        pacer: OpenPacer | None = None,
    ) -> None:
        self.index = index
        self.recorder = recorder
        self.cfg = cfg
        self.state = ShardState(policy)
        self.ingest = Ingest(
            self.state, max_frame_bytes=cfg.polymarket.max_frame_bytes, lifecycle=lifecycle,
            on_fired=on_fired,
        )  # fmt: skip
        self.sinks = sinks.outlets(index)
        self.activity = activity
        self.rng = rng or random.Random()
        self.connections: list[Connection] = []
        pm = cfg.polymarket
        self.pacer = pacer or OpenPacer(pm.connection_open_batch, pm.connection_stagger_secs)
        self._nursery: trio.Nursery | None = None

    async def run(
        self, *, flush: bool = True, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Supervise this shard's connections and (unless another task flushes every shard,
        see `flush_every`) flush its output until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if flush:
                nursery.start_soon(flush_every, [self], name=f"shard-{self.index}-flush")
            task_status.started()
            await trio.sleep_forever()  # connections are started into this nursery later

    async def add(self, metas: Iterable[AssetMeta], *, gap: RestartGap | None = None) -> int:
        """Track and subscribe tokens, filling open connections before opening new ones; with
        `gap`, a `restart` gap is opened on each new token before it is subscribed.

        Returns the number of newly subscribed tokens.
        """
        new = [m for m in metas if m.asset_id not in self.state.assets]
        if self.recorder is not None:
            self.recorder.track(self.index, new)
        for meta in new:
            self.state.track(meta)
        if gap is not None:
            ids = [m.asset_id for m in new]
            self.state.mark_gap(ids, "restart", since_us=gap.since_us, detail=gap.detail)
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
        now_us, now = wall_us(), trio.current_time()
        if self.recorder is not None:
            self.recorder.untrack(self.index, sorted(gone), now, now_us)
        for asset_id in gone:
            self.state.untrack(asset_id, now_us, now)

    def add_trigger(self, trigger: Trigger) -> None:
        """Place a trigger on this shard's table now (recorded when recording)."""
        now = trio.current_time()
        self.state.add_trigger(trigger, now)
        if self.recorder is not None:
            self.recorder.trigger_added(self.index, trigger, now)

    def remove_trigger(self, trigger_id: str) -> None:
        """Take a trigger off this shard's table."""
        if self.state.remove_trigger(trigger_id) and self.recorder is not None:
            self.recorder.trigger_removed(self.index, trigger_id)

    def flush(self) -> None:
        """Hand everything the shard produced since the last flush to the sinks; O(1) each."""
        sinks = self.sinks
        out = self.state.out
        for outlet, rows in zip(sinks.rows.values(), out.drain(), strict=True):
            outlet.put(rows)
        now = trio.current_time()
        triggers = self.state.triggers
        if len(triggers):
            triggers.check_stale(now, wall_us())
            if triggers.fired:
                self.ingest.deliver_fired()  # counted with the fires of the feed
        due = self.state.take_resyncs(now)
        if due and not sinks.resync.put(due):
            for asset_id in due:  # the scheduler is saturated: try again next interval
                self.state.resync_failed(asset_id)

    def _open_connection(self) -> Connection:
        assert self._nursery is not None, "Shard.run must be started first"
        name = f"shard-{self.index}-conn-{len(self.connections)}"
        conn = Connection(
            self.cfg.polymarket,
            self.ingest,
            name=name,
            activity=self.activity,
            on_down=self._on_down,
            data_silence_secs=self.cfg.integrity.data_silence_secs,
            rng=self.rng,
            start_delay_secs=self.pacer.delay(trio.current_time()),
            tap=None if self.recorder is None else self.recorder.tap(name, self.index),
        )
        self.connections.append(conn)
        self._nursery.start_soon(conn.run, name=conn.name)
        return conn

    def _on_down(self, asset_ids: list[str], reason: str) -> None:
        self.state.on_disconnect(asset_ids, down_kind(reason), wall_us=wall_us())


async def flush_every(shards: Sequence[Shard]) -> None:
    """Flush these shards every `FLUSH_INTERVAL_SECS`, all in one step: one wake-up per
    interval for the whole service, not one per shard."""
    while True:
        await trio.sleep(FLUSH_INTERVAL_SECS)
        for shard in shards:
            shard.flush()
