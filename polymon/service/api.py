"""`ServiceApi`: the web layer's `Backend`, over the live Service and the ClickHouse store.

Reads of memory (books, shards, jobs) are answered at once; history goes to storage with
`http.query_timeout_secs` as a deadline. Without storage, history routes answer 503. Every
answer is one of the web layer's read models (`polymon.web.models`): the service's status
dicts are converted here, so what is served is what is documented. A field the service drops
or retypes fails at this boundary; one it adds is not served until the model lists it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import trio

from polymon.clock import wall_us
from polymon.config import Config
from polymon.core.activity import GapRecord, Trade
from polymon.core.backtest import BacktestResult, RecordingFile
from polymon.core.history import AssetTicks, MarketInfo, MarketPage, Ohlc, Quality, Stats24h
from polymon.core.model import BookView
from polymon.core.triggers import TriggerSpec
from polymon.errors import StorageUnavailable, Unavailable
from polymon.polymarket.probe import probe_websocket
from polymon.service.backtest import Backtests
from polymon.service.metrics import ServiceCollector, shard_metrics
from polymon.storage import activity, markets, queries
from polymon.storage.cleanup import delete_test_data
from polymon.storage.export import Export, export_backtest
from polymon.storage.store import Store
from polymon.web.models.admin import Bootstrapped, CleanedUp, Migrated
from polymon.web.models.cron import CronHealth
from polymon.web.models.health import Check, HealthOut
from polymon.web.models.lifecycle import LifecycleCheck, LifecycleWebhook
from polymon.web.models.shards import DoMetrics, ShardsStatus, Subscriptions
from polymon.web.models.webhooks import DeadLetterOut

if TYPE_CHECKING:
    from polymon.service.main import Service

_T = TypeVar("_T")


class ServiceApi:
    """The running service as the HTTP routes see it (implements `web.backend.Backend`)."""

    def __init__(self, service: Service, store: Store | None, cfg: Config) -> None:
        self.service = service
        self.store = store
        self.cfg = cfg
        self.backtests = Backtests(cfg, store)

    def _store(self) -> Store:
        if self.store is None:
            raise Unavailable("storage is disabled in this process (storage.enabled = false)")
        return self.store

    async def _deadline(self, coro: Awaitable[_T]) -> _T:
        """Await a storage read, or StorageUnavailable after http.query_timeout_secs."""
        limit = self.cfg.http.query_timeout_secs
        with trio.move_on_after(limit):
            return await coro
        raise StorageUnavailable(f"query took longer than {limit} s")

    # -- live state ---------------------------------------------------------------------------
    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset."""
        return self.service.book_view(asset_id, depth)

    def asset_info(self, asset_id: str) -> tuple[str, str] | None:
        """(condition id, outcome) of a tracked asset."""
        state = self.service.state_of(asset_id).assets.get(asset_id)
        return None if state is None else (state.market, state.outcome)

    def health(self) -> HealthOut:
        """The /health summary."""
        return msgspec.convert({"status": "ok", **self.service.health()}, HealthOut)

    def subscriptions(self) -> Subscriptions:
        """Per-shard subscriptions and connection states."""
        return msgspec.convert(self.service.subscriptions(), Subscriptions)

    def shards_status(self) -> ShardsStatus:
        """Per-shard detail."""
        return msgspec.convert(self.service.shards_status(), ShardsStatus)

    def shard_metrics(self) -> DoMetrics:
        """The /do/metrics body."""
        return msgspec.convert(shard_metrics(self.service), DoMetrics)

    def metrics_collector(self) -> ServiceCollector:
        """The Prometheus collector of the service's counters."""
        return ServiceCollector(self.service)

    async def run_checks(self, names: list[str]) -> list[Check]:
        """Run the named diagnostics, each timed."""
        out = []
        for name in names:
            start = time.perf_counter()
            if name == "websocket":
                detail = await self._check_websocket()
            else:
                detail = await self._check_clickhouse()
            ok = bool(detail.pop("ok"))
            duration_ms = round((time.perf_counter() - start) * 1000, 3)
            out.append(Check(name=name, ok=ok, duration_ms=duration_ms, detail=detail))
        return out

    async def _check_websocket(self) -> dict[str, Any]:
        asset_id = next((a for shard in self.service.shards for a in shard.state.assets), None)
        result = await probe_websocket(self.cfg.polymarket, asset_id)
        health = self.health()
        result["connections"] = health.connections
        result["connections_open"] = health.connections_open
        return result

    async def _check_clickhouse(self) -> dict[str, Any]:
        if self.store is None:
            return {"ok": False, "error": "storage is disabled"}
        store = self.store
        out: dict[str, Any] = {"url": store.shown_url.split("?")[0], "database": store.database}
        start = time.perf_counter()
        try:
            with trio.fail_after(10):
                alive = await store.ping()
                out["ping_ms"] = round((time.perf_counter() - start) * 1000, 3)
                start = time.perf_counter()
                (rows,), *_ = await store.query(
                    f"SELECT count() FROM {store.database}.ob_bbo"
                    " WHERE source_ts > now64(6) - INTERVAL 5 MINUTE"
                )
                out["query_ms"] = round((time.perf_counter() - start) * 1000, 3)
                out["bbo_rows_last_5m"] = int(rows)
        except (trio.TooSlowError, StorageUnavailable) as e:
            out |= {"ok": False, "error": str(e) or "timed out after 10 s"}
            return out
        writers = self.service.writers
        out["writers_unavailable"] = writers.unavailable if writers is not None else None
        out["ok"] = alive and not out["writers_unavailable"]
        return out

    # -- history ------------------------------------------------------------------------------
    async def markets(
        self, *, limit: int, offset: int, active: bool | None, closed: bool | None
    ) -> MarketPage:
        """A page of markets."""
        return await self._deadline(
            markets.list_markets(
                self._store(), limit=limit, offset=offset, active=active, closed=closed
            )
        )

    async def search_markets(self, q: str, limit: int) -> list[MarketInfo]:
        """Markets matching `q`."""
        return await self._deadline(markets.search_markets(self._store(), q, limit=limit))

    async def market_of_asset(self, asset_id: str) -> MarketInfo | None:
        """The market listing `asset_id`; None without storage."""
        if self.store is None:
            return None
        return await self._deadline(markets.market_of_asset(self.store, asset_id))

    async def stats_24h(self, asset_id: str) -> Stats24h | None:
        """24 h statistics; None without storage."""
        if self.store is None:
            return None
        return await self._deadline(queries.stats_24h(self.store, asset_id, wall_us()))

    async def ohlc(self, asset_id: str, interval: str, hours: float) -> Ohlc:
        """Mid-price candles."""
        return await self._deadline(
            queries.ohlc(self._store(), asset_id, interval, hours, wall_us())
        )

    async def export(
        self,
        asset_id: str | None,
        start_us: int,
        end_us: int,
        granularity: str,
        limit: int,
        interval: str,
    ) -> Export:
        """A validated, streamed export (rows are read while the response is written)."""
        return await export_backtest(
            self._store(), asset_id, start_us, end_us, granularity, limit, interval
        )

    async def export_assets(self, min_ticks: int, hours: float, limit: int) -> list[AssetTicks]:
        """Assets with enough ticks."""
        return await self._deadline(
            queries.assets_with_ticks(self._store(), min_ticks, hours, wall_us(), limit)
        )

    async def quality(self, asset_id: str, hours: float) -> Quality:
        """Data quality of one asset."""
        return await self._deadline(queries.quality(self._store(), asset_id, hours, wall_us()))

    async def recent_trades(self, asset_id: str, limit: int, hours: float) -> list[Trade]:
        """The newest trades of one asset."""
        return await self._deadline(
            activity.recent_trades(self._store(), asset_id, limit, hours, wall_us())
        )

    async def gap_history(self, asset_id: str, limit: int, hours: float) -> list[GapRecord]:
        """The gap history of one asset."""
        return await self._deadline(
            activity.gap_history(self._store(), asset_id, limit, hours, wall_us())
        )

    # -- recordings and backtests -------------------------------------------------------------
    def recordings(self) -> tuple[bool, list[RecordingFile]]:
        """Whether recording is on, and the recording files."""
        return self.backtests.recordings()

    async def backtest(
        self,
        spec: TriggerSpec,
        source: str,
        recordings: list[str] | None,
        start_us: int | None,
        end_us: int | None,
        max_events: int,
    ) -> BacktestResult:
        """One backtest (service.backtest)."""
        return await self.backtests.run(spec, source, recordings, start_us, end_us, max_events)

    # -- admin, lifecycle, webhooks -----------------------------------------------------------
    async def bootstrap_markets(self) -> Bootstrapped:
        """Subscribe every active market now."""
        start = time.perf_counter()
        added = await self.service.bootstrap()
        assets = sum(len(s.state.assets) for s in self.service.shards)
        return Bootstrapped(
            tokens_added=added,
            assets=assets,
            shards=len(self.service.shards),
            duration_ms=round((time.perf_counter() - start) * 1000, 3),
        )

    async def migrate(self) -> Migrated:
        """Apply pending migrations."""
        return Migrated(applied=await self._store().migrate())

    async def cleanup_test_data(self, prefix: str, dry_run: bool) -> CleanedUp:
        """Untrack test assets and delete their rows (counts per table)."""
        tracked = [
            a
            for shard in self.service.shards
            for a, state in shard.state.assets.items()
            if a.startswith(prefix) or state.market.startswith(prefix)
        ]
        if not dry_run and tracked:
            await self.service.unsubscribe(tracked)
        rows = (
            await delete_test_data(self.store, prefix, dry_run=dry_run)
            if self.store is not None
            else {}
        )
        return CleanedUp(prefix=prefix, dry_run=dry_run, untracked=len(tracked), rows=rows)

    def cron_health(self) -> CronHealth:
        """Scheduled jobs."""
        return msgspec.convert(self.service.scheduler.health(), CronHealth)

    def clear_cron_errors(self) -> int:
        """Forget job errors."""
        return self.service.scheduler.clear_errors()

    async def lifecycle_check(self) -> LifecycleCheck:
        """Run the lifecycle check now."""
        return msgspec.convert(await self.service.lifecycle.check(), LifecycleCheck)

    async def register_lifecycle_webhook(self, body: bytes) -> tuple[LifecycleWebhook, str]:
        """Register a lifecycle receiver."""
        record, secret = await self.service.lifecycle.register_webhook(body)
        return msgspec.convert(record, LifecycleWebhook), secret

    def lifecycle_webhooks(self) -> list[LifecycleWebhook]:
        """Lifecycle receivers."""
        return msgspec.convert(self.service.lifecycle.list_webhooks(), list[LifecycleWebhook])

    def remove_lifecycle_webhook(self, webhook_id: str) -> bool:
        """Remove a lifecycle receiver."""
        return self.service.lifecycle.remove_webhook(webhook_id)

    def dead_letters(self, endpoint_id: str | None, limit: int) -> list[DeadLetterOut]:
        """Webhook dead letters, oldest first (bodies as text)."""
        letters = self.service.webhooks.dead_letters(endpoint_id)[:limit]
        return [
            DeadLetterOut(
                webhook_id=d.webhook_id, endpoint_id=d.endpoint_id,
                event_id=d.event_id, event_type=d.event_type, attempts=d.attempts,
                last_status=d.last_status, last_error=d.last_error,
                reason=str(d.reason), dead_at_ms=int(d.dead_at * 1000),
                body=d.body.decode("utf-8", "replace"),
            )
            for d in letters
        ]  # fmt: skip

    def replay_dead_letter(self, webhook_id: str) -> None:
        """Queue a dead letter again."""
        self.service.webhooks.replay(webhook_id)
