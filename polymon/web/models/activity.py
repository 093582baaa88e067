"""The read routes added for the dashboard (and any client): a market's recent trades and
gap history, HTTP request statistics, and the caller's session."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from polymon.core.activity import GapRecord, Trade
from polymon.web.models.common import Hours, Query

Rows = Annotated[int, msgspec.Meta(ge=1, le=1000)]


class TradesQuery(Query, frozen=True):
    """GET /api/v1/markets/{asset_id}/trades: the newest `limit` trades of the last `hours`."""

    limit: Rows = 50
    hours: Hours = 24.0


class TradeList(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's trades, newest first."""

    asset_id: str
    items: list[Trade]
    count: int


class GapsQuery(Query, frozen=True):
    """GET /api/v1/markets/{asset_id}/gaps: the newest `limit` gaps overlapping the last
    `hours`."""

    limit: Rows = 100
    hours: Hours = 168.0


class GapList(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's gap history, newest detection first; `open` counts the unresolved ones."""

    asset_id: str
    items: list[GapRecord]
    count: int
    open: int


class RouteStats(msgspec.Struct, frozen=True, kw_only=True):
    """Requests answered on one route (URL rule) since start-up.

    methods and statuses count requests by method and by status code. The durations are
    milliseconds to produce the response (for streams: until the headers): mean_ms is exact,
    the percentiles are estimated from the histogram buckets the way PromQL's
    histogram_quantile does (linear within a bucket, at most the largest finite bucket bound).
    All are None before the first request.
    """

    route: str
    requests: int
    methods: dict[str, int]
    statuses: dict[str, int]
    client_errors: int
    server_errors: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class HttpStats(msgspec.Struct, frozen=True, kw_only=True):
    """Per-route request statistics, most requests first, and `total` over every route
    (route "*"), from the same counters as `/metrics`' polymon_http_* series."""

    routes: list[RouteStats]
    total: RouteStats
    bucket_bounds_ms: list[float]


class SessionOut(msgspec.Struct, frozen=True, kw_only=True):
    """Who the caller is: authenticated by an X-API-Key header ("key") or the session cookie
    ("cookie"), or not at all. expires_in_secs is the cookie session's remaining life."""

    authenticated: bool
    via: Literal["key", "cookie"] | None = None
    key_id: str | None = None
    tier: str | None = None
    expires_in_secs: int | None = None
