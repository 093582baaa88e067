"""Every table's writer, their channels and journals, started and stopped together.

Nothing is lost silently: every batch a writer drops (its journal and its memory budget both
full) and every journal record found damaged at start becomes an `ob_gap_events` row with
`asset_id` '' (every asset of that table), `reason` `dropped:<table>` or `corrupt:<table>`,
the span of the lost rows' times as detected/resolved, resolution `lost` and the row count and
cause in `detail` (JSON). Losses of the gap table itself can only be logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import trio

from polymon.clock import wall_us
from polymon.config import StorageConfig
from polymon.core.model import GapEvent
from polymon.storage.journal import Journal, Loss
from polymon.storage.rejects import DeadLetter
from polymon.storage.rows import DEAD_LETTERS, GAPS, TABLES, Item, Table
from polymon.storage.table_writer import Inserter, Writer

log = logging.getLogger("polymon.storage")
_LAST = (GAPS, DEAD_LETTERS)  # stopped after the others: they take what the others lose
_LAST_NAMES = frozenset(t.name for t in _LAST)
_encode = msgspec.json.Encoder().encode


def loss_gap(loss: Loss) -> GapEvent:
    """The ob_gap_events row recording a loss (see the module docstring)."""
    kind = "corrupt" if "corrupt" in loss.reason or "damaged" in loss.reason else "dropped"
    detail = _encode({"table": loss.table, "rows": loss.rows, "cause": loss.reason[:500]})
    return GapEvent(
        asset_id="", market="", reason=f"{kind}:{loss.table}", detected_us=loss.first_us,
        resolved_us=max(loss.last_us, loss.first_us, 1), how="lost", detail=detail.decode(),
    )  # fmt: skip


class WriterSet:
    """One writer per table, fed by bounded channels; `send[table]` is where rows go in."""

    def __init__(
        self, store: Inserter, cfg: StorageConfig, data_dir: Path, *, run_id: str = ""
    ) -> None:
        self.run_id = run_id or f"{wall_us():x}"
        self.send: dict[str, trio.MemorySendChannel[Item]] = {}
        self.writers: dict[str, Writer] = {}
        self.done = trio.Event()
        journal_dir = data_dir / "journal"
        for table in TABLES:
            send, receive = trio.open_memory_channel[Item](cfg.channel_batches)
            self.send[table.name] = send
            journal = Journal(
                journal_dir, table.name, max_bytes=cfg.journal_max_bytes,
                fsync_interval_secs=cfg.journal_fsync_interval_secs,
            )  # fmt: skip
            self.writers[table.name] = Writer(
                table, store, journal, receive, run_id=self.run_id,
                max_rows=cfg.batch_max_rows, max_age_secs=cfg.batch_max_age_secs,
                max_pending_rows=cfg.max_pending_rows, attempts=cfg.insert_attempts,
                probe_interval_secs=cfg.probe_interval_secs,
                dead_letter=None if table is DEAD_LETTERS else self._dead_letter,
                on_loss=None if table is GAPS else self._record_loss,
            )  # fmt: skip
        self.dead_letters_dropped = 0
        self.losses_unrecorded = 0
        for writer in self.writers.values():  # damage the journals' scans found
            for loss in writer.journal.take_losses():
                self._record_loss(loss)

    def _record_loss(self, loss: Loss) -> None:
        try:
            self.send[GAPS.name].send_nowait((0, [loss_gap(loss)]))
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.losses_unrecorded += 1
            log.error("a loss of %s could not be recorded as a gap row: %s", loss.table, loss)

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        try:
            self.send[DEAD_LETTERS.name].send_nowait((0, list(letters)))
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.dead_letters_dropped += len(letters)

    def put(self, table: Table, rows: list[Any], shard: int = 0) -> bool:
        """Hand rows to a table's writer without blocking; False if its channel is full."""
        try:
            self.send[table.name].send_nowait((shard, rows))
        except (trio.WouldBlock, trio.ClosedResourceError):
            return False
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every writer until its channel closes and its rows are stored or journaled.

        The dead-letter and gap writers outlive the others, which may still reject rows (or
        lose some) while they flush.
        """
        try:
            async with trio.open_nursery() as outer:
                for table in _LAST:
                    await outer.start(self.writers[table.name].run, name=f"writer-{table.name}")
                async with trio.open_nursery() as nursery:
                    for name, writer in self.writers.items():
                        if name not in _LAST_NAMES:
                            await nursery.start(writer.run, name=f"writer-{name}")
                    task_status.started()
                for table in _LAST:
                    self.send[table.name].close()
        finally:
            self.done.set()

    def close_intake(self) -> None:
        """Stop accepting rows: each writer flushes what it has and ends."""
        for name, send in self.send.items():
            if name not in _LAST_NAMES:
                send.close()

    def stats(self) -> dict[str, Any]:
        """Per-table counters plus backlog and journal size."""
        out: dict[str, Any] = {}
        for name, w in self.writers.items():
            entry = msgspec.structs.asdict(w.stats)
            counters = msgspec.structs.asdict(w.journal_counters)
            entry.update(
                backlog_rows=w.backlog_rows, journal_batches=w.journal_batches,
                journal_bytes=w.journal_bytes, outage=w.outage,
                **{f"journal_{k}": v for k, v in counters.items()},
            )  # fmt: skip
            out[name] = entry
        return out

    def durable_through_us(self, now_us: int) -> int:
        """Wall time (µs) before which every row handed to any writer is inserted or
        journaled (see Writer.durable_through_us)."""
        return min(w.durable_through_us(now_us) for w in self.writers.values())

    @property
    def rows_written(self) -> int:
        """Rows every writer has inserted so far; O(tables)."""
        return sum(w.stats.rows_written for w in self.writers.values())

    @property
    def unavailable(self) -> bool:
        """True while any writer is in an outage."""
        return any(w.outage for w in self.writers.values())
