"""Per-shard views: subscriptions (/health/subscriptions), shard detail (/shards/status) and
processing latency (/do/metrics). Ages are seconds; None when the thing never happened."""

from __future__ import annotations

import msgspec

from polymon.core.hashcheck import RecipeStatus
from polymon.web.models.envelopes import Report


class ConnectionAssets(msgspec.Struct, frozen=True, kw_only=True):
    """One venue connection: its name, state and the assets it carries."""

    name: str
    state: str
    assets: int


class ShardSubscriptions(msgspec.Struct, frozen=True, kw_only=True):
    """One shard's assets, markets, connections and books by status."""

    index: int
    assets: int
    markets: int
    connections: list[ConnectionAssets]
    books: dict[str, int]


class SubscriptionTotals(msgspec.Struct, frozen=True, kw_only=True):
    """Every shard together; connections also counted by state."""

    assets: int
    markets: int
    connections: int
    connections_by_state: dict[str, int]
    books: dict[str, int]


class Subscriptions(msgspec.Struct, frozen=True, kw_only=True):
    """Subscriptions per shard, and the totals."""

    shards: list[ShardSubscriptions]
    totals: SubscriptionTotals


class ConnectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One connection's history: connects, failures, the last error, the age of its last
    frame and how long it has been up (None unless open)."""

    name: str
    state: str
    assets: int
    connects: int
    failures: int
    last_error: str
    last_frame_age_secs: float | None
    up_secs: float | None


class SinkCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Rows one shard output handed on, and rows it dropped (its queue was full)."""

    sent: int
    dropped: int


class ShardStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One shard: frames, keepalives, invalid frames by reason, messages, level updates,
    triggers, the age of its last frame, gap and resync counters, every core counter, its
    outputs, its venue hash recipe and each connection."""

    index: int
    assets: int
    frames: int
    keepalives: int
    invalid: dict[str, int]
    invalid_total: int
    messages: int
    level_updates: int
    triggers: int
    last_frame_age_secs: float | None
    gaps_opened: int
    gaps_resolved: int
    resyncs_failed: int
    resync_replayed: int
    counts: dict[str, int]
    outputs: dict[str, SinkCounts]
    hash_recipe: RecipeStatus
    connections: list[ConnectionStatus]


class ResyncCounts(msgspec.Struct, frozen=True, kw_only=True):
    """REST book resyncs: calls made, books fetched, failures."""

    calls: int
    fetched: int
    failed: int


class ShardsStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Shard detail, and the REST resync counters."""

    shards: list[ShardStatus]
    resync: ResyncCounts


class LatencyTotals(msgspec.Struct, frozen=True, kw_only=True):
    """Frames processed, latency samples held and their p50/p95/p99/max (µs; None before the
    first frame), triggers registered and fired."""

    frames: int
    samples: int
    p50_us: float | None
    p95_us: float | None
    p99_us: float | None
    max_us: float | None
    triggers: int
    fired: int


class ShardLatency(LatencyTotals, frozen=True, kw_only=True):
    """`LatencyTotals` of one shard."""

    shard: int


class DoMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Per-shard processing latency percentiles (µs, from a ring of recent frames) and
    trigger counts."""

    shards: list[ShardLatency]
    totals: LatencyTotals


class SubscriptionsReport(Report[Subscriptions], frozen=True, kw_only=True):
    """/health/subscriptions: subscriptions per shard and the totals."""


class ShardsReport(Report[ShardsStatus], frozen=True, kw_only=True):
    """/shards/status: shard detail and the REST resync counters."""
