"""Shared helpers of the webhook tests: endpoints, events, a running delivery."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from polymon.webhooks.delivery import WebhookDelivery
from polymon.webhooks.model import Endpoint, SigningSecret, WebhookEvent
from polymon.webhooks.params import DeliveryParams
from tests.webhooks.receiver import Network

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks docs' example key


def endpoint(
    endpoint_id: str, url: str, *event_types: str, secret: str = SECRET, **fields: Any
) -> Endpoint:
    """An endpoint with one secret."""
    return Endpoint(
        id=endpoint_id,
        url=url,
        secrets=(SigningSecret(secret),),
        event_types=frozenset(event_types),
        **fields,
    )


def event(event_id: str, event_type: str = "market.created", **fields: Any) -> WebhookEvent:
    """An event whose body names it."""
    body = b'{"type":"%s","data":{"id":"%s"}}' % (event_type.encode(), event_id.encode())
    return WebhookEvent(id=event_id, type=event_type, body=body, **fields)


def make_delivery(
    directory: Path,
    network: Network,
    *,
    clock: Callable[[], float] | None = None,
    seed: int = 1,
    **params: Any,
) -> WebhookDelivery:
    """A delivery reaching `network`'s receivers (in process), with a seeded jitter source."""
    extra = {} if clock is None else {"clock": clock}
    return WebhookDelivery(
        DeliveryParams(**params),
        directory,
        transport=network.transport,
        resolver=network.resolve,
        rng=random.Random(seed),
        **extra,
    )


@asynccontextmanager
async def running(delivery: WebhookDelivery) -> AsyncIterator[WebhookDelivery]:
    """Run `delivery` for the block; cancel it (as shutdown does) and close it afterwards."""
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(delivery.run)
            yield delivery
            nursery.cancel_scope.cancel()
    finally:
        delivery.close()
