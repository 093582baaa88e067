"""Triggers and their events: registration, listing, the event buffer, backtests, recordings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from polymon.core.backtest import RECORDING_NAME, RecordingFile
from polymon.core.triggers import TriggerSpec
from polymon.web.models.common import Query, TimeParam


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

    buffered: int
    capacity: int
    subscribers: int
    published: int
    dropped_subscribers: int
    last_event_id: int
    oldest_event_id: int


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
