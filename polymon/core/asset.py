"""What a shard keeps for each token, and the rows it hands on in bulk."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from polymon.core.book import LevelUpdate, OrderBook
from polymon.core.lasttrade import MarketTrade
from polymon.core.model import AssetMeta, GapEvent, Phase

_TRADE_MEMORY = 256  # recent trade ids kept per asset to drop replays after a reconnect

BboRow = tuple[str, str, int, int, int, str, int, str, int]
"""(asset_id, market, venue ts ms, recv µs, bid units (0 = none), bid size, ask units, ask size,
seq)."""
LevelRow = tuple[str, str, int, int, int, int, str, float, float, int]
"""(asset_id, market, venue ts ms, recv µs, side, price units, size text, size, previous size,
seq)."""
TradeRow = tuple[str, str, int, int, str, int, str, float, str, str, str, int]
"""(asset_id, market, venue ts ms, recv µs, trade id, price units, size text, size, side,
fee bps, transaction hash, seq)."""
SnapshotRow = tuple[
    str, str, int, int, str, str, str, str, list[int], list[float], list[int], list[float], int
]
"""(asset_id, market, venue ts ms, recv µs, reason, status, hash, tick size, bid prices, bid
sizes, ask prices, ask sizes, seq); levels best first, prices in exact 1e-6 units, sizes as the
core parsed them (exact in 1e-6 units below 2e9, see `storage.rows`)."""


ROW_STREAMS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "bbo": "ob_bbo",
        "levels": "ob_level_changes",
        "trades": "trade_ticks",
        "gaps": "ob_gap_events",
        "snapshots": "ob_snapshots",
    }
)
"""Each stream of rows a shard produces -> the table that stores it, in `ShardOutput.drain`
order: the one list of them (the output lists, the shell's sinks and their counts follow it;
a new table is an entry here and a typed list on `ShardOutput`)."""


class AssetState:
    """Everything a shard keeps for one token."""

    __slots__ = (
        "asset_id", "book", "buffer", "dirty", "epoch_since", "gap", "hash", "hash_prefix",
        "hash_tail", "hash_tail_for", "last_resync", "last_update", "market", "min_order_size",
        "neg_risk", "outcome", "pending_hash", "pending_held", "pending_ts", "phase",
        "recent_trades", "resync_due", "tick_size", "timestamp_ms", "top", "trade", "watched",
    )  # fmt: skip

    def __init__(self, meta: AssetMeta) -> None:
        self.asset_id = meta.asset_id
        self.market = meta.market
        self.outcome = meta.outcome
        self.tick_size = meta.tick_size
        self.min_order_size = meta.min_order_size
        self.neg_risk = meta.neg_risk
        self.book = OrderBook()
        self.phase = Phase.AWAITING
        self.trade = MarketTrade()  # replaced by the market's shared one when tracked
        self.hash_prefix = ""  # summary_prefix(market, asset_id), "" until first needed
        # summary_tail of the metadata for (recipe, last trade price); reset when metadata moves
        self.hash_tail = ""
        self.hash_tail_for: tuple[str, str] = ("", "")
        # The newest venue hash that did not verify yet (a trade's messages carry the hash of
        # the state after the last of them), its timestamp, and how many messages it holds.
        self.pending_hash = ""
        self.pending_ts = 0
        self.pending_held = 0
        self.timestamp_ms = 0
        self.hash = ""
        self.last_update = float("-inf")
        self.gap: GapEvent | None = None
        self.buffer: list[tuple[int, int, LevelUpdate]] = []
        self.last_resync = float("-inf")
        self.resync_due = False
        self.epoch_since = 0.0
        self.top: tuple[int, str, int, str] = (0, "", 0, "")
        self.recent_trades: deque[str] = deque(maxlen=_TRADE_MEMORY)
        self.watched = False  # a trigger reads this asset: the hot path calls the table
        self.dirty = False  # the book changed since its last snapshot row


class ShardOutput:
    """Rows and events produced since the shell last drained them, one plain list per
    `ROW_STREAMS` entry (attributes, not a dict: the hot path's append is O(1) and lookup-free).
    """

    __slots__ = tuple(ROW_STREAMS)
    bbo: list[BboRow]
    levels: list[LevelRow]
    trades: list[TradeRow]
    gaps: list[GapEvent]
    snapshots: list[SnapshotRow]

    def __init__(self) -> None:
        self.drain()

    def drain(self) -> tuple[list[Any], ...]:
        """Take everything produced so far (one list per stream, `ROW_STREAMS` order) and
        start empty lists; O(streams)."""
        taken = tuple(getattr(self, name, []) for name in ROW_STREAMS)
        for name in ROW_STREAMS:
            setattr(self, name, [])
        return taken


def trade_id(asset_id: str, timestamp: str, price: str, size: str, side: str, tx: str) -> str:
    """A deterministic id for a trade message (the venue gives none); 16 hex chars."""
    key = f"{asset_id}|{timestamp}|{price}|{size}|{side}|{tx}".encode()
    return hashlib.blake2b(key, digest_size=8).hexdigest()
