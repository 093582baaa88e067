"""The Quart-Trio application: routes translate HTTP to the service's read-only views."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from polymon.core.model import BookView

_encode = msgspec.json.Encoder().encode
MAX_BODY_BYTES = 64 * 1024


class BookSource(Protocol):
    """What the web layer needs from the running service."""

    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset, or None when it is not tracked."""

    def health(self) -> dict[str, Any]:
        """A small summary for /health."""


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Encode `body` with msgspec as an application/json response."""
    return Response(_encode(body), status=status, headers=headers, content_type="application/json")


def error(status: int, code: str, detail: object = None) -> Response:
    """The JSON error shape of every 4xx/5xx: {"error", "detail"}."""
    return json_response({"error": code, "detail": detail}, status)


def create_app(source: BookSource) -> QuartTrio:
    """Build the app over `source`; the caller serves it with hypercorn."""
    app = QuartTrio("polymon")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.errorhandler(HTTPException)
    async def _http_error(e: HTTPException) -> Response:
        code = (e.name or "error").lower().replace(" ", "_")
        response = error(e.code or 500, code, e.description)
        for name in ("Allow", "Retry-After"):
            value = e.get_response().headers.get(name)
            if value:
                response.headers[name] = value
        return response

    @app.errorhandler(UnicodeDecodeError)
    async def _not_utf8(_e: UnicodeDecodeError) -> Response:
        return error(400, "bad_request", "request body is not UTF-8")

    @app.get("/health")
    async def health() -> Response:
        return json_response({"status": "ok", **source.health()})

    @app.get("/api/v1/markets/<asset_id>/orderbook")
    async def orderbook(asset_id: str) -> Response:
        depth_arg = request.args.get("depth")
        depth: int | None = None
        if depth_arg is not None:
            if not depth_arg.isdigit() or not 0 < int(depth_arg) <= 10_000:
                return error(400, "bad_request", "depth must be an integer in 1..10000")
            depth = int(depth_arg)
        view = source.book_view(asset_id, depth)
        if view is None:
            return error(404, "not_found", f"asset {asset_id[:100]} is not tracked")
        return json_response(view)

    return app
