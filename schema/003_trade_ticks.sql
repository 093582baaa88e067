-- Executions from last_trade_price. trade_id is deterministic (a hash of the message), so a
-- trade replayed after a reconnect or a restart collapses into one row (ReplacingMergeTree;
-- read with FINAL or uniqExact(trade_id) for exact counts).
CREATE TABLE IF NOT EXISTS {db}.trade_ticks
(
    asset_id          String,
    condition_id      LowCardinality(String),
    source_ts         DateTime64(6, 'UTC'),
    ingest_ts         DateTime64(6, 'UTC'),
    trade_id          String,
    side              Enum8('BUY' = 1, 'SELL' = 2),
    price             Decimal(18, 6),
    size              Decimal(18, 6),
    fee_rate_bps      UInt32,
    transaction_hash  String,
    run_id            LowCardinality(String),
    shard             UInt16,
    seq               UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(source_ts)
ORDER BY (asset_id, source_ts, trade_id)
TTL toDateTime(source_ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
