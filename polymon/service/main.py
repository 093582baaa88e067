"""The composition root: builds every component, starts each in one nursery, shuts down.

run_service(cfg) ─┬─ simulator (with --simulate)       polymarket.simulator
                  ├─ shard-0 … shard-N (connections)  service.shards + polymarket.feed
                  ├─ resync                           service.resync
                  ├─ gaps                             (storage persists them)
                  ├─ bootstrap                        polymarket.gamma
                  └─ http                             web.app under hypercorn
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Iterable
from functools import partial
from typing import Any

import httpx
import msgspec
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from polymon.config import Config
from polymon.core.model import AssetMeta, BookView, GapEvent
from polymon.core.shard import Policy, ShardState
from polymon.errors import VenueError
from polymon.polymarket.feed import FeedActivity
from polymon.polymarket.gamma import asset_metas, fetch_active_markets
from polymon.polymarket.schemas import MarketResolved, NewMarket
from polymon.service.resync import Resyncer
from polymon.service.shards import Shard, Sinks, shard_of
from polymon.web.app import create_app

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
    """The running engine: shards, resync, gap log. Also the read side the web layer uses."""

    def __init__(self, cfg: Config, http: httpx.AsyncClient, *, seed: int | None = None) -> None:
        self.cfg = cfg
        self.http = http
        self.activity = FeedActivity()
        gap_send, self._gap_recv = trio.open_memory_channel[list[GapEvent]](
            cfg.storage.gap_channel_size
        )
        resync_send, resync_recv = trio.open_memory_channel[list[str]](_RESYNC_QUEUE)
        self.sinks = Sinks(gaps=gap_send, resync=resync_send)
        rng = random.Random(seed)
        policy = policy_from(cfg)
        self.shards = [
            Shard(
                i,
                cfg,
                policy,
                self.sinks,
                activity=self.activity,
                lifecycle=self._on_lifecycle,
                rng=random.Random(rng.random()),
            )
            for i in range(cfg.polymarket.shards)
        ]
        self.resyncer = Resyncer(cfg, http, self.state_of, resync_recv)
        self.gap_log: deque[GapEvent] = deque(maxlen=_GAP_LOG_SIZE)
        self.lifecycle_events: Counter[str] = Counter()
        self.bootstrapped = trio.Event()
        self.bootstrap_error = ""

    def shard_for(self, asset_id: str) -> Shard:
        """The shard that owns `asset_id` (stable across restarts)."""
        return self.shards[shard_of(asset_id, len(self.shards))]

    def state_of(self, asset_id: str) -> ShardState:
        """The ShardState that owns `asset_id`."""
        return self.shard_for(asset_id).state

    async def subscribe(self, metas: Iterable[AssetMeta]) -> int:
        """Track and subscribe tokens on their shards; returns how many were new."""
        by_shard: dict[int, list[AssetMeta]] = {}
        for meta in metas:
            by_shard.setdefault(shard_of(meta.asset_id, len(self.shards)), []).append(meta)
        added = 0
        for index, group in sorted(by_shard.items()):
            added += await self.shards[index].add(group)
        return added

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Unsubscribe tokens and drop their books."""
        by_shard: dict[int, list[str]] = {}
        for asset_id in asset_ids:
            by_shard.setdefault(shard_of(asset_id, len(self.shards)), []).append(asset_id)
        for index, group in sorted(by_shard.items()):
            await self.shards[index].remove(group)

    async def bootstrap(self) -> int:
        """Subscribe every active, open market from Gamma (capped by polymarket.max_markets)."""
        pm = self.cfg.polymarket
        markets = await fetch_active_markets(
            self.http, pm.gamma_url, page_limit=pm.gamma_page_limit, max_markets=pm.max_markets
        )
        added = await self.subscribe(asset_metas(markets))
        log.info("bootstrap: %d markets, %d new tokens", len(markets), added)
        return added

    # -- read side (web.app.BookSource) -----------------------------------------------------
    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset."""
        return self.state_of(asset_id).view(asset_id, trio.current_time(), depth)

    def health(self) -> dict[str, Any]:
        """Counts for /health: tracked assets, open connections, fresh books."""
        now = trio.current_time()
        statuses: Counter[str] = Counter()
        for shard in self.shards:
            for state in shard.state.assets.values():
                statuses[shard.state.status(state, now)] += 1
        conns = [c for s in self.shards for c in s.connections]
        return {
            "assets": sum(statuses.values()),
            "books": dict(statuses),
            "connections": len(conns),
            "connections_open": sum(c.state == "open" for c in conns),
            "bootstrapped": self.bootstrapped.is_set(),
            "bootstrap_error": self.bootstrap_error,
        }

    # -- tasks ------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run shards, the resync scheduler and the gap consumer until cancelled."""
        async with trio.open_nursery() as nursery:
            for shard in self.shards:
                await nursery.start(partial(shard.run), name=f"shard-{shard.index}")
            await nursery.start(self.resyncer.run, name="resync")
            nursery.start_soon(self._consume_gaps, name="gaps")
            task_status.started()

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

    async def _consume_gaps(self) -> None:
        async with self._gap_recv:
            async for batch in self._gap_recv:
                self.gap_log.extend(batch)


class Running:
    """Handle to a started service (for the CLI and tests)."""

    def __init__(self, service: Service, http_url: str, stop: trio.Event) -> None:
        self.service = service
        self.http_url = http_url
        self._stop = stop
        self.simulator: Any = None

    def stop(self) -> None:
        """Begin a clean shutdown."""
        self._stop.set()


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
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run polymon until `Running.stop()` (or cancellation); report readiness with the handle."""
    async with trio.open_nursery() as nursery:
        simulator = None
        if simulate:
            from polymon.polymarket.simulator.server import run_simulator

            simulator = await nursery.start(run_simulator, cfg.simulator, name="simulator")
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
            service = Service(cfg, http)
            await nursery.start(service.run, name="service")
            stop = trio.Event()
            binds = await nursery.start(
                partial(
                    serve, create_app(service), _hypercorn_config(cfg), shutdown_trigger=stop.wait
                ),
                name="http",
            )
            if bootstrap:
                nursery.start_soon(service.run_bootstrap, name="bootstrap")
            running = Running(service, binds[0], stop)
            running.simulator = simulator
            task_status.started(running)
            await stop.wait()
            nursery.cancel_scope.cancel()
