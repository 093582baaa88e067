"""Slow and stalled clients against the real service: a body trickled a byte at a time, huge
headers, SSE clients that stop reading (dropped, their connections closed), and SIGTERM with
such clients connected. Other clients are served throughout."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from pathlib import Path

import pytest
import trio

from polymon.web.keys import KeyStore
from tests.faults.harness import Polymon, Simulator, sim_config

pytestmark = pytest.mark.slow
BODY_TIMEOUT_SECS = 2.0  # the default is 10 s (tests/web/test_http_bounds.py)


async def read_until_closed(stream: trio.SocketStream, limit: float) -> tuple[bytes, bool]:
    data = b""
    with trio.move_on_after(limit):
        while True:
            try:
                chunk = await stream.receive_some(1 << 16)
            except trio.BrokenResourceError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
    return data, False


async def stalled_sse(port: int, key: str) -> trio.SocketStream:
    """An SSE client with a 4 KiB receive buffer that reads the response head, then nothing."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    request = f"GET /api/v1/triggers/events/sse HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n"
    await stream.send_all(request.encode())
    head = b""
    while b"retry:" not in head:
        head += await stream.receive_some(4096)
    return stream


def json_of(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    result: dict[str, object] = json.loads(body)
    return result


async def test_slow_and_stalled_clients_are_bounded(tmp_path: Path, simulator: Simulator) -> None:
    config = {
        "polymarket": sim_config(simulator), "storage": {"enabled": False},
        "http": {"body_timeout_secs": BODY_TIMEOUT_SECS, "rate_limit_enabled": False},
        "webhooks": {"sse_client_queue": 10},
    }  # fmt: skip
    service = Polymon(tmp_path, config)
    _, key = KeyStore(service.data_dir).create("slow", "enterprise")
    auth = {"X-API-Key": key}
    service.start()
    try:
        await service.wait_ready()
        tokens = await simulator.tokens()
        async with trio.open_nursery() as nursery:  # triggers that fire on every few quotes
            for token in tokens:
                condition = {"type": "QUOTE_VELOCITY", "count": 2, "window_ms": 150}
                body = {"asset_id": token, "cooldown_ms": 0, "condition": condition}
                nursery.start_soon(_post_trigger, service, auth, body)
        stalled = [await stalled_sse(service.port, key) for _ in range(20)]
        deadline = time.monotonic() + 60
        while True:
            status = (await service.get("/api/v1/triggers/events/status")).json()
            if status["dropped_subscribers"] >= 20:
                break
            assert time.monotonic() < deadline, status
            await trio.sleep(0.2)
        for stream in stalled:  # dropped: the server let go of each connection
            _, closed = await read_until_closed(stream, 5)
            assert closed
            await stream.aclose()
        book = await service.get(f"/api/v1/markets/{tokens[0]}/orderbook")
        assert book.status_code == 200  # everyone else is served

        # A body at one byte every 0.2 s: 408 JSON at the body timeout, connection closed.
        stream = await trio.open_tcp_stream("127.0.0.1", service.port)
        async with stream:
            await stream.send_all(
                f"POST /triggers HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
            )
            started = time.monotonic()
            async with trio.open_nursery() as nursery:

                async def trickle() -> None:
                    for _ in range(999):
                        await stream.send_all(b" ")
                        await trio.sleep(0.2)

                nursery.start_soon(trickle)
                answer, closed = await read_until_closed(stream, 15)
                nursery.cancel_scope.cancel()
            slow_body_secs = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
        assert json_of(answer)["error"] == "request_timeout"
        assert closed
        assert slow_body_secs < BODY_TIMEOUT_SECS + 2

        # Headers of 1 MiB (arriving in pieces) and of 17 KiB (arriving whole): JSON 431.
        for size in (1 << 20, 17 * 1024):
            stream = await trio.open_tcp_stream("127.0.0.1", service.port)
            async with stream:
                request = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * size}\r\n\r\n"
                # (answered and closed before all of it was sent: a broken pipe)
                with trio.move_on_after(10), contextlib.suppress(trio.BrokenResourceError):
                    await stream.send_all(request.encode())
                answer, closed = await read_until_closed(stream, 5)
            assert answer.startswith(b"HTTP/1.1 431"), (size, answer[:300])
            assert json_of(answer)["error"] == "request_header_fields_too_large"

        # SIGTERM while stalled SSE clients hold their connections.
        stalled = [await stalled_sse(service.port, key) for _ in range(5)]
        code, stop_secs = await service.stop(signal.SIGTERM)
        for stream in stalled:
            await stream.aclose()
    finally:
        service.ensure_dead()
    assert code == 0
    assert stop_secs < 10
    print(f"slow clients: 20 stalled SSE clients dropped and closed; slow body 408 after"
          f" {slow_body_secs:.2f} s; SIGTERM with 5 stalled clients {stop_secs:.2f} s")  # fmt: skip


async def _post_trigger(service: Polymon, auth: dict[str, str], body: object) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        response = await client.post("/triggers", headers=auth, json=body)
        assert response.status_code == 201, response.text
