"""LatencyRing: the processing time of the last N frames of one shard, for percentiles.

The hot path only stores: `record(ns)` writes one integer into a preallocated ring and bumps two
counters. Percentiles are computed when someone asks (a scrape, `/do/metrics`) by sorting a
copy of the window, so their cost never lands on the shard. Pure: callers measure and pass the
durations in nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

DEFAULT_CAPACITY = 4096


class LatencySummary(msgspec.Struct, frozen=True, kw_only=True):
    """Nearest-rank percentiles (ns) of a window of `samples` durations."""

    samples: int
    p50_ns: int
    p95_ns: int
    p99_ns: int
    max_ns: int


def percentile(ordered: list[int], q: int) -> int:
    """The nearest-rank `q`-th percentile (integer percent, 0 < q <= 100) of a sorted,
    non-empty list: the smallest value with at least q % of the values at or below it. O(1)."""
    rank = -(-len(ordered) * q // 100)  # ceil in integers: no float rounding at the edges
    return ordered[max(rank, 1) - 1]


def summarize(durations_ns: Iterable[int]) -> LatencySummary | None:
    """Percentiles of some durations (None when there are none).

    Runtime complexity: O(n log n) (sorts a copy).
    """
    ordered = sorted(durations_ns)
    if not ordered:
        return None
    return LatencySummary(
        samples=len(ordered),
        p50_ns=percentile(ordered, 50),
        p95_ns=percentile(ordered, 95),
        p99_ns=percentile(ordered, 99),
        max_ns=ordered[-1],
    )


class LatencyRing:
    """The last `capacity` durations (ns), plus the count and sum of every duration recorded.

    Invariants: `capacity` is a power of two; slot `i % capacity` holds the i-th recorded
    duration for the newest `min(count, capacity)` values of i; `total_ns` is the sum of all
    `count` durations ever recorded (not only the window), as a Prometheus summary needs.

    Runtime complexity: `record` O(1), no allocation; `window` O(capacity); `summary`
    O(capacity log capacity). Memory: a fixed list of `capacity` slots.
    """

    __slots__ = ("_mask", "_slots", "count", "total_ns")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two, not {capacity}")
        # A list, not an array('q'): a store is a pointer write, with no int conversion.
        self._slots = [0] * capacity
        self._mask = capacity - 1
        self.count = 0
        self.total_ns = 0

    @property
    def capacity(self) -> int:
        """How many of the newest durations the window keeps."""
        return self._mask + 1

    def record(self, ns: int) -> None:
        """Add one duration, overwriting the oldest once the window is full. O(1)."""
        count = self.count
        self._slots[count & self._mask] = ns
        self.count = count + 1
        self.total_ns += ns

    def window(self) -> list[int]:
        """A copy of the durations in the window (unordered). O(capacity)."""
        return self._slots[: min(self.count, self._mask + 1)]

    def summary(self) -> LatencySummary | None:
        """Percentiles of the window, or None before the first duration. O(n log n)."""
        return summarize(self.window())

    def _check(self) -> None:
        capacity = self._mask + 1
        assert capacity & self._mask == 0, "capacity is a power of two"
        assert len(self._slots) == capacity, "the ring never grows"
        assert self.count >= 0
        assert self.total_ns >= sum(self.window()), "the sum covers at least the window"
