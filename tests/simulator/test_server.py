"""The simulator as a service on loopback: REST routes, the market channel and fault knobs.

Most tests freeze trio's clock (`mock_clock`) and advance it by hand, so the event generator runs
exactly when the test says and the exchange is quiet while the test compares books.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from polymon.config import SimulatorConfig
from polymon.polymarket.schemas import decode_frame
from polymon.polymarket.simulator.fanout import Flood
from polymon.polymarket.simulator.server import Simulator, build_exchange, run_simulator
from tests.simulator.replica import Replica

T0 = 1_790_000_000_000


def virtual_ms() -> int:
    """Message timestamps from trio's (mock) clock, so runs are reproducible."""
    return T0 + int(trio.current_time() * 1000)


async def start(nursery: trio.Nursery, **settings: Any) -> Simulator:
    options = {"markets": 4, "seed": 3, "rate_per_sec": 100.0, **settings}
    flood = options.pop("flood_frames", None)
    cfg = SimulatorConfig(**options)
    runner = partial(run_simulator, cfg, clock_ms=virtual_ms, flood_frames=flood)
    sim: Simulator = await nursery.start(runner)
    return sim


async def subscribe(ws: WebSocketConnection, assets: Sequence[str], **extra: Any) -> None:
    request = {"assets_ids": list(assets), "type": "market", "initial_dump": True, **extra}
    await ws.send_message(json.dumps({**request, "custom_feature_enabled": True}))


async def advance(clock: trio.testing.MockClock, seconds: float) -> None:
    """Move the frozen clock in half-second steps (the generator skips backlogs over 1 s)."""
    for _ in range(round(seconds * 2)):
        clock.jump(0.5)
        await trio.testing.wait_all_tasks_blocked()


async def expect_closed_by_server(ws: WebSocketConnection) -> None:
    """Read until the server closes the connection, then release the client socket.

    trio-websocket 0.12.2 never closes the client's TCP stream when the peer closed first
    (`aclose()` returns early once a close reason is set), which leaks the socket.
    """
    with pytest.raises(ConnectionClosed):
        await drain(ws)
    await ws._stream.aclose()


async def drain(ws: WebSocketConnection) -> None:
    while True:
        await ws.get_message()


async def receive(ws: WebSocketConnection, count: int) -> list[str]:
    return [str(await ws.get_message()) for _ in range(count)]


async def receive_published(ws: WebSocketConnection, sim: Simulator, already: int) -> list[str]:
    """Every data frame published so far to this (only) client, beyond `already`."""
    return await receive(ws, sim.stats.frames_sent - already)


async def test_http_routes_speak_gamma_and_clob(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery)
    token = sim.exchange.token_ids()[0]
    async with httpx.AsyncClient(base_url=sim.http_url) as http:
        markets = (await http.get("/markets", params={"limit": 500})).json()
        assert [m["id"] for m in markets] == [m["id"] for m in sim.exchange.gamma_markets()]
        assert (await http.get("/markets", params={"offset": 10001})).status_code == 422
        page = (await http.get("/markets/keyset", params={"limit": 3})).json()
        assert len(page["markets"]) == 3
        last = await http.get("/markets/keyset", params={"after_cursor": page["next_cursor"]})
        assert "next_cursor" not in last.json()
        assert len(last.json()["markets"]) == 1
        book = await http.get("/book", params={"token_id": token})
        assert book.json() == sim.exchange.rest_book(token, virtual_ms())
        missing = await http.get("/book", params={"token_id": "42"})
        assert missing.status_code == 404
        assert missing.json() == {"error": "No orderbook exists for the requested token id"}
        books = await http.post("/books", json=[{"token_id": token}])
        assert [b["asset_id"] for b in books.json()] == [token]
        bad = await http.post("/books", content=b'{"token_id": 1}')
        assert bad.status_code == 400
        assert "error" in bad.json()


async def test_initial_dump_is_one_array_and_ping_gets_pong(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery)
    tokens = sim.exchange.token_ids()[:3]
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, [*tokens, "12345"])
        dump = json.loads(await ws.get_message())
        assert dump == [sim.exchange.snapshot(token, virtual_ms()) for token in tokens]
        assert all({"tick_size", "last_trade_price"} <= set(book) for book in dump)
        await ws.send_message("PING")
        assert await ws.get_message() == "PONG"
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, ["12345"])
        assert await ws.get_message() == "[]"


async def test_subscribe_and_unsubscribe_without_reconnecting(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, markets=2)
    first, second = (m.token_ids() for m in sim.exchange.markets)
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, first)
        assert len(json.loads(await ws.get_message())) == 2
        await ws.send_message(json.dumps({"assets_ids": second, "operation": "subscribe"}))
        assert [b["asset_id"] for b in json.loads(await ws.get_message())] == list(second)
        await ws.send_message(json.dumps({"assets_ids": first, "operation": "unsubscribe"}))
        await ws.send_message("PING")
        assert await ws.get_message() == "PONG"
        already = sim.stats.frames_sent
        await advance(mock_clock, 5)
        frames = await receive_published(ws, sim, already)
    assets = set()
    for frame in frames:
        messages, skipped = decode_frame(frame)
        assert skipped == []
        for message in messages:
            entries = getattr(message, "price_changes", None)
            assets.update([e.asset_id for e in entries] if entries else [message.asset_id])
    assert assets == set(second)


async def replay(ws: WebSocketConnection, sim: Simulator, seconds: float, clock: Any) -> Replica:
    """Subscribe to everything, let `seconds` of events pass, apply all frames to a replica."""
    replica = Replica()
    await subscribe(ws, sim.exchange.token_ids())
    replica.apply_frame(str(await ws.get_message()))
    already = sim.stats.frames_sent
    await advance(clock, seconds)
    for frame in await receive_published(ws, sim, already):
        if decode_frame(frame)[1]:
            continue  # garbage (malformed_ratio)
        replica.apply_frame(frame)
    return replica


def assert_same_books(replica: Replica, sim: Simulator) -> None:
    for token in sim.exchange.token_ids():
        assert replica.levels(token) == sim.exchange.levels(token)


async def test_replica_from_frames_equals_the_exchange(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, rate_per_sec=200.0, trade_ratio=0.2, tick_change_ratio=0.02)
    async with open_websocket_url(sim.ws_url) as ws:
        replica = await replay(ws, sim, 10, mock_clock)
    assert sim.exchange.events > 2000
    assert replica.mismatches == []
    assert replica.trades == sim.exchange.trades_sent
    assert_same_books(replica, sim)


async def test_wrong_hashes_are_counted_and_books_stay_right(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, wrong_hash_ratio=0.1)
    async with open_websocket_url(sim.ws_url) as ws:
        replica = await replay(ws, sim, 10, mock_clock)
    assert 0 < len(replica.mismatches) == sim.stats.hashes_corrupted
    assert_same_books(replica, sim)


async def test_malformed_frames_appear_at_the_configured_ratio(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, malformed_ratio=0.2, rate_per_sec=300.0)
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, sim.exchange.token_ids())
        await ws.get_message()
        await advance(mock_clock, 10)
        frames = await receive_published(ws, sim, 0)
    garbage = [f for f in frames if decode_frame(f)[1]]
    assert len(garbage) == sim.stats.malformed_sent
    assert 0.17 < len(garbage) / len(frames) < 0.23


async def test_malformed_frames_are_extra_not_lost_data(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, malformed_ratio=0.3)
    async with open_websocket_url(sim.ws_url) as ws:
        replica = await replay(ws, sim, 10, mock_clock)
    assert sim.stats.malformed_sent > 0
    assert replica.mismatches == []
    assert_same_books(replica, sim)


async def test_drop_connections_closes_every_client(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery)
    async with open_websocket_url(sim.ws_url) as a, open_websocket_url(sim.ws_url) as b:
        for ws in (a, b):
            await subscribe(ws, sim.exchange.token_ids()[:1])
            await ws.get_message()
        assert sim.drop_connections() == 2
        for ws in (a, b):
            await expect_closed_by_server(ws)
            assert ws.closed is not None
            assert ws.closed.code == 1001
    assert sim.stats.dropped_by_fault == 2
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, sim.exchange.token_ids()[:1])
        assert len(json.loads(await ws.get_message())) == 1


async def test_drop_every_secs_closes_connections_periodically(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, drop_every_secs=5.0)
    for _ in range(2):
        async with open_websocket_url(sim.ws_url) as ws:
            await subscribe(ws, sim.exchange.token_ids())
            await expect_closed_by_server(ws)
        assert trio.current_time() % 5 < 0.1
    assert sim.stats.dropped_by_fault == 2


async def test_silence_withholds_data_but_answers_ping(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery)
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, sim.exchange.token_ids())
        await ws.get_message()
        sim.set_silent(True)
        events = sim.exchange.events
        await advance(mock_clock, 5)
        await ws.send_message("PING")
        assert await ws.get_message() == "PONG"
        assert sim.exchange.events > events
        assert sim.stats.frames_sent == 0
        sim.set_silent(False)
        await advance(mock_clock, 1)
        assert sim.stats.frames_sent > 0
        await receive_published(ws, sim, 0)


async def test_silent_every_secs_makes_periodic_gaps(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, silent_every_secs=10.0, silent_for_secs=4.0)
    arrivals = []
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, sim.exchange.token_ids())
        await ws.get_message()
        with trio.move_on_after(25):
            while True:
                frame = await ws.get_message()
                arrivals.append(trio.current_time())
                assert frame != "PONG"
    assert not [t for t in arrivals if 10.2 < t < 13.8 or 20.2 < t < 23.8]
    assert [t for t in arrivals if 14.2 < t < 19.8]


async def test_flood_sends_pregenerated_frames_then_idles(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    cfg = SimulatorConfig(markets=4, seed=3)
    frames = build_exchange(cfg).generate_frames(3000, T0)
    final = build_exchange(cfg)
    final.generate_frames(3000, T0, advance=True)
    sim = await start(nursery, flood_frames=frames)
    yes_tokens = [m.yes_id for m in final.markets]
    async with open_websocket_url(sim.ws_url) as everything, open_websocket_url(sim.ws_url) as yes:
        replicas = []
        for ws, tokens in ((everything, final.token_ids()), (yes, yes_tokens)):
            await subscribe(ws, tokens)
            replica = Replica()
            replica.apply_frame(str(await ws.get_message()))
            replicas.append(replica)
        for frame in await receive(everything, len(frames)):
            replicas[0].apply_frame(frame)
        await everything.send_message("PING")
        assert await everything.get_message() == "PONG"
        for frame in await receive(yes, len(list(Flood(frames).frames_for(set(yes_tokens))))):
            replicas[1].apply_frame(frame)
    assert sim.stats.flood_frames_sent > len(frames)
    for replica, tokens in zip(replicas, (final.token_ids(), yes_tokens), strict=True):
        assert replica.mismatches == []
        assert set(replica.books) == set(tokens)
        for token in tokens:
            assert replica.levels(token) == final.levels(token)


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_flowing(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    cfg = SimulatorConfig(markets=4, seed=3, rate_per_sec=2000.0)
    runner = partial(run_simulator, cfg, clock_ms=virtual_ms, queue_frames=256)
    sim: Simulator = await nursery.start(runner)
    received = 0

    async def keep_reading(ws: WebSocketConnection) -> None:
        nonlocal received
        while True:
            await ws.get_message()
            received += 1

    async with open_websocket_url(sim.ws_url) as slow, open_websocket_url(sim.ws_url) as fast:
        for ws in (slow, fast):
            await subscribe(ws, sim.exchange.token_ids())
            await ws.get_message()
        async with trio.open_nursery() as readers:
            readers.start_soon(keep_reading, fast)
            while sim.stats.dropped_slow == 0:
                mock_clock.jump(0.02)
                await trio.testing.wait_all_tasks_blocked()
            assert sim.stats.connections_open == 1
            at_drop = received
            for _ in range(25):
                mock_clock.jump(0.02)
                await trio.testing.wait_all_tasks_blocked()
            readers.cancel_scope.cancel()
        assert sim.stats.dropped_slow == 1
        assert fast.closed is None
        assert received - at_drop > 500
