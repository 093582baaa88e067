"""Backtest export (protected): history streamed as JSON lines or CSV, the assets worth
exporting, and one asset's data quality."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import msgspec
from quart import Blueprint, Response

from polymon.clock import wall_us
from polymon.core.history import Quality
from polymon.core.timeunits import DAY_US
from polymon.errors import BadRequest
from polymon.web.backend import Rows
from polymon.web.context import Context
from polymon.web.http import json_response, parse_time_us, query
from polymon.web.models.export import AssetList, AssetsQuery, ExportQuery, QualityQuery
from polymon.web.openapi import api

MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


async def _jsonl(rows: Rows) -> AsyncIterator[bytes]:
    encode = msgspec.json.Encoder().encode
    columns = rows.columns
    async with aclosing(aiter(rows)) as blocks:
        async for block in blocks:
            yield b"".join(encode(dict(zip(columns, row, strict=True))) + b"\n" for row in block)


async def _csv(rows: Rows) -> AsyncIterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows.columns)
    async with aclosing(aiter(rows)) as blocks:
        async for block in blocks:
            writer.writerows(block)
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode()


def blueprint(ctx: Context) -> Blueprint:
    """The export routes over `ctx.backend`."""
    bp = Blueprint("export", __name__)
    backend = ctx.backend

    @bp.get("/api/v1/backtest/export/backtest")
    @api(query=ExportQuery, protected=True, stream=tuple(MEDIA.values()))
    async def export() -> Response:
        """Stream ticks, trades or OHLC bars of a time range as JSON lines or CSV.

        Rows come from storage block by block while the response is written, so a large
        export never sits in memory. Times in rows are Unix µs (`t` of a bar: Unix s).
        """
        q = query(ExportQuery)
        now_us = wall_us()
        end_us = now_us if q.end is None else parse_time_us(q.end, "end")
        start_us = max(0, end_us - DAY_US) if q.start is None else parse_time_us(q.start, "start")
        rows = await backend.export(
            q.asset_id, start_us, end_us, q.granularity, q.limit, q.interval
        )
        body = _csv(rows) if q.format == "csv" else _jsonl(rows)
        name = f"polymon-{q.granularity}-{q.asset_id or 'all'}.{q.format}"
        headers: dict[str, Any] = {
            "Content-Type": MEDIA[q.format],
            "Content-Disposition": f'attachment; filename="{name[:120]}"',
        }
        response = Response(body, headers=headers)
        response.timeout = None  # a long export is not a stuck request
        return response

    @bp.get("/api/v1/backtest/export/assets")
    @api(ok=AssetList, query=AssetsQuery, protected=True)
    async def assets() -> Response:
        """Assets with at least `min_ticks` BBO ticks in the last `hours`, most ticks first."""
        q = query(AssetsQuery)
        items = await backend.export_assets(q.min_ticks, q.hours, q.limit)
        return json_response(AssetList(items=items, count=len(items)))

    @bp.get("/api/v1/backtest/export/quality/<asset_id>")
    @api(ok=Quality, query=QualityQuery, protected=True)
    async def quality(asset_id: str) -> Response:
        """Data quality of one asset: counts, gaps by reason, coverage."""
        if not 0 < len(asset_id) <= 128:
            raise BadRequest("asset_id must be 1-128 characters")
        q = query(QualityQuery)
        return json_response(await backend.quality(asset_id, q.hours))

    return bp
