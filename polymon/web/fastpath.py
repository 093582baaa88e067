"""The orderbook fast path: plain `GET /api/v1/markets/{asset_id}/orderbook` answered at the
ASGI layer, in front of Quart.

The orderbook is the route clients poll hardest, and Quart's request machinery (contexts,
routing, hooks, the Response object) costs several times what reading a book does. This
wrapper answers the common request itself, with the same guard (API key identity and the
tiered rate limit), the same headers, the same metrics and the same body as the Quart route.
Anything unusual goes to Quart untouched, before the rate limiter is charged, so Quart's guard
and error handling stay the one place that decides it:

- a method other than GET, a body, an `Origin` or `Cookie` header (CORS, sessions);
- a query string other than nothing or a single `depth=N` within the route's bounds;
- an asset that is not tracked (Quart answers the 404).

A test drives every case through both paths and compares status, headers and body.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope

from polymon.web.backend import Backend
from polymon.web.guard import Guard
from polymon.web.http import error_body
from polymon.web.httpmetrics import HttpMetrics
from polymon.web.models.markets import MAX_BOOK_DEPTH
from polymon.web.ratelimit import headers as rate_headers

AsgiApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

ROUTE: Final = "/api/v1/markets/<asset_id>/orderbook"
_PATH = re.compile(r"/api/v1/markets/([^/]{1,128})/orderbook")
_DEPTH = re.compile(rb"depth=([1-9][0-9]{0,4})")
# Any of these makes the request one for Quart: CORS, session cookies, bodies.
_DEFER_HEADERS: Final = frozenset({b"origin", b"cookie", b"content-length", b"transfer-encoding"})
_CONTENT_TYPE: Final = (b"content-type", b"application/json")
_encode = msgspec.json.Encoder().encode


class OrderbookFastPath:
    """ASGI middleware: serve plain orderbook reads without Quart, defer the rest to `app`.

    Per request: one regex match on the path, a scan of the header list, a rate-limit check
    (O(1)), the book view (O(depth)) and its encoding.
    """

    def __init__(self, app: AsgiApp, backend: Backend, guard: Guard, metrics: HttpMetrics):
        self.app = app
        self.backend = backend
        self.guard = guard
        self.metrics = metrics
        self.answered = 0  # requests this path answered (the rest went to Quart)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Answer the request if it is a plain orderbook read, else pass it to the app."""
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.fullmatch(scope["path"])
            if match is not None and await self._answer(scope, match.group(1), send):
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: HTTPScope, asset_id: str, send: ASGISendCallable) -> bool:
        started = time.perf_counter()
        depth = _depth(scope["query_string"])
        if depth == 0:
            return False
        api_key = None
        for name, value in scope["headers"]:
            if name in _DEFER_HEADERS:
                return False
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
        view = self.backend.book_view(asset_id, depth)
        if view is None:
            return False
        # As Quart's request.remote_addr, so both paths charge the same bucket.
        client = scope.get("client")
        decision = self.guard.charge(
            self.guard.key_identity(api_key), "GET", scope["path"],
            client[0] if client else "<local>", trio.current_time(), time.time(),
        )  # fmt: skip
        if decision is not None and not decision.allowed:
            status, body = 429, error_body("rate_limited", self.guard.refusal(decision, "data"))
        else:
            status, body = 200, _encode(view)
        head: list[tuple[bytes, bytes]] = [_CONTENT_TYPE, (b"content-length", b"%d" % len(body))]
        if decision is not None:
            head.extend((k.lower().encode(), v.encode()) for k, v in rate_headers(decision).items())
        self.metrics.observe("GET", ROUTE, status, time.perf_counter() - started)
        self.answered += 1
        await send({"type": "http.response.start", "status": status, "headers": head,
                    "trailers": False})  # fmt: skip
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True


def _depth(query_string: bytes) -> int | None:
    """None for no query, N for exactly `depth=N` (1..MAX_BOOK_DEPTH), 0 for anything else."""
    if not query_string:
        return None
    match = _DEPTH.fullmatch(query_string)
    if match is None:
        return 0
    depth = int(match.group(1))
    return depth if depth <= MAX_BOOK_DEPTH else 0
