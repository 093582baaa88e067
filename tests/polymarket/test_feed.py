"""Connection mechanics under a mock clock, over in-memory streams to a scripted venue.

In-memory streams keep these tests exact under `autojump_clock` (real sockets would let the
clock jump while bytes are in flight). The simulator-backed integration tests cover loopback.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import NamedTuple

import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    wrap_client_stream,
    wrap_server_stream,
)

from polymon.config import PolymarketConfig
from polymon.core.model import AssetMeta, BookStatus
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.feed import Connection, FeedActivity, backoff_delay, subscribe_message
from polymon.polymarket.ingest import Ingest

Script = Callable[[WebSocketConnection, "MemoryVenue"], Awaitable[None]]
ASSET = "111"


def book_frame(asset_id: str = ASSET, bid: str = "0.48", ask: str = "0.52") -> str:
    book = {"event_type": "book", "asset_id": asset_id, "market": "0xm", "timestamp": "1"}
    book |= {"bids": [{"price": bid, "size": "10"}], "asks": [{"price": ask, "size": "5"}]}
    return json.dumps([book])


class MemoryVenue:
    """A scripted market channel; `script` runs once per accepted connection."""

    def __init__(self, nursery: trio.Nursery, script: Script, *, answer: bool = True) -> None:
        self.nursery = nursery
        self.script = script
        self.answer = answer
        self.attempts: list[float] = []
        self.received: list[dict[str, object]] = []
        self.open: list[WebSocketConnection] = []

    def connector(self, _cfg: PolymarketConfig) -> AsyncIterator[WebSocketConnection]:
        return self._connect()  # type: ignore[return-value]

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[WebSocketConnection]:
        self.attempts.append(trio.current_time())
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._serve, server)
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, client, "venue.test", "/ws/market")  # type: ignore[arg-type]
            try:
                yield ws
            finally:
                with trio.move_on_after(2):  # as open_venue_websocket's disconnect_timeout
                    await ws.aclose()
                nursery.cancel_scope.cancel()

    async def _serve(self, stream: trio.abc.Stream) -> None:
        if not self.answer:
            await trio.sleep_forever()  # TCP accepted, the upgrade never answered
        async with trio.open_nursery() as nursery:
            request = await wrap_server_stream(nursery, stream)
            ws = await request.accept()
            self.open.append(ws)
            try:
                await self.script(ws, self)
            except ConnectionClosed:
                pass
            finally:
                await ws.aclose()
                nursery.cancel_scope.cancel()

    async def receive_json(self, ws: WebSocketConnection) -> dict[str, object]:
        while True:
            message = await ws.get_message()
            if message == "PING":
                await ws.send_message("PONG")
                continue
            body = json.loads(message)
            self.received.append(body)
            return body  # type: ignore[no-any-return]


def make_connection(
    venue: MemoryVenue, state: ShardState, cfg: PolymarketConfig | None = None
) -> tuple[Connection, list[tuple[list[str], str]]]:
    cfg = cfg or PolymarketConfig()
    downs: list[tuple[list[str], str]] = []

    def on_down(assets: list[str], reason: str) -> None:
        downs.append((assets, reason))
        state.on_disconnect(assets, "disconnect", wall_us=0)

    conn = Connection(
        cfg, Ingest(state, max_frame_bytes=cfg.max_frame_bytes), name="c0",
        activity=FeedActivity(), on_down=on_down, data_silence_secs=120.0,
        rng=random.Random(7), connect=venue.connector,
    )  # fmt: skip
    return conn, downs


def tracked_state() -> ShardState:
    state = ShardState(Policy())
    state.track(AssetMeta(asset_id=ASSET, market="0xm"))
    return state


class Started(NamedTuple):
    venue: MemoryVenue
    state: ShardState
    conn: Connection
    downs: list[tuple[list[str], str]]


async def start(
    nursery: trio.Nursery,
    script: Script,
    *,
    assets: tuple[str, ...] = (ASSET,),
    answer: bool = True,
) -> Started:
    """A scripted venue and a running connection subscribed to `assets`."""
    venue = MemoryVenue(nursery, script, answer=answer)
    state = tracked_state()
    for asset in assets:
        state.track(AssetMeta(asset_id=asset, market="0xm"))
    conn, downs = make_connection(venue, state)
    await conn.subscribe(assets)
    nursery.start_soon(conn.run)
    return Started(venue, state, conn, downs)


def test_backoff_is_full_jitter_within_the_envelope() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        cap = min(30.0, 1.0 * 2**attempt)
        delays = [backoff_delay(attempt, 1.0, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # really spread over the whole range
    assert backoff_delay(10_000, 1.0, 30.0, rng) <= 30.0


def test_subscribe_messages_follow_the_protocol() -> None:
    assert json.loads(subscribe_message(["a", "b"])) == {
        "assets_ids": ["a", "b"], "type": "market", "initial_dump": True,
        "custom_feature_enabled": True,
    }  # fmt: skip
    assert json.loads(subscribe_message(["a"], "unsubscribe")) == {
        "assets_ids": ["a"], "operation": "unsubscribe",
    }  # fmt: skip
    assert json.loads(subscribe_message(["a"], "subscribe"))["operation"] == "subscribe"


async def never(_ws: WebSocketConnection, _venue: MemoryVenue) -> None:
    await trio.sleep_forever()


async def test_handshake_stall_gives_up_at_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        venue, _, _, downs = await start(nursery, never, answer=False)
        await trio.sleep(25)
        # Attempts at 0 and after each 10 s deadline plus backoff; each one ends as a timeout.
        assert venue.attempts[0] == 0
        assert venue.attempts[1] - venue.attempts[0] >= 10.0
        assert all(reason == "handshake_timeout" for _, reason in downs)
        assert len(downs) >= 2
        nursery.cancel_scope.cancel()


async def test_silent_connection_is_dead_after_30_s(autojump_clock: trio.testing.MockClock) -> None:
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        await venue.receive_json(ws)  # the subscription
        if len(venue.attempts) == 1:
            await ws.send_message(book_frame())
        await trio.sleep_forever()  # then nothing at all, not even PONG

    async with trio.open_nursery() as nursery:
        _, state, _, downs = await start(nursery, script)
        await trio.sleep(29)
        assert downs == []
        assert state.view(ASSET, trio.current_time()).status == BookStatus.FRESH
        await trio.sleep(4)  # detected at 30 s, then at most 2 s for the close handshake
        assert downs == [([ASSET], "silence")]
        assert state.view(ASSET, trio.current_time()).status == BookStatus.STALE
        assert [g.reason for g in state.out.gaps] == ["disconnect"]
        nursery.cancel_scope.cancel()


async def test_pongs_keep_a_connection_alive(autojump_clock: trio.testing.MockClock) -> None:
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        await venue.receive_json(ws)
        await ws.send_message(book_frame())
        await venue.receive_json(ws)  # answers PINGs forever; never returns

    async with trio.open_nursery() as nursery:
        venue, _, conn, downs = await start(nursery, script)
        await trio.sleep(100)
        assert downs == []
        assert len(venue.attempts) == 1
        assert conn.ingest.keepalives >= 9  # a PING every 10 s, each answered
        nursery.cancel_scope.cancel()


class StepCounter(trio.abc.Instrument):
    """Counts the steps (wake-ups) of tasks by name."""

    def __init__(self) -> None:
        self.steps: dict[str, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task.name] = self.steps.get(task.name, 0) + 1


async def test_a_healthy_connections_watchdog_wakes_once_per_silence_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Hundreds of connections each waking a watchdog every second cost more than the feed.
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        await venue.receive_json(ws)
        async with trio.open_nursery() as inner:
            inner.start_soon(venue.receive_json, ws)  # answers PINGs forever
            while True:  # and the book flows: a data frame every 5 s
                await ws.send_message(book_frame())
                await trio.sleep(5)

    counter = StepCounter()
    async with trio.open_nursery() as nursery:
        _, _, _, downs = await start(nursery, script)
        trio.lowlevel.add_instrument(counter)
        await trio.sleep(300)
        trio.lowlevel.remove_instrument(counter)
        assert downs == []
        nursery.cancel_scope.cancel()
    watchdog = sum(n for name, n in counter.steps.items() if name.endswith("._watchdog"))
    assert 0 < watchdog <= 300 / 30 + 2


async def test_frozen_feed_is_reconnected_when_others_flow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        await venue.receive_json(ws)
        await ws.send_message(book_frame())
        await venue.receive_json(ws)  # PONGs only: the "silent freeze" the venue is known for

    async with trio.open_nursery() as nursery:
        _, _, conn, downs = await start(nursery, script)

        async def other_connection_flows() -> None:
            while True:
                conn.activity.last_data = trio.current_time()
                await trio.sleep(1)

        nursery.start_soon(other_connection_flows)
        await trio.sleep(125)
        assert downs[0] == ([ASSET], "data_silence")
        nursery.cancel_scope.cancel()


async def test_reconnects_with_backoff_and_resubscribes_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        sub = await venue.receive_json(ws)
        await ws.send_message(book_frame())
        if len(venue.attempts) <= 3:
            await trio.sleep(1)
            return  # close: the client must come back
        assert sub["initial_dump"] is True
        await venue.receive_json(ws)

    async with trio.open_nursery() as nursery:
        venue, state, _, downs = await start(nursery, script, assets=(ASSET, "222"))
        await trio.sleep(60)
        assert len(venue.attempts) == 4
        gaps = [b - a for a, b in zip(venue.attempts, venue.attempts[1:], strict=False)]
        for n, gap in enumerate(gaps):  # 1 s of life, then a full-jitter delay within the cap
            assert 1.0 <= gap <= 1.0 + min(30.0, 2.0**n) + 1e-9
        assert all(sub["assets_ids"] == [ASSET, "222"] for sub in venue.received if "type" in sub)
        assert [reason for _, reason in downs] == ["closed 1000"] * 3
        # After each drop the book is stale until the next snapshot, then fresh again.
        assert state.view(ASSET, trio.current_time()).status == BookStatus.FRESH
        reasons = [(g.reason, g.how) for g in state.out.gaps if g.asset_id == ASSET]
        assert reasons == [("disconnect", ""), ("disconnect", "ws_snapshot")] * 3
        nursery.cancel_scope.cancel()


async def test_dynamic_subscribe_and_unsubscribe_without_reconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        while True:
            await venue.receive_json(ws)

    async with trio.open_nursery() as nursery:
        venue, _, conn, _ = await start(nursery, script)
        await trio.sleep(1)
        await conn.subscribe(["222", ASSET])  # ASSET is already there: only 222 is sent
        await conn.unsubscribe(["222", "999"])  # 999 was never subscribed
        await trio.sleep(1)
        assert len(venue.attempts) == 1
        ops = [(m.get("operation", "initial"), m["assets_ids"]) for m in venue.received]
        assert ops == [("initial", [ASSET]), ("subscribe", ["222"]), ("unsubscribe", ["222"])]
        assert conn.assets == {ASSET}
        assert conn.room == 199
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("garbage", "skipped"),
    [("{not json", 1), ('{"event_type":"mystery"}', 1), ("[1,2]", 2), ("\x00\x01", 1)],
)
async def test_garbage_frames_are_counted_and_the_connection_lives(
    autojump_clock: trio.testing.MockClock, garbage: str, skipped: int
) -> None:
    async def script(ws: WebSocketConnection, venue: MemoryVenue) -> None:
        await venue.receive_json(ws)
        await ws.send_message(garbage)
        await ws.send_message(book_frame(bid="0.40"))
        await venue.receive_json(ws)

    async with trio.open_nursery() as nursery:
        _, state, conn, downs = await start(nursery, script)
        await trio.sleep(5)
        assert downs == []
        assert sum(conn.ingest.invalid.values()) == skipped
        assert state.view(ASSET, trio.current_time()).best_bid == "0.40"
        nursery.cancel_scope.cancel()
