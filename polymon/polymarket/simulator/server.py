"""The simulated exchange as a service: Gamma, CLOB REST and the market WebSocket on one port.

`run_simulator` serves a Quart-Trio app under Hypercorn in the caller's nursery and hands back
a `Simulator` through `task_status.started`. A generator task steps the `Exchange` at
`rate_per_sec` (trio's clock, so tests can use MockClock) and fans the frames out; the fault
knobs of `SimulatorConfig` drop connections, go silent, corrupt hashes and send garbage. The
life-cycle knobs create a market every `new_market_every_secs` (its CLOB book 404s for
`new_market_book_delay_secs`) and resolve the oldest open one every `resolve_every_secs`;
`gamma_fail` makes Gamma answer 500.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Final

import msgspec
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from polymon.clock import wall_ms
from polymon.config import SimulatorConfig
from polymon.polymarket.simulator.app import create_app
from polymon.polymarket.simulator.exchange import Exchange, Message, SimMarket, encode_frame
from polymon.polymarket.simulator.fanout import Connection, Fanout, Flood, SimulatorStats
from polymon.polymarket.simulator.faults import corrupt_hashes

DEFAULT_QUEUE_FRAMES: Final = 4096
# Behind by more than this (a stalled host), the generator skips events rather than bursting.
_MAX_BACKLOG_SECS: Final = 1.0
_log = logging.getLogger(__name__)


def build_exchange(cfg: SimulatorConfig) -> Exchange:
    """The exchange `run_simulator` builds from a config (use it to pre-generate flood frames)."""
    return Exchange(
        cfg.markets,
        cfg.seed,
        trade_ratio=cfg.trade_ratio,
        tick_change_ratio=cfg.tick_change_ratio,
    )


def market_ws_url(http_url: str) -> str:
    """The market channel URL of a simulator whose REST base URL is `http_url`."""
    return "ws" + http_url.removeprefix("http") + "/ws/market"


class _Request(msgspec.Struct):
    assets_ids: list[str]
    operation: str = "subscribe"
    initial_dump: bool = True


_REQUEST_DECODER: Final = msgspec.json.Decoder(_Request)


class Simulator:
    """Handle on a running simulated exchange: address, model, fault switches and counters."""

    def __init__(
        self,
        cfg: SimulatorConfig,
        exchange: Exchange,
        *,
        flood_frames: Sequence[str] | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        queue_frames: int = DEFAULT_QUEUE_FRAMES,
    ) -> None:
        self.cfg = cfg
        self.exchange = exchange
        self.stats = SimulatorStats()
        self.fanout = Fanout(
            self.stats,
            capacity=queue_frames,
            malformed_ratio=cfg.malformed_ratio,
            lost_frame_ratio=cfg.lost_frame_ratio,
            seed=cfg.seed,
        )
        self.flood = Flood(flood_frames) if flood_frames is not None else None
        self.now_ms = clock_ms
        self.host = cfg.host
        self.port = cfg.port
        self._silent = False
        self.gamma_failing = cfg.gamma_fail
        self._running = trio.Event()
        self._running.set()
        self._rng = random.Random(f"{cfg.seed}:faults")

    @property
    def http_url(self) -> str:
        """Base URL of the Gamma and CLOB REST routes, e.g. `http://127.0.0.1:8788`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The market channel URL, e.g. `ws://127.0.0.1:8788/ws/market`."""
        return market_ws_url(self.http_url)

    @property
    def silent(self) -> bool:
        """Whether data frames are being withheld (PING is still answered)."""
        return self._silent

    def set_silent(self, silent: bool) -> None:
        """Withhold (True) or resume (False) every data frame, like the venue's silent freeze.

        The exchange keeps moving while silent, so clients come back to changed books.
        """
        self._silent = silent

    def drop_connections(self) -> int:
        """Close every market-channel connection now; returns how many were open."""
        dropped = self.fanout.drop_all("simulated drop")
        self.stats.dropped_by_fault += dropped
        return dropped

    def handle_client_text(self, conn: Connection, text: str | bytes) -> None:
        """Act on one client frame: PING → PONG, subscribe (with snapshots) or unsubscribe.

        Anything else is ignored, as the venue has no error protocol for subscriptions.
        """
        if text in ("PING", b"PING"):
            if conn.offer("PONG"):
                self.stats.pongs_sent += 1
            return
        try:
            request = _REQUEST_DECODER.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if request.operation == "unsubscribe":
            self.fanout.unsubscribe(conn, request.assets_ids)
            return
        if request.operation != "subscribe":
            return
        self.fanout.subscribe(conn, request.assets_ids)
        conn.subscribed = True
        if request.initial_dump and not self._silent:
            now_ms = self.now_ms()
            known = [
                a for a in dict.fromkeys(request.assets_ids) if self.exchange.has_book(a, now_ms)
            ]
            books = [self.exchange.snapshot(asset_id, now_ms) for asset_id in known]
            if conn.offer(encode_frame(books)):
                self.stats.snapshots_sent += len(books)

    def tick(self) -> int:
        """Generate one event's frames and publish them (unless silent); returns events made."""
        before = self.exchange.events
        frames = self.exchange.next_frames(self.now_ms())
        for frame in frames:
            self.stats.hashes_corrupted += corrupt_hashes(
                frame if isinstance(frame, list) else [frame], self.cfg.wrong_hash_ratio, self._rng
            )
        if not self._silent:
            self.fanout.publish(frames)
        return self.exchange.events - before

    def create_market(self, *, announce: bool = True) -> SimMarket:
        """Add a market now (Gamma lists it at once, the CLOB after the configured delay) and,
        with `announce`, send its `new_market` event to every client."""
        delay_ms = round(self.cfg.new_market_book_delay_secs * 1000)
        market, message = self.exchange.add_market(self.now_ms(), book_delay_ms=delay_ms)
        self.stats.markets_created += 1
        if announce:
            self._broadcast(message)
        return market

    def resolve_market(
        self,
        condition_id: str | None = None,
        *,
        yes_wins: bool | None = None,
        uma_status: str = "resolved",
        announce: bool = True,
    ) -> SimMarket | None:
        """Resolve a market (default: the oldest open one; None when none is open) and, with
        `announce`, send its `market_resolved` event to every client.

        KeyError for an unknown condition id, ValueError for a market already resolved.
        """
        if condition_id is None:
            still_open = self.exchange.open_markets()
            if not still_open:
                return None
            condition_id = still_open[0].condition_id
        message = self.exchange.resolve_market(
            condition_id, self.now_ms(), yes_wins=yes_wins, uma_status=uma_status
        )
        self.stats.markets_resolved += 1
        if announce:
            self._broadcast(message)
        return self.exchange.market_by_condition(condition_id)

    def _broadcast(self, message: Message) -> None:
        if not self._silent:
            self.fanout.publish([message])

    async def create_periodically(self, every_secs: float) -> None:
        """Create (and announce) a market each `every_secs`."""
        while True:
            await trio.sleep(every_secs)
            self.create_market()

    async def resolve_periodically(self, every_secs: float) -> None:
        """Resolve (and announce) the oldest open market each `every_secs`."""
        while True:
            await trio.sleep(every_secs)
            self.resolve_market()

    def pause(self) -> None:
        """Stop the exchange from moving (tests compare books at a quiet point)."""
        if self._running.is_set():
            self._running = trio.Event()

    def resume(self) -> None:
        """Let the exchange move again."""
        self._running.set()

    async def generate(self) -> None:
        """Step the exchange at `rate_per_sec` forever, paced by trio's clock."""
        rate = self.cfg.rate_per_sec
        due = trio.current_time()
        while True:
            if not self._running.is_set():
                await self._running.wait()
                due = trio.current_time()
            due = max(due + self.tick() / rate, trio.current_time() - _MAX_BACKLOG_SECS)
            await trio.sleep_until(due)

    async def drop_periodically(self, every_secs: float) -> None:
        """Drop every connection each `every_secs`."""
        while True:
            await trio.sleep(every_secs)
            self.drop_connections()

    async def silence_periodically(self, every_secs: float, for_secs: float) -> None:
        """Go silent for `for_secs` at the start of every `every_secs` period."""
        start = trio.current_time()
        while True:
            start += every_secs
            await trio.sleep_until(start)
            self.set_silent(True)
            await trio.sleep(min(for_secs, every_secs))
            self.set_silent(False)


def _port_of(bind: str) -> int:
    return int(bind.rsplit(":", 1)[1])


async def run_simulator(
    cfg: SimulatorConfig,
    *,
    exchange: Exchange | None = None,
    flood_frames: Sequence[str] | None = None,
    clock_ms: Callable[[], int] = wall_ms,
    queue_frames: int = DEFAULT_QUEUE_FRAMES,
    task_status: trio.TaskStatus[Simulator] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the simulated exchange on `cfg.host:cfg.port` until cancelled.

    Calls `task_status.started(sim)` once the port is bound. `exchange` defaults to
    `build_exchange(cfg)`. With `flood_frames` (see `Exchange.generate_frames`, made from an
    exchange equal to this one) no events are generated: each client gets its initial dump, then
    the frames as fast as the socket takes them (filtered to its tokens), then only PONGs.
    `clock_ms` supplies message timestamps; `queue_frames` bounds each client's queue.
    """
    sim = Simulator(
        cfg,
        exchange if exchange is not None else build_exchange(cfg),
        flood_frames=flood_frames,
        clock_ms=clock_ms,
        queue_frames=queue_frames,
    )
    config = HypercornConfig()
    config.bind = [f"[{cfg.host}]:{cfg.port}" if ":" in cfg.host else f"{cfg.host}:{cfg.port}"]
    config.accesslog = None
    config.errorlog = _log
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, create_app(sim), config, mode="asgi"))
        sim.port = _port_of(binds[0])
        if flood_frames is None:
            nursery.start_soon(sim.generate, name="simulator-generator")
        if cfg.drop_every_secs > 0:
            nursery.start_soon(sim.drop_periodically, cfg.drop_every_secs, name="simulator-drops")
        if cfg.silent_every_secs > 0 and cfg.silent_for_secs > 0:
            nursery.start_soon(
                sim.silence_periodically,
                cfg.silent_every_secs,
                cfg.silent_for_secs,
                name="simulator-silence",
            )
        if cfg.new_market_every_secs > 0:
            nursery.start_soon(
                sim.create_periodically, cfg.new_market_every_secs, name="simulator-new-markets"
            )
        if cfg.resolve_every_secs > 0:
            nursery.start_soon(
                sim.resolve_periodically, cfg.resolve_every_secs, name="simulator-resolutions"
            )
        _log.info("simulated exchange on %s (%d markets)", sim.http_url, cfg.markets)
        task_status.started(sim)
