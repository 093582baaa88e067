"""Deleting test data: every stored row of the assets (and markets) whose id starts with a
prefix, for POST /admin/cleanup-test-data."""

from __future__ import annotations

from typing import Final

from polymon.errors import BadRequest
from polymon.storage.store import Store

ASSET_TABLES: Final = (
    "ob_bbo", "ob_level_changes", "trade_ticks", "ob_snapshots", "ob_gap_events",
    "ob_bbo_ohlc_1m", "ob_bbo_ohlc_5m", "ob_hourly_stats",
)  # fmt: skip
"""Tables keyed by asset_id (the views' target tables included, so no bar outlives its ticks)."""
MIN_PREFIX: Final = 3


async def delete_test_data(store: Store, prefix: str, *, dry_run: bool) -> dict[str, int]:
    """Count, and unless `dry_run` delete, the rows of assets whose id starts with `prefix`
    (and the market_metadata rows of markets whose condition id does). Returns rows per table
    as counted before deleting. Deletes are synchronous mutations: done when this returns.

    Raises BadRequest for a prefix shorter than MIN_PREFIX or not starting with a letter (it
    could match real data).
    """
    if len(prefix) < MIN_PREFIX or not prefix[0].isalpha():
        raise BadRequest(
            f"prefix must be at least {MIN_PREFIX} characters and start with a letter"
            " (real token ids are decimal, condition ids start with 0x)"
        )
    db = store.database
    where = dict.fromkeys(ASSET_TABLES, "startsWith(asset_id, {p:String})")
    where["market_metadata"] = "startsWith(condition_id, {p:String})"
    counts: dict[str, int] = {}
    for table, cond in where.items():
        (n,), *_ = await store.query(
            f"SELECT count() FROM {db}.{table} WHERE {cond}", {"p": prefix}
        )
        counts[table] = int(n)
        if n and not dry_run:
            await store.command(
                f"ALTER TABLE {db}.{table} DELETE WHERE {cond} SETTINGS mutations_sync = 2",
                {"p": prefix},
            )
    return counts
