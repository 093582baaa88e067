"""Market data: the market list and search (metadata), one token's details with its 24 h
statistics, the live order book (from memory) and OHLC candles."""

from __future__ import annotations

from quart import Blueprint, Response

from polymon.core.history import Ohlc
from polymon.core.model import BookView
from polymon.web.context import Context
from polymon.web.http import error, json_response, query
from polymon.web.models.markets import (
    MarketDetails,
    MarketList,
    MarketsQuery,
    OhlcQuery,
    OrderbookQuery,
    SearchQuery,
    TopOfBook,
)
from polymon.web.openapi import api

MAX_ASSET_ID = 128


def _check_asset(asset_id: str) -> Response | None:
    if not 0 < len(asset_id) <= MAX_ASSET_ID:
        return error(400, "bad_request", f"asset_id must be 1-{MAX_ASSET_ID} characters")
    return None


def blueprint(ctx: Context) -> Blueprint:
    """The market-data routes over `ctx.backend`."""
    bp = Blueprint("markets", __name__)
    backend = ctx.backend

    @bp.get("/api/v1/markets")
    @api(ok=MarketList, query=MarketsQuery)
    async def markets() -> Response:
        """List markets, most traded first, with paging and active/closed filters."""
        q = query(MarketsQuery)
        page = await backend.markets(
            limit=q.limit, offset=q.offset, active=q.active, closed=q.closed
        )
        return json_response(
            MarketList(items=page.items, count=len(page.items), total=page.total,
                       limit=page.limit, offset=page.offset, next_offset=page.next_offset)
        )  # fmt: skip

    @bp.get("/api/v1/markets/search")
    @api(ok=MarketList, query=SearchQuery)
    async def search() -> Response:
        """Markets whose question or slug contains `q` (case-insensitive)."""
        q = query(SearchQuery)
        items = await backend.search_markets(q.q, q.limit)
        return json_response(MarketList(items=items, count=len(items), limit=q.limit))

    @bp.get("/api/v1/markets/<asset_id>")
    @api(ok=MarketDetails)
    async def details(asset_id: str) -> Response:
        """One token: its market, the live top of book, and 24 h statistics."""
        if (bad := _check_asset(asset_id)) is not None:
            return bad
        market = await backend.market_of_asset(asset_id)
        tracked = backend.asset_info(asset_id)
        if market is None and tracked is None:
            return error(404, "not_found", f"asset {asset_id} is neither tracked nor known")
        view = backend.book_view(asset_id, 0)
        if view is None:
            book = TopOfBook(status="untracked")
        else:
            book = TopOfBook(
                status=view.status.value, best_bid=view.best_bid, best_ask=view.best_ask,
                mid_price=view.mid_price, spread_bps=view.spread_bps,
                timestamp_ms=view.timestamp_ms,
            )  # fmt: skip
        if tracked is not None:
            condition_id, outcome = tracked
        else:
            assert market is not None
            condition_id = market.condition_id
            index = market.token_ids.index(asset_id)
            outcome = market.outcomes[index] if index < len(market.outcomes) else ""
        stats = await backend.stats_24h(asset_id)
        return json_response(
            MarketDetails(asset_id=asset_id, condition_id=condition_id, outcome=outcome,
                          market=market, book=book, stats_24h=stats)
        )  # fmt: skip

    @bp.get("/api/v1/markets/<asset_id>/orderbook")
    @api(ok=BookView, query=OrderbookQuery)
    async def orderbook(asset_id: str) -> Response:
        """The live L2 book from memory: bids and asks best first, exact decimal strings."""
        depth = query(OrderbookQuery).depth
        view = backend.book_view(asset_id, depth)
        if view is None:
            return error(404, "not_found", f"asset {asset_id[:MAX_ASSET_ID]} is not tracked")
        return json_response(view)

    @bp.get("/api/v1/ohlc/<asset_id>")
    @api(ok=Ohlc, query=OhlcQuery)
    async def ohlc(asset_id: str) -> Response:
        """1m or 5m candles of the mid price over the last `hours`, ascending by `t`."""
        if (bad := _check_asset(asset_id)) is not None:
            return bad
        q = query(OhlcQuery)
        return json_response(await backend.ohlc(asset_id, q.interval, q.hours))

    return bp
