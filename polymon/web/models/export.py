"""Backtest export: the streamed export's parameters, the assets worth exporting, quality."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from polymon.core.history import AssetTicks
from polymon.web.models.common import AssetId, Hours, Query, TimeParam


class ExportQuery(Query, frozen=True):
    """GET /api/v1/backtest/export/backtest.

    start / end: ISO 8601 date or date-time (UTC unless an offset is given) or Unix seconds;
    end defaults to now and start to 24 h before end. granularity: tick (BBO ticks), trades or
    ohlc (with `interval`). format: jsonl (one JSON object per line) or csv (header row first).
    Without asset_id every asset is exported.
    """

    asset_id: AssetId | None = None
    start: TimeParam | None = None
    end: TimeParam | None = None
    granularity: Literal["tick", "trades", "ohlc"] = "tick"
    interval: Literal["1m", "5m"] = "1m"
    limit: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100_000
    format: Literal["jsonl", "csv"] = "jsonl"


class AssetsQuery(Query, frozen=True):
    """GET /api/v1/backtest/export/assets: assets with at least `min_ticks` in `hours`."""

    min_ticks: Annotated[int, msgspec.Meta(ge=0, le=10**12)] = 1000
    hours: Hours = 24.0
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


class AssetList(msgspec.Struct, frozen=True, kw_only=True):
    """Assets with their tick counts, most ticks first."""

    items: list[AssetTicks]
    count: int


class QualityQuery(Query, frozen=True):
    """GET /api/v1/backtest/export/quality/{asset_id}: the window in hours."""

    hours: Hours = 24.0
