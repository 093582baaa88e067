"""Admin and lifecycle operations (protected), browser sessions, and Prometheus metrics."""

from __future__ import annotations

import trio
from quart import Blueprint, Response, g, request

from polymon.errors import NotFound
from polymon.web.context import Context
from polymon.web.http import body, decode, error, json_response, query, raw_body
from polymon.web.httpmetrics import HttpMetrics
from polymon.web.models.admin import (
    AuthOut,
    BootstrapResult,
    CleanupBody,
    CleanupResult,
    Cleared,
    ClearedResult,
    MigrateResult,
)
from polymon.web.models.common import Deleted
from polymon.web.models.lifecycle import (
    LifecycleCheckResult,
    LifecycleWebhookBody,
    WebhookCreated,
    WebhookIdQuery,
    WebhookList,
)
from polymon.web.openapi import api
from polymon.web.sessions import COOKIE_NAME, cookie_header


def blueprint(ctx: Context, metrics: HttpMetrics) -> Blueprint:
    """The admin, lifecycle, auth and metrics routes."""
    bp = Blueprint("admin", __name__)
    backend = ctx.backend

    @bp.post("/admin/bootstrap-markets")
    @api(ok=BootstrapResult, protected=True)
    async def bootstrap_markets() -> Response:
        """Subscribe every active, open market from Gamma, spread across shards."""
        done = await backend.bootstrap_markets()
        return json_response(BootstrapResult(ok=True, result=done))

    @bp.post("/admin/migrate")
    @api(ok=MigrateResult, protected=True)
    async def migrate() -> Response:
        """Create or upgrade the ClickHouse schema (idempotent)."""
        return json_response(MigrateResult(ok=True, result=await backend.migrate()))

    @bp.post("/admin/cleanup-test-data")
    @api(ok=CleanupResult, body=CleanupBody, protected=True)
    async def cleanup_test_data() -> Response:
        """Stop tracking test assets (ids starting with `prefix`) and delete their rows."""
        spec = await body(CleanupBody)
        cleaned = await backend.cleanup_test_data(spec.prefix, spec.dry_run)
        return json_response(CleanupResult(ok=True, result=cleaned))

    @bp.post("/cron/clear-errors")
    @api(ok=ClearedResult, protected=True)
    async def cron_clear_errors() -> Response:
        """Forget the recorded errors of every scheduled job."""
        cleared = Cleared(cleared=backend.clear_cron_errors())
        return json_response(ClearedResult(ok=True, result=cleared))

    @bp.post("/lifecycle/check")
    @api(ok=LifecycleCheckResult, protected=True)
    async def lifecycle_check() -> Response:
        """Run the market lifecycle check now: new markets in, resolved markets out."""
        checked = await backend.lifecycle_check()
        return json_response(LifecycleCheckResult(ok=True, result=checked))

    @bp.post("/lifecycle/webhooks")
    @api(ok=WebhookCreated, status=201, body=LifecycleWebhookBody, protected=True)
    async def lifecycle_webhook_create() -> Response:
        """Register a receiver of market.created / market.resolved events (signed, retried)."""
        data = await raw_body()
        decode(LifecycleWebhookBody, data)  # the documented shape, checked before registering
        record, secret = await backend.register_lifecycle_webhook(data)
        return json_response(WebhookCreated(webhook=record, secret=secret), 201)

    @bp.get("/lifecycle/webhooks")
    @api(ok=WebhookList, protected=True)
    async def lifecycle_webhook_list() -> Response:
        """Registered lifecycle receivers (secrets are never shown)."""
        items = backend.lifecycle_webhooks()
        return json_response(WebhookList(items, len(items)))

    @bp.delete("/lifecycle/webhooks")
    @api(ok=Deleted, query=WebhookIdQuery, protected=True)
    async def lifecycle_webhook_delete() -> Response:
        """Remove a lifecycle receiver."""
        webhook_id = query(WebhookIdQuery).id
        if not backend.remove_lifecycle_webhook(webhook_id):
            raise NotFound(f"no lifecycle webhook {webhook_id}")
        return json_response(Deleted(webhook_id))

    @bp.post("/api/v1/auth")
    @api(ok=AuthOut, protected=True)
    async def auth() -> Response:
        """Exchange an X-API-Key for an HttpOnly, SameSite=Strict session cookie (for browsers:
        EventSource cannot send headers). The cookie holds a server-side session id, never
        the key."""
        identity = g.identity
        sessions = ctx.guard.sessions
        session_id = sessions.create(identity.key_id, identity.tier, trio.current_time())
        ttl = ctx.http.session_ttl_secs
        out = AuthOut(authenticated=True, key_id=identity.key_id, tier=identity.tier,
                      expires_in_secs=int(ttl))  # fmt: skip
        response = json_response(out)
        response.headers["Set-Cookie"] = cookie_header(session_id, ttl, request.scheme == "https")
        return response

    @bp.delete("/api/v1/auth")
    @api(ok=Deleted)
    async def logout() -> Response:
        """End the browser session and clear its cookie (403 from another site's page: the
        same Origin check as every cookie-authenticated write)."""
        session_id = request.cookies.get(COOKIE_NAME, "")
        if session_id and not ctx.guard.origin_ok():
            return error(403, "forbidden", "cross-origin logout with a session cookie")
        revoked = ctx.guard.sessions.revoke(session_id) if session_id else False
        response = json_response(Deleted(int(revoked)))
        response.headers["Set-Cookie"] = cookie_header("", 0, request.scheme == "https")
        return response

    @bp.get("/metrics")
    @api(stream=("text/plain",))
    async def prometheus() -> Response:
        """Prometheus text exposition: ingest, books, integrity, writers, webhooks, HTTP."""
        data, content_type = metrics.render()
        return Response(data, content_type=content_type)

    return bp
