"""hypercorn with polymon's keep-alive idle timer (polymon.web.server), over loopback with an
autojump clock (each test asks for it: pytest-trio runs a test with the clock it takes):
keep-alive reuse, the idle timeout after the last response (and only then), a request in
flight never timed out, idle connections closed at shutdown, and every body framing (sized,
empty, chunked) intact without the empty writes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import hypercorn.trio.run
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio.task_group import TaskGroup
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import EventWrapper

from polymon.web.server import IdleTimer, KeepAliveConnection, install, serve

TIMEOUT_S = 5.0  # keep_alive_timeout of the server under test
GRACE_S = 30.0  # graceful_timeout: how long shutdown lets requests in flight finish


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/sleep/N answers after N seconds; /chunked streams two chunks; /empty has no body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
    path: str = scope["path"]
    if path.startswith("/sleep/"):
        await trio.sleep(float(path.removeprefix("/sleep/")))
    if path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"cd", "more_body": False})
        return
    body = b"" if path == "/empty" else path.encode()
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@dataclass
class Server:
    port: int
    stop: trio.Event

    async def connect(self) -> trio.SocketStream:
        return await trio.open_tcp_stream("127.0.0.1", self.port)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.keep_alive_timeout = TIMEOUT_S
    config.accesslog = None
    config.graceful_timeout = GRACE_S
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=stop.wait))
        yield Server(int(binds[0].rsplit(":", 1)[1]), stop)
        stop.set()


async def request(stream: trio.SocketStream, path: str) -> tuple[bytes, bytes]:
    """Send GET `path`; return the response head and its body (sized or chunked, decoded)."""
    await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += await _receive(stream)
    head, _, rest = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        while not rest.endswith(b"0\r\n\r\n"):
            rest += await _receive(stream)
        return head, _dechunk(rest)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += await _receive(stream)
    assert len(rest) == length  # nothing beyond the response on the connection
    return head, rest


async def _receive(stream: trio.SocketStream) -> bytes:
    chunk = await stream.receive_some(65536)
    assert chunk, "the server closed the connection mid-response"
    return chunk


def _dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2 :]


async def seconds_until_closed(stream: trio.SocketStream) -> float:
    """How long until the server closes the connection (EOF or reset); fails if it sends
    anything instead, or never closes it."""
    start = trio.current_time()
    with trio.fail_after(TIMEOUT_S * 10), contextlib.suppress(trio.BrokenResourceError):
        assert await stream.receive_some(65536) == b""
    return trio.current_time() - start


def timer_tasks() -> int:
    """How many idle-timer tasks are running in this trio run."""

    def count(task: trio.lowlevel.Task) -> int:
        mine = getattr(task.coro, "cr_code", None) is IdleTimer._wait.__code__
        return mine + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return count(root)


def test_install_swaps_the_worker_connection_class_once() -> None:
    assert install() is True
    assert install() is True
    assert hypercorn.trio.run.TCPServer is KeepAliveConnection  # type: ignore[attr-defined]


def test_install_leaves_a_changed_hypercorn_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other:
        pass

    monkeypatch.setattr(hypercorn.trio.run, "TCPServer", Other)
    assert install() is False
    assert hypercorn.trio.run.TCPServer is Other  # type: ignore[attr-defined]
    monkeypatch.setattr(hypercorn.trio.run, "TCPServer", TCPServer)
    monkeypatch.delattr(TCPServer, "_initiate_server_close")
    assert install() is False
    assert hypercorn.trio.run.TCPServer is TCPServer  # type: ignore[attr-defined]


async def test_keep_alive_serves_every_framing_on_one_connection(
    server: Server, autojump_clock: object
) -> None:
    async with await server.connect() as stream:
        for _ in range(3):
            head, body = await request(stream, "/a")
            assert head.startswith(b"HTTP/1.1 200")
            assert body == b"/a"
            head, body = await request(stream, "/empty")
            assert b"content-length: 0" in head.lower()
            assert body == b""
            head, body = await request(stream, "/chunked")
            assert body == b"abcd"


async def test_idle_connection_closes_after_the_timeout_and_not_before(
    server: Server, autojump_clock: object
) -> None:
    async with await server.connect() as stream:
        await request(stream, "/a")
        assert TIMEOUT_S <= await seconds_until_closed(stream) < TIMEOUT_S + 1


async def test_connection_that_never_sends_closes_after_the_timeout(
    server: Server, autojump_clock: object
) -> None:
    async with await server.connect() as stream:
        assert TIMEOUT_S <= await seconds_until_closed(stream) < TIMEOUT_S + 1


async def test_each_request_restarts_the_idle_timeout(
    server: Server, autojump_clock: object
) -> None:
    async with await server.connect() as stream:
        for _ in range(5):  # 5 × 0.8 × timeout idle in all, each gap under the timeout
            await trio.sleep(TIMEOUT_S * 0.8)
            _head, body = await request(stream, "/b")
            assert body == b"/b"


async def test_request_in_flight_is_never_timed_out(server: Server, autojump_clock: object) -> None:
    async with await server.connect() as stream:
        slow = TIMEOUT_S * 3
        start = trio.current_time()
        _head, body = await request(stream, f"/sleep/{slow}")
        assert body == f"/sleep/{slow}".encode()
        assert trio.current_time() - start >= slow
        _head, body = await request(stream, "/after")  # still open: idle only from the response
        assert body == b"/after"
        assert TIMEOUT_S <= await seconds_until_closed(stream) < TIMEOUT_S + 1


async def test_shutdown_closes_idle_connections_at_once(
    server: Server, autojump_clock: object
) -> None:
    async with await server.connect() as stream:
        await request(stream, "/a")
        server.stop.set()
        assert await seconds_until_closed(stream) < 1


async def test_shutdown_lets_a_request_in_flight_finish(
    server: Server, autojump_clock: object
) -> None:
    async with await server.connect() as stream:
        await request(stream, "/a")
        await stream.send_all(b"GET /sleep/10 HTTP/1.1\r\nHost: t\r\n\r\n")
        await trio.sleep(1)
        server.stop.set()
        data = b""
        while b"/sleep/10" not in data:
            data += await _receive(stream)
        assert data.startswith(b"HTTP/1.1 200")
        await seconds_until_closed(stream)  # then closed: the server is shutting down


async def test_timer_task_ends_with_its_connection(server: Server, autojump_clock: object) -> None:
    assert timer_tasks() == 0
    idle = await server.connect()  # dropped by the client while idle
    await request(idle, "/a")
    busy = await server.connect()  # dropped by the client mid-request
    await busy.send_all(b"GET /sleep/100 HTTP/1.1\r\nHost: t\r\n\r\n")
    await trio.sleep(1)
    assert timer_tasks() == 2
    await idle.aclose()
    await trio.sleep(0.1)
    assert timer_tasks() == 1  # at once, not after the idle timeout
    await busy.aclose()
    await trio.sleep(200)  # the request's task runs out; no timer waits for shutdown
    assert timer_tasks() == 0


async def test_timer_waits_anew_after_shutdown_came_during_a_request(
    autojump_clock: object,
) -> None:
    # HTTP/2 reports a connection idle again after shutdown once its last stream ends (then
    # sends GOAWAY): the timer must close it then, though its first wait ended while busy.
    terminated = EventWrapper()
    closed: list[float] = []

    async def close() -> None:
        closed.append(trio.current_time())

    timer = IdleTimer(TIMEOUT_S, terminated, close)
    async with TaskGroup() as group:
        await timer.restart(group, close)
        await trio.sleep(1)
        await timer.stop()  # a request in flight
        await terminated.set()  # shutdown during it: nothing is closed
        await trio.sleep(TIMEOUT_S * 2)
        assert closed == []
        idle_at = trio.current_time()
        await timer.restart(group, close)  # its response went out
        await trio.sleep(0.1)
        assert closed == [idle_at]
