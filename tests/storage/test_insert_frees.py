"""An insert lets go of its batch at once: nothing of it waits for a garbage collection.

clickhouse-connect's insert context refers to itself; left alone it kept every batch alive
until the next GC pass, which then freed 10k-row batches on the event loop (tens of ms).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from polymon.storage.rows import BBO, CONVERTERS
from polymon.storage.store import Store
from tests.storage.helpers import bbo_row
from tests.storage.test_writer import base_ms


class Column(list[Any]):
    """A list that can be weakly referenced."""


async def test_a_batch_is_freed_when_its_insert_returns(store: Store) -> None:
    t = base_ms()
    columns = [Column(c) for c in CONVERTERS[BBO.name]([(0, [bbo_row(1, t, 1, 2)])], "r")]
    watched = [weakref.ref(c) for c in columns]
    gc.disable()
    try:
        await store.insert(BBO, columns, "freed-1")  # type: ignore[arg-type]
        del columns
        assert [ref() for ref in watched] == [None] * len(watched)
    finally:
        gc.enable()
