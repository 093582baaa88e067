"""Interpreter settings for a latency-bound service: GC and the GIL switch interval.

`tune_runtime()` is meant to be called once the service has started and bootstrapped (its
modules imported, books and triggers loaded), from the event loop's thread.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECS = 0.001


def tune_runtime(*, switch_interval_secs: float = SWITCH_INTERVAL_SECS) -> None:
    """Freeze the start-up heap out of the GC and shorten the GIL switch interval.

    - `gc.freeze()` after a full collection moves every object alive now (imported modules,
      books, the trigger tables) into the permanent generation, so later full collections
      only scan what was created since; without it one costs tens to hundreds of ms on the
      event loop.
    - A worker thread that holds the GIL (ClickHouse inserts run in threads, and the client
      serialises each batch partly in Python) keeps the event loop waiting up to the switch
      interval each time the loop comes back from I/O; the default 5 ms goes straight into
      the alert latency. The interval only matters while threads compete for the GIL.

    Idempotent; never raises.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(switch_interval_secs)
