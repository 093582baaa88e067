"""Webhook dead letters: listing them and sending one again."""

from __future__ import annotations

from typing import Annotated

import msgspec

from polymon.web.models.common import Limit, Query


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
