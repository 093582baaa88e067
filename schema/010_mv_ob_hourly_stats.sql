-- Hourly per-asset statistics of the top of book: tick count, mid range, mean spread, and the
-- number of updates with a one-sided book. Plain sums/min/max only, so the view stays cheap on
-- every insert (mid open/close per hour come from the 1m bars).
CREATE TABLE IF NOT EXISTS {db}.ob_hourly_stats
(
    asset_id        String,
    condition_id    LowCardinality(String),
    hour            DateTime('UTC'),
    ticks           SimpleAggregateFunction(sum, UInt64),
    one_sided       SimpleAggregateFunction(sum, UInt64),
    mid_min         SimpleAggregateFunction(min, Nullable(Decimal(18, 7))),
    mid_max         SimpleAggregateFunction(max, Nullable(Decimal(18, 7))),
    spread_bps_sum  SimpleAggregateFunction(sum, Float64),
    spread_count    SimpleAggregateFunction(sum, UInt64),
    first_ts        SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_ts         SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (asset_id, hour, condition_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_ob_hourly_stats TO {db}.ob_hourly_stats AS
SELECT
    asset_id,
    condition_id,
    toStartOfHour(toDateTime(source_ts, 'UTC')) AS hour,
    count() AS ticks,
    countIf(NOT (best_bid > 0 AND best_ask > 0)) AS one_sided,
    min(if(best_bid > 0 AND best_ask > 0, mid_price, NULL)) AS mid_min,
    max(if(best_bid > 0 AND best_ask > 0, mid_price, NULL)) AS mid_max,
    sumIf(spread_bps, best_bid > 0 AND best_ask > 0) AS spread_bps_sum,
    countIf(best_bid > 0 AND best_ask > 0) AS spread_count,
    min(source_ts) AS first_ts,
    max(source_ts) AS last_ts
FROM {db}.ob_bbo
GROUP BY asset_id, condition_id, hour;
