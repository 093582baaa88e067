"""The Quart-Trio application: every route of the API, documented by OpenAPI 3.1, behind one
guard (keys, sessions, rate limits, CORS), with every error as JSON.

Routes live in `polymon.web.routes.*` (one blueprint per area) and translate HTTP to the
`Backend` the service implements; nothing here reads books or storage directly.
"""

from __future__ import annotations

import time

import msgspec
from quart import Response, g, request
from quart_schema import RequestSchemaValidationError
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from polymon.config import HttpConfig
from polymon.errors import RequestError, StorageError
from polymon.web import openapi
from polymon.web.backend import Backend, TriggerSource
from polymon.web.context import Context
from polymon.web.docs import docs_blueprint
from polymon.web.events import EventBuffer
from polymon.web.fastpath import OrderbookFastPath
from polymon.web.guard import Guard
from polymon.web.http import error
from polymon.web.httpmetrics import HttpMetrics
from polymon.web.keys import KeyStore
from polymon.web.routes import activity, admin, alerts, export, markets, status
from polymon.web.ui import ui_blueprint

DESCRIPTION = """Live Polymarket L2 order books, trigger alerts (SSE and signed webhooks) and
ClickHouse history from one process.

Protected routes take `X-API-Key: <key>` (create one with `polymon keys create`) or the session
cookie set by `POST /api/v1/auth`. Requests are rate-limited per minute by tier (free 60/15,
pro 120/30, enterprise 600/120 for data/admin routes), keyed by API key or, without one, by
client address; every response carries `X-RateLimit-Limit`, `-Remaining`, `-Reset` (Unix
seconds) and `-Tier`. Errors are JSON `{"error", "detail"}`. Prices and sizes are exact
decimal strings."""


async def _drain_body(response: Response) -> None:
    """Read whatever is left of the request body (a 401, 405 or 429 answered before reading
    it): hypercorn otherwise stalls the next request on a keep-alive connection. After a 408
    (the body was too slow) nothing more is waited for."""
    if response.status_code == 408:
        response.headers["Connection"] = "close"
        return
    try:
        await request.get_data(cache=False, as_text=False, parse_form_data=False)
    except HTTPException:  # too large or too slow: do not reuse the connection
        response.headers["Connection"] = "close"


def create_app(
    backend: Backend,
    events: EventBuffer | None = None,
    *,
    triggers: TriggerSource | None = None,
    keys: KeyStore | None = None,
    http: HttpConfig | None = None,
    heartbeat_secs: float = 15.0,
    version: str = "0.1.0",
) -> QuartTrio:
    """Build the app; the caller serves it with hypercorn.

    Without a key store every protected route answers 401.
    """
    cfg = http or HttpConfig()
    app = QuartTrio("polymon", static_folder=None)  # /static/ is served by web.ui
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes
    app.config["BODY_TIMEOUT"] = cfg.body_timeout_secs
    openapi.install(app, title="polymon", version=version, description=DESCRIPTION)
    guard = Guard(cfg, keys)
    metrics = HttpMetrics()
    collector = backend.metrics_collector()
    if collector is not None:
        metrics.register(collector)
    ctx = Context(
        backend=backend, triggers=triggers, events=events or EventBuffer(), guard=guard,
        http=cfg, heartbeat_secs=heartbeat_secs,
    )  # fmt: skip
    for bp in (
        status.blueprint(ctx),
        markets.blueprint(ctx),
        export.blueprint(ctx),
        alerts.blueprint(ctx),
        admin.blueprint(ctx, metrics),
        activity.blueprint(ctx, metrics),
        docs_blueprint(),
        ui_blueprint(),
    ):
        app.register_blueprint(bp)

    @app.before_request
    async def _guard() -> Response | None:
        g.started = time.perf_counter()
        return guard.before()

    @app.after_request
    async def _after(response: Response) -> Response:
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        metrics.observe(
            request.method, route, response.status_code, time.perf_counter() - g.started
        )
        if request.content_length or "Transfer-Encoding" in request.headers:
            await _drain_body(response)
        return guard.after(response)

    @app.errorhandler(RequestError)
    async def _request_error(e: RequestError) -> Response:
        return error(e.status, e.error, e.detail)

    @app.errorhandler(StorageError)
    async def _storage_error(e: StorageError) -> Response:
        return error(503, "storage_unavailable", str(e))

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema_error(e: RequestSchemaValidationError) -> Response:
        return error(400, "bad_request", str(e.validation_error))

    @app.errorhandler(msgspec.ValidationError)
    async def _validation_error(e: msgspec.ValidationError) -> Response:
        return error(400, "bad_request", str(e))

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

    # Quart's own entry point stays behind it, so the test client takes the same path.
    app.asgi_app = OrderbookFastPath(app.asgi_app, backend, guard, metrics)  # type: ignore[method-assign]
    return app
