"""DeliveryQueue: the synchronous state of webhook delivery, and every decision about it.

What is pending and when it is due (webhooks.schedule: a heap on trio's clock, one attempt in
flight per endpoint, deliveries due meanwhile parked), the per-endpoint bound, what an
attempt's result changes, dead letters and replay, endpoints and routing. Every change goes
through the outbox journal first. No awaiting here: `delivery.py` is the async shell that runs
the attempts.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import msgspec
import trio

from polymon.errors import BadRequest, NotFound
from polymon.webhooks.attempt import AttemptResult
from polymon.webhooks.model import (
    DeadLetter,
    DeadReason,
    DeliveryCounters,
    Endpoint,
    PendingDelivery,
    WebhookEvent,
    dead_letter,
)
from polymon.webhooks.outbox import Outbox
from polymon.webhooks.params import DeliveryParams
from polymon.webhooks.retry import Verdict, classify, jittered, next_delay
from polymon.webhooks.schedule import DueSchedule
from polymon.webhooks.signing import secret_key, webhook_id
from polymon.webhooks.ssrf import parse_webhook_url

_log = logging.getLogger(__name__)


class DeliveryQueue:
    """Endpoints, pending deliveries and dead letters, loaded from and journaled to `directory`.

    clock: wall-clock unix seconds (due times on disk, dead-letter times, secret expiry).
    rng: the jitter source. Call everything from the trio thread (it reads trio's clock).
    """

    def __init__(
        self,
        params: DeliveryParams,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.params = params
        self.counters = DeliveryCounters()
        self._policy = params.url_policy
        self._outbox = Outbox(directory, self.counters)
        self._clock = clock
        self._rng = rng or random.Random()
        self._due = DueSchedule()
        self._queued: Counter[str] = Counter(p.endpoint_id for p in self._outbox.pending.values())
        self._by_type: dict[str, list[str]] = {}
        self._reindex()
        # Set whenever the earliest due time may have moved closer.
        self.wake = trio.Event()

    def close(self) -> None:
        """fsync and close the journal (once nothing runs any more)."""
        self._outbox.close()

    # -- the hot path -----------------------------------------------------------------------

    def submit(self, events: Iterable[WebhookEvent]) -> None:
        """Queue events for delivery to every endpoint that receives them; never blocks.

        An event with `endpoint_id` goes to that endpoint; otherwise to every endpoint whose
        `event_types` holds its type. The same event submitted again for an endpoint where it is
        still pending is ignored (counted as a duplicate). Beyond `max_pending_per_endpoint`
        the delivery becomes a dead letter at once (counted as dropped).
        """
        now = trio.current_time()
        wall = self._clock()
        queued = False
        with self._outbox.batch():
            for event in events:
                for endpoint in self._receivers(event):
                    queued |= self._enqueue(event, endpoint, now, wall)
        if queued:
            self.wake.set()

    def _receivers(self, event: WebhookEvent) -> Iterator[Endpoint]:
        endpoints = self._outbox.endpoints
        if event.endpoint_id is not None:
            endpoint = endpoints.get(event.endpoint_id)
            if endpoint is None:
                self.counters.unroutable += 1
            else:
                yield endpoint
            return
        for endpoint_id in self._by_type.get(event.type, ()):
            yield endpoints[endpoint_id]

    def _enqueue(self, event: WebhookEvent, endpoint: Endpoint, now: float, wall: float) -> bool:
        if not endpoint.enabled:
            self.counters.skipped_disabled += 1
            return False
        msg_id = webhook_id(endpoint.id, event.id)
        if msg_id in self._outbox.pending:
            self.counters.duplicates += 1
            return False
        delay = jittered(self.params.retry_schedule_secs[0], self.params.jitter_ratio, self._rng)
        delivery = PendingDelivery(
            webhook_id=msg_id,
            endpoint_id=endpoint.id,
            event_id=event.id,
            event_type=event.type,
            body=event.body,
            created_at=wall,
            due_at=wall + delay,
        )
        if self._queued[endpoint.id] >= self.params.max_pending_per_endpoint:
            self.counters.dropped += 1
            dropped = msgspec.structs.replace(delivery, last_error="the endpoint's queue was full")
            self._bury(dead_letter(dropped, DeadReason.QUEUE_FULL, wall))
            return False
        self._add_pending(delivery, now + delay)
        return True

    def _add_pending(self, delivery: PendingDelivery, due: float) -> None:
        self._outbox.add_pending(delivery)
        self._queued[delivery.endpoint_id] += 1
        self._due.schedule(delivery.webhook_id, due)

    # -- endpoints --------------------------------------------------------------------------

    def upsert_endpoint(self, endpoint: Endpoint) -> None:
        """Add or replace an endpoint; UnsafeUrl/BadRequest for a bad URL, id or secret.

        Pending deliveries keep going to the new URL with the new secrets. Upserting it as
        disabled turns its pending deliveries into dead letters.
        """
        if not endpoint.id:
            raise BadRequest("an endpoint needs an id")
        parse_webhook_url(endpoint.url, self._policy)
        if not endpoint.secrets:
            raise BadRequest("an endpoint needs a secret")
        for secret in endpoint.secrets:
            secret_key(secret.secret)
        self._store_endpoint(endpoint)

    def _store_endpoint(self, endpoint: Endpoint) -> None:
        # No URL check here: the policy may have changed since the endpoint was accepted, and
        # the attempts refuse what it forbids now.
        with self._outbox.batch():
            self._outbox.put_endpoint(endpoint)
            if not endpoint.enabled:
                self._bury_endpoint(endpoint.id)
        self._reindex()

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Forget an endpoint and discard its pending deliveries (its dead letters stay)."""
        self.endpoint(endpoint_id)
        with self._outbox.batch():
            for delivery in self._pending_of(endpoint_id):
                self._finish(delivery)
                self.counters.discarded += 1
            self._outbox.remove_endpoint(endpoint_id)
        self._reindex()

    def set_enabled(self, endpoint_id: str, enabled: bool, reason: str = "") -> Endpoint:
        """Enable or disable an endpoint; disabling turns its pending deliveries into dead letters.

        Dead letters are not re-sent by enabling: `replay()` them.
        """
        endpoint = msgspec.structs.replace(
            self.endpoint(endpoint_id),
            enabled=enabled,
            disabled_reason="" if enabled else reason or "disabled by request",
        )
        self._store_endpoint(endpoint)
        return endpoint

    def endpoint(self, endpoint_id: str) -> Endpoint:
        """One endpoint; NotFound if there is none with this id."""
        endpoint = self._outbox.endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint {endpoint_id!r}")
        return endpoint

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, enabled or not."""
        return list(self._outbox.endpoints.values())

    def _reindex(self) -> None:
        by_type: defaultdict[str, list[str]] = defaultdict(list)
        for endpoint in self._outbox.endpoints.values():
            for event_type in endpoint.event_types:
                by_type[event_type].append(endpoint.id)
        self._by_type = dict(by_type)

    # -- pending deliveries and dead letters ------------------------------------------------

    def pending(self, endpoint_id: str | None = None) -> list[PendingDelivery]:
        """Deliveries not yet done, optionally of one endpoint."""
        if endpoint_id is None:
            return list(self._outbox.pending.values())
        return self._pending_of(endpoint_id)

    def dead_letters(self, endpoint_id: str | None = None) -> list[DeadLetter]:
        """Deliveries given up, oldest first, optionally of one endpoint."""
        letters = self._outbox.dead.values()
        return [d for d in letters if endpoint_id is None or d.endpoint_id == endpoint_id]

    def replay(self, msg_id: str) -> PendingDelivery:
        """Send a dead letter again, now, with a fresh schedule and the same `webhook-id`.

        NotFound without such a dead letter or its endpoint; BadRequest if the endpoint is
        disabled, its queue is full, or the delivery is pending again already.
        """
        letter = self._outbox.dead.get(msg_id)
        if letter is None:
            raise NotFound(f"no dead letter {msg_id!r}")
        endpoint = self.endpoint(letter.endpoint_id)
        if not endpoint.enabled:
            raise BadRequest(f"endpoint {endpoint.id!r} is disabled; enable it first")
        if msg_id in self._outbox.pending:
            raise BadRequest(f"{msg_id!r} is pending already")
        if self._queued[endpoint.id] >= self.params.max_pending_per_endpoint:
            raise BadRequest(f"the queue of endpoint {endpoint.id!r} is full")
        wall = self._clock()
        delivery = PendingDelivery(
            webhook_id=msg_id,
            endpoint_id=letter.endpoint_id,
            event_id=letter.event_id,
            event_type=letter.event_type,
            body=letter.body,
            created_at=wall,
            due_at=wall,
        )
        with self._outbox.batch():
            self._outbox.remove_dead(msg_id)
            self._add_pending(delivery, trio.current_time())
        self.counters.replayed += 1
        self.wake.set()
        return delivery

    def _pending_of(self, endpoint_id: str) -> list[PendingDelivery]:
        return [p for p in self._outbox.pending.values() if p.endpoint_id == endpoint_id]

    def _finish(self, delivery: PendingDelivery) -> None:
        self._outbox.finish(delivery.webhook_id)
        self._due.forget(delivery.webhook_id)
        self._queued[delivery.endpoint_id] -= 1
        if self._queued[delivery.endpoint_id] <= 0:
            del self._queued[delivery.endpoint_id]

    def _give_up(self, delivery: PendingDelivery, reason: DeadReason) -> None:
        self._finish(delivery)
        self._bury(dead_letter(delivery, reason, self._clock()))
        _log.warning(
            "webhook %s to endpoint %s given up (%s) after %d attempts: %s",
            delivery.webhook_id,
            delivery.endpoint_id,
            reason,
            delivery.attempts,
            delivery.last_error,
            extra={"endpoint_id": delivery.endpoint_id, "webhook_id": delivery.webhook_id},
        )

    def _bury(self, letter: DeadLetter) -> None:
        self._outbox.add_dead(letter)
        self.counters.dead_lettered += 1
        while len(self._outbox.dead) > self.params.max_dead_letters:
            self._outbox.remove_dead(next(iter(self._outbox.dead)))
            self.counters.dead_letters_evicted += 1

    def _bury_endpoint(self, endpoint_id: str) -> None:
        for delivery in self._pending_of(endpoint_id):
            self._give_up(delivery, DeadReason.ENDPOINT_DISABLED)

    # -- scheduling (for the async shell) ---------------------------------------------------

    def schedule_loaded(self, now: float) -> None:
        """Put deliveries loaded from disk on the heap: due when they were due (at once if past)."""
        wall = self._clock()
        for delivery in self._outbox.pending.values():
            if not self._due.scheduled(delivery.webhook_id):
                self._due.schedule(delivery.webhook_id, now + max(0.0, delivery.due_at - wall))

    def next_due(self) -> float:
        """When the earliest delivery on the heap is due (trio's clock; inf if none)."""
        return self._due.next_due()

    def take_due(self, now: float) -> list[tuple[str, str]]:
        """(webhook id, endpoint id) of each delivery to start now, marked in flight.

        A delivery due for an endpoint that has an attempt in flight is parked until `release`.
        """
        pending = self._outbox.pending
        return self._due.take_due(now, lambda msg_id: pending[msg_id].endpoint_id)

    def release(self, endpoint_id: str) -> tuple[str, str] | None:
        """An attempt at `endpoint_id` ended: the parked delivery to start next, if any."""
        return self._due.release(endpoint_id)

    def attempt_of(self, msg_id: str) -> tuple[PendingDelivery, Endpoint] | None:
        """What an attempt of `msg_id` sends now; None if it was discarded or disabled since."""
        delivery = self._outbox.pending.get(msg_id)
        if delivery is None:
            return None
        endpoint = self._outbox.endpoints.get(delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return None
        return delivery, endpoint

    def settle(self, sent: PendingDelivery, result: AttemptResult) -> None:
        """Apply an attempt's result: done, rescheduled, given up, or the endpoint disabled."""
        verdict = classify(result.status)
        if verdict is Verdict.DELIVERED:
            self.counters.delivered += 1
        else:
            self.counters.failed += 1
        if self._outbox.pending.get(sent.webhook_id) is not sent:
            return  # discarded, disabled or replayed while in flight
        if verdict is Verdict.DELIVERED:
            self._finish(sent)
            return
        wall = self._clock()
        attempted = msgspec.structs.replace(
            sent, attempts=sent.attempts + 1, last_status=result.status, last_error=result.error
        )
        if verdict is Verdict.GONE:
            self.counters.disabled += 1
            with self._outbox.batch():
                self._give_up(attempted, DeadReason.ENDPOINT_GONE)
                self.set_enabled(sent.endpoint_id, False, "the receiver answered 410 Gone")
            return
        params = self.params
        delay = next_delay(
            params.retry_schedule_secs,
            attempted.attempts,
            status=result.status,
            retry_after=result.retry_after,
            now=wall,
            jitter_ratio=params.jitter_ratio,
            max_retry_after_secs=params.max_retry_after_secs,
            rng=self._rng,
        )
        if delay is None:
            self._give_up(attempted, DeadReason.EXHAUSTED)
            return
        self.counters.retried += 1
        self._outbox.update_pending(msgspec.structs.replace(attempted, due_at=wall + delay))
        self._due.schedule(sent.webhook_id, trio.current_time() + delay)
        self.wake.set()
