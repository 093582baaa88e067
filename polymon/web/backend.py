"""What the HTTP layer needs from the running service, as Protocols.

The web package never imports the service, storage or polymarket packages (they are siblings
or above); `polymon.service.api.ServiceApi` implements these over the live Service and the
ClickHouse store. What they return are the read models of `polymon.web.models` (or core
types), the very Structs the routes encode, so the documented shape is the served one.
Methods raise `polymon.errors.RequestError` subclasses (BadRequest, NotFound) for what the
client did wrong and `StorageUnavailable` when history is unreachable; the app turns those
into JSON 4xx / 503.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from prometheus_client.registry import Collector

from polymon.core.activity import GapRecord, Trade
from polymon.core.backtest import BacktestResult, RecordingFile
from polymon.core.history import AssetTicks, MarketInfo, MarketPage, Ohlc, Quality, Stats24h
from polymon.core.model import BookView
from polymon.core.triggers import Trigger, TriggerSpec
from polymon.web.models.admin import Bootstrapped, CleanedUp, Migrated
from polymon.web.models.cron import CronHealth
from polymon.web.models.health import Check, HealthOut
from polymon.web.models.lifecycle import LifecycleCheck, LifecycleWebhook
from polymon.web.models.shards import DoMetrics, ShardsStatus, Subscriptions
from polymon.web.models.webhooks import DeadLetterOut


class Rows(Protocol):
    """A streamed export: the column names, then blocks of row tuples."""

    columns: tuple[str, ...]

    def __aiter__(self) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """Blocks of rows, read from storage as the response is written."""


class TriggerSource(Protocol):
    """The trigger registry."""

    async def register(self, body: bytes) -> tuple[Trigger, str]:
        """Validate and add a trigger; returns it and its webhook signing secret."""

    def remove(self, trigger_id: str) -> bool:
        """Remove a trigger; False if unknown."""

    def remove_all(self) -> int:
        """Remove every trigger; returns how many."""

    async def init_production(self) -> int:
        """Register the configured production trigger set; returns how many were created."""

    def listing(self) -> list[dict[str, object]]:
        """Every trigger, without secrets."""


class Backend(Protocol):
    """Everything else the routes read or do."""

    # -- live state (memory) ----------------------------------------------------------------
    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset, or None when it is not tracked."""

    def asset_info(self, asset_id: str) -> tuple[str, str] | None:
        """(condition id, outcome) of a tracked asset, else None."""

    def health(self) -> HealthOut:
        """The /health summary."""

    def subscriptions(self) -> Subscriptions:
        """Per-shard asset counts and connection states."""

    def shards_status(self) -> ShardsStatus:
        """Per-shard detail: frames, errors, books, triggers, resyncs."""

    def shard_metrics(self) -> DoMetrics:
        """Per-shard processing latency percentiles and trigger counts ({shards, totals})."""

    async def run_checks(self, names: list[str]) -> list[Check]:
        """Run the named diagnostics ("websocket", "clickhouse", ...), each timed."""

    def metrics_collector(self) -> Collector | None:
        """A prometheus_client collector of the service's counters, or None."""

    # -- history (ClickHouse) ---------------------------------------------------------------
    async def markets(
        self, *, limit: int, offset: int, active: bool | None, closed: bool | None
    ) -> MarketPage:
        """A page of markets from the metadata table."""

    async def search_markets(self, q: str, limit: int) -> list[MarketInfo]:
        """Markets whose question or slug contains `q`."""

    async def market_of_asset(self, asset_id: str) -> MarketInfo | None:
        """The market that lists `asset_id` among its tokens."""

    async def stats_24h(self, asset_id: str) -> Stats24h | None:
        """24 h statistics of one asset; None when storage is off."""

    async def ohlc(self, asset_id: str, interval: str, hours: float) -> Ohlc:
        """Mid-price candles."""

    async def export(
        self,
        asset_id: str | None,
        start_us: int,
        end_us: int,
        granularity: str,
        limit: int,
        interval: str,
    ) -> Rows:
        """A validated, streamed backtest export."""

    async def export_assets(self, min_ticks: int, hours: float, limit: int) -> list[AssetTicks]:
        """Assets with at least `min_ticks` ticks."""

    async def quality(self, asset_id: str, hours: float) -> Quality:
        """Data-quality metrics of one asset."""

    async def recent_trades(self, asset_id: str, limit: int, hours: float) -> list[Trade]:
        """The newest trades of one asset in the last `hours`, newest first."""

    async def gap_history(self, asset_id: str, limit: int, hours: float) -> list[GapRecord]:
        """The gaps of one asset overlapping the last `hours`, newest first."""

    # -- recordings and backtests -----------------------------------------------------------
    def recordings(self) -> tuple[bool, list[RecordingFile]]:
        """(whether recording is on, the recording files oldest first)."""

    async def backtest(
        self,
        spec: TriggerSpec,
        source: str,
        recordings: list[str] | None,
        start_us: int | None,
        end_us: int | None,
        max_events: int,
    ) -> BacktestResult:
        """Run `spec` over recordings or the stored BBO ticks (BadRequest / NotFound for what
        cannot be run, Unavailable past the deadline or without storage)."""

    # -- admin, lifecycle, webhooks ---------------------------------------------------------
    async def bootstrap_markets(self) -> Bootstrapped:
        """Subscribe every active market now."""

    async def migrate(self) -> Migrated:
        """Apply pending schema migrations."""

    async def cleanup_test_data(self, prefix: str, dry_run: bool) -> CleanedUp:
        """Drop tracked test assets and delete their stored rows."""

    def cron_health(self) -> CronHealth:
        """Scheduled jobs: last runs and recent errors."""

    def clear_cron_errors(self) -> int:
        """Forget recorded job errors; returns how many."""

    async def lifecycle_check(self) -> LifecycleCheck:
        """Run the market lifecycle check now."""

    async def register_lifecycle_webhook(self, body: bytes) -> tuple[LifecycleWebhook, str]:
        """Register a lifecycle receiver; returns it (no secret) and its signing secret."""

    def lifecycle_webhooks(self) -> list[LifecycleWebhook]:
        """Registered lifecycle receivers (no secrets)."""

    def remove_lifecycle_webhook(self, webhook_id: str) -> bool:
        """Remove a lifecycle receiver; False if unknown."""

    def dead_letters(self, endpoint_id: str | None, limit: int) -> list[DeadLetterOut]:
        """Webhook deliveries given up, oldest first."""

    def replay_dead_letter(self, webhook_id: str) -> None:
        """Queue a dead letter again (NotFound / BadRequest when it cannot be)."""
