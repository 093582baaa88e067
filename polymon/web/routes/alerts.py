"""Triggers and their events: the registry (protected), the SSE stream and the event list
(protected: they carry the user's alerts), the buffer status, and webhook dead letters."""

from __future__ import annotations

import msgspec
from quart import Blueprint, Response, make_response, request

from polymon.core.backtest import BacktestResult
from polymon.core.triggers.spec import TriggerSpec
from polymon.errors import NotFound, Unavailable
from polymon.web.backend import TriggerSource
from polymon.web.context import Context
from polymon.web.http import (
    body,
    decode,
    decode_exact,
    json_response,
    parse_time_us,
    query,
    raw_body,
)
from polymon.web.models.alerts import (
    BacktestBody,
    EventList,
    EventsQuery,
    EventsStatus,
    RecordingList,
    SseQuery,
    TriggerCreated,
    TriggerDeleteQuery,
    TriggerList,
)
from polymon.web.models.common import Created, Deleted
from polymon.web.models.webhooks import DeadLetterList, DeadLetterQuery, ReplayBody, Replayed
from polymon.web.openapi import api
from polymon.web.server import connection_aborter
from polymon.web.sse import last_event_id, sse_stream


def blueprint(ctx: Context) -> Blueprint:
    """The trigger, event and dead-letter routes."""
    bp = Blueprint("alerts", __name__)
    buffer = ctx.events
    backend = ctx.backend

    def registry() -> TriggerSource:
        if ctx.triggers is None:
            raise Unavailable("triggers are not enabled in this process")
        return ctx.triggers

    @bp.get("/triggers")
    @api(ok=TriggerList, protected=True)
    async def triggers_list() -> Response:
        """Every registered trigger (webhook secrets are never shown)."""
        listing = registry().listing()
        return json_response(TriggerList(triggers=listing, count=len(listing)))

    @bp.post("/triggers")
    @api(ok=TriggerCreated, status=201, body=TriggerSpec, protected=True)
    async def triggers_create() -> Response:
        """Register a trigger; the webhook signing secret is returned once."""
        trigger, secret = await registry().register(await raw_body())
        out = TriggerCreated(trigger_id=trigger.trigger_id, webhook_secret=secret or None)
        return json_response(out, 201)

    @bp.delete("/triggers")
    @api(ok=Deleted, query=TriggerDeleteQuery, protected=True)
    async def triggers_delete() -> Response:
        """Delete one trigger, named by `trigger_id` (a JSON body {"trigger_id"} works too)."""
        if "trigger_id" in request.args or not (data := await raw_body()).strip():
            trigger_id = query(TriggerDeleteQuery).trigger_id
        else:
            trigger_id = decode(TriggerDeleteQuery, data).trigger_id
        if not registry().remove(trigger_id):
            raise NotFound(f"no trigger {trigger_id}")
        return json_response(Deleted(trigger_id))

    @bp.post("/admin/delete-all-triggers")
    @api(ok=Deleted, protected=True)
    async def triggers_delete_all() -> Response:
        """Delete every trigger."""
        return json_response(Deleted(registry().remove_all()))

    @bp.post("/admin/init-triggers")
    @api(ok=Created, protected=True)
    async def triggers_init() -> Response:
        """Register the configured production set (YES+NO arbitrage on every binary market);
        idempotent."""
        return json_response(Created(await registry().init_production()))

    @bp.post("/api/v1/triggers/backtest")
    @api(ok=BacktestResult, body=BacktestBody, protected=True)
    async def triggers_backtest() -> Response:
        """What a trigger would have fired on history: over recordings (every type, through
        the live path) or the stored BBO ticks (top-of-book types); the events, and counts of
        fires, fires its cooldown suppressed, and both per UTC day. 404 for a recording that
        does not exist; 503 past the query deadline."""
        b = decode_exact(BacktestBody, await raw_body())
        start = None if b.start is None else parse_time_us(b.start, "start")
        end = None if b.end is None else parse_time_us(b.end, "end")
        result = await backend.backtest(b.trigger, b.source, b.recordings, start, end,
                                        b.max_events)  # fmt: skip
        return json_response(result)

    @bp.get("/api/v1/recordings")
    @api(ok=RecordingList, protected=True)
    async def recordings() -> Response:
        """The feed recordings a backtest can read (name, compressed size, last change),
        oldest first; the one being written is `open`."""
        recording, items = backend.recordings()
        return json_response(RecordingList(items=items, count=len(items), recording=recording))

    @bp.get("/api/v1/triggers/events/sse")
    @api(query=SseQuery, protected=True, stream=("text/event-stream",))
    async def events_sse() -> Response:
        """Live trigger events as Server-Sent Events.

        Each event has an `id:` line; reconnect with `Last-Event-ID` (or `last_event_id`) to
        replay what was missed from the ring buffer, or get `event: reset` when it is too old.
        Comment heartbeats keep idle connections open.
        """
        q = query(SseQuery)
        header = last_event_id(request.headers.get("Last-Event-ID"))
        last = header if header is not None else q.last_event_id
        # A dropped subscriber (it stopped reading) gets its HTTP/1 connection closed; under
        # HTTP/2 other streams share the connection, so only the stream ends.
        abort = connection_aborter() if request.http_version in ("1.0", "1.1") else None
        response = await make_response(
            sse_stream(buffer, last, ctx.heartbeat_secs, abort),
            {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
             "X-Accel-Buffering": "no"},
        )  # fmt: skip
        assert isinstance(response, Response)
        response.timeout = None
        return response

    @bp.get("/api/v1/triggers/events")
    @api(ok=EventList, query=EventsQuery, protected=True)
    async def events_recent() -> Response:
        """The last `limit` buffered events, optionally of one trigger type, oldest first."""
        q = query(EventsQuery)
        recent = buffer.recent(q.limit, q.type)
        out = [{"id": e.id, "type": e.type, "data": msgspec.Raw(e.data)} for e in recent]
        return json_response({"events": out, "count": len(out)})

    @bp.get("/api/v1/triggers/events/status")
    @api(ok=EventsStatus)
    async def events_status() -> Response:
        """The event buffer: size, ids held, subscribers, counters."""
        return json_response(EventsStatus(**buffer.status()))

    @bp.get("/webhooks/dead-letters")
    @api(ok=DeadLetterList, query=DeadLetterQuery, protected=True)
    async def dead_letters() -> Response:
        """Webhook deliveries given up after their last attempt, oldest first."""
        q = query(DeadLetterQuery)
        items = backend.dead_letters(q.endpoint_id, q.limit)
        return json_response(DeadLetterList(items, len(items)))

    @bp.post("/webhooks/dead-letters/replay")
    @api(ok=Replayed, body=ReplayBody, protected=True)
    async def replay() -> Response:
        """Send a dead letter again now, with a fresh retry schedule and the same webhook-id."""
        webhook_id = (await body(ReplayBody)).webhook_id
        backend.replay_dead_letter(webhook_id)
        return json_response(Replayed(webhook_id))

    return bp
