-- 5m OHLC bars of the mid price, built from the 1m bars on insert (-State here, -Merge on read).
-- Only two-sided books have a mid. The bars outlive ob_bbo's 90-day TTL.
CREATE TABLE IF NOT EXISTS {db}.ob_bbo_ohlc_5m
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

-- Fed from the 1m bars, not from ob_bbo: merging partial 1m states costs far less per insert
-- than aggregating every tick a second time.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_ob_bbo_5m TO {db}.ob_bbo_ohlc_5m AS
SELECT
    asset_id,
    condition_id,
    toStartOfFiveMinutes(bucket) AS bucket,
    argMinMergeState(open) AS open,
    maxMergeState(high) AS high,
    minMergeState(low) AS low,
    argMaxMergeState(close) AS close,
    sum(ticks) AS ticks
FROM {db}.ob_bbo_ohlc_1m
GROUP BY asset_id, condition_id, bucket;
