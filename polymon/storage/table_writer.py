"""One writer task per table: batch by size or age, insert once, journal what cannot go yet.

    shards --(shard, rows) lists--> channel --> intake --seal--> sealed batches --> inserter
                                                     \\--(outage or backlog)--> journal --/

- intake never stops reading its channel (shards must never block): it seals a batch at
  `max_rows` rows or when its oldest row is `max_age_secs` old, and spills sealed batches to
  the journal when ClickHouse is down or more than `max_pending_rows` rows wait in memory;
- the inserter replays the journal oldest first, then sealed batches; each batch keeps one
  deduplication token (`table:run:n`) through every retry and replay, so it lands once;
- a batch still failing after `attempts` tries goes to the backlog (the journal; in memory
  when the disk refuses it; dropped and reported as a loss only beyond that, see backlog.py)
  and the writer probes ClickHouse every `probe_interval_secs` until it answers;
- a batch ClickHouse rejects is split in halves until the bad rows are isolated; those go to
  the dead-letter table with the reason;
- when the channel closes (shutdown) everything is inserted or, if ClickHouse is down or the
  task is cancelled first, journaled synchronously before the task ends (a batch cut short
  mid-insert included: its token makes the replay land once).

`durable_through_us` is the writer's watermark: every row that reached it before that wall
time is in ClickHouse or in the journal (what a kill -9 cannot take away). A row is made
durable within `DURABLE_WITHIN_AGES` x `max_age_secs` of its arrival whatever ClickHouse's
speed: a sealed batch still waiting for the inserter then is journaled (and replayed from
there), and a batch whose insert has not returned by then is journaled while the insert goes
on (its copy is popped unreplayed if the insert succeeds). A slow ClickHouse under a busy host
held seconds of rows only in memory before, and a kill -9 took them.

A batch is converted to columns on the event loop, a slice at a time (conversion.py); a
batch ClickHouse rejects is bisected down to its bad rows (rejects.py).

Every row is accounted for in `WriterStats`: written, journaled, held, dead-lettered or dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import trio

from polymon.clock import wall_us
from polymon.errors import StorageRejected, StorageUnavailable
from polymon.logs import bind
from polymon.storage.backlog import Backlog, Outcome
from polymon.storage.batches import Batch, SealedBatches
from polymon.storage.conversion import CONVERT_SLICE_ROWS, convert_in_slices, convert_items
from polymon.storage.journal import Journal, JournalCounters, Loss
from polymon.storage.rejects import DeadLetter, bisect, dead_letters
from polymon.storage.rows import CONVERTERS, SLICE_ROWS, Columns, Item, Table, row_count
from polymon.storage.writer_stats import WriterStats

log = logging.getLogger("polymon.storage")


class Inserter(Protocol):
    """What a writer needs from the store."""

    async def insert(self, table: Table, columns: Columns, token: str = "") -> None: ...

    async def ping(self) -> bool: ...


_COALESCE = 5
"""A writer that has fallen behind merges sealed batches into inserts of up to this many
`max_rows` (bigger inserts when throughput matters most)."""
DURABLE_WITHIN_AGES = 1.5
"""A row is in ClickHouse or the journal this many `max_age_secs` after it arrived (0.75 s
at the default 0.5 s: a kill -9 loses under a second)."""


class Writer:
    """Batches one table's rows from a channel into ClickHouse (see the module docstring)."""

    def __init__(
        self,
        table: Table,
        store: Inserter,
        journal: Journal,
        receive: trio.MemoryReceiveChannel[Item],
        *,
        run_id: str,
        max_rows: int = 10_000,
        max_age_secs: float = 1.0,
        max_pending_rows: int = 500_000,
        attempts: int = 3,
        probe_interval_secs: float = 5.0,
        dead_letter: Callable[[list[DeadLetter]], None] | None = None,
        on_loss: Callable[[Loss], None] | None = None,
    ) -> None:
        self.table = table
        self.store = store
        self.journal = journal
        self.receive = receive
        self.run_id = run_id
        self.max_rows = max_rows
        self.max_age_secs = max_age_secs
        self.max_pending_rows = max_pending_rows
        self.attempts = attempts
        self.probe_interval_secs = probe_interval_secs
        self.dead_letter = dead_letter
        self.stats = WriterStats()
        self.backlog = Backlog(table, journal, max_memory_rows=max_pending_rows, on_loss=on_loss)
        self.outage = False
        self._convert = CONVERTERS[table.name]
        self._pending: list[Item] = []
        self._pending_rows = 0
        self._oldest = 0.0
        self._oldest_us = 0
        self._sealed = SealedBatches(f"{table.name}:{run_id}")
        self._closed = False
        self._wake = trio.Event()
        self._converting: Batch | None = None
        self._inflight: Batch | None = None  # converted, being inserted
        self._ping_scope: trio.CancelScope | None = None
        self._intake_scope: trio.CancelScope | None = None
        self._durable_within = max_age_secs * DURABLE_WITHIN_AGES

    @property
    def backlog_rows(self) -> int:
        """Rows received and not yet inserted, journaled or dead-lettered (held included)."""
        return self._pending_rows + self._sealed.rows + self.backlog.held_rows

    @property
    def held_rows(self) -> int:
        """Rows held in memory because the journal refused them (disk full)."""
        return self.backlog.held_rows

    @property
    def journal_batches(self) -> int:
        """Batches waiting in the journal."""
        return self.journal.pending

    @property
    def journal_bytes(self) -> int:
        """Size (bytes) of the batches waiting in the journal."""
        return self.journal.pending_bytes

    @property
    def journal_counters(self) -> JournalCounters:
        """The journal's own counters (torn and corrupt records, failed writes and syncs)."""
        return self.journal.counters

    def durable_through_us(self, now_us: int) -> int:
        """Wall time (µs) before which every row that reached this writer is inserted or
        journaled: the oldest arrival among rows only in memory, `now_us` if there are none.
        O(sealed batches)."""
        oldest = [b.oldest_us for b in self._sealed]
        if self._pending:
            oldest.append(self._oldest_us)
        for batch in (self._converting, self._inflight):
            if batch is not None and not batch.journaled:
                oldest.append(batch.oldest_us)
        held = self.backlog.oldest_held_us
        if held is not None:
            oldest.append(held)
        return min(oldest, default=now_us)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write until the channel is closed and everything is stored (or journaled)."""
        bind(table=self.table.name)  # every line this writer (and its journal) logs names it
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._insert_loop, name=f"writer-{self.table.name}-insert")
                task_status.started()
                await self._intake()
        finally:
            self._journal_everything()  # only non-empty if cancelled before the flush finished
            self.stats.rows_dropped += self.backlog.release(trio.current_time())
            self.stats.rows_held = self.backlog.held_rows
            self.journal.close()

    # -- intake ----------------------------------------------------------------------------
    async def _intake(self) -> None:
        async with self.receive:
            while True:
                with trio.move_on_at(self._next_deadline()) as self._intake_scope:
                    try:
                        item = await self.receive.receive()
                    except trio.EndOfChannel:
                        break
                    self._add(item)
                    continue
                now = trio.current_time()
                if self._pending and now >= self._oldest + self.max_age_secs:
                    self._seal()
                self._make_due_durable(now)
        self._intake_scope = None
        self._seal()
        self._closed = True
        self._wake.set()
        if self._ping_scope is not None:
            self._ping_scope.cancel()  # shutting down: no waiting for a store that is down

    def _next_deadline(self) -> float:
        """When intake must act without a new item: seal the pending rows, or journal a
        batch that is due (the oldest sealed one, or the one being inserted)."""
        deadline = self._oldest + self.max_age_secs if self._pending else float("inf")
        if self._sealed:
            deadline = min(deadline, self._sealed.oldest().due)
        inflight = self._inflight
        if inflight is not None and not inflight.journaled:
            deadline = min(deadline, inflight.due)
        return deadline

    def _make_due_durable(self, now: float) -> None:
        """Journal what is due and still only in memory: the batch being inserted (a copy,
        the insert goes on) and the sealed batches waiting for the inserter."""
        inflight = self._inflight
        if inflight is not None and not inflight.journaled and inflight.due <= now:
            assert inflight.columns is not None
            inflight.journaled = self.backlog.write_ahead(inflight.token, inflight.columns, now)
            if not inflight.journaled:
                inflight.due = float("inf")  # the journal refuses: it waits like before
        if self._sealed and self._sealed.oldest().due <= now:
            self._spill(due_by=now)

    def _add(self, item: Item) -> None:
        if not self._pending:
            self._oldest = trio.current_time()
            self._oldest_us = wall_us()
        self._pending.append(item)
        count = len(item[1])
        self._pending_rows += count
        self.stats.rows_in += count
        if self._pending_rows >= self.max_rows:
            self._seal()

    def _seal(self) -> None:
        if not self._pending:
            return
        items, rows = self._pending, self._pending_rows
        self._pending, self._pending_rows = [], 0
        self._sealed.seal(items, rows, self._oldest_us, self._oldest + self._durable_within)
        if self.outage or self._sealed.rows > self.max_pending_rows:
            self._spill()
        self._wake.set()

    def _take_columns(self, batch: Batch, converted: tuple[Columns | None, list[Any]]) -> bool:
        """Keep a batch's converted columns; dead-letter its bad rows. False if none is left."""
        columns, bad = converted
        if bad:
            log.warning("%s: %d rows cannot be stored (%s)", self.table.name, len(bad), bad[0][1])
            self._send_dead_letters(bad, batch.token)
        batch.columns = columns
        batch.items = []
        return columns is not None

    def _spill(self, due_by: float = float("inf")) -> None:
        """Move the sealed batches due by `due_by` (all by default) to the backlog, oldest
        first: memory stays bounded and what is due is durable."""
        while self._sealed and self._sealed.oldest().due <= due_by:
            batch = self._sealed.pop()
            if batch.columns is not None or self._take_columns(
                batch, convert_items(self._convert, batch.items, self.run_id)
            ):
                assert batch.columns is not None
                self._to_journal(batch.token, batch.columns, batch.oldest_us)

    def _to_journal(self, token: str, columns: Columns, oldest_us: int) -> None:
        rows = row_count(columns)
        outcome = self.backlog.put(token, columns, oldest_us, trio.current_time())
        if outcome is Outcome.JOURNALED:
            self.stats.rows_journaled += rows
        elif outcome is Outcome.DROPPED:
            self.stats.rows_dropped += rows
            self.stats.last_error = self.backlog.last_error
        self.stats.rows_held = self.backlog.held_rows

    def _journal_everything(self) -> None:
        for batch in (self._inflight, self._converting):  # cut short: journaled first
            if batch is not None and batch.journaled:  # already is
                self.stats.rows_journaled += row_count(batch.columns or [])
            elif batch is not None:
                self._sealed.put_back(batch)
        self._inflight = self._converting = None
        if self._pending:
            self._seal()
        self._spill()
        if self.journal.dirty:
            self.journal.sync(float("inf"))

    # -- inserting -------------------------------------------------------------------------
    async def _insert_loop(self) -> None:
        while True:
            if self.outage:
                if self._closed:  # shutting down with ClickHouse down: journal, then end
                    self._journal_everything()
                    return
                await self._probe()
            elif self.backlog.pending:
                token, columns = self.backlog.peek()
                if await self._deliver(token, columns):
                    self.backlog.pop()
                    self.stats.rows_replayed += row_count(columns)
                    self.stats.rows_held = self.backlog.held_rows
            elif self._sealed:
                batch = self._converting = self._sealed.take(self.max_rows * _COALESCE)
                converted = await convert_in_slices(
                    self._convert, batch.items, self.run_id,
                    SLICE_ROWS.get(self.table.name, CONVERT_SLICE_ROWS),
                )  # fmt: skip
                self._converting = None
                if not self._take_columns(batch, converted):
                    continue
                assert batch.columns is not None
                self._inflight = batch
                if self._intake_scope is not None:  # intake journals it if it is not done by then
                    self._intake_scope.deadline = min(self._intake_scope.deadline, batch.due)
                delivered = await self._deliver(batch.token, batch.columns)
                self._inflight = None
                if batch.journaled and delivered:
                    self.backlog.stored(batch.token)
                elif batch.journaled:  # its copy in the journal is replayed
                    self.stats.rows_journaled += row_count(batch.columns)
                    self._spill()
                elif not delivered:
                    self._to_journal(batch.token, batch.columns, batch.oldest_us)
                    self._spill()  # keep batch order: everything sealed follows it
            elif self._closed:
                return
            else:
                await self._wake.wait()
                self._wake = trio.Event()

    async def _probe(self) -> None:
        with trio.move_on_after(self.probe_interval_secs) as self._ping_scope:
            while not self._closed:  # fsync the journal tail while waiting
                await trio.sleep(min(self.probe_interval_secs, self.journal.fsync_interval_secs))
                if self.journal.dirty:
                    self.journal.sync(trio.current_time())
        alive = False
        if not self._closed:
            with trio.move_on_after(self.probe_interval_secs * 4) as self._ping_scope:
                alive = await self.store.ping()
        self._ping_scope = None
        if alive and not self._shutting_down():
            log.info("%s: ClickHouse is back, replaying %d journaled batches",
                     self.table.name, self.journal.pending)  # fmt: skip
            self.outage = False

    def _shutting_down(self) -> bool:
        return self._closed

    async def _deliver(self, token: str, columns: Columns) -> bool:
        """Insert with retries; False when ClickHouse stayed unavailable (outage begins)."""
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            try:
                await self.store.insert(self.table, columns, token)
            except StorageUnavailable as e:
                self.stats.last_error = str(e)
                if attempt == self.attempts:
                    break
                self.stats.retries += 1
                await trio.sleep(delay)
                delay *= 2
            except StorageRejected as e:
                await self._bisect(token, columns, str(e))
                return True
            else:
                self._count_written(columns)
                return True
        if not self.outage:
            self.stats.outages += 1
            log.warning("%s: ClickHouse unavailable, journaling (%s)",
                        self.table.name, self.stats.last_error)  # fmt: skip
        self.outage = True
        return False

    def _count_written(self, columns: Columns) -> None:
        self.stats.rows_written += row_count(columns)
        self.stats.batches_written += 1

    async def _bisect(self, token: str, columns: Columns, reason: str) -> None:
        """Split a rejected batch until the bad rows are alone; store the rest (journal it
        when ClickHouse goes away meanwhile)."""
        unstored = await bisect(
            self.store.insert, self.table, token, columns, reason,
            written=self._count_written, reject=self._send_dead_letters,
        )  # fmt: skip
        if unstored:
            oldest_us = wall_us()
            for piece_token, piece in unstored:
                self._to_journal(piece_token, piece, oldest_us)
            self.outage = True

    def _send_dead_letters(self, rows: Sequence[tuple[str, str]], token: str) -> None:
        self.stats.rows_dead_lettered += len(rows)
        if not rows:
            return
        letters = dead_letters(self.table.name, rows, token, wall_us())
        if self.dead_letter is None:
            self.stats.rows_dropped += len(rows)
            self.stats.rows_dead_lettered -= len(rows)
            for row, reason in rows:
                log.error("%s: row rejected and no dead-letter table: %s (%s)",
                          self.table.name, row[:500], reason)  # fmt: skip
            return
        self.dead_letter(letters)
