"""Result types of a market's recent activity: its trades and its gap history.

In core because storage builds them and the HTTP layer documents and serves them. Units as in
`polymon.storage.queries`: prices and sizes are exact decimal strings, `*_us` are microseconds
since the Unix epoch (UTC), `*_ms` durations in milliseconds.
"""

from __future__ import annotations

import msgspec


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """One execution from the venue's `last_trade_price`.

    ts_us is the venue's event time, received_us polymon's receive time; side is the taker
    side (BUY or SELL); trade_id is polymon's deterministic id of the message (a trade replayed
    after a reconnect keeps it); transaction_hash is "" when the venue gave none.
    """

    ts_us: int
    received_us: int
    trade_id: str
    side: str
    price: str
    size: str
    fee_rate_bps: int
    transaction_hash: str


class GapRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One suspected gap in an asset's data, as ob_gap_events keeps it.

    reason: disconnect | silence | hash_mismatch | bbo_mismatch | crossed | checkpoint_mismatch.
    resolution: ws_snapshot | rest_snapshot | unsubscribed, "" while open. resolved_at_us and
    duration_ms are None while the gap is open. Times are polymon's wall clock.
    """

    reason: str
    detected_at_us: int
    resolved_at_us: int | None
    resolution: str
    duration_ms: int | None
    detail: str
