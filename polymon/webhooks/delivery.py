"""WebhookDelivery: at-least-once delivery of signed webhooks, with retries and dead letters.

`submit(events)` (from DeliveryQueue) is what the hot path calls: synchronous, never waits,
O(1) per event and receiving endpoint; it journals each new delivery and puts it on the heap.
`run()` is the async shell: a dispatcher starts an attempt task for each due delivery, at most
one per endpoint at a time and at most `max_concurrency` overall, so a slow or dead receiver
holds one slot and never delays the others nor the caller.

An attempt resolves the URL once, vets every address (ssrf.py), signs with every active secret
and POSTs to the vetted address within `attempt_timeout_secs`. 2xx: done. 410: the endpoint is
disabled and its deliveries become dead letters. Anything else: retried on the schedule (with
jitter, and `Retry-After` for 429/503) until the attempts are used up, then a dead letter.
Dead letters are listed by `dead_letters()` and sent again by `replay()` with the same
`webhook-id`. Shutdown is cancellation: every change is already journaled, and an attempt cut
short is simply made again after the restart (receivers drop duplicates by `webhook-id`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import trio

from polymon.webhooks.attempt import AttemptResult, attempt_delivery, new_client
from polymon.webhooks.model import Endpoint, PendingDelivery
from polymon.webhooks.params import DeliveryParams
from polymon.webhooks.queue import DeliveryQueue
from polymon.webhooks.ssrf import Resolver, system_resolver

# How long closing the HTTP client may take at shutdown.
_CLOSE_GRACE_SECS = 1.0


class WebhookDelivery(DeliveryQueue):
    """Delivers webhook events to endpoints; state lives in `directory` and survives restarts.

    The queue's methods (submit, endpoints, dead letters, replay) work before `run()` starts,
    too. transport: an httpx transport for tests (default: the network). resolver: host name
    to addresses (default: the system resolver). clock: wall-clock unix seconds, also used for
    the `webhook-timestamp` header. rng: jitter source.
    """

    def __init__(
        self,
        params: DeliveryParams,
        directory: Path,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(params, directory, clock=clock, rng=rng)
        self._transport = transport
        self._resolver = resolver
        self._started = False
        self._limiter = trio.CapacityLimiter(params.max_concurrency)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled; `task_status.started()` once deliveries can start.

        Deliveries loaded from disk are due when they were due before the restart (at once if
        that moment has passed). May be called once per instance.
        """
        if self._started:
            raise RuntimeError("WebhookDelivery.run() may only be called once")
        self._started = True
        self.schedule_loaded(trio.current_time())
        client = new_client(self._transport)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sync_periodically, name="webhooks-fsync")
                task_status.started()
                await self._dispatch(nursery, client)
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + _CLOSE_GRACE_SECS
                await client.aclose()

    async def _sync_periodically(self) -> None:
        while True:
            # Idle when nothing is written, so an idle service (or a mock clock) never spins.
            await self._outbox.wait_written()
            await trio.sleep(self.params.fsync_interval_secs)
            await self._outbox.sync()

    async def _dispatch(self, nursery: trio.Nursery, client: httpx.AsyncClient) -> None:
        while True:
            for msg_id, endpoint_id in self.take_due(trio.current_time()):
                nursery.start_soon(self._attempts, client, msg_id, endpoint_id, name=endpoint_id)
            self.wake = trio.Event()
            with trio.move_on_at(self.next_due()):
                await self.wake.wait()

    async def _attempts(self, client: httpx.AsyncClient, msg_id: str, endpoint_id: str) -> None:
        # One task per endpoint with work: it goes on with that endpoint's parked deliveries.
        started: tuple[str, str] | None = (msg_id, endpoint_id)
        while started is not None:
            attempt = self.attempt_of(started[0])
            if attempt is not None:
                delivery, endpoint = attempt
                async with self._limiter:
                    result = await self._send(client, delivery, endpoint)
                self.settle(delivery, result)
            started = self.release(endpoint_id)

    async def _send(
        self, client: httpx.AsyncClient, delivery: PendingDelivery, endpoint: Endpoint
    ) -> AttemptResult:
        timeout = self.params.attempt_timeout_secs
        with trio.move_on_after(timeout):
            return await attempt_delivery(
                client,
                delivery,
                endpoint,
                policy=self._policy,
                resolver=self._resolver,
                now=self._clock(),
                max_response_bytes=self.params.max_response_bytes,
            )
        return AttemptResult(None, f"timeout: no answer within {timeout:g} s")
