"""TriggerEvent, what a fired trigger delivers (webhook body, SSE event), and `stamp`.

The fields follow the seed's payload. Prices are JSON numbers as there, and exact: each is
computed once as `units / 1e6` (the correctly rounded double of a decimal with at most seven
places), whose shortest repr, which msgspec writes, is that decimal again ("0.925", never
"0.9250000001"). `threshold` and `actual_value` are in the unit of the trigger type (a price,
an absolute spread, an imbalance, a size, a percent, a count or milliseconds; see
`triggers.spec`).

The core cannot read clocks, so an event leaves the table with `fired_at` and both latencies 0
and with the times it was caused by (`venue_ts_ms`, `received_us`); the async shell calls
`stamp(events, now_us)` right before delivery.
"""

from __future__ import annotations

import msgspec

from polymon.core.prices import PRICE_SCALE, spread_bps


class TriggerEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One fire of one trigger. Type-specific extras are omitted from JSON when None.

    fired_at: wall-clock µs of delivery (set by `stamp`).
    total_latency_us: fired_at - venue timestamp (venue_ts_ms × 1000); 0 if the venue gave none.
    processing_latency_us: fired_at - receipt of the frame that caused it (received_us).
    best_bid, best_ask, mid_price, spread_bps: the trigger asset's last known top of book.
    venue_ts_ms, received_us: the cause. For STALE_QUOTE, which no frame causes, both are the
        wall time of the `check_stale` call that found it.
    side: BID/ASK (SIZE_SPIKE, LARGE_FILL) or BUY/SELL (LARGE_TRADE).
    price: the level's price (LARGE_FILL) or the trade's (LARGE_TRADE).
    size: the trade's size (LARGE_TRADE).
    reference_value: what actual_value was compared with: the window extreme (PRICE_MOVE,
        IMBALANCE_SHIFT), the window mean (SIZE_SPIKE), the previous window's volume
        (VOLUME_SPIKE), the span in ms of the counted updates (QUOTE_VELOCITY).
    """

    trigger_id: str
    trigger_type: str
    asset_id: str
    condition_id: str
    fired_at: int
    total_latency_us: int
    processing_latency_us: int
    best_bid: float | None
    best_ask: float | None
    mid_price: float | None
    spread_bps: int | None
    threshold: float
    actual_value: float
    venue_ts_ms: int
    received_us: int
    side: str | None = None
    price: float | None = None
    size: float | None = None
    reference_value: float | None = None
    window_ms: int | None = None
    levels: int | None = None
    paired_asset_id: str | None = None
    paired_best_bid: float | None = None
    paired_best_ask: float | None = None


def price_float(units: int) -> float | None:
    """A price in 1e-6 units as the float of its exact decimal; None for 0 (no price)."""
    return units / PRICE_SCALE if units else None


def quote_fields(bid: int, ask: int) -> tuple[float | None, float | None, float | None, int | None]:
    """(best_bid, best_ask, mid_price, spread_bps) of a top of book in units (0 = empty side)."""
    if bid and ask:
        mid = (bid + ask) / (2 * PRICE_SCALE)
        return bid / PRICE_SCALE, ask / PRICE_SCALE, mid, spread_bps(bid, ask)
    return price_float(bid), price_float(ask), None, None


def stamp(events: list[TriggerEvent], now_us: int) -> list[TriggerEvent]:
    """Set fired_at = now_us and both latencies on each event, in place; returns `events`.

    Runtime complexity: O(len(events)).
    """
    for event in events:
        event.fired_at = now_us
        venue_ms = event.venue_ts_ms
        event.total_latency_us = now_us - venue_ms * 1000 if venue_ms > 0 else 0
        received = event.received_us
        event.processing_latency_us = now_us - received if received > 0 else 0
    return events
