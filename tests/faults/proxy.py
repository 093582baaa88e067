"""A fault-injecting TCP proxy under Trio (test code): what toxiproxy does, for one upstream.

Modes, switched at any time (every live connection is reset on a switch, so a client's pooled
connections meet the new mode at once):

- `pass`: bytes flow both ways;
- `refuse`: each connection is reset as soon as it is accepted (the server is down);
- `blackhole`: connections are accepted and read, nothing is forwarded or answered (a hung
  server, a dead route);
- `drop_replies`: requests reach the upstream, which runs them, but the connection is reset as
  soon as its reply starts (the ambiguous failure: committed, yet the client saw an error).
"""

from __future__ import annotations

import contextlib
import socket
import struct

import trio

MODES = ("pass", "refuse", "blackhole", "drop_replies")
_LINGER_RST = struct.pack("ii", 1, 0)


def _reset(stream: trio.SocketStream) -> None:
    """Close with RST (SO_LINGER 0), not FIN: what a crashed peer looks like."""
    with contextlib.suppress(OSError):
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    stream.socket.close()


class FaultProxy:
    """Listens on 127.0.0.1 (port 0) and forwards to `upstream_port` as `mode` says."""

    def __init__(self, upstream_port: int, mode: str = "pass") -> None:
        self.upstream_port = upstream_port
        self.mode = mode
        self.port = 0
        self.accepted = 0
        self.replies_dropped = 0
        self._live: set[trio.CancelScope] = set()
        self._clients: set[trio.SocketStream] = set()

    def set(self, mode: str) -> None:
        """Switch mode; every open connection is reset."""
        assert mode in MODES, mode
        self.mode = mode
        for client in list(self._clients):
            _reset(client)
        for scope in list(self._live):
            scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the listening port."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.accepted += 1
        mode = self.mode
        if mode == "refuse":
            _reset(client)
            return
        with trio.CancelScope() as scope:
            self._live.add(scope)
            self._clients.add(client)
            try:
                if mode == "blackhole":
                    await self._swallow(client)
                else:
                    await self._forward(client, drop_replies=mode == "drop_replies")
            finally:
                self._live.discard(scope)
                self._clients.discard(client)
        if client.socket.fileno() != -1:
            _reset(client)

    @staticmethod
    async def _swallow(client: trio.SocketStream) -> None:
        try:
            while await client.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _forward(self, client: trio.SocketStream, *, drop_replies: bool) -> None:
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", self.upstream_port)
        except OSError:
            return
        async with upstream, trio.open_nursery() as nursery:

            async def pump(source: trio.SocketStream, sink: trio.SocketStream, reply: bool) -> None:
                # Each direction in its own try: with strict exception groups a broken pipe
                # in one would otherwise surface as a group; when one ends, both end.
                try:
                    while data := await source.receive_some(65536):
                        if reply and drop_replies:
                            self.replies_dropped += 1
                            break
                        await sink.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(pump, client, upstream, False)
            nursery.start_soon(pump, upstream, client, True)
