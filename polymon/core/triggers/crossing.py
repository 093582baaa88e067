"""CrossingIndex: one value of one asset, and the triggers that fire when it crosses a threshold.

The price and spread types (PRICE_ABOVE/BELOW, SPREAD_NARROW/WIDE) all reduce to "an integer
value goes from not-beyond to beyond a threshold". Keeping the thresholds sorted means a move
of the value from `last` to `value` touches exactly the triggers whose threshold lies between
the two: two bisections and a slice, however many triggers the asset has.

Most moves cross nothing, so the index also keeps the *quiet band* `lo < value <= hi`: the values
reachable from `last` without passing a threshold. A caller that finds the new value inside it
only stores it in `last` (two comparisons, no call); `update` is needed only outside the band.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
_MIN = -(1 << 62)
_MAX = 1 << 62


class CrossingIndex(Generic[T]):
    """Items keyed by an integer threshold, sorted, with the last value seen.

    `above=True`: an item with threshold t is crossed when the value goes from ≤ t (or no value
    seen yet) to > t. `above=False`: from ≥ t (or none seen) to < t. An item added after a value
    was seen is crossed by the next value if that value is beyond its threshold.
    While `lo < value <= hi`, setting `last = value` is the whole of `update(value)` (it would
    cross nothing); the band is empty while no value was seen or an added item waits.
    Runtime complexity: `update` O(log n + k) for k items crossed; `add`/`remove` O(n).
    """

    __slots__ = ("above", "hi", "items", "keys", "kind", "last", "lo", "pending")

    def __init__(self, kind: int, above: bool) -> None:
        self.kind = kind  # which value of the top of book this index watches (see rules.py)
        self.above = above
        self.keys: list[int] = []
        self.items: list[T] = []
        self.last: int | None = None
        # Items added after a value was seen: their first evaluation compares the next value
        # with their own threshold (as if never seen), not the move from `last`.
        self.pending: list[tuple[int, T]] = []
        self.lo, self.hi = _MAX, _MIN

    def add(self, key: int, item: T) -> None:
        """Insert an item (after any with an equal key, so equal keys keep their order)."""
        if self.last is None:
            self._insert(key, item)
        else:
            self.pending.append((key, item))
            self.lo, self.hi = _MAX, _MIN

    def remove(self, item: T) -> bool:
        """Remove an item (by identity); False if it is not here."""
        for at, candidate in enumerate(self.items):
            if candidate is item:
                del self.keys[at], self.items[at]
                self._reband()
                return True
        for at, (_key, candidate) in enumerate(self.pending):
            if candidate is item:
                del self.pending[at]
                self._reband()
                return True
        return False

    def update(self, value: int) -> Sequence[T]:
        """Record a new value; returns the items it crossed (often none), in threshold order."""
        last = self.last
        self.last = value
        crossed = () if value == last else self._crossed(last, value)
        if self.pending:
            crossed = list(crossed)
            for key, item in self.pending:
                if value > key if self.above else value < key:
                    crossed.append(item)
                self._insert(key, item)
            self.pending = []
        self._reband()
        return crossed

    def _crossed(self, last: int | None, value: int) -> Sequence[T]:
        keys = self.keys
        if self.above:
            if last is None:
                lo = 0
            elif value < last:
                return ()
            else:
                lo = bisect_left(keys, last)
            hi = bisect_left(keys, value)
        else:
            if last is None:
                hi = len(keys)
            elif value > last:
                return ()
            else:
                hi = bisect_right(keys, last)
            lo = bisect_right(keys, value)
        return self.items[lo:hi] if lo < hi else ()

    def _insert(self, key: int, item: T) -> None:
        at = bisect_right(self.keys, key)
        self.keys.insert(at, key)
        self.items.insert(at, item)

    def _reband(self) -> None:
        last, keys = self.last, self.keys
        if last is None or self.pending:
            self.lo, self.hi = _MAX, _MIN
        elif self.above:
            # Going up crosses the keys in [last, value): none while value <= the first key
            # >= last. Going down crosses nothing, and keeps that first key while value > the
            # last key < last.
            at = bisect_left(keys, last)
            self.lo = keys[at - 1] if at else _MIN
            self.hi = keys[at] if at < len(keys) else _MAX
        else:
            # Mirror image: quiet while (largest key <= last) <= value < (smallest key > last),
            # stored shifted by one to share the `lo < value <= hi` test (values are ints).
            at = bisect_right(keys, last)
            self.lo = keys[at - 1] - 1 if at else _MIN
            self.hi = keys[at] - 1 if at < len(keys) else _MAX

    def __len__(self) -> int:
        """Number of items."""
        return len(self.items) + len(self.pending)
