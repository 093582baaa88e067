"""Bounds a client cannot stretch, over real sockets: a slow body, huge headers, SSE clients
that stop reading (dropped, and their connections closed), shutdown with such clients."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from msgspec.structs import replace

from polymon.config import HttpConfig, load_config
from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.events import EventBuffer
from polymon.web.keys import KeyStore
from polymon.web.server import MAX_HEADER_BYTES, serve


class Served:
    def __init__(self, port: int, key: str, events: EventBuffer, stop: trio.Event) -> None:
        self.port = port
        self.key = key
        self.events = events
        self.stop = stop
        self.ended = trio.Event()


@pytest.fixture
async def served(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Served]:
    cfg = load_config(None, environ={}, overrides={"service": {"data_dir": str(tmp_path)},
                                                    "storage": {"enabled": False}})  # fmt: skip
    http = replace(cfg.http, body_timeout_secs=0.5, rate_limit_enabled=False)
    keys = KeyStore(tmp_path)
    _, key = keys.create("t", "pro")
    events = EventBuffer(100, queue_size=5)
    client = httpx.AsyncClient()
    service = Service(cfg, client, events=events)
    app = create_app(ServiceApi(service, None, cfg), events, triggers=service.alerts, keys=keys,
                     http=http, heartbeat_secs=60)  # fmt: skip
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 0.5
    stop = trio.Event()

    async def trigger() -> None:
        await stop.wait()
        events.close()

    async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(app, config, shutdown_trigger=trigger, task_status=task_status)
        finally:
            served.ended.set()

    served = Served(0, key, events, stop)
    binds = await nursery.start(run)
    served.port = int(binds[0].rsplit(":", 1)[1])
    yield served
    stop.set()
    service.webhooks.close()
    await client.aclose()


async def read_all(stream: trio.SocketStream, limit: float) -> tuple[bytes, bool]:
    """What the server sends until it closes (True) or `limit` passes (False)."""
    data = b""
    with trio.move_on_after(limit):
        while True:
            try:
                chunk = await stream.receive_some(1 << 16)
            except trio.BrokenResourceError:  # reset by the server
                return data, True
            if not chunk:
                return data, True
            data += chunk
    return data, False


def json_body(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower()
    result: dict[str, object] = json.loads(body)
    return result


def test_the_default_body_timeout_is_10_s() -> None:
    assert HttpConfig().body_timeout_secs == 10.0


async def test_a_body_sent_a_byte_at_a_time_gets_408_json_and_the_connection_closed(
    served: Served,
) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", served.port)
    async with stream:
        head = (
            f"POST /triggers HTTP/1.1\r\nHost: x\r\nX-API-Key: {served.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        await stream.send_all(head.encode())
        started = time.monotonic()
        answer = b""

        async def trickle() -> None:
            for _ in range(100):
                await stream.send_all(b" ")
                await trio.sleep(0.2)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            answer, closed = await read_all(stream, 10)
            nursery.cancel_scope.cancel()
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json_body(answer)["error"] == "request_timeout"
    assert closed, answer
    assert took < 2.0  # the configured 0.5 s, not a minute (nor two)


async def test_headers_over_16_kib_get_a_json_431(served: Served) -> None:
    assert MAX_HEADER_BYTES == 16 * 1024
    stream = await trio.open_tcp_stream("127.0.0.1", served.port)
    async with stream:
        big = "a" * (MAX_HEADER_BYTES + 1024)
        await stream.send_all(f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n".encode())
        answer, closed = await read_all(stream, 5)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json_body(answer)["error"] == "request_header_fields_too_large"
    assert closed
    stream = await trio.open_tcp_stream("127.0.0.1", served.port)
    async with stream:  # a malformed request: JSON too
        await stream.send_all(b"GARBAGE\r\n\r\n")
        answer, _ = await read_all(stream, 5)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert json_body(answer)["error"] == "bad_request"


async def stalled_sse_clients(served: Served, n: int) -> list[trio.SocketStream]:
    """`n` SSE clients that read their response head and then stop reading."""
    clients = []
    for _ in range(n):
        stream = await trio.open_tcp_stream("127.0.0.1", served.port)
        stream.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
        request = (f"GET /api/v1/triggers/events/sse HTTP/1.1\r\nHost: x\r\n"
                   f"X-API-Key: {served.key}\r\n\r\n")  # fmt: skip
        await stream.send_all(request.encode())
        head = b""
        while b"retry:" not in head:
            head += await stream.receive_some(4096)
        clients.append(stream)
    with trio.fail_after(5):
        while served.events.status()["subscribers"] < n:  # noqa: ASYNC110 - the app's state
            await trio.sleep(0.01)
    return clients


async def test_a_dropped_sse_subscriber_has_its_connection_closed(served: Served) -> None:
    clients = await stalled_sse_clients(served, 10)
    payload = b'{"x": "' + b"y" * 20_000 + b'"}'
    for _ in range(40):  # far beyond what the socket buffers and a 5-event queue hold
        served.events.publish([("T", payload)], 0)
        await trio.sleep(0.01)
    status = served.events.status()
    assert status["subscribers"] == 0
    assert status["dropped_subscribers"] == 10
    for stream in clients:  # what was buffered, then the end: the server let go
        _, closed = await read_all(stream, 5)
        assert closed
        await stream.aclose()


async def test_shutdown_is_not_held_by_sse_clients_that_do_not_read(served: Served) -> None:
    clients = await stalled_sse_clients(served, 5)
    payload = b'{"x": "' + b"y" * 3_000_000 + b'"}'
    served.events.publish([("T", payload)] * 4, 0)  # within the queue, stuck in the sockets
    await trio.sleep(0.5)
    assert served.events.status()["subscribers"] == 5
    started = time.monotonic()
    served.stop.set()
    with trio.fail_after(5):
        await served.ended.wait()
    assert time.monotonic() - started < 2.0  # the 0.5 s grace, then the stuck ones aborted
    for stream in clients:
        await stream.aclose()
