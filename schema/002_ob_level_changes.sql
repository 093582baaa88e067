-- Order flow: every change of a resting level. size is the new total at that price (0 = the
-- level was removed) and prev_size what rested there before, so size - prev_size is the flow.
CREATE TABLE IF NOT EXISTS {db}.ob_level_changes
(
    asset_id      String,
    condition_id  LowCardinality(String),
    source_ts     DateTime64(6, 'UTC'),
    ingest_ts     DateTime64(6, 'UTC'),
    side          Enum8('BID' = 1, 'ASK' = 2),
    price         Decimal(18, 6),
    size          Decimal(18, 6),
    prev_size     Decimal(18, 6),
    run_id        LowCardinality(String),
    shard         UInt16,
    seq           UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(source_ts)
ORDER BY (asset_id, source_ts, seq)
TTL toDateTime(source_ts) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
