-- Suspected gaps from the integrity checks. A gap is written when detected (resolved_at NULL)
-- and again when resolved; the resolved version replaces the open one (read with FINAL).
-- resolution: ws_snapshot | rest_snapshot | unsubscribed | '' while open.
CREATE TABLE IF NOT EXISTS {db}.ob_gap_events
(
    asset_id      String,
    condition_id  LowCardinality(String),
    reason        LowCardinality(String),
    detected_at   DateTime64(6, 'UTC'),
    resolved_at   Nullable(DateTime64(6, 'UTC')),
    resolution    LowCardinality(String),
    detail        String,
    version       UInt8 MATERIALIZED if(resolved_at IS NULL, 0, 1),
    duration_ms   Nullable(Int64) MATERIALIZED
        if(resolved_at IS NULL, NULL, dateDiff('millisecond', detected_at, assumeNotNull(resolved_at)))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(detected_at)
ORDER BY (asset_id, detected_at, reason)
TTL toDateTime(detected_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;
