"""Deadlines: a min-heap of (deadline, item) for timers that are checked periodically.

STALE_QUOTE uses it so that `check_stale(now)` costs O(1) when nothing is due, instead of a
scan over every stale trigger. Entries are never moved: a holder whose deadline was pushed back
is re-inserted when its old entry comes due (lazy rescheduling), so a quote update costs O(1).
"""

from __future__ import annotations

import heapq
from itertools import count
from typing import Generic, TypeVar

T = TypeVar("T")


class Deadlines(Generic[T]):
    """Items ordered by deadline (ties in insertion order).

    Runtime complexity: `push` and `pop_due` O(log n); `next_deadline` O(1).
    """

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = count()  # tie-breaker: items themselves are never compared

    def push(self, deadline: float, item: T) -> None:
        """Schedule `item` at `deadline`."""
        heapq.heappush(self._heap, (deadline, next(self._seq), item))

    def pop_due(self, now: float) -> T | None:
        """Remove and return one item whose deadline is ≤ now, or None when none is due."""
        heap = self._heap
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)[2]
        return None

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline, or None when empty."""
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        """Number of scheduled entries (including ones their holder no longer needs)."""
        return len(self._heap)
