"""The composition root: builds every component, starts each in one nursery, shuts down.

run_service(cfg) ─┬─ writers (one per table)           storage.writer_set   (outer nursery)
                  └─┬─ simulator (with --simulate)     polymarket.simulator (inner nursery)
                    ├─ shard-0 … shard-N (connections) service.shards + polymarket.feed
                    ├─ resync                          service.resync
                    ├─ webhooks                        webhooks.delivery (alerts, lifecycle)
                    ├─ lifecycle                       service.lifecycle (WS new/resolved events,
                    │                                  new markets' retries)
                    ├─ cron                            service.scheduler: metadata_refresh,
                    │                                  snapshots, lifecycle_check
                    ├─ bootstrap                       service.bootstrap (+ market_metadata rows)
                    └─ http                            service.http: web.app under hypercorn

Shutdown: stop HTTP and cancel the inner nursery (no more intake), hand the shards' last rows
to the writers, close their channels and give them `service.shutdown_grace_secs` to insert;
whatever is still in memory after that is journaled under data_dir before the process exits.
The run marker (service/runstate.py) is marked clean only then; an unclean stop shows at the
next start as a `restart` gap on every asset.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.lowlevel

from polymon.clock import wall_us
from polymon.config import Config
from polymon.core.model import BookView
from polymon.core.shard import Policy, ShardState
from polymon.core.triggers import TriggerEvent
from polymon.polymarket.feed import FeedActivity
from polymon.polymarket.recording.records import RunInfo
from polymon.polymarket.recording.writer import Recorder
from polymon.polymarket.schemas import MarketResolved, NewMarket
from polymon.service.alerts import Alerts, delivery_params
from polymon.service.bootstrap import Bootstrap
from polymon.service.census import Census
from polymon.service.handle import Running, Shutdown
from polymon.service.http import start_http
from polymon.service.lifecycle import Lifecycle
from polymon.service.lifecycle.hooks import LifecycleWebhooks
from polymon.service.notify import Notifier, extending, service_pulse, supervise
from polymon.service.resync import Resyncer
from polymon.service.router import ShardRouter
from polymon.service.runstate import RestartGap, RunState
from polymon.service.scheduler import Scheduler
from polymon.service.shards import (
    FLUSH_INTERVAL_SECS,
    OpenPacer,
    Shard,
    Sinks,
    Tagged,
    flush_every,
)
from polymon.service.simulated import start_simulator
from polymon.service.snapshots import Snapshotter
from polymon.service.status import shards_status, storage_health, subscriptions
from polymon.storage.rows import METADATA, MetadataRow
from polymon.storage.store import Store, migrate_until_ready, open_store
from polymon.storage.writer_set import WriterSet
from polymon.web.events import EventBuffer
from polymon.webhooks.delivery import WebhookDelivery
from polymon.webhooks.ssrf import UrlPolicy

__all__ = ["Running", "Service", "policy_from", "recorder_from", "run_service"]

log = logging.getLogger("polymon")
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
    """The running engine, built from its parts: shards and the router that places tokens and
    triggers on them, resync, alerts, the market life cycle, the Gamma bootstrap, scheduled
    jobs. Also the read side the web layer uses (service.api)."""

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
        self.writers = writers
        self.activity = FeedActivity()
        resync_send, resync_recv = trio.open_memory_channel[Tagged[str]](_RESYNC_QUEUE)
        send = writers.send if writers is not None else {}
        self.sinks = Sinks.by_table(send, resync=resync_send)
        policy = policy_from(cfg)
        self.recorder = recorder_from(cfg, policy) if cfg.record.enabled else None
        self.shards = self._shards(policy, random.Random(seed))
        self.router = ShardRouter(self.shards)
        data_dir = Path(cfg.service.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.events = events or EventBuffer(
            cfg.webhooks.event_buffer_size, cfg.webhooks.sse_client_queue
        )
        self.webhooks = webhooks or WebhookDelivery(
            delivery_params(cfg.webhooks), data_dir / "webhooks"
        )
        self.alerts = Alerts(
            data_dir, cfg.webhooks, self.router, events=self.events, webhooks=self.webhooks
        )
        self.resyncer = Resyncer(
            cfg, http, self.router.state_of, resync_recv, recorder=self.recorder
        )
        self.lifecycle_events: Counter[str] = Counter()
        self.bootstrapped = trio.Event()
        url_policy = UrlPolicy(cfg.webhooks.allow_private, frozenset(cfg.webhooks.allowed_ports))
        self.lifecycle = Lifecycle(
            cfg, http, self.router, LifecycleWebhooks(data_dir, self.webhooks, url_policy),
            ready=self.bootstrapped.is_set,
            store_rows=self._store_metadata if writers is not None else None,
        )  # fmt: skip
        self.gamma = Bootstrap(
            cfg.polymarket, http, self.router, self.lifecycle, store_rows=self._store_metadata,
            done=self.bootstrapped, restart_gap=restart_gap,
        )  # fmt: skip
        self.snapshots = Snapshotter(self.shards, cfg.storage)
        self.census = Census(self.shards)
        self.scheduler = self._scheduler(stored=writers is not None)

    def _shards(self, policy: Policy, rng: random.Random) -> list[Shard]:
        cfg = self.cfg
        pm = cfg.polymarket
        pacer = OpenPacer(pm.connection_open_batch, pm.connection_stagger_secs)
        shards = []
        for i in range(pm.shards):
            shard = Shard(
                i, cfg, policy, self.sinks, activity=self.activity, lifecycle=self._on_lifecycle,
                rng=random.Random(rng.random()), on_fired=self._deliver_fired,
                recorder=self.recorder, pacer=pacer,
            )  # fmt: skip
            shards.append(shard)
        return shards

    def _scheduler(self, *, stored: bool) -> Scheduler:
        cfg = self.cfg
        scheduler = Scheduler()  # refresh and snapshots only feed storage
        scheduler.add(
            "metadata_refresh", cfg.polymarket.metadata_refresh_secs if stored else 0,
            self.gamma.refresh_metadata,
        )  # fmt: skip
        scheduler.add(
            "snapshots", cfg.storage.snapshot_interval_secs if stored else 0, self.snapshots.run
        )
        scheduler.add("lifecycle_check", cfg.lifecycle.poll_interval_secs, self.lifecycle.check_job)
        return scheduler

    def _deliver_fired(self, events: list[TriggerEvent]) -> None:
        self.alerts.deliver(events)

    def _on_lifecycle(self, event: NewMarket | MarketResolved) -> None:
        self.lifecycle_events[type(event).__name__] += 1
        self.lifecycle.on_event(event)

    def _store_metadata(self, rows: list[MetadataRow]) -> None:
        if self.writers is not None:
            self.writers.put(METADATA, rows)

    # -- delegations (the web layer, the bench and tests call these on the service) ---------
    def shard_for(self, asset_id: str) -> Shard:
        """The shard that owns `asset_id` (ShardRouter.shard_for); O(1)."""
        return self.router.shard_for(asset_id)

    def state_of(self, asset_id: str) -> ShardState:
        """The ShardState that owns `asset_id`; O(1)."""
        return self.router.state_of(asset_id)

    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset."""
        return self.router.book_view(asset_id, depth)

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Unsubscribe tokens and drop their books."""
        await self.router.unsubscribe(asset_ids)

    async def bootstrap(self) -> int:
        """Subscribe Gamma's active market set (Bootstrap.bootstrap); returns the new tokens."""
        return await self.gamma.bootstrap()

    async def run_bootstrap(self) -> None:
        """Bootstrap from Gamma, retrying with backoff until it succeeds."""
        await self.gamma.run()

    @property
    def bootstrap_error(self) -> str:
        """The last failed bootstrap attempt's error, "" once one succeeded."""
        return self.gamma.error

    # -- read side (web.app.BookSource) -----------------------------------------------------
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
        return storage_health(self.writers, self.shards)

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


def recorder_from(cfg: Config, policy: Policy) -> Recorder:
    """The feed recorder of the [record] section, for a new run under `policy`."""
    from polymon import __version__

    info = RunInfo(run_id=os.urandom(4).hex(), started_ns=time.time_ns(), policy=policy,
                   max_frame_bytes=cfg.polymarket.max_frame_bytes, version=__version__)  # fmt: skip
    return Recorder(cfg.record, cfg.recording_dir, info)


def _all_durable(now_us: int) -> int:
    """Without storage nothing waits for the writers: durable through `now_us`."""
    return now_us


async def _hand_over_restart_gaps(service: Service, run_state: RunState) -> None:
    """Tell the run marker when the bootstrap's restart gaps have reached the writers (the
    shards flush them within their flush interval)."""
    await service.bootstrapped.wait()
    await trio.sleep(2 * FLUSH_INTERVAL_SECS)
    run_state.handed_over(wall_us())


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
    run_id = f"{wall_us():x}"  # stamped on every row of this run
    run_state = RunState(Path(cfg.service.data_dir), run_id, wall_us())
    shutdown = Shutdown()
    try:
        async with trio.open_nursery() as outer:
            if store is not None:
                if store.url.startswith("chdb://"):
                    async with extending(notifier, "starting: applying schema migrations"):
                        # fails fast and clearly if the directory is locked
                        await migrate_until_ready(store)
                else:
                    outer.start_soon(migrate_until_ready, store, name="migrate")
                writers = WriterSet(store, cfg.storage, Path(cfg.service.data_dir), run_id=run_id)
                await outer.start(writers.run, name="writers")
            service = await _run_until_stopped(
                cfg, store, writers, simulate, bootstrap, run_state, shutdown, task_status, notifier
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
            simulator, cfg = await start_simulator(nursery, cfg)
        async with httpx.AsyncClient(timeout=cfg.polymarket.http_timeout_secs) as http:
            events = EventBuffer(
                cfg.webhooks.event_buffer_size, cfg.webhooks.sse_client_queue,
                first_id=run_state.first_event_id(wall_us()),
            )  # fmt: skip
            service = Service(
                cfg, http, writers=writers, events=events, restart_gap=run_state.restart_gap()
            )
            await nursery.start(service.run, name="service")
            durable = writers.durable_through_us if writers is not None else _all_durable
            nursery.start_soon(run_state.keep, durable, lambda: events.next_id - 1,
                               name="run-marker")  # fmt: skip
            nursery.start_soon(_hand_over_restart_gaps, service, run_state, name="restart-gaps")
            stop = shutdown.requested
            url = await start_http(nursery, service, store, cfg, stop)
            if bootstrap:
                nursery.start_soon(service.run_bootstrap, name="bootstrap")
            pulse = service_pulse(
                service.shards, service.census.totals, writers, service.bootstrapped,
                lambda: service.bootstrap_error,
            )  # fmt: skip
            nursery.start_soon(supervise, notifier, pulse, name="systemd")
            running = Running(service, url, shutdown)
            running.simulator = simulator
            task_status.started(running)
            await stop.wait()
            notifier.stopping()
            nursery.cancel_scope.cancel()
    return service
