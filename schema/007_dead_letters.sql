-- Rows ClickHouse rejected as invalid, with the reason, so nothing is dropped silently.
CREATE TABLE IF NOT EXISTS {db}.ob_dead_letters
(
    failed_at     DateTime64(6, 'UTC'),
    target_table  LowCardinality(String),
    reason        String,
    row_json      String,
    batch_token   String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (target_table, failed_at)
TTL toDateTime(failed_at) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 10000;
