"""SSE alert stream over a real loopback server, read with httpx-sse (reliability E1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse
from hypercorn.config import Config
from hypercorn.trio import serve

from polymon.config import load_config
from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.events import EventBuffer
from polymon.web.keys import KeyStore

# httpx leaves its inner response generators unclosed when a client stops reading a stream
# early (as an SSE client does); that is client-side and not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


AUTH: dict[str, str] = {}  # the X-API-Key header, set by the server fixture


@pytest.fixture
async def server(
    nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[tuple[str, EventBuffer, trio.Event]]:
    buffer = EventBuffer(size=120, queue_size=1000)
    keys = KeyStore(tmp_path)
    AUTH["X-API-Key"] = keys.create("sse", "enterprise")[1]
    cfg = load_config(None, environ={}, overrides={"service": {"data_dir": str(tmp_path)},
                                                   "storage": {"enabled": False}})  # fmt: skip
    stop = trio.Event()
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 5.0

    async def shutdown() -> None:
        await stop.wait()
        buffer.close()

    async with httpx.AsyncClient() as http:
        api = ServiceApi(Service(cfg, http), None, cfg)
        app = create_app(api, buffer, keys=keys, heartbeat_secs=0.2)
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown))
        yield binds[0], buffer, stop
        stop.set()


def publish(buffer: EventBuffer, start: int, count: int) -> None:
    buffer.publish([("PRICE_ABOVE", json.dumps({"n": i}).encode())
                    for i in range(start, start + count)], now_us=0)  # fmt: skip


async def read(client: httpx.AsyncClient, count: int, **headers: str) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    path = "/api/v1/triggers/events/sse"
    async with (
        aconnect_sse(client, "GET", path, headers=headers) as es,
        aclosing(es.aiter_sse()) as stream,
    ):
        async for sse in stream:
            if sse.data:
                got.append((sse.id or "", sse.event))
                if len(got) == count:
                    break
    return got


async def test_replay_after_a_reconnect_misses_and_repeats_nothing(
    server: tuple[str, EventBuffer, trio.Event], nursery: trio.Nursery
) -> None:
    url, buffer, _stop = server
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client:
        first: list[tuple[str, str]] = []

        async def reader() -> None:
            first.extend(await read(client, 50))

        nursery.start_soon(reader)
        while not buffer.subscribers:  # noqa: ASYNC110 - the reader connects over a socket
            await trio.sleep(0.01)
        publish(buffer, 0, 50)
        while len(first) < 50:  # noqa: ASYNC110 - filled by the reader task
            await trio.sleep(0.01)
        publish(buffer, 50, 60)  # while disconnected
        second = await read(client, 60, **{"Last-Event-ID": first[-1][0]})
    ids = [int(i) for i, _ in first + second]
    assert ids == list(range(1, 111))


async def test_an_id_older_than_the_buffer_gets_a_reset(
    server: tuple[str, EventBuffer, trio.Event],
) -> None:
    url, buffer, _stop = server
    publish(buffer, 0, 200)  # the ring keeps the last 120
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client:
        got = await read(client, 1, **{"Last-Event-ID": "5"})
    assert got == [("", "reset")]


async def test_heartbeats_flow_and_shutdown_ends_open_streams(
    server: tuple[str, EventBuffer, trio.Event],
) -> None:
    url, buffer, stop = server
    received = b""
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client,
        client.stream("GET", "/api/v1/triggers/events/sse") as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        with trio.fail_after(5):
            async for chunk in response.aiter_bytes():
                received += chunk
                if received.count(b": hb") == 2 and not stop.is_set():
                    stop.set()  # shutdown while the stream is open
        # the loop ended because the server closed the stream
    assert received.startswith(b"retry: 2000")
    assert not buffer.subscribers


async def test_recent_events_and_status(server: tuple[str, EventBuffer, trio.Event]) -> None:
    url, buffer, _stop = server
    publish(buffer, 0, 5)
    buffer.publish([("SPREAD_WIDE", b'{"x": 1}')], now_us=0)
    async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
        recent = (await client.get("/api/v1/triggers/events?limit=3")).json()
        wide = (await client.get("/api/v1/triggers/events?type=SPREAD_WIDE")).json()
        status = (await client.get("/api/v1/triggers/events/status")).json()
        bad = await client.get("/api/v1/triggers/events?limit=zero")
    assert [e["id"] for e in recent["events"]] == [4, 5, 6]
    assert wide["events"] == [{"id": 6, "type": "SPREAD_WIDE", "data": {"x": 1}}]
    assert status["buffered"] == 6
    assert status["last_event_id"] == 6
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad_request"


def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    buffer = EventBuffer(size=10, queue_size=3)
    sub = buffer.subscribe()
    publish(buffer, 0, 5)
    assert sub.dropped
    assert not buffer.subscribers
    assert buffer.status()["dropped_subscribers"] == 1
