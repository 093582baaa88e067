"""A market's recent activity from the ClickHouse history: its newest trades and its gap
history (what the dashboard's market page lists).

Each function sends one SELECT with server-side parameters and returns the Structs of
`polymon.core.activity`, newest first. Units and windows as in `polymon.storage.queries`:
[now - hours, now), over the venue's event time for trades and over polymon's wall clock for
gaps. Bad arguments raise `BadRequest` naming the parameter.
"""

from __future__ import annotations

from typing import Final

from polymon.core.activity import GapRecord, Trade
from polymon.storage.sql import IN_WINDOW, check_limit, ts, window
from polymon.storage.store import Store

MAX_ROWS: Final = 1000
"""Largest `limit` of either list."""


async def recent_trades(
    store: Store, asset_id: str, limit: int, hours: float, now_us: int
) -> list[Trade]:
    """The newest `limit` distinct trades of `asset_id` in the window, newest first (ties by
    trade id, descending). Read FINAL, so a replayed trade appears once.

    Runtime: one range read of the table's (asset_id, source_ts) order, at most `limit` rows.
    """
    start, end = window(hours, now_us)
    check_limit(limit, MAX_ROWS)
    rows = await store.query(
        "SELECT toUnixTimestamp64Micro(source_ts), toUnixTimestamp64Micro(ingest_ts), trade_id,"
        " toString(side), toString(price), toString(size), fee_rate_bps, transaction_hash"
        f" FROM {store.database}.trade_ticks FINAL WHERE {IN_WINDOW}"
        " ORDER BY source_ts DESC, trade_id DESC LIMIT {limit:UInt64}",
        {"asset": asset_id, "start": start, "end": end, "limit": limit},
    )
    return [
        Trade(ts_us=int(t), received_us=int(r), trade_id=tid, side=side, price=price,
              size=size, fee_rate_bps=int(fee), transaction_hash=tx)
        for t, r, tid, side, price, size, fee, tx in rows
    ]  # fmt: skip


async def gap_history(
    store: Store, asset_id: str, limit: int, hours: float, now_us: int
) -> list[GapRecord]:
    """The newest `limit` gaps of `asset_id` whose span [detected_at, resolved_at) overlaps the
    window (an open gap spans to now), newest detection first. Read FINAL: a resolved gap
    replaces its open version."""
    start, end = window(hours, now_us)
    check_limit(limit, MAX_ROWS)
    rows = await store.query(
        "SELECT reason, toUnixTimestamp64Micro(detected_at),"
        " if(resolved_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(resolved_at))),"
        " resolution, duration_ms, detail FROM ("
        "  SELECT reason, detected_at, resolved_at, resolution, duration_ms, detail"
        f"  FROM {store.database}.ob_gap_events FINAL"
        f"  WHERE asset_id = {{asset:String}} AND detected_at < {ts('end')})"
        f" WHERE resolved_at IS NULL OR resolved_at > {ts('start')}"
        " ORDER BY detected_at DESC, reason LIMIT {limit:UInt64}",
        {"asset": asset_id, "start": start, "end": end, "limit": limit},
    )
    return [
        GapRecord(reason=reason, detected_at_us=int(detected),
                  resolved_at_us=None if resolved is None else int(resolved),
                  resolution=resolution, duration_ms=None if ms is None else int(ms),
                  detail=detail)
        for reason, detected, resolved, resolution, ms, detail in rows
    ]  # fmt: skip
