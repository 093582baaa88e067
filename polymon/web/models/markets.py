"""Market data: the market list and search, one token's details, the order book and candles."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from polymon.core.history import MarketInfo, Stats24h
from polymon.web.models.common import Hours, Limit, Query

MAX_BOOK_DEPTH = 10_000


class MarketsQuery(Query, frozen=True):
    """Paging and filters of GET /api/v1/markets (most traded first)."""

    limit: Limit = 100
    offset: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0
    active: bool | None = None
    closed: bool | None = None
    market_source: Literal["polymarket"] = "polymarket"


class SearchQuery(Query, frozen=True):
    """GET /api/v1/markets/search: case-insensitive substring of the question or slug."""

    q: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
    limit: Limit = 20


class MarketList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of markets; `next_offset` is None on the last page."""

    items: list[MarketInfo]
    count: int
    total: int | None = None
    limit: int
    offset: int = 0
    next_offset: int | None = None


class TopOfBook(msgspec.Struct, frozen=True, kw_only=True):
    """The live top of one book (from memory), or status "untracked"."""

    status: Literal["fresh", "stale", "resyncing", "untracked"]
    best_bid: str | None = None
    best_ask: str | None = None
    mid_price: str | None = None
    spread_bps: int | None = None
    timestamp_ms: int | None = None


class MarketDetails(msgspec.Struct, frozen=True, kw_only=True):
    """One token: its market's metadata, the live top of book and 24 h statistics.

    `market` is None when no metadata names the token; `stats_24h` is None without storage.
    """

    asset_id: str
    condition_id: str
    outcome: str
    market: MarketInfo | None
    book: TopOfBook
    stats_24h: Stats24h | None


class OrderbookQuery(Query, frozen=True):
    """Depth of the served book: levels per side (all when absent)."""

    depth: Annotated[int, msgspec.Meta(ge=1, le=MAX_BOOK_DEPTH)] | None = None


class OhlcQuery(Query, frozen=True):
    """GET /api/v1/ohlc/{asset_id}: mid-price candles over the last `hours`."""

    interval: Literal["1m", "5m"] = "1m"
    hours: Hours = 24.0
