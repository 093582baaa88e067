"""`Lifecycle`, what the service and the HTTP layer hold of the market life cycle.

WS `new_market` / `market_resolved` events arrive from the shards' hot path through a bounded
queue and are handled one at a time (lifecycle.discovery, lifecycle.resolution). `check()` is
one full pass of the Gamma poll (the `lifecycle_check` job and `POST /lifecycle/check`):
active markets not tracked yet are subscribed, tracked markets that left the active list and
unconfirmed resolutions are settled. `market.created` / `market.resolved` go to the lifecycle
webhooks (lifecycle.hooks) once per market.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final

import httpx
import trio

from polymon.clock import wall_ms
from polymon.config import Config
from polymon.errors import PolymonError, VenueError
from polymon.polymarket.gamma import GammaMarket, fetch_active_markets
from polymon.polymarket.schemas import MarketResolved, NewMarket
from polymon.service.lifecycle.discovery import SLICE_MARKETS, Discovery
from polymon.service.lifecycle.hooks import LifecycleWebhooks
from polymon.service.lifecycle.resolution import Resolution
from polymon.service.lifecycle.state import KnownMarket, MarketState, Tracker
from polymon.storage.rows import MetadataRow

log = logging.getLogger("polymon.lifecycle")

EVENT_QUEUE: Final = 1_000

LifecycleEvent = NewMarket | MarketResolved


class Lifecycle:
    """Discovery and resolution of markets, and the events they produce."""

    def __init__(
        self,
        cfg: Config,
        http: httpx.AsyncClient,
        tracker: Tracker,
        hooks: LifecycleWebhooks,
        *,
        ready: Callable[[], bool] = lambda: True,
        store_rows: Callable[[list[MetadataRow]], None] | None = None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.cfg = cfg
        self.http = http
        self.hooks = hooks
        self.ready = ready
        self.state = MarketState(tracker, hooks, store_rows=store_rows, clock_ms=clock_ms)
        self.counts = self.state.counts
        self.discovery = Discovery(cfg, http, self.state)
        self.resolution = Resolution(cfg, http, self.state)
        self._events_in, self._events = trio.open_memory_channel[LifecycleEvent](EVENT_QUEUE)
        self._lock = trio.Lock()  # one pass at a time: the poll, or a WS resolution's record
        self.last_check: dict[str, object] | None = None

    # -- webhooks (the HTTP layer's entry points) -------------------------------------------
    async def register_webhook(self, body: bytes) -> tuple[dict[str, object], str]:
        """Register a receiver of `market.created` / `market.resolved` from a JSON body
        `{"url", "events"?, "secret"?}`; returns it (without its secret) and its signing
        secret, shown only here. BadRequest / UnsafeUrl for bad input."""
        return await self.hooks.register(body)

    def list_webhooks(self) -> list[dict[str, object]]:
        """Every lifecycle receiver (id, url, events, created_at_ms), without secrets."""
        return self.hooks.listing()

    def remove_webhook(self, hook_id: str) -> bool:
        """Remove a lifecycle receiver; False if unknown."""
        return self.hooks.remove(hook_id)

    # -- running ----------------------------------------------------------------------------
    def on_event(self, event: LifecycleEvent) -> None:
        """Queue a WS life-cycle event (called from a shard's hot path: never blocks; counted
        and dropped when the queue is full)."""
        try:
            self._events_in.send_nowait(event)
        except trio.WouldBlock:
            self.counts["ws_events_dropped"] += 1

    async def remember(self, markets: Sequence[GammaMarket]) -> None:
        """Keep what the events say about the markets of a full Gamma listing (bootstrap,
        refresh, poll); markets that left it are forgotten unless pending or watched. Yields
        to the event loop every `SLICE_MARKETS` markets."""
        state = self.state
        info: dict[str, KnownMarket] = {}
        for start in range(0, len(markets), SLICE_MARKETS):
            if start:
                await trio.lowlevel.checkpoint()
            info.update(
                (m.condition_id, KnownMarket.of(m)) for m in markets[start : start + SLICE_MARKETS]
            )
        for cid in (*state.pending, *self.resolution.watch):
            if cid not in info and cid in state.info:
                info[cid] = state.info[cid]
        state.info = info

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Handle WS events and follow new markets until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._consume, nursery, name="lifecycle-events")
            nursery.start_soon(self.discovery.retry_loop, name="lifecycle-retries")
            task_status.started()

    async def _consume(self, nursery: trio.Nursery) -> None:
        async with self._events:
            async for event in self._events:
                try:
                    if isinstance(event, NewMarket):
                        await self.discovery.on_new_market(event)
                    elif await self.resolution.on_resolved(event):
                        # Recording waits for a poll in progress: not in this loop.
                        nursery.start_soon(self._record, event.market, name="lifecycle-record")
                except (PolymonError, OSError) as e:  # one bad event must not stop the others
                    self.counts["errors"] += 1
                    log.warning("lifecycle: %s event for %s: %s",
                                type(event).__name__, event.market[:80], e)  # fmt: skip

    async def _record(self, cid: str) -> None:
        # A WS resolution is recorded at once, on Gamma's data; a later poll confirms it.
        errors: list[str] = []
        async with self._lock:
            try:
                await self.resolution.settle([cid], Counter(), errors)
            except (PolymonError, OSError) as e:
                errors.append(str(e))
        if errors:
            self.counts["errors"] += len(errors)
            log.warning("lifecycle: recording %s: %s", cid[:18], errors[-1])

    # -- the poll ---------------------------------------------------------------------------
    async def check(self) -> dict[str, object]:
        """Run one full lifecycle pass now and return what it did.

        Subscribes active Gamma markets that are not tracked yet (once the service has
        bootstrapped), then settles tracked markets that left the active list and resolutions
        not yet confirmed. Returns `new`, `resolved`, `closed`, `confirmed`, `errors` (venue
        failures, counted, never raised) with the last `error`, `duration_ms`, and the
        `tracked_markets` / `pending` / `watched` sizes after the pass.
        """
        async with self._lock:
            start = trio.current_time()
            tally: Counter[str] = Counter()
            errors: list[str] = []
            tracker = self.state.tracker
            tracked = tracker.tracked_markets()
            candidates = set(self.resolution.watch)
            pm = self.cfg.polymarket
            try:
                active = await fetch_active_markets(
                    self.http, pm.gamma_url, page_limit=pm.gamma_page_limit,
                    max_markets=pm.max_markets,
                )  # fmt: skip
            except VenueError as e:
                errors.append(f"Gamma active markets: {e}")
            else:
                await self.remember(active)
                await self.discovery.discover(active, tracked, tally, subscribe=self.ready())
                await self._left(active, candidates)
            await self.resolution.settle(sorted(candidates), tally, errors)
            self.counts["checks"] += 1
            self.counts["check_errors"] += len(errors)
            for error in errors:
                log.warning("lifecycle check: %s", error)
            result: dict[str, object] = {
                "new": tally["new"], "resolved": tally["resolved"], "closed": tally["closed"],
                "confirmed": tally["confirmed"], "errors": len(errors),
                "error": errors[-1][:500] if errors else "",
                "duration_ms": round((trio.current_time() - start) * 1000, 3),
                "tracked_markets": len(tracker.tracked_markets()),
                "pending": len(self.state.pending), "watched": len(self.resolution.watch),
            }  # fmt: skip
            self.last_check = result
            return result

    async def _left(self, active: Sequence[GammaMarket], into: set[str]) -> None:
        """Add the tracked markets missing from an active listing to `into`, a slice of
        `SLICE_MARKETS` at a time (the listing is the whole venue)."""
        active_ids: set[str] = set()
        for start in range(0, len(active), SLICE_MARKETS):
            await trio.lowlevel.checkpoint()
            active_ids.update(m.condition_id for m in active[start : start + SLICE_MARKETS])
        tracked = list(self.state.tracker.tracked_markets())  # as of now, not before the listing
        for start in range(0, len(tracked), SLICE_MARKETS):
            await trio.lowlevel.checkpoint()
            into.update(c for c in tracked[start : start + SLICE_MARKETS] if c not in active_ids)

    async def check_job(self) -> dict[str, object]:
        """`check()` as a scheduled job: its counts, or VenueError when the venue failed any
        part of the pass (so the run is recorded as failed)."""
        result = await self.check()
        if result["errors"]:
            raise VenueError(f"{result['errors']} venue failure(s), the last: {result['error']}")
        return result

    def status(self) -> dict[str, object]:
        """Counters and sizes for /health: events, discoveries, resolutions, retries."""
        return {
            "counts": dict(self.counts), "pending": len(self.state.pending),
            "watched": len(self.resolution.watch), "webhooks": len(self.hooks.hooks),
            "webhook_events_submitted": self.hooks.submitted, "last_check": self.last_check,
        }  # fmt: skip
