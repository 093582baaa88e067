"""Replayer: recorded records through the live hot path, under a virtual clock.

Each record is applied exactly as the service applied the event live: frames through the
shard's `Ingest.handle` (decode -> book -> integrity -> triggers -> rows) with the recorded
monotonic and wall-clock readings, REST resync books through `apply_snapshot`, connection
ends through `on_disconnect`, tracked tokens and triggers as they were placed. The shards'
50 ms flush (rows drained, STALE_QUOTE checked, resyncs taken) runs on the virtual clock too,
from each shard's first record. So windows, cooldowns and staleness see the times they saw
live, and two replays of the same records give the same events, rows and books.

A `run` record (a process start) begins with empty books, as the process did; a sequence gap
within a run, or a `dropped` record, leaves every book of the run stale (a gap, as a lost
frame would be live).
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import msgspec

from polymon.core.asset import ROW_STREAMS
from polymon.core.backtest import BacktestTally
from polymon.core.book import ASK, BID
from polymon.core.shard import Policy, ShardState
from polymon.core.triggers import Trigger, TriggerEvent, stamp
from polymon.errors import BadRequest, InvalidInput
from polymon.polymarket.dispatch import apply_snapshot
from polymon.polymarket.ingest import Ingest
from polymon.polymarket.recording import records as r
from polymon.polymarket.recording.records import Record, RunInfo
from polymon.polymarket.schemas import RestBook
from polymon.service.shards import FLUSH_INTERVAL_SECS, down_kind

EventSink = Callable[[list[TriggerEvent]], None]
_decode_rest = msgspec.json.Decoder(RestBook).decode
_decode_trigger = msgspec.json.Decoder(Trigger).decode
_encode = msgspec.json.Encoder().encode
_MAX_TICKS_PER_GAP: Final = 1_000_000  # beyond (14 h of silence) the flush clock jumps


class BookLine(msgspec.Struct, frozen=True, kw_only=True):
    """One final book of a replay: levels best first, as the venue's strings."""

    asset_id: str
    condition_id: str
    status: str
    timestamp_ms: int
    hash: str
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class _Shard:
    __slots__ = ("ingest", "next_flush", "state", "suppressed")

    def __init__(self, policy: Policy, max_frame_bytes: int, on_fired: EventSink) -> None:
        self.state = ShardState(policy)
        self.ingest = Ingest(self.state, max_frame_bytes=max_frame_bytes, on_fired=on_fired)
        self.next_flush: float | None = None
        self.suppressed = 0


class Replayer:
    """Applies records one by one (see the module docstring).

    policy: the integrity policy (None: the recorded one). recorded_triggers: place the
    triggers the recording placed. triggers: more triggers, each placed on the shard of its
    asset when that asset is tracked (its condition id filled in from the token's market).
    emit_from_ns: events, rows and tallies count only from this wall time on; earlier records
    only build the books. tally: receives fired and cooldown-suppressed fires.
    """

    def __init__(
        self,
        on_fired: EventSink | None = None,
        *,
        policy: Policy | None = None,
        recorded_triggers: bool = True,
        triggers: Iterable[Trigger] = (),
        emit_from_ns: int | None = None,
        tally: BacktestTally | None = None,
    ) -> None:
        self.sink = on_fired
        self.policy_override = policy
        self.recorded_triggers = recorded_triggers
        self.extra_triggers = list(triggers)
        self.emit_from_ns = emit_from_ns or 0
        self.tally = tally
        self.counts: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self._rows_digest = hashlib.sha256()
        self.seq_gaps: list[tuple[str, int, int]] = []
        self.runs = 0
        self.events = 0
        self.first_ns: int | None = None
        self.last_ns = 0
        self._info: RunInfo | None = None
        self._last_seq = 0
        self._shards: dict[int, _Shard] = {}
        self._owner: dict[str, int] = {}
        self._placed: set[str] = set()
        self._now = 0.0
        self._wall_us = 0

    # -- applying records ----------------------------------------------------------------------
    def apply(self, rec: Record) -> None:
        """Apply one record at its recorded time."""
        kind = rec.k
        self.counts[kind] += 1
        if kind == r.RUN or kind == r.FILE:
            self._begin(rec)
            return
        if self._info is not None and rec.seq != self._last_seq + 1 and self._last_seq:
            self.seq_gaps.append((self._info.run_id, self._last_seq + 1, rec.seq - 1))
            self._all_stale(rec, "recording_gap")
        self._last_seq = rec.seq
        self._advance(rec.m, rec.t)
        if kind == r.FRAME or kind == r.FRAME_B64:
            shard = self._shard(rec.s)
            frame = rec.d if kind == r.FRAME else base64.b64decode(rec.d)
            shard.ingest.handle(frame, rec.m, rec.t // 1000)
            self._count_suppressed(shard)
            if self.tally is not None and rec.t >= self.emit_from_ns:
                self.tally.evaluated += 1
        elif kind == r.TRACK:
            self._track(rec)
        elif kind == r.UNTRACK:
            state = self._shard(rec.s).state
            for asset_id in r.decode_ids(rec.d):
                state.untrack(asset_id, rec.t // 1000, rec.m)
                self._owner.pop(asset_id, None)
        elif kind == r.CLOSE:
            info = r.decode_close(rec.d)
            self._shard(rec.s).state.on_disconnect(
                info.assets, down_kind(info.reason), wall_us=rec.t // 1000
            )
        elif kind == r.REST:
            self._rest(rec)
        elif kind == r.REST_FAILED:
            for asset_id in r.decode_ids(rec.d):
                self._state_of(asset_id).resync_failed(asset_id)
        elif kind == r.TRIGGER_ADD:
            if self.recorded_triggers:
                try:
                    self._shard(rec.s).state.add_trigger(_decode_trigger(rec.d), rec.m)
                except BadRequest:
                    self.counts["trigger_duplicate"] += 1
        elif kind == r.TRIGGER_REMOVE:
            if self.recorded_triggers:
                self._shard(rec.s).state.remove_trigger(rec.d)
        elif kind == r.DROPPED:
            self._all_stale(rec, "recording_dropped")

    def finish(self) -> None:
        """A last flush of every shard at the time of the last record."""
        for shard in self._shards.values():
            self._flush(shard, self._now, self._wall_us)

    # -- results -------------------------------------------------------------------------------
    def books(self) -> list[BookLine]:
        """Every tracked book at the end, by asset id."""
        out = []
        for shard in self._shards.values():
            state = shard.state
            for asset_id, asset in state.assets.items():
                book = asset.book
                out.append(BookLine(
                    asset_id=asset_id, condition_id=asset.market,
                    status=str(state.status(asset, self._now)), timestamp_ms=asset.timestamp_ms,
                    hash=asset.hash, bids=[(p, s) for p, s, _ in book.levels(BID, None)],
                    asks=[(p, s) for p, s, _ in book.levels(ASK, None)],
                ))  # fmt: skip
        return sorted(out, key=lambda b: b.asset_id)

    def summary(self) -> dict[str, object]:
        """Counters, the digests of the rows produced and of the final books."""
        books = self.books()
        digest = hashlib.sha256(b"".join(_encode(b) + b"\n" for b in books))
        invalid: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for shard in self._shards.values():
            invalid.update(shard.ingest.invalid)
            counts.update(shard.state.counts)
        return {
            "runs": self.runs, "records": dict(self.counts), "events": self.events,
            "rows": dict(self.rows), "rows_sha256": self._rows_digest.hexdigest(),
            "books": len(books), "books_sha256": digest.hexdigest(),
            "invalid": dict(invalid), "integrity": dict(counts),
            "seq_gaps": [list(g) for g in self.seq_gaps],
            "first_ns": self.first_ns, "last_ns": self.last_ns,
        }  # fmt: skip

    # -- internals -----------------------------------------------------------------------------
    def _begin(self, rec: Record) -> None:
        info = r.decode_run_info(rec.d)
        if self._info is None or info.run_id != self._info.run_id:
            self.finish()  # the previous run's last rows
            self._info = info
            self._shards, self._owner, self._placed = {}, {}, set()
            self.runs += 1
        elif rec.seq != self._last_seq + 1:
            self.seq_gaps.append((info.run_id, self._last_seq + 1, rec.seq - 1))
            self._all_stale(rec, "recording_gap")
        self._last_seq = rec.seq  # a file may start anywhere in its run
        self._now, self._wall_us = rec.m, rec.t // 1000

    def _shard(self, index: int) -> _Shard:
        shard = self._shards.get(index)
        if shard is None:
            info = self._info or RunInfo(run_id="", started_ns=0)
            policy = self.policy_override or info.policy
            shard = self._shards[index] = _Shard(policy, info.max_frame_bytes, self._deliver)
            shard.next_flush = self._now + FLUSH_INTERVAL_SECS
        return shard

    def _state_of(self, asset_id: str) -> ShardState:
        return self._shard(self._owner.get(asset_id, -1)).state

    def _advance(self, now: float, t_ns: int) -> None:
        """Run the flush ticks due before `now` (monotonic s), then move the clock there."""
        if self.first_ns is None:
            self.first_ns = t_ns
        self.last_ns = t_ns
        for shard in self._shards.values():
            due = shard.next_flush
            if due is None or due > now:
                continue
            if (now - due) / FLUSH_INTERVAL_SECS > _MAX_TICKS_PER_GAP:
                due = now - FLUSH_INTERVAL_SECS * _MAX_TICKS_PER_GAP
            while due <= now:
                # The wall time of a tick, from the wall time of the record that follows it.
                self._flush(shard, due, t_ns // 1000 - round((now - due) * 1e6))
                due += FLUSH_INTERVAL_SECS
            shard.next_flush = due
        self._now, self._wall_us = now, t_ns // 1000

    def _flush(self, shard: _Shard, now: float, wall_us: int) -> None:
        """What `service.shards.Shard.flush` does, at virtual time (rows are counted)."""
        self._now, self._wall_us = now, wall_us
        counting = wall_us * 1000 >= self.emit_from_ns
        drained: tuple[Sequence[object], ...] = shard.state.out.drain()
        for name, rows in zip(ROW_STREAMS, drained, strict=True):
            if rows and counting:
                self.rows[name] += len(rows)
                self._rows_digest.update(_encode(rows))
        triggers = shard.state.triggers
        if len(triggers):
            triggers.check_stale(now, wall_us)
            if triggers.fired:
                shard.ingest.deliver_fired()
            self._count_suppressed(shard)
        shard.state.take_resyncs(now)  # the recording holds what the REST resync brought

    def _deliver(self, events: list[TriggerEvent]) -> None:
        stamp(events, self._wall_us)
        if self._wall_us * 1000 < self.emit_from_ns:
            return
        self.events += len(events)
        if self.tally is not None:
            self.tally.add_fired(events)
        if self.sink is not None:
            self.sink(events)

    def _count_suppressed(self, shard: _Shard) -> None:
        suppressed = shard.state.triggers.suppressed
        if suppressed != shard.suppressed:
            if self.tally is not None and self._wall_us * 1000 >= self.emit_from_ns:
                self.tally.add_suppressed(suppressed - shard.suppressed, self._wall_us)
            shard.suppressed = suppressed

    def _track(self, rec: Record) -> None:
        shard = self._shard(rec.s)
        for meta in r.decode_metas(rec.d):
            shard.state.track(meta)
            self._owner[meta.asset_id] = rec.s
            for trigger in self.extra_triggers:
                spec = trigger.spec
                if spec.asset_id != meta.asset_id or trigger.trigger_id in self._placed:
                    continue
                if not spec.condition_id:
                    spec = msgspec.structs.replace(spec, condition_id=meta.market)
                shard.state.add_trigger(msgspec.structs.replace(trigger, spec=spec), rec.m)
                self._placed.add(trigger.trigger_id)

    def _rest(self, rec: Record) -> None:
        try:
            book = _decode_rest(rec.d)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.counts["rest_undecodable"] += 1
            return
        try:
            apply_snapshot(self._state_of(book.asset_id), book, rec.m, rec.t // 1000,
                           "rest_snapshot")  # fmt: skip
        except (InvalidInput, ValueError):
            self.counts["rest_unusable"] += 1

    def _all_stale(self, rec: Record, reason: str) -> None:
        for shard in self._shards.values():
            shard.state.on_disconnect(list(shard.state.assets), reason, wall_us=rec.t // 1000)
