"""When each pending webhook delivery is due, and one attempt in flight per endpoint.

A heap of (due time on trio's clock, sequence, webhook id): rescheduling pushes a new entry
and the old one is skipped when popped (its sequence is no longer the live one), so every
operation is O(log n). A delivery that comes due while its endpoint has an attempt in flight
is parked until that attempt ends.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict, deque
from collections.abc import Callable


class DueSchedule:
    """The due times of pending deliveries and the endpoints with an attempt in flight."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        # webhook id -> sequence number of its live heap (or parked) entry; absent while in flight
        self._entry: dict[str, int] = {}
        self._busy: set[str] = set()
        self._parked: defaultdict[str, deque[tuple[str, int]]] = defaultdict(deque)

    def schedule(self, msg_id: str, due: float) -> None:
        """Make `msg_id` due at `due` (replacing any earlier due time); O(log n)."""
        seq = next(self._seq)
        self._entry[msg_id] = seq
        heapq.heappush(self._heap, (due, seq, msg_id))

    def scheduled(self, msg_id: str) -> bool:
        """Whether `msg_id` waits on the heap or parked (not in flight, not unknown); O(1)."""
        return msg_id in self._entry

    def forget(self, msg_id: str) -> None:
        """Drop `msg_id` (done or given up): its heap or parked entry is skipped; O(1)."""
        self._entry.pop(msg_id, None)

    def next_due(self) -> float:
        """When the earliest delivery on the heap is due (trio's clock; inf if none)."""
        return self._heap[0][0] if self._heap else float("inf")

    def take_due(self, now: float, endpoint_of: Callable[[str], str]) -> list[tuple[str, str]]:
        """(webhook id, endpoint id) of each delivery to start now, marked in flight.

        A delivery due for an endpoint that has an attempt in flight is parked until `release`.
        """
        started: list[tuple[str, str]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, msg_id = heapq.heappop(heap)
            if self._entry.get(msg_id) != seq:
                continue  # superseded, or no longer pending
            endpoint_id = endpoint_of(msg_id)
            if endpoint_id in self._busy:
                self._parked[endpoint_id].append((msg_id, seq))
            else:
                started.append(self._begin(msg_id, endpoint_id))
        return started

    def release(self, endpoint_id: str) -> tuple[str, str] | None:
        """An attempt at `endpoint_id` ended: the parked delivery to start next, if any."""
        self._busy.discard(endpoint_id)
        parked = self._parked.get(endpoint_id)
        started = None
        while parked and started is None:
            msg_id, seq = parked.popleft()
            if self._entry.get(msg_id) == seq:
                started = self._begin(msg_id, endpoint_id)
        if not parked:
            self._parked.pop(endpoint_id, None)
        return started

    def _begin(self, msg_id: str, endpoint_id: str) -> tuple[str, str]:
        del self._entry[msg_id]
        self._busy.add(endpoint_id)
        return msg_id, endpoint_id
