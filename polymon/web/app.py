"""The Quart-Trio application: routes translate HTTP to the service's read-only views."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from quart import Response, make_response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from polymon.core.model import BookView
from polymon.core.triggers import Trigger
from polymon.errors import RequestError
from polymon.web.events import EventBuffer
from polymon.web.keys import KeyStore
from polymon.web.sse import last_event_id, sse_stream

_encode = msgspec.json.Encoder().encode
MAX_BODY_BYTES = 64 * 1024


class BookSource(Protocol):
    """What the web layer needs from the running service."""

    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset, or None when it is not tracked."""

    def health(self) -> dict[str, Any]:
        """A small summary for /health."""


class TriggerSource(Protocol):
    """The trigger registry as the web layer uses it."""

    async def register(self, body: bytes) -> tuple[Trigger, str]:
        """Validate and add a trigger; returns it and its webhook signing secret."""

    def remove(self, trigger_id: str) -> bool:
        """Remove a trigger; False if unknown."""

    def remove_all(self) -> int:
        """Remove every trigger; returns how many."""

    async def init_production(self) -> int:
        """Register the configured production trigger set; returns how many were created."""

    def listing(self) -> list[dict[str, object]]:
        """Every trigger, without secrets."""


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Encode `body` with msgspec as an application/json response."""
    return Response(_encode(body), status=status, headers=headers, content_type="application/json")


def error(status: int, code: str, detail: object = None) -> Response:
    """The JSON error shape of every 4xx/5xx: {"error", "detail"}."""
    return json_response({"error": code, "detail": detail}, status)


def create_app(
    source: BookSource,
    events: EventBuffer | None = None,
    *,
    heartbeat_secs: float = 15.0,
    triggers: TriggerSource | None = None,
    keys: KeyStore | None = None,
) -> QuartTrio:
    """Build the app over `source`; the caller serves it with hypercorn.

    Protected routes need an `X-API-Key` that `keys` knows; without a key store they answer
    401 to everyone.
    """
    app = QuartTrio("polymon")
    buffer = events if events is not None else EventBuffer()

    def unauthorized() -> Response | None:
        key = request.headers.get("X-API-Key", "")
        if keys is not None and key and keys.verify(key) is not None:
            return None
        return error(401, "unauthorized", "a valid X-API-Key header is required")

    def no_triggers() -> Response:
        return error(503, "unavailable", "triggers are not enabled in this process")

    @app.errorhandler(RequestError)
    async def _request_error(e: RequestError) -> Response:
        return error(e.status, e.error, e.detail)

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

    @app.get("/api/v1/triggers/events/sse")
    async def events_sse() -> Response:
        last_id = last_event_id(
            request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
        )
        response = await make_response(
            sse_stream(buffer, last_id, heartbeat_secs),
            {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
             "X-Accel-Buffering": "no"},
        )  # fmt: skip
        assert isinstance(response, Response)
        response.timeout = None
        return response

    @app.get("/api/v1/triggers/events")
    async def events_recent() -> Response:
        limit_arg = request.args.get("limit", "100")
        if not limit_arg.isdigit() or not 0 < int(limit_arg) <= 10_000:
            return error(400, "bad_request", "limit must be an integer in 1..10000")
        kind = request.args.get("type")
        recent = buffer.recent(int(limit_arg), kind)
        body = [{"id": e.id, "type": e.type, "data": msgspec.Raw(e.data)} for e in recent]
        return json_response({"events": body, "count": len(body)})

    @app.get("/triggers")
    async def triggers_list() -> Response:
        if (denied := unauthorized()) is not None:
            return denied
        if triggers is None:
            return no_triggers()
        listing = triggers.listing()
        return json_response({"triggers": listing, "count": len(listing)})

    @app.post("/triggers")
    async def triggers_create() -> Response:
        if (denied := unauthorized()) is not None:
            return denied
        if triggers is None:
            return no_triggers()
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        trigger, secret = await triggers.register(body)
        out: dict[str, object] = {"trigger_id": trigger.trigger_id}
        if secret:
            out["webhook_secret"] = secret  # shown once: the receiver verifies with it
        return json_response(out, 201)

    @app.delete("/triggers")
    async def triggers_delete() -> Response:
        if (denied := unauthorized()) is not None:
            return denied
        if triggers is None:
            return no_triggers()
        trigger_id = request.args.get("trigger_id") or request.args.get("id")
        if trigger_id is None:
            body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
            try:
                trigger_id = msgspec.json.decode(body, type=dict[str, str]).get("trigger_id")
            except msgspec.DecodeError:
                trigger_id = None
        if not trigger_id:
            return error(400, "bad_request", "give trigger_id as a query parameter or in a body")
        if not triggers.remove(trigger_id):
            return error(404, "not_found", f"no trigger {trigger_id[:80]}")
        return json_response({"deleted": trigger_id})

    @app.post("/admin/delete-all-triggers")
    async def triggers_delete_all() -> Response:
        if (denied := unauthorized()) is not None:
            return denied
        if triggers is None:
            return no_triggers()
        return json_response({"deleted": triggers.remove_all()})

    @app.post("/admin/init-triggers")
    async def triggers_init() -> Response:
        if (denied := unauthorized()) is not None:
            return denied
        if triggers is None:
            return no_triggers()
        return json_response({"created": await triggers.init_production()})

    @app.get("/api/v1/triggers/events/status")
    async def events_status() -> Response:
        return json_response(buffer.status())

    return app
