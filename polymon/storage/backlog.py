"""Where one table's batches wait while ClickHouse cannot take them.

The journal first: on disk, it survives a crash. When the journal cannot take a batch either
(the disk is full, the file too large, the journal at its cap), the batch is held in memory,
up to `max_memory_rows` rows, and replayed like a journaled one; only beyond that is it
dropped. A dropped batch is never silent: it is counted, logged with its table, time span
and row count, and reported as a `Loss` (the writers turn each into an `ob_gap_events` row).

Replay order: journaled batches oldest first, then held ones. Each keeps its deduplication
token, so a batch that landed before its failure was seen lands once.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable

from polymon.storage.journal import Journal, JournalFull, Loss
from polymon.storage.rows import Columns, Table, row_count

log = logging.getLogger("polymon.storage")

# The column whose values say when a row happened (µs), per kind of table.
_TIME_COLUMNS = ("ingest_ts", "detected_at", "updated_at", "failed_at")


class Outcome(enum.Enum):
    """What `Backlog.put` did with a batch."""

    JOURNALED = "journaled"
    HELD = "held"
    DROPPED = "dropped"


def batch_span(table: Table, columns: Columns) -> tuple[int, int]:
    """The first and last time (µs) the rows of a batch carry; (0, 0) if the table has no
    time column or the batch no rows. O(rows)."""
    names = table.names
    for name in _TIME_COLUMNS:
        if name in names:
            values = columns[names.index(name)]
            try:
                return (int(min(values)), int(max(values))) if values else (0, 0)
            except (TypeError, ValueError):
                return (0, 0)
    return (0, 0)


class _Held:
    __slots__ = ("columns", "oldest_us", "token")

    def __init__(self, token: str, columns: Columns, oldest_us: int) -> None:
        self.token = token
        self.columns = columns
        self.oldest_us = oldest_us


class Backlog:
    """One table's batches waiting for ClickHouse: journaled, else held in memory, else
    dropped and reported. Not thread-safe: one owner (the table's writer)."""

    def __init__(
        self,
        table: Table,
        journal: Journal,
        *,
        max_memory_rows: int,
        on_loss: Callable[[Loss], None] | None = None,
    ) -> None:
        self.table = table
        self.journal = journal
        self.max_memory_rows = max_memory_rows
        self.on_loss = on_loss
        self.last_error = ""
        self._held: deque[_Held] = deque()
        self.held_rows = 0
        self._peeked_journal = False
        self._stored: set[str] = set()  # write-ahead copies whose batch was inserted anyway

    @property
    def pending(self) -> int:
        """Batches waiting: journaled plus held."""
        return self.journal.pending + len(self._held)

    @property
    def oldest_held_us(self) -> int | None:
        """When the oldest row held only in memory arrived (µs), None if none is."""
        return min((h.oldest_us for h in self._held), default=None)

    def put(self, token: str, columns: Columns, oldest_us: int, now: float) -> Outcome:
        """Journal a batch, or hold it, or drop it (reported); O(batch size)."""
        span = batch_span(self.table, columns)
        try:
            self.journal.append(token, columns, now, span=span)
        except (JournalFull, OSError) as e:
            self.last_error = str(e)
        else:
            return Outcome.JOURNALED
        rows = row_count(columns)
        if self.held_rows + rows <= self.max_memory_rows:
            if not self._held:
                log.error(
                    "%s: the journal refuses batches (%s); holding them in memory, up to %d rows",
                    self.table.name, self.last_error, self.max_memory_rows,
                )  # fmt: skip
            self._held.append(_Held(token, columns, oldest_us))
            self.held_rows += rows
            return Outcome.HELD
        self._lose(Loss(self.table.name, *span, rows, self.last_error))
        return Outcome.DROPPED

    def write_ahead(self, token: str, columns: Columns, now: float) -> bool:
        """Journal a batch that is still being inserted, so that a kill -9 cannot take it;
        False (nothing else happens) when the journal refuses it. If the insert then
        succeeds, `stored` says so and the copy is never inserted again. O(batch size)."""
        try:
            self.journal.append(token, columns, now, span=batch_span(self.table, columns))
        except (JournalFull, OSError) as e:
            self.last_error = str(e)
            return False
        return True

    def stored(self, token: str) -> None:
        """A batch journaled by `write_ahead` was inserted after all: its journal copy is
        popped when it is the oldest (the usual case), else when `peek` reaches it."""
        if self.journal.pending and self.journal.peek()[0] == token:
            self.journal.pop()
        else:
            self._stored.add(token)

    def peek(self) -> tuple[str, Columns]:
        """The next batch to replay as (token, columns). Raises IndexError when none waits."""
        while self._stored and self.journal.pending:  # write-ahead copies already stored
            token = self.journal.peek()[0]
            if token not in self._stored:
                break
            self._stored.discard(token)
            self.journal.pop()
        self._peeked_journal = self.journal.pending > 0
        if self._peeked_journal:
            return self.journal.peek()
        held = self._held[0]
        return held.token, held.columns

    def pop(self) -> None:
        """The batch the last `peek` gave is stored. It is taken from where `peek` found it:
        a batch journaled while that one was being inserted is not the one that landed."""
        if self._peeked_journal:
            self.journal.pop()
            return
        held = self._held.popleft()
        self.held_rows -= row_count(held.columns)

    def release(self, now: float) -> int:
        """At the end: journal what is held if the journal takes it now; report the rest as
        lost. Returns the rows lost."""
        lost = 0
        while self._held:
            held = self._held.popleft()
            rows = row_count(held.columns)
            self.held_rows -= rows
            span = batch_span(self.table, held.columns)
            try:
                self.journal.append(held.token, held.columns, now, span=span)
            except (JournalFull, OSError) as e:
                self.last_error = str(e)
                self._lose(Loss(self.table.name, *span, rows, f"at exit: {e}"))
                lost += rows
        return lost

    def _lose(self, loss: Loss) -> None:
        log.error("%s: %d rows dropped (times %d-%d µs): %s",
                  loss.table, loss.rows, loss.first_us, loss.last_us, loss.reason)  # fmt: skip
        if self.on_loss is not None:
            self.on_loss(loss)
