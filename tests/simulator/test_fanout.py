"""Fan-out without sockets: per-client filtering and dropping a slow client only."""

from __future__ import annotations

import json
from typing import Any

import trio

from polymon.polymarket.simulator.exchange import Exchange
from polymon.polymarket.simulator.fanout import (
    Connection,
    Fanout,
    Flood,
    SimulatorStats,
    select_frame,
)


def test_select_frame_keeps_only_subscribed_entries() -> None:
    exchange = Exchange(2, 1, trade_ratio=0, tick_change_ratio=0)
    message = exchange.step(0)[0]
    yes, no = (entry["asset_id"] for entry in message["price_changes"])
    assert select_frame(message, {yes, no}) is message
    assert select_frame(message, {"other"}) is None
    only_no = select_frame(message, {no})
    assert isinstance(only_no, dict)
    assert [e["asset_id"] for e in only_no["price_changes"]] == [no]
    assert len(message["price_changes"]) == 2
    array = [message, {"event_type": "last_trade_price", "asset_id": "x"}]
    assert select_frame(array, {yes, no}) == [message]
    assert select_frame(array, {yes, no, "x"}) is array


async def test_a_full_queue_drops_only_the_slow_client() -> None:
    exchange = Exchange(2, 2)
    stats = SimulatorStats()
    fanout = Fanout(stats, capacity=4, malformed_ratio=0, seed=1)
    slow, fast = fanout.open(), fanout.open()
    for conn in (slow, fast):
        fanout.subscribe(conn, exchange.token_ids())
    received = 0
    for i in range(10):
        fanout.publish(exchange.next_frames(i))
        while True:
            try:
                fast.frames.receive_nowait()
            except trio.WouldBlock:
                break
            received += 1
    assert slow.close_reason == "slow consumer"
    assert slow.scope.cancel_called
    assert not fast.close_reason
    assert received >= 10
    assert list(fanout.connections) == [fast.ident]
    assert stats.dropped_slow == 1
    assert stats.connections_open == 1
    fanout.close(slow)
    assert stats.connections_open == 1


def test_flood_filters_frames_per_client() -> None:
    exchange = Exchange(3, 3)
    frames = exchange.generate_frames(300, 0)
    flood = Flood(frames)
    everything = set(exchange.token_ids())
    assert list(flood.frames_for(everything)) == frames
    no_tokens = {m.no_id for m in exchange.markets}
    for frame in flood.frames_for(no_tokens):
        decoded = json.loads(frame)
        for message in decoded if isinstance(decoded, list) else [decoded]:
            entries = message.get("price_changes", [message])
            assert {e["asset_id"] for e in entries} <= no_tokens
    assert list(flood.frames_for(set())) == []


def queued(conn: Connection) -> list[Any]:
    frames = []
    while True:
        try:
            frames.append(json.loads(conn.frames.receive_nowait()))
        except trio.WouldBlock:
            return frames


def test_a_frame_goes_only_to_its_subscribers_and_life_cycle_events_to_all() -> None:
    exchange = Exchange(4, 4, trade_ratio=0, tick_change_ratio=0)
    fanout = Fanout(SimulatorStats(), capacity=100, malformed_ratio=0, seed=1)
    conns = [fanout.open() for _ in exchange.markets]
    for conn, market in zip(conns, exchange.markets, strict=True):
        fanout.subscribe(conn, market.token_ids())
    fanout.unsubscribe(conns[3], [exchange.markets[3].no_id])
    fanout.close(conns[2])
    for i in range(40):
        fanout.publish(exchange.next_frames(i))
    fanout.publish([{"event_type": "new_market", "market": "0x1"}])
    got = [queued(conn) for conn in conns]
    for conn, market, frames in zip(conns, exchange.markets, got, strict=True):
        if conn is conns[2]:
            assert frames == []  # closed: out of the index
            continue
        assert frames[-1]["event_type"] == "new_market"
        for frame in frames[:-1]:
            for message in frame if isinstance(frame, list) else [frame]:
                entries = message.get("price_changes", [message])
                assert {e["asset_id"] for e in entries} <= conn.assets <= set(market.token_ids())
    assert all(len(frames) > 1 for frames in (got[0], got[1], got[3]))


def test_lost_frames_are_never_sent_and_are_counted() -> None:
    stats = SimulatorStats()
    fanout = Fanout(stats, capacity=10_000, malformed_ratio=0, seed=3, lost_frame_ratio=0.25)
    conn = fanout.open()
    for i in range(1000):
        fanout.deliver(conn, json.dumps({"n": i}))
    received = []
    while True:
        try:
            received.append(json.loads(conn.frames.receive_nowait())["n"])
        except trio.WouldBlock:
            break
    assert stats.frames_lost + len(received) == 1000
    assert 150 < stats.frames_lost < 350
    assert received == sorted(received)  # the rest arrive, in order
