"""Sliding time windows over samples (t, value), pruned by time, with compact state.

Times are the monotonic seconds the caller passes in. A sample taken at `t` is inside a window
of `span` seconds at time `now` while `t >= now - span`; `prune(now - span)` drops the rest.
Values are ints (exact units) except for imbalances, which are floats.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

V = TypeVar("V", int, float)


class ExtremaWindow(Generic[V]):
    """Minimum and maximum of the samples inside a window (monotonic deques).

    Only samples that can still become the minimum or the maximum are kept.
    Runtime complexity: `update` amortized O(1); `low`/`high` O(1).
    """

    __slots__ = ("_highs", "_lows")

    def __init__(self) -> None:
        self._lows: deque[tuple[float, V]] = deque()  # values increasing, times increasing
        self._highs: deque[tuple[float, V]] = deque()  # values decreasing, times increasing

    def update(self, t: float, value: V, oldest: float) -> tuple[V, V]:
        """Add a sample, forget those taken before `oldest` (≤ t), return (low, high).

        Times must not decrease.
        """
        lows, highs = self._lows, self._highs
        while lows and lows[-1][1] >= value:
            lows.pop()
        lows.append((t, value))
        while highs and highs[-1][1] <= value:
            highs.pop()
        highs.append((t, value))
        while lows[0][0] < oldest:
            lows.popleft()
        while highs[0][0] < oldest:
            highs.popleft()
        return lows[0][1], highs[0][1]

    @property
    def low(self) -> V:
        """The smallest sample inside the window (the window must not be empty)."""
        return self._lows[0][1]

    @property
    def high(self) -> V:
        """The largest sample inside the window (the window must not be empty)."""
        return self._highs[0][1]


class SumWindow:
    """Count and exact integer sum of the samples inside a window.

    Runtime complexity: `push` O(1), `prune` amortized O(1); memory O(samples in the window).
    """

    __slots__ = ("samples", "total")

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque()
        self.total = 0

    def push(self, t: float, value: int) -> None:
        """Add a sample (times must not decrease)."""
        self.samples.append((t, value))
        self.total += value

    def prune(self, oldest: float) -> None:
        """Forget samples taken before `oldest`."""
        samples = self.samples
        while samples and samples[0][0] < oldest:
            self.total -= samples.popleft()[1]

    def __len__(self) -> int:
        """Number of samples inside the window."""
        return len(self.samples)


class TwoWindowSum:
    """Exact sums over the current window [now - span, now] and the one before it.

    Samples age from the current window into the previous one, then out.
    Runtime complexity: `add` O(1), `advance` amortized O(1); memory O(samples in 2 spans).
    """

    __slots__ = ("current", "previous", "span")

    def __init__(self, span: float) -> None:
        self.span = span
        self.current = SumWindow()
        self.previous = SumWindow()

    def advance(self, now: float) -> None:
        """Move samples older than the current window into the previous one; drop older ones."""
        edge = now - self.span
        current, previous = self.current, self.previous
        samples = current.samples
        while samples and samples[0][0] < edge:
            t, value = samples.popleft()
            current.total -= value
            previous.push(t, value)
        previous.prune(edge - self.span)

    def add(self, t: float, value: int) -> None:
        """Add a sample to the current window (call `advance(t)` first)."""
        self.current.push(t, value)


class CountWindow:
    """Whether at least `count` events fell inside a window: keeps only the last `count` times.

    Runtime complexity: `push` O(1); memory O(count).
    """

    __slots__ = ("count", "times")

    def __init__(self, count: int) -> None:
        self.count = count
        self.times: deque[float] = deque(maxlen=count)

    def push(self, t: float) -> None:
        """Record an event at `t` (times must not decrease)."""
        self.times.append(t)

    def reached(self, oldest: float) -> bool:
        """True when the last `count` events were all at or after `oldest`."""
        times = self.times
        return len(times) == self.count and times[0] >= oldest
