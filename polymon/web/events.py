"""The alert event buffer behind the SSE stream: a ring of recent events and live subscribers.

Every published event gets the next integer id, counting up from `first_id`: the service
starts each run's ids above every id of the runs before (the wall clock in µs; see
service/runstate.py), so an id names one event for good. The last `size` events stay in a
ring for `Last-Event-ID` replay and `GET /api/v1/triggers/events`; a reconnect whose id has
left the ring, or was never handed out by this run (another run's, or a made-up one), gets
`event: reset` first. Subscribers read from bounded channels: a subscriber that falls
`queue_size` events behind is dropped (its stream ends, and its `on_drop` closes its
connection) rather than waited for, so a slow client never slows publishing nor keeps its
buffers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

import msgspec
import trio

RESET = "reset"


class Event(msgspec.Struct, frozen=True):
    """One buffered event: id, type (the trigger type), JSON payload, publish time (µs)."""

    id: int
    type: str
    data: bytes
    published_us: int


def encode_sse(event: Event) -> bytes:
    """The SSE block of one event (`id`, `event`, `data` lines and a blank line)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), event.data)


def encode_reset(last_id: int) -> bytes:
    """The block telling a client its Last-Event-ID is older than the buffer."""
    return b'event: %s\ndata: {"last_event_id": %d}\n\n' % (RESET.encode(), last_id)


HEARTBEAT = b": hb\n\n"


class Subscriber:
    """One live stream's end of the buffer; `on_drop` runs if it is dropped for falling
    behind (synchronously, from `publish`)."""

    def __init__(self, queue_size: int, on_drop: Callable[[], None] | None = None) -> None:
        self.send, self.receive = trio.open_memory_channel[Event](queue_size)
        self.dropped = False
        self.on_drop = on_drop


class EventBuffer:
    """Ring buffer plus fan-out; `publish` is synchronous and never blocks. O(subscribers)."""

    def __init__(self, size: int = 100, queue_size: int = 1000, *, first_id: int = 1) -> None:
        self.ring: deque[Event] = deque(maxlen=size)
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.first_id = first_id
        self.next_id = first_id
        self.published = 0
        self.dropped_subscribers = 0
        self.closed = trio.Event()

    def publish(self, items: Iterable[tuple[str, bytes]], now_us: int) -> list[Event]:
        """Append (type, JSON) events with fresh ids and hand them to every subscriber."""
        events = []
        for kind, data in items:
            event = Event(self.next_id, kind, data, now_us)
            self.next_id += 1
            self.ring.append(event)
            events.append(event)
        self.published += len(events)
        for sub in list(self.subscribers):
            for event in events:
                try:
                    sub.send.send_nowait(event)
                except trio.WouldBlock:
                    self._drop(sub)
                    break
        return events

    def _drop(self, sub: Subscriber) -> None:
        sub.dropped = True
        self.dropped_subscribers += 1
        self.unsubscribe(sub)
        if sub.on_drop is not None:
            sub.on_drop()

    def subscribe(self, on_drop: Callable[[], None] | None = None) -> Subscriber:
        """A new live subscriber (call `unsubscribe` when its stream ends)."""
        sub = Subscriber(self.queue_size, on_drop)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Detach a subscriber and end its channel; idempotent."""
        self.subscribers.discard(sub)
        sub.send.close()

    def since(self, last_id: int) -> list[Event] | None:
        """Events after `last_id`; None (the client must reset) when some of them have left
        the ring or `last_id` was not handed out by this buffer (another run's id). 0 asks
        for every event since this run's first."""
        if last_id == 0:
            last_id = self.first_id - 1
        if not self.first_id - 1 <= last_id < self.next_id:
            return None
        if last_id >= self.next_id - 1:
            return []
        if not self.ring or last_id < self.ring[0].id - 1:
            return None
        return [e for e in self.ring if e.id > last_id]

    def recent(self, limit: int, kind: str | None = None) -> list[Event]:
        """The newest `limit` events (optionally of one type), oldest first."""
        events = [e for e in self.ring if kind is None or e.type == kind]
        return events[-limit:] if limit else []

    def close(self) -> None:
        """End every stream (shutdown): generators see the event and return at once."""
        self.closed.set()
        for sub in list(self.subscribers):
            self.unsubscribe(sub)

    def status(self) -> dict[str, int]:
        """Counts for /api/v1/triggers/events/status."""
        return {
            "buffered": len(self.ring),
            "capacity": self.ring.maxlen or 0,
            "subscribers": len(self.subscribers),
            "published": self.published,
            "dropped_subscribers": self.dropped_subscribers,
            "last_event_id": self.next_id - 1,
            "oldest_event_id": self.ring[0].id if self.ring else 0,
        }
