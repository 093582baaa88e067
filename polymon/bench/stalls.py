"""Event-loop stalls, as a task on the loop sees them: how late it wakes from a short sleep.

A probe sleeps `PROBE_SECS` at a time and records how much later than asked it woke up each
time: the time the event loop spent on something else without yielding (a long step of
another task, a GIL wait). Frames that arrive meanwhile wait in the socket, so a stall delays
them without showing in any per-frame processing time.
"""

from __future__ import annotations

import trio

PROBE_SECS = 0.005


async def probe_stalls(
    stalls_us: list[int], done: trio.Event, probe_secs: float = PROBE_SECS
) -> None:
    """Append each wake-up's lateness (µs) to `stalls_us` until `done` is set."""
    while not done.is_set():
        before = trio.current_time()
        await trio.sleep(probe_secs)
        stalls_us.append(round((trio.current_time() - before - probe_secs) * 1e6))
