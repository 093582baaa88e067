"""A table writer's counters (`/status` and `/metrics` read them): every row it received is
accounted for as written, journaled, held, dead-lettered or dropped.
"""

from __future__ import annotations

import msgspec


class WriterStats(msgspec.Struct, kw_only=True):
    """Where every row a writer received went."""

    rows_in: int = 0
    rows_written: int = 0
    batches_written: int = 0
    rows_journaled: int = 0
    rows_replayed: int = 0
    rows_dead_lettered: int = 0
    rows_dropped: int = 0
    rows_held: int = 0
    retries: int = 0
    outages: int = 0
    last_error: str = ""
