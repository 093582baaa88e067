-- Full L2 depth of every book every storage.snapshot_interval_secs, and a final one when a
-- market is dropped. Levels are best first; prices and sizes exact.
CREATE TABLE IF NOT EXISTS {db}.ob_snapshots
(
    asset_id      String,
    condition_id  LowCardinality(String),
    source_ts     DateTime64(6, 'UTC'),
    ingest_ts     DateTime64(6, 'UTC'),
    reason        LowCardinality(String),
    status        LowCardinality(String),
    book_hash     String,
    tick_size     String,
    bid_prices    Array(Decimal(18, 6)),
    bid_sizes     Array(Decimal(18, 6)),
    ask_prices    Array(Decimal(18, 6)),
    ask_sizes     Array(Decimal(18, 6)),
    run_id        LowCardinality(String),
    seq           UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(source_ts)
ORDER BY (asset_id, source_ts)
TTL toDateTime(source_ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
