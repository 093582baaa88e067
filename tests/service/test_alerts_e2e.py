"""End to end: a registered trigger fires on the simulated exchange and reaches both a signed
webhook receiver and the SSE stream, once per event; the registry survives a restart."""

from __future__ import annotations

import json
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from msgspec.structs import replace
from quart import request
from quart_trio import QuartTrio
from standardwebhooks.webhooks import Webhook

from polymon.service.main import Running, run_service
from polymon.web.keys import KeyStore
from tests.service.test_simulated_service import service_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),  # httpx-sse
]


async def start_receiver(nursery: trio.Nursery) -> tuple[str, list[dict[str, Any]]]:
    """A webhook receiver on loopback that records every delivery."""
    received: list[dict[str, Any]] = []
    app = QuartTrio("receiver")

    @app.post("/hook")
    async def hook() -> tuple[str, int]:
        received.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                         "body": await request.get_data(as_text=False)})  # fmt: skip
        return "", 204

    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    binds = await nursery.start(partial(serve, app, config))
    return binds[0], received


async def test_a_trigger_reaches_webhook_and_sse_once_per_event(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    receiver_url, received = await start_receiver(nursery)
    cfg = service_config(tmp_path, storage_url, database, rate_per_sec=300.0)
    cfg = replace(cfg, webhooks=replace(cfg.webhooks, allow_private=True, allowed_ports=[],
                                        sse_heartbeat_secs=1.0))  # fmt: skip
    _record, key = KeyStore(tmp_path).create("test", "pro")
    handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
    with trio.fail_after(20):
        await handle.service.bootstrapped.wait()
    service = handle.service

    def synced() -> list[str]:
        return [a for s in service.shards for a, st in s.state.assets.items() if st.timestamp_ms]

    with trio.fail_after(20):
        while not synced():  # noqa: ASYNC110 - books fill from the feed
            await trio.sleep(0.05)
    asset = synced()[0]
    auth = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as client:
        # Unauthenticated and invalid requests are refused as JSON.
        assert (await client.get("/triggers")).status_code == 401
        bad = await client.post("/triggers", headers=auth, content=b'{"asset_id": 1}')
        assert bad.status_code == 400
        assert bad.json()["error"] == "bad_request"
        body = {"asset_id": asset, "cooldown_ms": 0,
                "condition": {"type": "QUOTE_VELOCITY", "count": 2, "window_ms": 600000},
                "webhook_url": f"{receiver_url}/hook"}  # fmt: skip
        created = await client.post("/triggers", headers=auth, json=body)
        assert created.status_code == 201, created.text
        trigger_id = created.json()["trigger_id"]
        secret = created.json()["webhook_secret"]
        listed = (await client.get("/triggers", headers=auth)).json()
        assert [t["trigger_id"] for t in listed["triggers"]] == [trigger_id]
        assert "webhook_secret" not in listed["triggers"][0]

        events: list[dict[str, Any]] = []
        with trio.move_on_after(20):
            async with (
                aconnect_sse(
                    client, "GET", "/api/v1/triggers/events/sse?last_event_id=0", headers=auth
                ) as es,
                aclosing(es.aiter_sse()) as stream,
            ):
                async for sse in stream:
                    if sse.data:
                        events.append({"id": sse.id, **json.loads(sse.data)})
                        break
        assert len(events) == 1
        assert {e["trigger_id"] for e in events} == {trigger_id}
        await trio.sleep(2)  # the velocity stays above the count: no new crossing, no new event
        recent = (
            await client.get("/api/v1/triggers/events?type=QUOTE_VELOCITY", headers=auth)
        ).json()
        assert [e["data"]["trigger_id"] for e in recent["events"]] == [trigger_id]
        assert all(e["processing_latency_us"] >= 0 for e in events)

        with trio.fail_after(20):
            while len(received) < len(events):  # noqa: ASYNC110 - filled by the receiver
                await trio.sleep(0.05)
        await trio.sleep(1)
        verifier = Webhook(secret)
        payloads = [verifier.verify(d["body"], d["headers"]) for d in received]
        assert len(received) == 1  # one delivery for the one event, signed
        assert payloads[0] == {k: v for k, v in events[0].items() if k != "id"}

        deleted = await client.delete(f"/triggers?trigger_id={trigger_id}", headers=auth)
        assert deleted.status_code == 200
        assert (await client.delete("/triggers?trigger_id=nope", headers=auth)).status_code == 404
    handle.stop()


async def test_registered_triggers_survive_a_restart(
    tmp_path: Path, storage_url: str, database: str
) -> None:
    cfg = service_config(tmp_path, storage_url, database)
    _record, key = KeyStore(tmp_path).create("test", "pro")
    for round_ in range(2):
        async with trio.open_nursery() as nursery:
            handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
            with trio.fail_after(20):
                await handle.service.bootstrapped.wait()
            asset = next(iter(handle.service.shards[0].state.assets or
                              handle.service.shards[1].state.assets))  # fmt: skip
            async with httpx.AsyncClient(base_url=handle.http_url) as client:
                if round_ == 0:
                    body = {
                        "asset_id": asset,
                        "condition": {"type": "SPREAD_WIDE", "threshold": 0.5},
                    }
                    created = await client.post("/triggers", headers={"X-API-Key": key}, json=body)
                    assert created.status_code == 201, created.text
                listed = (await client.get("/triggers", headers={"X-API-Key": key})).json()
            assert listed["count"] == 1
            handle.stop()


async def test_init_triggers_registers_arbitrage_on_every_binary_market_once(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    cfg = service_config(tmp_path, storage_url, database)
    _record, key = KeyStore(tmp_path).create("admin", "enterprise")
    handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
    with trio.fail_after(20):
        await handle.service.bootstrapped.wait()
    auth = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=handle.http_url) as client:
        assert (await client.post("/admin/init-triggers")).status_code == 401
        first = (await client.post("/admin/init-triggers", headers=auth)).json()
        again = (await client.post("/admin/init-triggers", headers=auth)).json()
        listed = (await client.get("/triggers", headers=auth)).json()
        assert first == {"created": 16}  # 8 binary markets x (buy, sell)
        assert again == {"created": 0}
        kinds = sorted(t["condition"]["type"] for t in listed["triggers"])
        assert kinds == ["ARBITRAGE_BUY"] * 8 + ["ARBITRAGE_SELL"] * 8
        # every pair sits on the shard that holds both of its tokens
        for shard in handle.service.shards:
            for trigger in shard.state.triggers.triggers():
                paired = trigger.spec.condition.paired_asset_id  # type: ignore[union-attr]
                assert trigger.spec.asset_id in shard.state.assets
                assert paired in shard.state.assets
        cleared = (await client.post("/admin/delete-all-triggers", headers=auth)).json()
        assert cleared == {"deleted": 16}
    handle.stop()
