"""The composition root: builds every component, starts each in one nursery, shuts down.

run_service(cfg) ─┬─ writers (one per table)           storage.writers      (outer nursery)
                  └─┬─ simulator (with --simulate)     polymarket.simulator (inner nursery)
                    ├─ shard-0 … shard-N (connections) service.shards + polymarket.feed
                    ├─ resync                          service.resync
                    ├─ webhooks                        webhooks.delivery (alerts, lifecycle)
                    ├─ lifecycle                       service.lifecycle (WS new/resolved events,
                    │                                  new markets' retries)
                    ├─ cron                            service.scheduler: metadata_refresh,
                    │                                  snapshots, lifecycle_check
                    ├─ bootstrap                       polymarket.gamma (+ market_metadata rows)
                    └─ http                            web.app under hypercorn

Shutdown: stop HTTP and cancel the inner nursery (no more intake), hand the shards' last rows
to the writers, close their channels and give them `service.shutdown_grace_secs` to insert;
whatever is still in memory after that is journaled under data_dir before the process exits.
The run marker (service/runstate.py) is marked clean only then; an unclean stop shows at the
next start as a `restart` gap on every asset.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio
import trio.lowlevel
from hypercorn.config import Config as HypercornConfig

from polymon.config import Config
from polymon.core.model import AssetMeta, BookView, GapEvent
from polymon.core.shard import Policy, ShardState
from polymon.core.triggers import Trigger, TriggerEvent
from polymon.errors import VenueError
from polymon.polymarket.feed import FeedActivity
from polymon.polymarket.gamma import GammaMarket, PageSink, asset_metas, fetch_active_markets
from polymon.polymarket.recording.records import RunInfo
from polymon.polymarket.recording.writer import Recorder
from polymon.polymarket.schemas import MarketResolved, NewMarket
from polymon.service.alerts import Alerts, delivery_params
from polymon.service.api import ServiceApi
from polymon.service.census import Census
from polymon.service.lifecycle import Lifecycle
from polymon.service.lifecycle_hooks import LifecycleWebhooks
from polymon.service.market_index import MarketIndex
from polymon.service.notify import Notifier, extending, service_pulse, supervise
from polymon.service.records import metadata_row
from polymon.service.resync import Resyncer
from polymon.service.runstate import RestartGap, RunState
from polymon.service.scheduler import Scheduler
from polymon.service.shards import (
    FLUSH_INTERVAL_SECS,
    OpenPacer,
    Shard,
    Sinks,
    Tagged,
    flush_every,
    shard_of,
    wall_us,
)
from polymon.service.snapshots import Snapshotter
from polymon.service.status import shards_status, subscriptions
from polymon.storage.rows import METADATA, MetadataRow
from polymon.storage.store import Store, migrate_until_ready, open_store
from polymon.storage.writers import WriterSet
from polymon.web.app import create_app
from polymon.web.events import EventBuffer
from polymon.web.keys import KeyStore
from polymon.web.server import serve
from polymon.webhooks.delivery import WebhookDelivery
from polymon.webhooks.ssrf import UrlPolicy

log = logging.getLogger("polymon")
_GAP_LOG_SIZE = 10_000
_RESYNC_QUEUE = 1_000


def policy_from(cfg: Config) -> Policy:
    """The core's integrity policy from the integrity config section."""
    i = cfg.integrity
    return Policy(
        mode=i.mode,
        hash_mode=i.hash_mode,
        hash_recipe=i.hash_recipe,
        hash_timestamp_slack_ms=i.hash_timestamp_slack_ms,
        resync_min_interval_secs=i.resync_min_interval_secs,
        resync_buffer_messages=i.resync_buffer_messages,
        stale_after_secs=i.stale_after_secs,
    )


class Service:
    """The running engine: shards, resync, gap log, market life cycle, scheduled jobs. Also
    the read side the web layer uses."""

    def __init__(
        self,
        cfg: Config,
        http: httpx.AsyncClient,
        *,
        writers: WriterSet | None = None,
        events: EventBuffer | None = None,
        webhooks: WebhookDelivery | None = None,
        seed: int | None = None,
        restart_gap: RestartGap | None = None,
    ) -> None:
        self.cfg = cfg
        self.restart_gap = restart_gap  # opened on the assets of the first bootstrap
        self.http = http
        self.writers = writers
        self.activity = FeedActivity()
        resync_send, resync_recv = trio.open_memory_channel[Tagged[str]](_RESYNC_QUEUE)
        send = writers.send if writers is not None else {}
        self.sinks = Sinks.by_table(send, resync=resync_send)
        self.gap_log: deque[GapEvent] = deque(maxlen=_GAP_LOG_SIZE)
        self._owner: dict[str, int] = {}  # asset id -> shard index
        self._markets = MarketIndex()
        rng = random.Random(seed)
        policy = policy_from(cfg)
        self.recorder = recorder_from(cfg, policy) if cfg.record.enabled else None
        pm = cfg.polymarket
        pacer = OpenPacer(pm.connection_open_batch, pm.connection_stagger_secs)
        self.shards = [
            Shard(
                i,
                cfg,
                policy,
                self.sinks,
                activity=self.activity,
                lifecycle=self._on_lifecycle,
                rng=random.Random(rng.random()),
                gap_log=self.gap_log,
                on_fired=self._deliver_fired,
                recorder=self.recorder,
                pacer=pacer,
            )
            for i in range(cfg.polymarket.shards)
        ]
        data_dir = Path(cfg.service.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.events = events or EventBuffer(
            cfg.webhooks.event_buffer_size, cfg.webhooks.sse_client_queue
        )
        self.webhooks = webhooks or WebhookDelivery(
            delivery_params(cfg.webhooks), data_dir / "webhooks"
        )
        self.alerts = Alerts(
            data_dir, cfg.webhooks, place=self._place_trigger, unplace=self._unplace_trigger,
            market_of=self._market_of, binary_markets=self._binary_markets, events=self.events,
            webhooks=self.webhooks,
        )  # fmt: skip
        self._trigger_shard: dict[str, int] = {}
        self.resyncer = Resyncer(cfg, http, self.state_of, resync_recv, recorder=self.recorder)
        self.lifecycle_events: Counter[str] = Counter()
        self.bootstrapped = trio.Event()
        self.bootstrap_error = ""
        url_policy = UrlPolicy(cfg.webhooks.allow_private, frozenset(cfg.webhooks.allowed_ports))
        self.lifecycle = Lifecycle(
            cfg, http, self, LifecycleWebhooks(data_dir, self.webhooks, url_policy),
            ready=self.bootstrapped.is_set,
            store_rows=self._store_metadata if writers is not None else None,
        )  # fmt: skip
        self.scheduler = Scheduler()
        stored = writers is not None  # refresh and snapshots only feed storage
        self.scheduler.add(
            "metadata_refresh", cfg.polymarket.metadata_refresh_secs if stored else 0,
            self.refresh_metadata,
        )  # fmt: skip
        self.snapshots = Snapshotter(self.shards, cfg.storage)
        self.census = Census(self.shards)
        self.scheduler.add(
            "snapshots", cfg.storage.snapshot_interval_secs if stored else 0, self.snapshots.run
        )
        self.scheduler.add(
            "lifecycle_check", cfg.lifecycle.poll_interval_secs, self.lifecycle.check_job
        )

    def shard_for(self, asset_id: str) -> Shard:
        """The shard that owns `asset_id`: chosen by its market (condition id), so both
        tokens of a market share a shard (arbitrage triggers see both books); O(1)."""
        index = self._owner.get(asset_id)
        if index is None:
            index = shard_of(asset_id, len(self.shards))
        return self.shards[index]

    def _place_trigger(self, trigger: Trigger) -> None:
        spec = trigger.spec
        index = self._owner.get(spec.asset_id)
        if index is None:
            index = shard_of(spec.condition_id or spec.asset_id, len(self.shards))
        self.shards[index].add_trigger(trigger)
        self._trigger_shard[trigger.trigger_id] = index

    def _unplace_trigger(self, trigger: Trigger) -> None:
        index = self._trigger_shard.pop(trigger.trigger_id, None)
        if index is not None:
            self.shards[index].remove_trigger(trigger.trigger_id)

    def _market_of(self, asset_id: str) -> str | None:
        state = self.state_of(asset_id).assets.get(asset_id)
        return state.market if state is not None else None

    def _binary_markets(self) -> dict[str, tuple[str, str]]:
        """Tracked markets with exactly two tokens: condition id -> (YES, NO) by outcome order
        ("Yes" first when named, else the order Gamma listed them)."""
        tokens: dict[str, list[tuple[str, str]]] = {}
        for shard in self.shards:
            for asset_id, state in shard.state.assets.items():
                if state.market:
                    tokens.setdefault(state.market, []).append((state.outcome, asset_id))
        out = {}
        for market, pair in tokens.items():
            if len(pair) == 2:
                pair.sort(key=lambda p: (p[0].lower() != "yes", p[0]))
                out[market] = (pair[0][1], pair[1][1])
        return out

    def _deliver_fired(self, events: list[TriggerEvent]) -> None:
        self.alerts.deliver(events)

    def state_of(self, asset_id: str) -> ShardState:
        """The ShardState that owns `asset_id`."""
        return self.shard_for(asset_id).state

    async def subscribe(self, metas: Iterable[AssetMeta], *, gap: RestartGap | None = None) -> int:
        """Track and subscribe tokens on their shards (with `gap`, opened on each new one
        before it is subscribed); returns how many were new."""
        by_shard: dict[int, list[AssetMeta]] = {}
        for meta in metas:
            index = self._owner.get(meta.asset_id)
            if index is None:
                index = shard_of(meta.market or meta.asset_id, len(self.shards))
                self._owner[meta.asset_id] = index
                self._markets.add(meta.asset_id, meta.market)
            by_shard.setdefault(index, []).append(meta)
        added = 0
        for index, group in sorted(by_shard.items()):
            added += await self.shards[index].add(group, gap=gap)
        return added

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Unsubscribe tokens and drop their books."""
        by_shard: dict[int, list[str]] = {}
        for asset_id in asset_ids:
            index = self._owner.pop(asset_id, None)
            if index is not None:
                self._markets.remove(asset_id)
                by_shard.setdefault(index, []).append(asset_id)
        for index, group in sorted(by_shard.items()):
            await self.shards[index].remove(group)

    # -- lifecycle.Tracker -----------------------------------------------------------------
    def tracks(self, asset_id: str) -> bool:
        """Whether a token is tracked; O(1)."""
        return asset_id in self._owner

    def has_book(self, asset_id: str) -> bool:
        """Whether a tracked token has received a book snapshot since it was subscribed."""
        state = self.state_of(asset_id).assets.get(asset_id)
        return state is not None and state.timestamp_ms > 0

    def tracked_markets(self) -> Mapping[str, Sequence[str]]:
        """Every tracked market: condition id -> its tracked token ids; O(1) (a live index)."""
        return self._markets.markets

    async def bootstrap(self) -> int:
        """Subscribe every active, open market from Gamma (capped by polymarket.max_markets),
        spread over the shards by market, page by page as the listing arrives (the first
        books are live while later pages load); returns how many tokens were new."""
        done = self.lifecycle.state.done  # resolved while Gamma may still list them as open
        gap = self.restart_gap  # an unclean stop's downtime: opened on every new asset
        added = 0

        async def subscribe_page(page: list[GammaMarket]) -> None:
            nonlocal added
            new = (m for m in asset_metas(page) if m.market not in done)
            added += await self.subscribe(new, gap=gap)

        markets = await self._fetch_markets(subscribe_page)
        self.restart_gap = None  # a later bootstrap's new assets were not down
        log.info("bootstrap: %d markets, %d new tokens", len(markets), added)
        return added

    # -- read side (web.app.BookSource) -----------------------------------------------------
    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset."""
        return self.state_of(asset_id).view(asset_id, trio.current_time(), depth)

    def health(self) -> dict[str, Any]:
        """Counts for /health: tracked assets, open connections, fresh books."""
        statuses = self.census.totals()  # as of its last pass: no walk over every asset here
        conns = [c for s in self.shards for c in s.connections]
        return {
            "assets": sum(len(s.state.assets) for s in self.shards),
            "books": {status: n for status, n in statuses.items() if n},
            "connections": len(conns),
            "connections_open": sum(c.state == "open" for c in conns),
            "bootstrapped": self.bootstrapped.is_set(),
            "bootstrap_error": self.bootstrap_error,
            "storage": self.storage_health(),
            "lifecycle": self.lifecycle.status(),
            "recording": self.recorder.status() if self.recorder else {"enabled": False},
        }

    def subscriptions(self) -> dict[str, Any]:
        """For /health/subscriptions: per shard its assets, markets, connections (state and
        asset count) and books by status; and the totals."""
        return subscriptions(self.shards, self.census.read())

    def shards_status(self) -> dict[str, Any]:
        """For /shards/status: per shard its frames, invalid frames by reason, keepalives,
        messages, triggers, the age of its last frame, gap/resync counters, its outputs and
        each connection's history; and the REST resync counters."""
        return shards_status(self.shards, self.resyncer, trio.current_time())

    def storage_health(self) -> dict[str, Any]:
        """Writer counters per table, and rows the shards could not hand over."""
        if self.writers is None:
            return {"enabled": False}
        dropped = sum(
            counts["dropped"] for shard in self.shards for counts in shard.sinks.counts().values()
        )
        return {
            "enabled": True,
            "unavailable": self.writers.unavailable,
            "sink_rows_dropped": dropped,
            "tables": self.writers.stats(),
        }

    # -- tasks ------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run shards, the resync scheduler and the gap consumer until cancelled."""
        async with trio.open_nursery() as nursery:
            if self.recorder is not None:  # first: the shards' first frames are recorded
                await nursery.start(self.recorder.run, name="recorder")
            for shard in self.shards:
                await nursery.start(partial(shard.run, flush=False), name=f"shard-{shard.index}")
            nursery.start_soon(flush_every, self.shards, name="shards-flush")
            await nursery.start(self.resyncer.run, name="resync")
            await nursery.start(self.census.run, name="census")
            await nursery.start(self.webhooks.run, name="webhooks")
            loaded = self.alerts.load()
            if loaded:
                log.info("triggers: %d loaded", loaded)
            hooks = self.lifecycle.hooks.load()
            if hooks:
                log.info("lifecycle webhooks: %d loaded", hooks)
            await nursery.start(self.lifecycle.run, name="lifecycle")
            await nursery.start(self.scheduler.run, name="cron")
            task_status.started()

    def flush(self) -> None:
        """Hand every shard's pending rows to the sinks now (used at shutdown)."""
        for shard in self.shards:
            shard.flush()

    async def refresh_metadata(self) -> int:
        """Fetch every active market from Gamma into market_metadata; returns the count."""
        count = len(await self._fetch_markets())
        log.info("metadata refresh: %d markets", count)
        return count

    async def _fetch_markets(self, on_page: PageSink | None = None) -> list[GammaMarket]:
        """Every active, open market from Gamma, queued for market_metadata page by page (and
        handed to `on_page`) as the listing arrives."""
        pm = self.cfg.polymarket

        async def page_done(page: list[GammaMarket]) -> None:
            now_us = wall_us()
            self._store_metadata([metadata_row(m, now_us) for m in page])
            if on_page is not None:
                await on_page(page)

        markets = await fetch_active_markets(
            self.http, pm.gamma_url, page_limit=pm.gamma_page_limit, max_markets=pm.max_markets,
            on_page=page_done,
        )  # fmt: skip
        await self.lifecycle.remember(markets)
        return markets

    def _store_metadata(self, rows: list[MetadataRow]) -> None:
        if self.writers is not None:
            self.writers.put(METADATA, rows)

    async def run_bootstrap(self) -> None:
        """Bootstrap from Gamma, retrying with backoff until it succeeds."""
        delay = 1.0
        while True:
            try:
                await self.bootstrap()
            except VenueError as e:
                self.bootstrap_error = str(e)
                log.warning("bootstrap failed, retrying in %.0f s: %s", delay, e)
                await trio.sleep(delay)
                delay = min(delay * 2, 60.0)
            else:
                self.bootstrap_error = ""
                self.bootstrapped.set()
                return

    def _on_lifecycle(self, event: NewMarket | MarketResolved) -> None:
        self.lifecycle_events[type(event).__name__] += 1
        self.lifecycle.on_event(event)


def recorder_from(cfg: Config, policy: Policy) -> Recorder:
    """The feed recorder of the [record] section, for a new run under `policy`."""
    from polymon import __version__

    info = RunInfo(run_id=os.urandom(4).hex(), started_ns=time.time_ns(), policy=policy,
                   max_frame_bytes=cfg.polymarket.max_frame_bytes, version=__version__)  # fmt: skip
    return Recorder(cfg.record, cfg.recording_dir, info)


class Shutdown:
    """A stop request: when it came, and the grace the writers get from then on (cut short
    by a second request)."""

    def __init__(self) -> None:
        self.requested = trio.Event()
        self.at = math.inf
        self._grace = trio.CancelScope()

    def request(self) -> None:
        """Ask for a clean shutdown; asked again, end the writers' grace now."""
        if self.requested.is_set():
            self._grace.cancel()
            return
        self.at = trio.current_time()
        self.requested.set()

    async def grace(self, seconds: float, done: trio.Event) -> None:
        """Wait for `done`, at most until `seconds` after the request (or a second one)."""
        self._grace.deadline = self.at + seconds
        with self._grace:
            await done.wait()


class Running:
    """Handle to a started service (for the CLI and tests)."""

    def __init__(self, service: Service, http_url: str, shutdown: Shutdown) -> None:
        self.service = service
        self.http_url = http_url
        self._shutdown = shutdown
        self.simulator: Any = None

    def stop(self) -> None:
        """Begin a clean shutdown; called again, stop waiting for the writers' flush (what
        they hold is journaled at once)."""
        self._shutdown.request()


def _now(now_us: int) -> int:
    return now_us


async def _hand_over_restart_gaps(service: Service, run_state: RunState) -> None:
    """Tell the run marker when the bootstrap's restart gaps have reached the writers (the
    shards flush them within their flush interval)."""
    await service.bootstrapped.wait()
    await trio.sleep(2 * FLUSH_INTERVAL_SECS)
    run_state.handed_over(wall_us())


def _hypercorn_config(cfg: Config) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"{cfg.http.host}:{cfg.http.port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("polymon.http")
    hc.graceful_timeout = 1.0
    return hc


async def run_service(
    cfg: Config,
    *,
    simulate: bool = False,
    bootstrap: bool = True,
    notifier: Notifier | None = None,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run polymon until `Running.stop()` (or cancellation); report readiness with the handle,
    and to systemd through `notifier` (default: from $NOTIFY_SOCKET)."""
    notifier = Notifier.from_environ() if notifier is None else notifier
    store = open_store(cfg.storage_url, cfg.storage) if cfg.storage.enabled else None
    writers = None
    run_id = f"{time.time_ns() // 1000:x}"  # stamped on every row of this run
    run_state = RunState(Path(cfg.service.data_dir), run_id, wall_us())
    shutdown = Shutdown()
    try:
        async with trio.open_nursery() as outer:
            if store is not None:
                if store.url.startswith("chdb://"):
                    async with extending(notifier, "starting: applying schema migrations"):
                        await migrate_until_ready(
                            store
                        )  # fails fast and clearly if the directory is locked
                else:
                    outer.start_soon(migrate_until_ready, store, name="migrate")
                writers = WriterSet(store, cfg.storage, Path(cfg.service.data_dir), run_id=run_id)
                await outer.start(writers.run, name="writers")
            service = await _run_until_stopped(
                cfg,
                store,
                writers,
                simulate,
                bootstrap,
                run_state,
                shutdown,
                task_status,
                notifier,
            )
            service.flush()
            if writers is not None:
                writers.close_intake()  # with ClickHouse down they journal and end at once
                await shutdown.grace(cfg.service.shutdown_grace_secs, writers.done)
            outer.cancel_scope.cancel()  # writers journal whatever is left
    finally:
        if store is not None:
            store.close()
        notifier.close()
        if writers is None or writers.done.is_set():
            run_state.finish(wall_us())  # every row is stored or journaled


async def _run_until_stopped(
    cfg: Config,
    store: Store | None,
    writers: WriterSet | None,
    simulate: bool,
    bootstrap: bool,
    run_state: RunState,
    shutdown: Shutdown,
    task_status: trio.TaskStatus[Running],
    notifier: Notifier,
) -> Service:
    async with trio.open_nursery() as nursery:
        simulator = None
        if simulate:
            from polymon.polymarket.simulator.server import run_simulator

            simulator = await nursery.start(run_simulator, cfg.simulator, name="simulator")
            log.info("simulated exchange on %s", simulator.http_url)
            cfg = msgspec.structs.replace(
                cfg,
                polymarket=msgspec.structs.replace(
                    cfg.polymarket,
                    ws_url=simulator.ws_url,
                    clob_url=simulator.http_url,
                    gamma_url=simulator.http_url,
                ),
            )
        async with httpx.AsyncClient(timeout=cfg.polymarket.http_timeout_secs) as http:
            events = EventBuffer(
                cfg.webhooks.event_buffer_size, cfg.webhooks.sse_client_queue,
                first_id=run_state.first_event_id(wall_us()),
            )  # fmt: skip
            service = Service(
                cfg, http, writers=writers, events=events, restart_gap=run_state.restart_gap()
            )
            await nursery.start(service.run, name="service")
            durable = writers.durable_through_us if writers is not None else _now
            nursery.start_soon(run_state.keep, durable, lambda: events.next_id - 1,
                               name="run-marker")  # fmt: skip
            nursery.start_soon(_hand_over_restart_gaps, service, run_state, name="restart-gaps")
            stop = shutdown.requested

            async def shutdown_trigger() -> None:
                await stop.wait()
                service.events.close()  # end SSE streams now, not after hypercorn's grace

            app = create_app(
                ServiceApi(service, store, cfg), service.events, triggers=service.alerts,
                keys=KeyStore(Path(cfg.service.data_dir)), http=cfg.http,
                heartbeat_secs=cfg.webhooks.sse_heartbeat_secs,
            )  # fmt: skip
            binds = await nursery.start(
                partial(serve, app, _hypercorn_config(cfg), shutdown_trigger=shutdown_trigger),
                name="http",
            )
            if bootstrap:
                nursery.start_soon(service.run_bootstrap, name="bootstrap")
            pulse = service_pulse(
                service.shards, service.census.totals, writers, service.bootstrapped,
                lambda: service.bootstrap_error,
            )  # fmt: skip
            nursery.start_soon(supervise, notifier, pulse, name="systemd")
            running = Running(service, binds[0], shutdown)
            running.simulator = simulator
            task_status.started(running)
            await stop.wait()
            notifier.stopping()
            nursery.cancel_scope.cancel()
    return service
