"""Market lifecycle: what a check pass did, the lifecycle counters /health shows, and the
lifecycle webhook receivers."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from polymon.web.models.common import Query
from polymon.web.models.envelopes import Result


class LifecycleCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One lifecycle pass: markets subscribed (`new`), resolved, closed and confirmed; venue
    failures (`errors`, the last one in `error`, "" when none); how long it took; and the
    tracked, pending and watched market counts after it."""

    new: int
    resolved: int
    closed: int
    confirmed: int
    errors: int
    error: str
    duration_ms: float
    tracked_markets: int
    pending: int
    watched: int


class LifecycleStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The lifecycle follower's counters (events, discoveries, resolutions, retries), its
    pending and watched markets, receivers and events submitted to them, and the last check
    (None before the first)."""

    counts: dict[str, int]
    pending: int
    watched: int
    webhooks: int
    webhook_events_submitted: int
    last_check: LifecycleCheck | None


class LifecycleWebhookBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A receiver of market lifecycle events; `secret` is generated when absent."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    events: list[Literal["market.created", "market.resolved"]] | None = None
    secret: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class LifecycleWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """A registered lifecycle receiver (its secret is never shown after registration)."""

    id: str
    url: str
    events: list[str]
    created_at_ms: int


class WebhookCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A registered lifecycle webhook; `secret` is shown once, here."""

    webhook: LifecycleWebhook
    secret: str


class WebhookList(msgspec.Struct, frozen=True):
    """Registered lifecycle webhooks (without secrets)."""

    items: list[LifecycleWebhook]
    count: int


class WebhookIdQuery(Query, frozen=True):
    """The lifecycle webhook to remove."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class LifecycleCheckResult(Result[LifecycleCheck], frozen=True, kw_only=True):
    """POST /lifecycle/check: what the pass did."""
