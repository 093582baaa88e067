-- Top of book: one row every time the best bid, best ask or their sizes change.
-- Prices and sizes are exact Decimal(18, 6); 0 means that side of the book is empty.
-- source_ts is the venue's event time, ingest_ts polymon's receive time; seq is the arrival
-- order within one shard of one run (shard, seq) and run_id identify a row.
CREATE TABLE IF NOT EXISTS {db}.ob_bbo
(
    asset_id      String,
    condition_id  LowCardinality(String),
    source_ts     DateTime64(6, 'UTC'),
    ingest_ts     DateTime64(6, 'UTC'),
    best_bid      Decimal(18, 6),
    bid_size      Decimal(18, 6),
    best_ask      Decimal(18, 6),
    ask_size      Decimal(18, 6),
    mid_price     Decimal(18, 7) MATERIALIZED
        if(best_bid > 0 AND best_ask > 0, (toDecimal64(best_bid, 7) + best_ask) / 2, toDecimal64(0, 7)),
    spread_bps    Float64 MATERIALIZED
        if(best_bid > 0 AND best_ask > 0, toFloat64(best_ask - best_bid) * 20000 / toFloat64(best_bid + best_ask), nan),
    run_id        LowCardinality(String),
    shard         UInt16,
    seq           UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(source_ts)
ORDER BY (asset_id, source_ts, seq)
TTL toDateTime(source_ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
