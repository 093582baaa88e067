"""The ledger check: what ClickHouse holds, run by run, against what the runs produced.

With one shard, every row a run produces carries the next number of one counter (`seq`),
whichever table it goes to (BBO, level change, trade, snapshot). So a run's rows are complete
exactly when the seqs stored across those tables are 1..max, each once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from polymon.storage.store import Store

TABLES = ("ob_bbo", "ob_level_changes", "trade_ticks", "ob_snapshots")


class RunRows(msgspec.Struct, kw_only=True):
    """One run's stored rows: seq -> ingest time (µs), and duplicates per table."""

    run_id: str
    ingest: dict[int, int]
    duplicates: dict[str, int]

    @property
    def max_seq(self) -> int:
        return max(self.ingest, default=0)

    @property
    def missing(self) -> list[int]:
        """Seqs below the highest stored one that are not stored."""
        return [s for s in range(1, self.max_seq + 1) if s not in self.ingest]

    def missing_up_to(self, produced: int) -> list[int]:
        """Seqs 1..`produced` that are not stored."""
        return [s for s in range(1, produced + 1) if s not in self.ingest]

    def first_missing(self) -> int:
        """The first seq not stored (max + 1 when none is missing)."""
        missing = self.missing
        return missing[0] if missing else self.max_seq + 1


async def read_runs(store: Store) -> dict[str, RunRows]:
    """Every run's rows in the four seq tables."""
    db = store.database
    runs: dict[str, RunRows] = {}
    for table in TABLES:
        rows = await store.query(
            f"SELECT run_id, seq, toUnixTimestamp64Micro(ingest_ts), count() FROM {db}.{table}"
            " GROUP BY run_id, seq, ingest_ts"
        )
        for run_id, seq, ingest, n in rows:
            run = runs.setdefault(run_id, RunRows(run_id=run_id, ingest={}, duplicates={}))
            if n > 1 or seq in run.ingest:
                run.duplicates[table] = run.duplicates.get(table, 0) + (n - 1 or 1)
            run.ingest[seq] = ingest
    return runs


async def duplicate_rows(store: Store) -> dict[str, int]:
    """Per table, rows stored more than once: count() - uniqExact(run_id, shard, seq)."""
    db = store.database
    out = {}
    for table in ("ob_bbo", "ob_level_changes", "trade_ticks"):
        [(total, unique)] = await store.query(
            f"SELECT count(), uniqExact(run_id, shard, seq) FROM {db}.{table}"
        )
        out[table] = total - unique
    [(total, unique)] = await store.query(
        f"SELECT count(), uniqExact(run_id, seq) FROM {db}.ob_snapshots"
    )
    out["ob_snapshots"] = total - unique
    return out


async def gap_rows(store: Store, reason_like: str) -> list[dict[str, Any]]:
    """ob_gap_events rows (the latest version of each) whose reason matches `reason_like`."""
    columns, rows = await store.query_columns(
        "SELECT asset_id, reason, toUnixTimestamp64Micro(detected_at) AS detected,"
        " toUnixTimestamp64Micro(assumeNotNull(resolved_at)) AS resolved, resolved_at IS NULL"
        " AS open, resolution, detail"
        f" FROM {store.database}.ob_gap_events FINAL WHERE reason LIKE {{r:String}}",
        {"r": reason_like},
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]
