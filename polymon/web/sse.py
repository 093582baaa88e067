"""The SSE byte stream of one alert client: replay from the ring, then live events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import trio

from polymon.web.events import HEARTBEAT, Event, EventBuffer, encode_reset, encode_sse


def last_event_id(value: str | None) -> int | None:
    """The id of a `Last-Event-ID` header (or query parameter), None when absent or bad."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


async def sse_stream(
    buffer: EventBuffer,
    last_id: int | None,
    heartbeat_secs: float,
    on_drop: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one client: replay after `last_id`, then live events.

    Subscribes and reads the ring at once (no await in between), so every event is either in
    the replay or queued for the live part; ids at or below the last one sent are skipped, so
    nothing is sent twice. After a `reset` (an id from another run, or too old) the client
    gets every event from its subscription on. Ends when the buffer is closed (shutdown) or
    the client is dropped for falling behind; then `on_drop` runs at once (the route passes
    what closes the connection: a client that stopped reading would otherwise hold it).
    """
    sub = buffer.subscribe(on_drop)
    baseline = buffer.next_id - 1  # every later event reaches `sub`
    replay = None if last_id is None else buffer.since(last_id)
    try:
        yield b"retry: 2000\n\n"
        sent = baseline
        if last_id is not None:
            if replay is None:
                yield encode_reset(last_id)
            else:
                sent = last_id
                for old in replay:
                    yield encode_sse(old)
                    sent = old.id
        while not buffer.closed.is_set():
            event: Event | None = None
            with trio.move_on_after(heartbeat_secs):
                try:
                    event = await sub.receive.receive()
                except trio.EndOfChannel:
                    return
            if event is None:
                yield HEARTBEAT
                continue
            # Send everything already queued in one chunk: under load, one write per event
            # would cost a scheduling round each and let a backlog build up.
            chunk, ended = [], False
            while event is not None:
                if event.id > sent:
                    sent = event.id
                    chunk.append(encode_sse(event))
                try:
                    event = sub.receive.receive_nowait()
                except trio.WouldBlock:
                    event = None
                except trio.EndOfChannel:
                    event, ended = None, True
            if chunk:
                yield b"".join(chunk)
            if ended:
                return
    finally:
        buffer.unsubscribe(sub)
