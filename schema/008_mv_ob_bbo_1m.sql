-- 1m OHLC bars of the mid price, built from ob_bbo on insert (-State here, -Merge on read).
-- Only two-sided books have a mid. The bars outlive ob_bbo's 90-day TTL.
CREATE TABLE IF NOT EXISTS {db}.ob_bbo_ohlc_1m
(
    asset_id      String,
    condition_id  LowCardinality(String),
    bucket        DateTime('UTC'),
    open          AggregateFunction(argMin, Decimal(18, 7), DateTime64(6, 'UTC')),
    high          AggregateFunction(max, Decimal(18, 7)),
    low           AggregateFunction(min, Decimal(18, 7)),
    close         AggregateFunction(argMax, Decimal(18, 7), DateTime64(6, 'UTC')),
    ticks         SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (asset_id, bucket, condition_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_ob_bbo_1m TO {db}.ob_bbo_ohlc_1m AS
SELECT
    asset_id,
    condition_id,
    toStartOfMinute(toDateTime(source_ts, 'UTC')) AS bucket,
    argMinState(mid_price, source_ts) AS open,
    maxState(mid_price) AS high,
    minState(mid_price) AS low,
    argMaxState(mid_price, source_ts) AS close,
    count() AS ticks
FROM {db}.ob_bbo
WHERE best_bid > 0 AND best_ask > 0
GROUP BY asset_id, condition_id, bucket;
