-- Markets from the Gamma API, one version per refresh; the newest version wins
-- (ReplacingMergeTree on updated_at: read with FINAL). Kept forever.
CREATE TABLE IF NOT EXISTS {db}.market_metadata
(
    condition_id     String,
    market_id        String,
    question         String,
    slug             String,
    description      String,
    outcomes         Array(String),
    token_ids        Array(String),
    outcome_prices   Array(String),
    tick_size        String,
    min_order_size   String,
    neg_risk         Bool,
    active           Bool,
    closed           Bool,
    archived         Bool,
    accepting_orders Bool,
    end_date         Nullable(DateTime64(3, 'UTC')),
    closed_time      Nullable(DateTime64(3, 'UTC')),
    uma_resolution_status  String,
    winning_outcome  String,
    winning_asset_id String,
    resolved_at      Nullable(DateTime64(6, 'UTC')),
    volume           String,
    raw_json         String,
    updated_at       DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY condition_id
SETTINGS non_replicated_deduplication_window = 10000;
