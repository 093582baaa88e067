"""Read-only views of the shards for the status routes (/health/subscriptions, /shards/status).

Both walk every tracked asset once (O(assets)) and touch nothing: they are safe to call from
any request handler. Ages are seconds on trio's clock; None when the thing never happened.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from polymon.core.model import BookStatus
from polymon.service.census import ShardCensus
from polymon.service.resync import Resyncer
from polymon.service.shards import Shard
from polymon.storage.writer_set import WriterSet


def _by_status(statuses: Counter[str]) -> dict[str, int]:
    return {str(status): statuses[str(status)] for status in BookStatus}


def _age(now: float, then: float) -> float | None:
    return round(now - then, 3) if math.isfinite(then) else None


def subscriptions(shards: Sequence[Shard], census: Sequence[ShardCensus]) -> dict[str, Any]:
    """Per shard: index, assets, markets, connections (name, state, assets) and books by
    status; and the totals, with connections counted by state. Markets and books come from
    the census (one shard's entry each), so this is O(shards + connections)."""
    out = []
    totals: Counter[str] = Counter()
    books: Counter[str] = Counter()
    conn_states: Counter[str] = Counter()
    for shard, counted in zip(shards, census, strict=True):
        state = shard.state
        statuses = Counter(counted.books)
        conns = [{"name": c.name, "state": str(c.state), "assets": len(c.assets)}
                 for c in shard.connections]  # fmt: skip
        markets = counted.markets
        out.append({
            "index": shard.index, "assets": len(state.assets), "markets": markets,
            "connections": conns, "books": _by_status(statuses),
        })  # fmt: skip
        totals.update(assets=len(state.assets), markets=markets, connections=len(conns))
        books.update(statuses)
        conn_states.update(str(c.state) for c in shard.connections)
    return {
        "shards": out,
        "totals": {
            **totals,
            "connections_by_state": dict(conn_states),
            "books": _by_status(books),
        },
    }


def shards_status(shards: Sequence[Shard], resyncer: Resyncer, now: float) -> dict[str, Any]:
    """Per shard: frames, keepalives, invalid frames by reason, messages, level updates,
    triggers, the age of its last frame, gap and resync counters, every core counter, its
    outputs (rows sent/dropped), its venue hash recipe (setting, the recipe in use or "" while
    detecting, timestamp slack) and each connection's history; and the REST resync counters."""
    out = []
    for shard in shards:
        state, ingest = shard.state, shard.ingest
        last_frame = max((c.last_frame for c in shard.connections), default=-math.inf)
        counts = state.counts
        out.append({
            "index": shard.index, "assets": len(state.assets),
            "frames": ingest.frames, "keepalives": ingest.keepalives,
            "invalid": dict(ingest.invalid), "invalid_total": sum(ingest.invalid.values()),
            "messages": state.messages, "level_updates": state.level_updates,
            "triggers": len(state.triggers),
            "last_frame_age_secs": _age(now, last_frame),
            "gaps_opened": counts["gaps_opened"], "gaps_resolved": counts["gaps_resolved"],
            "resyncs_failed": counts["resync_failed"],
            "resync_replayed": counts["resync_replayed"],
            "counts": dict(counts), "outputs": shard.sinks.counts(),
            "hash_recipe": msgspec.structs.asdict(state.hashes.status()),
            "connections": [
                {"name": c.name, "state": str(c.state), "assets": len(c.assets),
                 "connects": c.connects, "failures": c.failures, "last_error": c.last_error,
                 "last_frame_age_secs": _age(now, c.last_frame),
                 "up_secs": _age(now, c.connected_since) if c.state == "open" else None}
                for c in shard.connections
            ],
        })  # fmt: skip
    resync = {"calls": resyncer.calls, "fetched": resyncer.fetched, "failed": resyncer.failed}
    return {"shards": out, "resync": resync}


def storage_health(writers: WriterSet | None, shards: Sequence[Shard]) -> dict[str, Any]:
    """For /health's `storage`: writer counters per table, and the rows the shards could not
    hand over; O(shards + tables)."""
    if writers is None:
        return {"enabled": False}
    dropped = sum(counts["dropped"] for shard in shards for counts in shard.sinks.counts().values())
    return {
        "enabled": True,
        "unavailable": writers.unavailable,
        "sink_rows_dropped": dropped,
        "tables": writers.stats(),
    }
