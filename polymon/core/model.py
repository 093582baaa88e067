"""Value types shared by the core, the venue adapter, storage and the web layer."""

from __future__ import annotations

import enum

import msgspec


class BookStatus(enum.StrEnum):
    """How far a served book can be trusted."""

    FRESH = "fresh"
    STALE = "stale"
    RESYNCING = "resyncing"


class Phase(enum.IntEnum):
    """Where an asset's book is in its life cycle (internal; mapped to BookStatus)."""

    AWAITING = 0  # no snapshot since subscribe/reconnect: deltas ignored, served as stale
    SYNCED = 1  # snapshot applied and every check passing
    RESYNCING = 2  # gap suspected: deltas applied and buffered, REST snapshot requested
    EPOCH = 3  # tick size changed: deltas ignored until the next snapshot


class AssetMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What polymon knows about a token before its first snapshot (from Gamma or new_market)."""

    asset_id: str
    market: str = ""
    outcome: str = ""
    tick_size: str = ""
    min_order_size: str = ""
    neg_risk: bool = False


Arrival = tuple[str, int, float, int]
"""(market, venue ts ms, now, wall µs): what the level changes of one venue message share, its
market (condition id, "" if unsaid), venue timestamp, and when it arrived (`now`, monotonic
seconds; `wall_us`, epoch µs). Made once per message, not per change; a plain tuple, like the
rows, because it is made on the hot path (a struct costs ~4x as much to build)."""


class GapEvent(msgspec.Struct, kw_only=True):
    """A suspected gap in one asset's data, from detection to resolution.

    reason: disconnect | silence | hash_mismatch | bbo_mismatch | crossed | checkpoint_mismatch
    how: ws_snapshot | rest_snapshot | unsubscribed ("" while open)
    Times are wall-clock microseconds since the epoch (0 while unresolved).
    """

    asset_id: str
    market: str
    reason: str
    detected_us: int
    resolved_us: int = 0
    how: str = ""
    detail: str = ""

    @property
    def open(self) -> bool:
        """True until the gap is resolved."""
        return self.resolved_us == 0


class LevelView(msgspec.Struct, frozen=True):
    """One served level: exact decimal strings."""

    price: str
    size: str


class BookView(msgspec.Struct, frozen=True, kw_only=True):
    """An order book as the HTTP API serves it (bids and asks best first)."""

    asset_id: str
    condition_id: str
    bids: list[LevelView]
    asks: list[LevelView]
    best_bid: str | None
    best_ask: str | None
    mid_price: str | None
    spread_bps: int | None
    timestamp_ms: int
    status: BookStatus
    tick_size: str
    hash: str
