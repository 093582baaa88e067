"""What webhook delivery works with: endpoints, events, pending deliveries, dead letters, counters.

Endpoints, pending deliveries and dead letters are msgspec Structs because the outbox journals
them. Times in them are unix seconds (wall clock); scheduling itself runs on trio's clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec


class SigningSecret(msgspec.Struct, frozen=True):
    """One `whsec_` secret of an endpoint; `expires_at` (unix s) is set once it was rotated out."""

    secret: str
    expires_at: float | None = None

    def __repr__(self) -> str:
        # Secrets end up nowhere readable: not in logs, tracebacks or error bodies.
        return f"SigningSecret(secret='***', expires_at={self.expires_at!r})"


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook receiver.

    event_types: the event types it receives when an event is not addressed to one endpoint
      (e.g. `market.created`, `market.resolved`); an event with `endpoint_id` set (a trigger's
      alert) goes to that endpoint only, whatever its types.
    secrets: newest first; every unexpired one signs each attempt.
    enabled: False after a 410 Gone or by request; disabled endpoints get nothing.
    """

    id: str
    url: str
    secrets: tuple[SigningSecret, ...]
    event_types: frozenset[str] = frozenset()
    enabled: bool = True
    disabled_reason: str = ""

    def active_secrets(self, now: float) -> list[str]:
        """The secrets that sign an attempt made at `now` (unix s)."""
        return [s.secret for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def __repr__(self) -> str:
        # The URL can hold a token too (Slack-style hooks), so only the id is shown.
        return (
            f"Endpoint(id={self.id!r}, url='***', secrets={len(self.secrets)}, "
            f"event_types={sorted(self.event_types)!r}, enabled={self.enabled!r})"
        )


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event to deliver: the exact body bytes (JSON), its id and its type.

    endpoint_id: deliver to this endpoint only (a trigger's own receiver); None routes by type.
    """

    id: str
    type: str
    body: bytes
    endpoint_id: str | None = None


class PendingDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """One event on its way to one endpoint.

    attempts: attempts made so far; due_at: when the next one is due (unix s).
    """

    webhook_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    body: bytes
    created_at: float
    due_at: float
    attempts: int = 0
    last_status: int | None = None
    last_error: str = ""


class DeadReason(enum.StrEnum):
    """Why a delivery was given up."""

    EXHAUSTED = "exhausted"  # every attempt of the schedule failed
    ENDPOINT_GONE = "endpoint_gone"  # the receiver answered 410
    ENDPOINT_DISABLED = "endpoint_disabled"  # pending when its endpoint was disabled
    QUEUE_FULL = "queue_full"  # dropped at submit: the endpoint's queue was full


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery that was given up; kept (with its body) for listing and manual replay."""

    webhook_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    last_status: int | None
    last_error: str
    reason: DeadReason
    dead_at: float


def dead_letter(delivery: PendingDelivery, reason: DeadReason, dead_at: float) -> DeadLetter:
    """The dead letter of a delivery given up at `dead_at` (unix s)."""
    return DeadLetter(
        webhook_id=delivery.webhook_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        body=delivery.body,
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        reason=reason,
        dead_at=dead_at,
    )


@dataclass(slots=True)
class DeliveryCounters:
    """Every outcome, counted.

    delivered: 2xx answers. failed: failed attempts (status, transport error, timeout, refused
    address). retried: failed attempts rescheduled. dead_lettered: deliveries given up, for any
    reason. dropped: deliveries refused at submit because the endpoint's queue was full (also
    dead-lettered). disabled: endpoints disabled by a 410. skipped_disabled: events not queued
    for a disabled endpoint. unroutable: events addressed to an endpoint that does not exist.
    duplicates: submits of an event already pending for an endpoint.
    discarded: pending deliveries of a removed endpoint. replayed: dead letters replayed.
    dead_letters_evicted: oldest dead letters removed to stay within the limit.
    journal_errors: outbox writes that failed (that state lives in memory only until the next
    successful compaction). journal_skipped_lines: unreadable journal lines skipped at load.
    """

    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    disabled: int = 0
    skipped_disabled: int = 0
    unroutable: int = 0
    duplicates: int = 0
    discarded: int = 0
    replayed: int = 0
    dead_letters_evicted: int = 0
    journal_errors: int = 0
    journal_skipped_lines: int = 0
