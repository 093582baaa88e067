"""The HTTP API's request and response models (msgspec Structs), from which the OpenAPI
document is generated. Responses that list things wrap the list in an envelope (`items`, counts,
paging) so the document describes them exactly and they can grow fields later.

Query-string models are decoded from the query arguments with `strict=False` (numbers and
booleans arrive as text) and reject unknown parameters, so a typo is a 400, not a silent default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from polymon.core.backtest import RECORDING_NAME, RecordingFile
from polymon.core.history import AssetTicks, MarketInfo, Stats24h
from polymon.core.triggers import TriggerSpec

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Hours = Annotated[float, msgspec.Meta(ge=0.001, le=2160)]
# Starts with a letter: real token ids are decimal and condition ids start with "0x", so a
# cleanup prefix can never match venue data.
Prefix = Annotated[
    str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_:-]+$")
]
TimeParam = Annotated[
    str,
    msgspec.Meta(
        max_length=40,
        description="Unix seconds, or an ISO 8601 date or date-time (UTC unless offset)",
        extra_json_schema={"anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": r"^[0-9]{1,11}(\.[0-9]{1,6})?$"},
        ]},
    ),
]  # fmt: skip
AssetId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class Query(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the query-string models."""


class ErrorOut(msgspec.Struct, frozen=True):
    """Every error: a short code and a human-readable detail."""

    error: str
    detail: str | None = None


# -- health and diagnostics --------------------------------------------------------------------
class HealthOut(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness and a summary: tracked assets, books by status, connections, storage."""

    status: str
    assets: int
    books: dict[str, int]
    connections: int
    connections_open: int
    bootstrapped: bool
    bootstrap_error: str
    storage: dict[str, Any]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """A free-form status report (per-shard or per-job detail; see the route's description)."""

    generated_at_ms: int
    data: dict[str, Any]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One diagnostic: what was checked, whether it passed, how long it took, what was seen."""

    name: str
    ok: bool
    duration_ms: float
    detail: dict[str, Any]


class ChecksOut(msgspec.Struct, frozen=True, kw_only=True):
    """The result of /test/*: ok when every check passed."""

    ok: bool
    checks: list[Check]


# -- market data -------------------------------------------------------------------------------
class MarketsQuery(Query, frozen=True):
    """Paging and filters of GET /api/v1/markets (most traded first)."""

    limit: Limit = 100
    offset: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0
    active: bool | None = None
    closed: bool | None = None
    market_source: Literal["polymarket"] = "polymarket"


class SearchQuery(Query, frozen=True):
    """GET /api/v1/markets/search: case-insensitive substring of the question or slug."""

    q: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
    limit: Limit = 20


class MarketList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of markets; `next_offset` is None on the last page."""

    items: list[MarketInfo]
    count: int
    total: int | None = None
    limit: int
    offset: int = 0
    next_offset: int | None = None


class TopOfBook(msgspec.Struct, frozen=True, kw_only=True):
    """The live top of one book (from memory), or status "untracked"."""

    status: Literal["fresh", "stale", "resyncing", "untracked"]
    best_bid: str | None = None
    best_ask: str | None = None
    mid_price: str | None = None
    spread_bps: int | None = None
    timestamp_ms: int | None = None


class MarketDetails(msgspec.Struct, frozen=True, kw_only=True):
    """One token: its market's metadata, the live top of book and 24 h statistics.

    `market` is None when no metadata names the token; `stats_24h` is None without storage.
    """

    asset_id: str
    condition_id: str
    outcome: str
    market: MarketInfo | None
    book: TopOfBook
    stats_24h: Stats24h | None


MAX_BOOK_DEPTH = 10_000


class OrderbookQuery(Query, frozen=True):
    """Depth of the served book: levels per side (all when absent)."""

    depth: Annotated[int, msgspec.Meta(ge=1, le=MAX_BOOK_DEPTH)] | None = None


class OhlcQuery(Query, frozen=True):
    """GET /api/v1/ohlc/{asset_id}: mid-price candles over the last `hours`."""

    interval: Literal["1m", "5m"] = "1m"
    hours: Hours = 24.0


# -- backtest export ---------------------------------------------------------------------------
class ExportQuery(Query, frozen=True):
    """GET /api/v1/backtest/export/backtest.

    start / end: ISO 8601 date or date-time (UTC unless an offset is given) or Unix seconds;
    end defaults to now and start to 24 h before end. granularity: tick (BBO ticks), trades or
    ohlc (with `interval`). format: jsonl (one JSON object per line) or csv (header row first).
    Without asset_id every asset is exported.
    """

    asset_id: AssetId | None = None
    start: TimeParam | None = None
    end: TimeParam | None = None
    granularity: Literal["tick", "trades", "ohlc"] = "tick"
    interval: Literal["1m", "5m"] = "1m"
    limit: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100_000
    format: Literal["jsonl", "csv"] = "jsonl"


class AssetsQuery(Query, frozen=True):
    """GET /api/v1/backtest/export/assets: assets with at least `min_ticks` in `hours`."""

    min_ticks: Annotated[int, msgspec.Meta(ge=0, le=10**12)] = 1000
    hours: Hours = 24.0
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


class AssetList(msgspec.Struct, frozen=True, kw_only=True):
    """Assets with their tick counts, most ticks first."""

    items: list[AssetTicks]
    count: int


class QualityQuery(Query, frozen=True):
    """GET /api/v1/backtest/export/quality/{asset_id}: the window in hours."""

    hours: Hours = 24.0


# -- triggers and events -----------------------------------------------------------------------
class TriggerCreated(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A registered trigger's id; the webhook signing secret is shown once, here."""

    trigger_id: str
    webhook_secret: str | None = None


class TriggerList(msgspec.Struct, frozen=True, kw_only=True):
    """Every registered trigger (without secrets)."""

    triggers: list[dict[str, Any]]
    count: int


class TriggerDeleteQuery(Query, frozen=True):
    """DELETE /triggers?trigger_id=… (a JSON body {"trigger_id": …} is accepted too)."""

    trigger_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Deleted(msgspec.Struct, frozen=True):
    """What was deleted: an id, or a count."""

    deleted: str | int


class Created(msgspec.Struct, frozen=True):
    """How many things were created."""

    created: int


class EventsQuery(Query, frozen=True):
    """GET /api/v1/triggers/events: the last `limit` events, optionally of one trigger type."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    type: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class EventOut(msgspec.Struct, frozen=True):
    """One buffered event: its SSE id, trigger type and the fired-event payload."""

    id: int
    type: str
    data: dict[str, Any]


class EventList(msgspec.Struct, frozen=True):
    """Buffered events, oldest first."""

    events: list[EventOut]
    count: int


class EventsStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The event buffer: capacity, events held and their id range, subscribers, counters."""

    capacity: int
    buffered: int
    oldest_event_id: int
    last_event_id: int
    subscribers: int
    published: int
    dropped_subscribers: int


class SseQuery(Query, frozen=True):
    """The SSE stream; `last_event_id` stands in for the Last-Event-ID header."""

    last_event_id: Annotated[int, msgspec.Meta(ge=0)] | None = None


RecordingName = Annotated[str, msgspec.Meta(pattern=RECORDING_NAME, max_length=128)]


class BacktestBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/v1/triggers/backtest: what `trigger` would have fired on history.

    trigger: a registration body, as for POST /triggers (its webhook is never called).
    source: `recordings` replays recorded frames through the live path (every type); `bbo`
      runs the stored BBO ticks of the trigger's token from ClickHouse (the types that read
      only the top of book: PRICE_ABOVE/BELOW, SPREAD_NARROW/WIDE, PRICE_MOVE, SIZE_SPIKE,
      QUOTE_VELOCITY).
    recordings: file names from GET /api/v1/recordings (default: every recording, the one being
      written included); only names inside the recording directory are taken.
    start / end: the window (receive time). Recordings: earlier records only rebuild the books;
      default the whole recording. bbo: default the 24 h before end, end default now.
    max_events: events listed in the result at most (all are counted).
    """

    trigger: TriggerSpec
    source: Literal["recordings", "bbo"] = "recordings"
    recordings: Annotated[list[RecordingName], msgspec.Meta(max_length=200)] | None = None
    start: TimeParam | None = None
    end: TimeParam | None = None
    max_events: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 1000


class RecordingList(msgspec.Struct, frozen=True, kw_only=True):
    """The recording files a backtest can read, oldest first; `recording` says whether the
    service is recording now ([record] enabled)."""

    items: list[RecordingFile]
    count: int
    recording: bool


# -- webhooks ----------------------------------------------------------------------------------
class DeadLetterOut(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook delivery that was given up after its last attempt."""

    webhook_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempts: int
    last_status: int | None
    last_error: str
    reason: str
    dead_at_ms: int
    body: str


class DeadLetterList(msgspec.Struct, frozen=True):
    """Dead letters, oldest first."""

    items: list[DeadLetterOut]
    count: int


class DeadLetterQuery(Query, frozen=True):
    """Filter dead letters by endpoint (a trigger id or a lifecycle webhook id)."""

    endpoint_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    limit: Limit = 100


class ReplayBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The dead letter to send again (its `webhook_id`)."""

    webhook_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Replayed(msgspec.Struct, frozen=True):
    """A dead letter queued again with the same webhook-id."""

    replayed: str


# -- lifecycle and admin -----------------------------------------------------------------------
class LifecycleWebhookBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A receiver of market lifecycle events; `secret` is generated when absent."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    events: list[Literal["market.created", "market.resolved"]] | None = None
    secret: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class WebhookCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A registered lifecycle webhook; `secret` is shown once, here."""

    webhook: dict[str, Any]
    secret: str


class WebhookList(msgspec.Struct, frozen=True):
    """Registered lifecycle webhooks (without secrets)."""

    items: list[dict[str, Any]]
    count: int


class WebhookIdQuery(Query, frozen=True):
    """The lifecycle webhook to remove."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class CleanupBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which test data to delete: assets and markets whose id starts with `prefix` (a letter
    first, so it cannot match a real token or condition id).

    dry_run counts what would go without deleting anything.
    """

    prefix: Prefix = "test"
    dry_run: bool = False


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """What an admin or lifecycle action did (counts, ids, durations)."""

    ok: bool
    result: dict[str, Any]


class AuthOut(msgspec.Struct, frozen=True, kw_only=True):
    """The browser session the cookie now carries."""

    authenticated: bool
    key_id: str
    tier: str
    expires_in_secs: int


class DoMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Per-shard processing latency percentiles (µs, from a ring of recent frames) and
    trigger counts."""

    shards: list[dict[str, Any]]
    totals: dict[str, Any]
