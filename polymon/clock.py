"""The wall clock, in the units polymon stores: the one place outside the core that reads it.

Timing (windows, deadlines, rate limits, backoff) uses Trio's clock (`trio.current_time()`) so
tests can run on a mock clock; the wall clock is only for what is stored or shown (row
timestamps, event times, file names). The core never reads either: it is handed `now` and
`wall_us`.
"""

from __future__ import annotations

import time


def wall_us() -> int:
    """Microseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1000


def wall_ms() -> int:
    """Milliseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000
