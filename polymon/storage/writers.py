"""Every table's writer, their channels and journals, started and stopped together."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import trio

from polymon.config import StorageConfig
from polymon.storage.journal import Journal
from polymon.storage.rows import DEAD_LETTERS, TABLES, Item, Table
from polymon.storage.writer import DeadLetter, Inserter, Writer


class WriterSet:
    """One writer per table, fed by bounded channels; `send[table]` is where rows go in."""

    def __init__(
        self, store: Inserter, cfg: StorageConfig, data_dir: Path, *, run_id: str = ""
    ) -> None:
        self.run_id = run_id or f"{time.time_ns() // 1000:x}"
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
            )  # fmt: skip
        self.dead_letters_dropped = 0

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

        The dead-letter writer outlives the others, which may still reject rows while they
        flush.
        """
        try:
            async with trio.open_nursery() as outer:
                await outer.start(self.writers[DEAD_LETTERS.name].run, name="writer-dead")
                async with trio.open_nursery() as nursery:
                    for name, writer in self.writers.items():
                        if name != DEAD_LETTERS.name:
                            await nursery.start(writer.run, name=f"writer-{name}")
                    task_status.started()
                self.send[DEAD_LETTERS.name].close()
        finally:
            self.done.set()

    def close_intake(self) -> None:
        """Stop accepting rows: each writer flushes what it has and ends."""
        for name, send in self.send.items():
            if name != DEAD_LETTERS.name:
                send.close()

    def stats(self) -> dict[str, Any]:
        """Per-table counters plus backlog and journal size."""
        out: dict[str, Any] = {}
        for name, w in self.writers.items():
            entry = msgspec.structs.asdict(w.stats)
            entry.update(
                backlog_rows=w.backlog_rows, journal_batches=w.journal.pending,
                journal_bytes=w.journal.pending_bytes, outage=w.outage,
            )  # fmt: skip
            out[name] = entry
        return out

    @property
    def unavailable(self) -> bool:
        """True while any writer is in an outage."""
        return any(w.outage for w in self.writers.values())
