"""Real sockets on 127.0.0.1 with trio's real clock: what in-process tests cannot show.

The receiver is the same Quart-Trio app, served by Hypercorn on port 0. Each test waits on a
condition under an absolute deadline and is done in well under a second.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from standardwebhooks import Webhook

from polymon.errors import UnsafeUrl
from polymon.webhooks.delivery import WebhookDelivery
from polymon.webhooks.params import DeliveryParams
from tests.webhooks.helpers import SECRET, endpoint, event, running
from tests.webhooks.receiver import HANG, Receiver, Reply

DEADLINE = 5.0


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[int]:
    """Serve `receiver` on 127.0.0.1; yields the port."""
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger(__name__)
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, receiver.app, config, mode="asgi"))
        yield int(binds[0].rsplit(":", 1)[1])
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def trap() -> AsyncIterator[tuple[int, list[float]]]:
    """A listener on 127.0.0.1 that only counts the connections it accepts."""
    accepts: list[float] = []
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def count(stream: trio.SocketStream) -> None:
        accepts.append(trio.current_time())
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.serve_listeners, count, listeners))
        yield port, accepts
        nursery.cancel_scope.cancel()


def loopback_delivery(tmp_path: Path, **params: Any) -> WebhookDelivery:
    settings: dict[str, Any] = {"allow_private": True, "allowed_ports": frozenset()}
    return WebhookDelivery(DeliveryParams(**(settings | params)), tmp_path)


async def until(condition: Callable[[], bool]) -> None:
    with trio.fail_after(DEADLINE):
        while True:
            if condition():
                return
            await trio.sleep(0.005)


async def test_delivery_over_loopback_verifies(tmp_path: Path) -> None:
    receiver = Receiver()
    async with serving(receiver) as port, running(loopback_delivery(tmp_path)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", f"http://127.0.0.1:{port}/hook", "market.created"))
        delivery.submit([event("e1")])
        await until(lambda: delivery.counters.delivered == 1)
    [call] = receiver.calls
    Webhook(SECRET).verify(call.body, call.headers)
    assert call.headers["host"] == f"127.0.0.1:{port}"
    assert call.path == "/hook"


async def test_a_redirect_is_a_failure_and_never_followed(tmp_path: Path) -> None:
    async with trap() as (trap_port, accepts):
        receiver = Receiver([Reply(302, {"location": f"http://127.0.0.1:{trap_port}/"})])
        delivery = loopback_delivery(tmp_path, retry_schedule_secs=(0.0, 3600.0))
        async with serving(receiver) as port, running(delivery):
            delivery.upsert_endpoint(endpoint("ep", f"http://127.0.0.1:{port}/", "market.created"))
            delivery.submit([event("e1")])
            await until(lambda: delivery.counters.failed == 1)
            await trio.sleep(0.05)
    assert accepts == []
    assert len(receiver.calls) == 1
    [pending] = delivery.pending()
    assert (pending.attempts, pending.last_status) == (1, 302)


async def test_a_hanging_receiver_does_not_delay_a_healthy_one(tmp_path: Path) -> None:
    hanging, healthy = Receiver(default=HANG), Receiver()
    delivery = loopback_delivery(tmp_path, attempt_timeout_secs=30.0)
    async with serving(hanging) as slow, serving(healthy) as fast, running(delivery):
        delivery.upsert_endpoint(endpoint("slow", f"http://127.0.0.1:{slow}/", "market.created"))
        delivery.upsert_endpoint(endpoint("fast", f"http://127.0.0.1:{fast}/", "market.created"))
        start = trio.current_time()
        delivery.submit([event(f"e{i}") for i in range(3)])
        await until(lambda: delivery.counters.delivered == 3)
        took = trio.current_time() - start
    assert took < 2.0
    assert len(hanging.calls) == 1
    assert len(healthy.calls) == 3
    assert delivery.counters.failed == 0  # the hanging attempt is still in flight


async def test_by_default_loopback_is_refused_even_behind_a_name(tmp_path: Path) -> None:
    receiver = Receiver()
    delivery = WebhookDelivery(DeliveryParams(allowed_ports=frozenset()), tmp_path)
    async with serving(receiver) as port:
        with pytest.raises(UnsafeUrl):
            delivery.upsert_endpoint(endpoint("ep", f"http://127.0.0.1:{port}/"))
        async with running(delivery):
            # A name passes the form check; its addresses are vetted at every attempt.
            delivery.upsert_endpoint(endpoint("ep", f"http://localhost:{port}/", "market.created"))
            delivery.submit([event("e1")])
            await until(lambda: delivery.counters.failed == 1)
    assert receiver.calls == []
    [pending] = delivery.pending()
    assert pending.last_error.startswith("unsafe_url: localhost resolves to")
