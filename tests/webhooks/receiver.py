"""Scripted webhook receivers and an in-process network to reach them.

A `Receiver` is a Quart-Trio app that answers each POST with the next action of its script
(a status, a `Reply`, or `HANG`) and records what it got. `Network` puts receivers behind host
names: its `resolve` is the delivery's resolver (names -> public-looking addresses, never
contacted) and its `transport` routes each request by `Host` header to the receiver's app
in process, so tests run exactly under `autojump_clock` (real sockets would let the clock jump
while bytes are in flight). The loopback tests serve the same app with Hypercorn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import httpx
import trio
from quart import Response, request
from quart_trio import QuartTrio

HANG: Final = "hang"


@dataclass(frozen=True)
class Reply:
    """An answer with headers and a body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Action = int | Reply | str


@dataclass(frozen=True)
class Call:
    """One request a receiver got: trio time, path, lower-case headers, body."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A Quart-Trio app answering with `script`, then `default` for ever."""

    def __init__(self, script: Sequence[Action] = (), *, default: Action = 200) -> None:
        self.script = list(script)
        self.default = default
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.got = trio.Event()
        self.app = QuartTrio(__name__)
        self.app.add_url_rule("/", "root", self._hook, methods=["POST"])
        self.app.add_url_rule("/<path:path>", "hook", self._hook, methods=["POST"])

    async def _hook(self, path: str = "") -> Response:
        body = await request.get_data()
        headers = {name.lower(): value for name, value in request.headers.items()}
        index = len(self.calls)
        self.calls.append(Call(trio.current_time(), request.path, headers, body))
        self.got.set()
        action = self.script[index] if index < len(self.script) else self.default
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if action == HANG:
                await trio.sleep_forever()
            if isinstance(action, Reply):
                return Response(action.body, status=action.status, headers=action.headers)
            assert isinstance(action, int)
            return Response(b"", status=action)
        finally:
            self.in_flight -= 1

    @property
    def times(self) -> list[float]:
        """When each request arrived (trio's clock)."""
        return [call.at for call in self.calls]


class Network:
    """Receivers behind host names, reached in process; records lookups and requests."""

    def __init__(self) -> None:
        self.receivers: dict[str, Receiver] = {}
        self.addresses: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.requests: list[httpx.Request] = []
        self.transport = _Routing(self)

    def add(self, name: str, receiver: Receiver, addresses: Sequence[str] = ()) -> str:
        """Serve `receiver` as https://`name`/hook; returns that URL."""
        self.receivers[name] = receiver
        self.addresses[name] = list(addresses) or [f"93.184.{len(self.receivers)}.10"]
        return f"https://{name}/hook"

    async def resolve(self, host: str, port: int) -> list[str]:
        """The fake resolver: the addresses registered for `host`."""
        self.lookups.append(host)
        await trio.lowlevel.checkpoint()
        if host not in self.addresses:
            raise OSError(f"unknown host {host}")
        return self.addresses[host]


class _Routing(httpx.AsyncBaseTransport):
    def __init__(self, network: Network) -> None:
        self.network = network
        self.apps: dict[str, httpx.ASGITransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.network.requests.append(request)
        host = request.headers["host"]
        receiver = self.network.receivers.get(host)
        if receiver is None:
            raise httpx.ConnectError(f"nothing listens for {host}", request=request)
        transport = self.apps.setdefault(host, httpx.ASGITransport(receiver.app))
        return await transport.handle_async_request(request)
