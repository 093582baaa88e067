"""Serving the app with hypercorn under Trio, with a cheaper keep-alive idle timer.

hypercorn times out idle keep-alive connections with a task: after every response it starts a
new one (`TrioSingleTask.restart`, a `nursery.start`) and when the next request arrives it
cancels it. Under keep-alive load that churn is about a sixth of the event loop, more than
polymon's own orderbook path. `KeepAliveConnection` keeps hypercorn's behaviour exactly (an
idle connection closes `keep_alive_timeout` seconds after its last response; a request in
flight is never timed out; server shutdown closes idle connections and lets busy ones finish)
with one task per connection waiting under a cancel scope whose deadline moves, which costs a
few attribute writes per request. Exactly includes hypercorn's blind spot: a connection that
opens HTTP/2 with prior knowledge and never sends a request is never reported idle.

It also skips the empty write h11 produces for the end of a sized body, which would otherwise
take the send lock and a checkpoint for nothing.

Bounds a client cannot stretch:
- a request whose line and headers pass `MAX_HEADER_BYTES` (16 KiB) gets a JSON 431, and any
  other malformed request a JSON 400 (hypercorn sends them bodiless, and its h11 limit only
  catches headers that arrive in pieces: `HeaderLimit` measures the ones that came whole);
- a connection can be aborted from the app (`connection_aborter()`): the SSE stream of a
  subscriber dropped for not reading is closed at once, not left holding its buffers;
- hypercorn writes to a client with a shielded send, so a client that stops reading holds
  its response (and server shutdown) forever: what is still open `graceful_timeout` after
  shutdown began is aborted.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import socket
import struct
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import hypercorn.protocol as protocols
import hypercorn.trio.run as worker
import msgspec
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Event, RawData
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import TrioSingleTask
from hypercorn.typing import Event as ServerEvent
from hypercorn.typing import TaskGroup

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 16 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)
_CURRENT: contextvars.ContextVar[KeepAliveConnection | None] = contextvars.ContextVar(
    "polymon_connection", default=None
)
_LIVE: weakref.WeakSet[KeepAliveConnection] = weakref.WeakSet()


class IdleTimer(TrioSingleTask):
    """Closes a connection that stays idle for `timeout_s`: a drop-in for hypercorn's idle task.

    `restart` (the connection turned idle) and `stop` (a request arrived) are O(1): they move the
    deadline of one cancel scope, waited on by the connection's one timer task (spawned by the
    first `restart`). As with hypercorn's: server shutdown closes an idle connection at once
    and leaves a busy one to finish its response. `end` (the connection is gone) ends the task.
    """

    def __init__(
        self, timeout_s: float, terminated: ServerEvent, close: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__()
        self._timeout_s = timeout_s
        self._terminated = terminated
        self._close = close
        self._scope: trio.CancelScope | None = None  # the waiting task's, while it waits
        self._idle = False
        self._ended = False

    async def restart(self, task_group: TaskGroup, action: Callable[..., Any]) -> None:
        """The connection is idle from now: close it `timeout_s` from now unless `stop` comes
        first. (`action`, hypercorn's own timeout task, is replaced by this timer.)"""
        if self._ended:
            return
        self._idle = True
        deadline = trio.current_time() + self._timeout_s
        if self._scope is None:
            self._scope = trio.CancelScope(deadline=deadline)
            task_group.spawn(self._wait, self._scope)
        else:
            self._scope.deadline = deadline

    async def stop(self) -> None:
        """A request is in flight: no timeout until the next `restart`."""
        self._idle = False
        if self._scope is not None:
            self._scope.deadline = math.inf

    def end(self) -> None:
        """The connection is gone: stop waiting, close nothing."""
        self._ended = True
        if self._scope is not None:
            self._scope.cancel()

    async def _wait(self, scope: trio.CancelScope) -> None:
        with scope:
            await self._terminated.wait()
        if self._scope is scope:
            self._scope = None  # a later `restart` waits anew
        # Not idle: shutdown came during a request (hypercorn closes the connection after the
        # response), or a request arrived as the deadline passed.
        if self._idle and not self._ended:
            with trio.CancelScope(shield=True):
                await self._close()


class KeepAliveConnection(TCPServer):
    """hypercorn's per-connection server with `IdleTimer` as its idle task, that the app can
    abort (`connection_aborter`)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.idle_timer = IdleTimer(
            self.config.keep_alive_timeout, self.context.terminated, self._initiate_server_close
        )
        self.idle_task = self.idle_timer
        _LIVE.add(self)

    async def run(self) -> None:
        """As hypercorn's, with this connection visible to the app tasks it spawns."""
        token = _CURRENT.set(self)
        try:
            await super().run()
        finally:
            _CURRENT.reset(token)
            _LIVE.discard(self)

    async def _close(self) -> None:
        # hypercorn closes a Connection: close response's socket from the app task, which may
        # be cancelled by then (a 408 for a body still arriving): unshielded, the close was
        # skipped and the connection stayed open for as long as the client kept sending.
        with trio.CancelScope(shield=True):
            await super()._close()

    def abort(self) -> None:
        """Close the connection now with a reset, whatever is in flight (synchronous: a
        blocked send wakes with ClosedResourceError)."""
        sock = getattr(self.stream, "socket", None)  # TLS streams have none: not served here
        if sock is None or sock.fileno() == -1:
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        sock.close()

    async def protocol_send(self, event: Event) -> None:
        """As hypercorn's, minus empty writes."""
        if isinstance(event, RawData) and not event.data:
            return
        await super().protocol_send(event)

    async def _read_data(self) -> None:
        # Reading ends when the peer or the server closes the connection; the timer task must
        # end with it, or a connection dropped mid-request would wait for shutdown.
        try:
            await super()._read_data()
        finally:
            self.idle_timer.end()


def connection_aborter() -> Callable[[], None] | None:
    """What aborts the HTTP/1 connection serving the current request (None outside one, or
    when stock hypercorn serves it)."""
    conn = _CURRENT.get()
    return conn.abort if conn is not None else None


_ERRORS = {
    431: ("request_header_fields_too_large",
          f"the request line and headers must fit in {MAX_HEADER_BYTES} bytes"),
}  # fmt: skip
_encode = msgspec.json.Encoder().encode


class HeaderLimit:
    """ASGI middleware: a request whose line and headers are over MAX_HEADER_BYTES gets a
    JSON 431 (connection closed) and never reaches the app. O(headers) per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Check the size of an HTTP request's head; pass everything else through."""
        if scope["type"] == "http":
            size = len(scope["method"]) + len(scope["raw_path"]) + len(scope["query_string"])
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > MAX_HEADER_BYTES:
                code, detail = _ERRORS[431]
                body = _encode({"error": code, "detail": detail})
                head = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": 431, "headers": head})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
        await self.app(scope, receive, send)


class JsonErrorH11(H11Protocol):
    """hypercorn's HTTP/1 protocol; the errors it answers itself (a malformed request,
    headers too large) are JSON `{"error", "detail"}` like every other error of the API."""

    async def _send_error_response(self, status_code: int) -> None:
        code, detail = _ERRORS.get(status_code, ("bad_request", "malformed HTTP request"))
        body = _encode({"error": code, "detail": detail})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.config.response_headers("h11"),
        ]
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


_WORKER_CLASS = "TCPServer"  # the name hypercorn's Trio worker builds each connection with
_EXTENDED = ("protocol_send", "_read_data", "_initiate_server_close", "_close", "run")
_PROTOCOL_CLASS = "H11Protocol"  # the name hypercorn's ProtocolWrapper builds HTTP/1 with


def install() -> bool:
    """Make hypercorn's Trio worker serve connections with `KeepAliveConnection`; idempotent.

    Returns False, leaving hypercorn as it is, if its worker no longer uses the class this one
    extends or that class lacks a method it overrides or calls (a hypercorn release changed
    them): serving then works as stock hypercorn does.
    """
    current = getattr(worker, _WORKER_CLASS)
    if getattr(protocols, _PROTOCOL_CLASS, None) is H11Protocol and all(
        hasattr(H11Protocol, name) for name in ("_send_error_response", "_send_h11_event")
    ):
        setattr(protocols, _PROTOCOL_CLASS, JsonErrorH11)
    if current is KeepAliveConnection:
        return True
    if current is not TCPServer or not all(hasattr(TCPServer, name) for name in _EXTENDED):
        log.warning("hypercorn's TCPServer is not the one extended here: stock idle timer kept")
        return False
    setattr(worker, _WORKER_CLASS, KeepAliveConnection)
    return True


async def serve(
    app: Any,
    config: HypercornConfig,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the ASGI `app` with hypercorn (`KeepAliveConnection` installed) until the
    shutdown trigger returns; reports the bound URLs when listening. Connections still open
    `graceful_timeout` after the trigger (a client that does not read) are aborted."""
    install()
    config.h11_max_incomplete_size = MAX_HEADER_BYTES

    async with trio.open_nursery() as nursery:

        async def trigger() -> None:
            await shutdown_trigger()
            nursery.start_soon(_abort_stragglers, config, name="http-stragglers")

        await hypercorn_serve(
            HeaderLimit(app), config, shutdown_trigger=trigger, task_status=task_status
        )
        nursery.cancel_scope.cancel()


async def _abort_stragglers(config: HypercornConfig) -> None:
    await trio.sleep(config.graceful_timeout + 0.1)
    stuck = [conn for conn in list(_LIVE) if conn.config is config]
    if stuck:
        log.info("shutdown: aborting %d connections still open", len(stuck))
    for conn in stuck:
        conn.abort()
