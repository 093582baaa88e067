"""Result types of the history queries (OHLC, 24 h stats, assets, data quality, markets).

They live in core because two sibling layers share them: storage builds them and the HTTP layer
documents and serves them. Units as in `polymon.storage.queries`: prices, sizes and volumes are
exact decimal strings, `*_us` are microseconds since the Unix epoch (UTC), `t` of a candle is
the bucket start in Unix seconds.
"""

from __future__ import annotations

import msgspec


class Candle(msgspec.Struct, frozen=True):
    """One OHLC bar of the mid price: `t` is the bucket start (Unix seconds), prices exact."""

    t: int
    open: str
    high: str
    low: str
    close: str
    ticks: int


class Ohlc(msgspec.Struct, frozen=True):
    """The OHLC response of docs/interface.md: candles ascending by `t`."""

    asset_id: str
    interval: str
    candles: list[Candle]


class Bbo(msgspec.Struct, frozen=True, kw_only=True):
    """One top-of-book tick. An empty side has None for its price and size; mid_price and
    spread_bps are None unless both sides are present."""

    ts_us: int
    best_bid: str | None
    bid_size: str | None
    best_ask: str | None
    ask_size: str | None
    mid_price: str | None
    spread_bps: float | None


class Stats24h(msgspec.Struct, frozen=True, kw_only=True):
    """Statistics of one asset over [start_us, end_us) = the 24 h before `now`.

    ticks counts every BBO tick, two_sided_ticks those with a mid. mid_* are the mid price at
    the first / last two-sided tick (by venue time) and its extremes; mid_change_pct is
    (close - open) / open * 100; mean_spread_bps is the tick-weighted mean over two-sided
    ticks. All are None when the window holds no two-sided tick. trades counts distinct
    trades (replays collapse), volume is the sum of their sizes (shares), notional the sum of
    price x size (USDC), both exact; "0" when there is no trade.
    """

    asset_id: str
    condition_id: str
    start_us: int
    end_us: int
    ticks: int
    two_sided_ticks: int
    first_tick_us: int | None
    last_tick_us: int | None
    mid_open: str | None
    mid_close: str | None
    mid_high: str | None
    mid_low: str | None
    mid_change_pct: float | None
    mean_spread_bps: float | None
    last_bbo: Bbo | None
    trades: int
    buy_trades: int
    volume: str
    notional: str
    last_trade_price: str | None
    last_trade_us: int | None


class AssetTicks(msgspec.Struct, frozen=True, kw_only=True):
    """An asset with its BBO tick count and first / last tick time (µs) in the window."""

    asset_id: str
    condition_id: str
    ticks: int
    first_tick_us: int
    last_tick_us: int


class Quality(msgspec.Struct, frozen=True, kw_only=True):
    """Data-quality metrics of one asset over [start_us, end_us) (`hours` before `now`).

    Counts: bbo_ticks (one_sided_ticks of them without a mid), trades (distinct), level_changes,
    snapshots, all by venue time in the window.

    Gaps are the ob_gap_events (read FINAL: a resolved gap replaces its open version) whose
    span [detected_at, resolved_at) overlaps the window; an open gap spans [detected_at, end).
    gaps_by_reason counts them by reason, open_gaps those not yet resolved. gap_ms_total and
    gap_ms_max add up / take the largest of their whole durations (resolved: duration_ms as
    stored; open: detected_at to end), not clipped to the window.

    coverage is the share of the window covered by no gap: 1 - |union of the gap spans clipped
    to the window| / window length, in [0, 1].

    minute_coverage is tick_minutes / window_minutes: window_minutes counts the UTC minutes the
    window touches (a partial minute at either end counts), tick_minutes those with at least one
    BBO tick in the window. 0.0 for an empty window.
    """

    asset_id: str
    start_us: int
    end_us: int
    bbo_ticks: int
    one_sided_ticks: int
    trades: int
    level_changes: int
    snapshots: int
    first_tick_us: int | None
    last_tick_us: int | None
    gaps: int
    open_gaps: int
    gaps_by_reason: dict[str, int]
    gap_ms_total: int
    gap_ms_max: int
    coverage: float
    tick_minutes: int
    window_minutes: int
    minute_coverage: float


class MarketInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One market as the newest market_metadata row describes it (from Gamma).

    outcomes, token_ids and outcome_prices are parallel lists (token_ids[i] pays outcomes[i]);
    prices are exact decimal strings as Gamma gave them. `end_date_ms`, `closed_time_ms` are
    Unix milliseconds and `resolved_at_us`, `updated_at_us` microseconds, None when unknown.
    winning_outcome / winning_asset_id are "" until the market resolves by the strict rule.
    """

    condition_id: str
    market_id: str
    question: str
    slug: str
    outcomes: list[str]
    token_ids: list[str]
    outcome_prices: list[str]
    tick_size: str
    min_order_size: str
    neg_risk: bool
    active: bool
    closed: bool
    accepting_orders: bool
    end_date_ms: int | None
    closed_time_ms: int | None
    uma_resolution_status: str
    winning_outcome: str
    winning_asset_id: str
    resolved_at_us: int | None
    volume: str
    updated_at_us: int
    market_source: str = "polymarket"


class MarketPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of markets: `items`, the `total` matching the filters, and the offset of the
    next page (None on the last page)."""

    items: list[MarketInfo]
    total: int
    limit: int
    offset: int
    next_offset: int | None
