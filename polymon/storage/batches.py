"""A writer's sealed batches: numbered, tokened, queued oldest first for the inserter.

Each batch keeps its deduplication token (`<table>:<run>:<first>-<last>`, the range of batch
numbers it holds) through every retry and replay; batches merged when the writer has fallen
behind are named by the merged range, so the token is as deterministic as a single one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from polymon.storage.rows import Columns, Item


class Batch:
    """A sealed batch: the range of batch numbers it holds, its token, and its rows as shard
    items until converted."""

    __slots__ = ("columns", "due", "first", "items", "journaled", "last", "oldest_us", "rows",
                 "token")  # fmt: skip

    def __init__(
        self,
        prefix: str,
        first: int,
        last: int,
        items: list[Item],
        rows: int,
        oldest_us: int,
        due: float,
    ) -> None:
        self.oldest_us = oldest_us  # wall time its first row reached the writer
        self.due = due  # trio time by which it must be stored or journaled
        self.journaled = False  # journaled ahead while its insert goes on
        self.first = first
        self.last = last
        self.token = f"{prefix}:{first}-{last}"
        self.items = items
        self.rows = rows
        self.columns: Columns | None = None


class SealedBatches:
    """The sealed batches of one writer waiting for the inserter, oldest first, with their
    total row count (`rows`). O(1) per batch added or taken."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix  # batch tokens: prefix:first-last
        self._queue: deque[Batch] = deque()
        self._sealed = 0  # batches numbered so far
        self.rows = 0

    def __bool__(self) -> bool:
        return bool(self._queue)

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._queue)

    def seal(self, items: list[Item], rows: int, oldest_us: int, due: float) -> None:
        """Queue rows as the next batch (numbered after the last one sealed)."""
        self._sealed += 1
        n = self._sealed
        self._queue.append(Batch(self._prefix, n, n, items, rows, oldest_us, due))
        self.rows += rows

    def oldest(self) -> Batch:
        """The oldest batch, left queued. Raises IndexError when none is."""
        return self._queue[0]

    def pop(self) -> Batch:
        """Take the oldest batch. Raises IndexError when none is queued."""
        batch = self._queue.popleft()
        self.rows -= batch.rows
        return batch

    def put_back(self, batch: Batch) -> None:
        """Queue a taken batch again, ahead of every other."""
        self._queue.appendleft(batch)
        self.rows += batch.rows

    def take(self, limit_rows: int) -> Batch:
        """The oldest batch, merged with the ones behind it while the merge holds at most
        `limit_rows` rows: bigger inserts when the writer has fallen behind. Raises
        IndexError when none is queued. O(batches merged)."""
        batch = self.pop()
        queue = self._queue
        if not queue or batch.rows + queue[0].rows > limit_rows:
            return batch
        items = list(batch.items)
        rows, last = batch.rows, batch.last
        while queue and rows + queue[0].rows <= limit_rows:
            more = self.pop()
            items.extend(more.items)
            rows, last = rows + more.rows, more.last
        return Batch(self._prefix, batch.first, last, items, rows, batch.oldest_us, batch.due)
