"""Read routes the dashboard needs and the original API lacked: a market's recent trades and
gap history (from storage), HTTP request statistics as JSON, and who the caller is."""

from __future__ import annotations

import math

import trio
from quart import Blueprint, Response, g, request

from polymon.errors import BadRequest
from polymon.web.context import Context
from polymon.web.http import json_response, query
from polymon.web.httpmetrics import HttpMetrics
from polymon.web.httpstats import http_stats
from polymon.web.models.activity import (
    GapList,
    GapsQuery,
    HttpStats,
    SessionOut,
    TradeList,
    TradesQuery,
)
from polymon.web.openapi import api
from polymon.web.routes.markets import MAX_ASSET_ID
from polymon.web.sessions import COOKIE_NAME


def _asset(asset_id: str) -> str:
    if not 0 < len(asset_id) <= MAX_ASSET_ID:
        raise BadRequest(f"asset_id must be 1-{MAX_ASSET_ID} characters")
    return asset_id


def blueprint(ctx: Context, metrics: HttpMetrics) -> Blueprint:
    """The trades, gaps, HTTP statistics and session routes."""
    bp = Blueprint("activity", __name__)
    backend = ctx.backend

    @bp.get("/api/v1/markets/<asset_id>/trades")
    @api(ok=TradeList, query=TradesQuery)
    async def trades(asset_id: str) -> Response:
        """The newest `limit` trades of one token in the last `hours`, newest first (from
        storage; a trade replayed after a reconnect is listed once)."""
        q = query(TradesQuery)
        items = await backend.recent_trades(_asset(asset_id), q.limit, q.hours)
        return json_response(TradeList(asset_id=asset_id, items=items, count=len(items)))

    @bp.get("/api/v1/markets/<asset_id>/gaps")
    @api(ok=GapList, query=GapsQuery)
    async def gaps(asset_id: str) -> Response:
        """One token's suspected gaps (hash or best-bid/ask mismatches, silences, disconnects)
        whose span overlaps the last `hours`, newest first, with how and when each was
        resolved (from storage)."""
        q = query(GapsQuery)
        items = await backend.gap_history(_asset(asset_id), q.limit, q.hours)
        still_open = sum(gap.resolved_at_us is None for gap in items)
        return json_response(
            GapList(asset_id=asset_id, items=items, count=len(items), open=still_open)
        )

    @bp.get("/api/v1/metrics/http")
    @api(ok=HttpStats)
    async def http_metrics() -> Response:
        """HTTP requests since start-up per route (URL rule): counts by method and status,
        mean and estimated p50/p95/p99 durations; the JSON view of `/metrics`'
        polymon_http_* series."""
        return json_response(http_stats(metrics))

    @bp.get("/api/v1/auth")
    @api(ok=SessionOut)
    async def session() -> Response:
        """Who the caller is: authenticated by X-API-Key or by the session cookie (with the
        session's remaining life), or not at all. Always 200, so a page can ask before it
        shows a login form."""
        identity = g.identity
        if identity is None:
            return json_response(SessionOut(authenticated=False))
        expires_in: int | None = None
        if identity.via == "cookie":
            now = trio.current_time()
            info = ctx.guard.sessions.lookup(request.cookies.get(COOKIE_NAME, ""), now)
            if info is not None:
                expires_in = max(0, math.floor(info.expires_at - now))
        return json_response(
            SessionOut(authenticated=True, via=identity.via, key_id=identity.key_id,
                       tier=identity.tier, expires_in_secs=expires_in)
        )  # fmt: skip

    return bp
