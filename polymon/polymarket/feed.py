"""One market-channel WebSocket connection: connect, subscribe, keep alive, reconnect.

A `Connection` carries at most `max_assets_per_connection` tokens. It subscribes with
`initial_dump` and `custom_feature_enabled`, adds and removes tokens with the `operation`
message (no reconnect), sends text `PING` every `ping_interval_secs`, and treats a connection
with no frame for `silence_timeout_secs` as dead. The upgrade has a hard deadline because
trio-websocket ignores `connect_timeout` when the server never answers it. Reconnects back off
exponentially with full jitter; `healthy_after_secs` of uptime resets the backoff.
"""

from __future__ import annotations

import contextlib
import enum
import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import urlsplit

import msgspec
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

from polymon.config import PolymarketConfig
from polymon.errors import first_error
from polymon.polymarket.ingest import Ingest
from polymon.polymarket.recording.writer import Tap

_RECEIVE_BUFFER_BYTES = 256 * 1024
_MESSAGE_QUEUE = 256  # frames trio-websocket may read ahead of the hot path
_DISCONNECT_TIMEOUT_SECS = 2.0
_encode = msgspec.json.Encoder().encode


class ConnState(enum.StrEnum):
    """Connection state as shown by /health/subscriptions."""

    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    BACKOFF = "backoff"


def backoff_delay(attempt: int, min_secs: float, max_secs: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, min * 2**attempt)]."""
    return rng.uniform(0.0, min(max_secs, min_secs * 2.0 ** min(attempt, 30)))


def subscribe_message(asset_ids: Iterable[str], operation: str | None = None) -> bytes:
    """The JSON subscription frame: the initial form, or `operation` subscribe/unsubscribe."""
    body: dict[str, object] = {"assets_ids": list(asset_ids)}
    if operation is None:
        body |= {"type": "market", "initial_dump": True, "custom_feature_enabled": True}
    else:
        body["operation"] = operation
        if operation == "subscribe":
            body |= {"initial_dump": True, "custom_feature_enabled": True}
    return _encode(body)


Connector = Callable[[PolymarketConfig], AbstractAsyncContextManager[WebSocketConnection]]


@asynccontextmanager
async def open_venue_websocket(cfg: PolymarketConfig) -> AsyncIterator[WebSocketConnection]:
    """Open the market-channel WebSocket at `cfg.ws_url` (the default Connector).

    polymon opens and closes the TCP/TLS stream itself: trio-websocket 0.12.2 leaks the socket
    when the handshake is cancelled (a shutdown or a handshake deadline) and when the server
    closes first, one file descriptor per reconnect.
    """
    parts = urlsplit(cfg.ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"websocket URL {cfg.ws_url!r} must be ws:// or wss:// with a host")
    secure = parts.scheme == "wss"
    host, port = parts.hostname, parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    if secure:
        stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=ssl.create_default_context(), https_compatible=True
        )
    else:
        stream = await trio.open_tcp_stream(host, port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(
                nursery, stream, host if port in (80, 443) else f"{host}:{port}", resource,
                message_queue_size=_MESSAGE_QUEUE, max_message_size=cfg.max_frame_bytes,
                receive_buffer_size=_RECEIVE_BUFFER_BYTES,
            )  # fmt: skip
            try:
                yield ws
                with trio.move_on_after(_DISCONNECT_TIMEOUT_SECS):
                    await ws.aclose()  # a polite close; on errors or cancellation, just drop it
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


class FeedActivity:
    """When any connection of the process last saw a data frame (for frozen-feed detection)."""

    __slots__ = ("last_data",)

    def __init__(self) -> None:
        self.last_data = float("-inf")


class Connection:
    """A supervised market-channel connection for a set of tokens.

    `on_down(asset_ids, reason)` is called (synchronously) whenever an established or attempted
    session ends, so the owner can mark those books stale. With a `tap`, every frame received,
    subscription sent and session opened or ended is also recorded (see `recording.writer`).
    """

    def __init__(
        self,
        cfg: PolymarketConfig,
        ingest: Ingest,
        *,
        name: str,
        activity: FeedActivity,
        on_down: Callable[[list[str], str], None],
        data_silence_secs: float,
        rng: random.Random | None = None,
        start_delay_secs: float = 0.0,
        connect: Connector = open_venue_websocket,
        tap: Tap | None = None,
    ) -> None:
        self.cfg = cfg
        self.ingest = ingest
        self.name = name
        self.activity = activity
        self.on_down = on_down
        self.data_silence_secs = data_silence_secs
        self.rng = rng or random.Random()
        self.start_delay_secs = start_delay_secs
        self.connect = connect
        self.tap = tap
        self.assets: set[str] = set()
        self.state = ConnState.IDLE
        self.connects = 0
        self.failures = 0
        self.last_error = ""
        self.last_frame = -math.inf
        self.last_data = -math.inf
        self.connected_since = -math.inf
        self._ws: WebSocketConnection | None = None
        self._assets_changed = trio.Event()
        self._dead_reason = ""

    @property
    def room(self) -> int:
        """How many more tokens this connection may carry."""
        return self.cfg.max_assets_per_connection - len(self.assets)

    async def subscribe(self, asset_ids: Iterable[str]) -> None:
        """Add tokens; sent at once with `operation: subscribe` when the connection is open."""
        new = [a for a in asset_ids if a not in self.assets]
        if not new:
            return
        self.assets.update(new)
        self._assets_changed.set()
        await self._send(subscribe_message(new, "subscribe"))

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Remove tokens with `operation: unsubscribe` (no reconnect)."""
        gone = [a for a in asset_ids if a in self.assets]
        if not gone:
            return
        self.assets.difference_update(gone)
        await self._send(subscribe_message(gone, "unsubscribe"))

    async def _send(self, message: bytes) -> None:
        ws = self._ws
        if ws is None:
            return  # the next session subscribes to the whole current set
        if self.tap is not None:
            self.tap.sent(message)
        with contextlib.suppress(ConnectionClosed):  # the reader notices and reconnects
            await ws.send_message(message.decode())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a session open for as long as the task lives, reconnecting with backoff."""
        task_status.started()
        if self.start_delay_secs:
            await trio.sleep(self.start_delay_secs)
        attempt = 0
        while True:
            while not self.assets:
                self.state = ConnState.IDLE
                self._assets_changed = trio.Event()
                await self._assets_changed.wait()
            started = trio.current_time()
            reason = await self._session()
            self.failures += 1
            self.last_error = reason
            if self.tap is not None:
                self.tap.closed(reason, sorted(self.assets))
            self.on_down(sorted(self.assets), reason)
            if self.connected_since > started and (
                trio.current_time() - self.connected_since >= self.cfg.healthy_after_secs
            ):
                attempt = 0
            self.state = ConnState.BACKOFF
            await trio.sleep(
                backoff_delay(
                    attempt, self.cfg.reconnect_min_secs, self.cfg.reconnect_max_secs, self.rng
                )
            )
            attempt += 1

    async def _session(self) -> str:
        """One connection attempt and its life; returns why it ended."""
        cfg = self.cfg
        self.state = ConnState.CONNECTING
        self._dead_reason = ""
        reason = ""
        # Errors may arrive wrapped in ExceptionGroups from trio-websocket's own nursery.
        try:
            with trio.CancelScope(
                deadline=trio.current_time() + cfg.handshake_timeout_secs
            ) as handshake:
                async with self.connect(cfg) as ws:
                    handshake.deadline = math.inf
                    await self._serve(ws)
            if handshake.cancelled_caught:
                reason = "handshake_timeout"
        except* HandshakeError as group:
            reason = f"handshake: {type(first_error(group)).__name__}"
        except* ConnectionClosed as group:
            reason = _closed_reason(first_error(group))
        except* OSError as group:
            error = first_error(group)
            reason = f"os: {error.strerror or type(error).__name__}"
        finally:
            self._ws = None
        return reason or self._dead_reason or "ended"

    async def _serve(self, ws: WebSocketConnection) -> None:
        now = trio.current_time()
        self.last_frame = self.last_data = now
        self.connected_since = now
        self.connects += 1
        self._ws = ws
        subscription = subscribe_message(sorted(self.assets))
        if self.tap is not None:
            self.tap.opened()
            self.tap.sent(subscription)
        await ws.send_message(subscription.decode())
        self.state = ConnState.OPEN
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pinger, ws, nursery.cancel_scope)
            nursery.start_soon(self._watchdog, nursery.cancel_scope)
            await self._reader(ws, nursery.cancel_scope)

    def _end(self, scope: trio.CancelScope, reason: str) -> None:
        if not self._dead_reason:
            self._dead_reason = reason
        scope.cancel()

    async def _reader(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        handle = self.ingest.handle
        activity = self.activity
        current_time = trio.current_time
        clock_ns = time.time_ns
        record = None if self.tap is None else self.tap.frame
        try:
            while True:
                frame = await ws.get_message()
                now = current_time()
                self.last_frame = now
                t_ns = clock_ns()
                if record is not None:
                    record(frame, now, t_ns)
                if handle(frame, now, t_ns // 1000):
                    self.last_data = activity.last_data = now
        except ConnectionClosed as e:
            self._end(scope, _closed_reason(e))

    async def _pinger(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                await trio.sleep(self.cfg.ping_interval_secs)
                await ws.send_message("PING")
        except ConnectionClosed as e:
            self._end(scope, _closed_reason(e))

    async def _watchdog(self, scope: trio.CancelScope) -> None:
        # Sleeps until the earliest moment a check could fail (frames meanwhile move it), so a
        # healthy connection wakes it about once per silence timeout, not every second: at
        # venue size that is hundreds of wake-ups a second saved.
        silence = self.cfg.silence_timeout_secs
        data_silence = self.data_silence_secs
        while True:
            now = trio.current_time()
            if now - self.last_frame >= silence:
                self._end(scope, "silence")
                return
            if now - self.last_data < data_silence:
                data_due = self.last_data + data_silence
            elif now - self.activity.last_data < 5.0:
                self._end(scope, "data_silence")  # only PONGs while other connections flow
                return
            else:
                data_due = now + 1.0  # every connection is quiet: look again in a second
            await trio.sleep_until(min(self.last_frame + silence, data_due))


def _closed_reason(e: ConnectionClosed) -> str:
    return f"closed {e.reason.code}" if e.reason is not None else "closed"
