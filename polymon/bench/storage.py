"""`polymon bench` storage phase: shard rows through the real writers into embedded ClickHouse.

Rows come from the hot path run over generated venue frames (BBO, level changes, trades, as
the shards produce them), are handed to the writers in shard-flush-sized lists, and the clock
stops when every writer has inserted everything (close, flush, done). The materialized views
(1m/5m OHLC, hourly stats) run on every BBO insert, as in production.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

from polymon.config import StorageConfig
from polymon.core.shard import ShardState
from polymon.polymarket.ingest import Ingest
from polymon.storage.rows import BBO, LEVELS, TRADES, Table
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet

_FLUSH_ROWS = 2_000  # rows per shard hand-over, about one 50 ms flush under load


def shard_rows(state: ShardState, ingest: Ingest, frames: list[str]) -> dict[Table, list[Any]]:
    """Run frames through the hot path and keep every row the shard produced."""
    wall_us = time.time_ns() // 1000
    for frame in frames:
        ingest.handle(frame, 1.0, wall_us)
    bbo, levels, trades, _gaps, _snapshots = state.out.drain()
    return {BBO: bbo, LEVELS: levels, TRADES: trades}


async def _write(rows: dict[Table, list[Any]], cfg: StorageConfig, root: Path) -> dict[str, Any]:
    store = Store(f"chdb://{root / 'clickhouse'}", database="bench")
    try:
        await store.migrate()
        writers = WriterSet(store, cfg, root)
        async with trio.open_nursery() as nursery:
            await nursery.start(writers.run)
            start = time.perf_counter()
            for table, table_rows in rows.items():
                for i in range(0, len(table_rows), _FLUSH_ROWS):
                    while not writers.put(table, table_rows[i : i + _FLUSH_ROWS]):  # noqa: ASYNC110
                        await trio.sleep(0.001)  # a full channel: the bench outran the writer
                    await trio.lowlevel.checkpoint()
            writers.close_intake()
            await writers.done.wait()
            seconds = time.perf_counter() - start
        stats = writers.stats()
        stored = {t.name: (await store.query(f"SELECT count() FROM bench.{t.name}"))[0][0]
                  for t in rows}  # fmt: skip
    finally:
        store.close()
    return {"seconds": seconds, "stats": stats, "stored": stored}


def bench_storage(rows: dict[Table, list[Any]], batch_max_rows: int = 10_000, runs: int = 3) -> str:
    """Insert the rows through fresh writers into a temporary embedded store, best of `runs`
    (each into a new store); one summary line."""
    cfg = StorageConfig(batch_max_rows=batch_max_rows, batch_max_age_secs=1.0)
    results = []
    gc.collect()
    gc.freeze()  # the generated frames are a large, immortal heap: keep GC from rescanning it
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="polymon-bench-") as tmp:
            results.append(trio.run(_write, rows, cfg, Path(tmp)))
    result = min(results, key=lambda r: float(r["seconds"]))
    total = sum(len(r) for r in rows.values())
    stored = sum(result["stored"].values())
    lost = total - stored
    per_table = ", ".join(f"{t.name} {len(r):,}" for t, r in rows.items())
    return (
        f"{'storage: writers -> embedded chDB':<34} {total / result['seconds']:>10,.0f} rows/s "
        f"({total:,} rows: {per_table}; batches of {batch_max_rows:,}; "
        f"{'all stored' if lost == 0 else f'{lost} NOT STORED'})"
    )
