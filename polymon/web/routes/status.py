"""Health and diagnostics: /health, /health/subscriptions, /shards/status, /cron/health,
/do/metrics and the /test/* checks (protected: they reach out to the venue and the store
and report what they saw)."""

from __future__ import annotations

from quart import Blueprint, Response

from polymon.clock import wall_ms
from polymon.web.context import Context
from polymon.web.http import json_response
from polymon.web.models.cron import CronReport
from polymon.web.models.health import ChecksOut, HealthOut
from polymon.web.models.shards import DoMetrics, ShardsReport, SubscriptionsReport
from polymon.web.openapi import api

CHECKS = ("websocket", "clickhouse")


def blueprint(ctx: Context) -> Blueprint:
    """The status routes over `ctx.backend`."""
    bp = Blueprint("status", __name__)
    backend = ctx.backend

    @bp.get("/health")
    @api(ok=HealthOut)
    async def health() -> Response:
        """Liveness and a summary of books, connections and storage."""
        return json_response(backend.health())

    @bp.get("/health/subscriptions")
    @api(ok=SubscriptionsReport)
    async def subscriptions() -> Response:
        """Subscriptions per shard: assets, markets and connection states."""
        return json_response(
            SubscriptionsReport(generated_at_ms=wall_ms(), data=backend.subscriptions())
        )

    @bp.get("/shards/status")
    @api(ok=ShardsReport)
    async def shards_status() -> Response:
        """Shard detail: frames, invalid input, books by status, triggers, resyncs."""
        return json_response(ShardsReport(generated_at_ms=wall_ms(), data=backend.shards_status()))

    @bp.get("/cron/health")
    @api(ok=CronReport)
    async def cron_health() -> Response:
        """Scheduled jobs: interval, last run, failures and recent errors."""
        return json_response(CronReport(generated_at_ms=wall_ms(), data=backend.cron_health()))

    @bp.get("/do/metrics")
    @api(ok=DoMetrics)
    async def do_metrics() -> Response:
        """Per-shard processing latency p50/p95/p99 (µs, recent frames) and trigger counts."""
        return json_response(backend.shard_metrics())

    async def run(names: list[str]) -> Response:
        checks = await backend.run_checks(names)
        return json_response(ChecksOut(ok=all(c.ok for c in checks), checks=checks))

    @bp.get("/test/all")
    @api(ok=ChecksOut, protected=True)
    async def test_all() -> Response:
        """Run every diagnostic (WebSocket, ClickHouse) and report each with its timing."""
        return await run(list(CHECKS))

    @bp.get("/test/websocket")
    @api(ok=ChecksOut, protected=True)
    async def test_websocket() -> Response:
        """Open a WebSocket to the venue, subscribe one tracked token, time the first book."""
        return await run(["websocket"])

    @bp.get("/test/clickhouse")
    @api(ok=ChecksOut, protected=True)
    async def test_clickhouse() -> Response:
        """Ping ClickHouse, count recent rows and report the writers' state, with timings."""
        return await run(["clickhouse"])

    return bp
