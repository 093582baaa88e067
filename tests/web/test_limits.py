"""Tiered rate limits through the app (seed table: free 60/15, pro 120/30, enterprise 600/120
per minute), on a mock clock; the X-RateLimit-* headers on every response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
from quart_trio import QuartTrio

from polymon.config import Config, load_config
from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.keys import KeyStore


def config(tmp_path: Path) -> Config:
    return load_config(None, environ={}, overrides={"service": {"data_dir": str(tmp_path)},
                                                    "storage": {"enabled": False}})  # fmt: skip


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[QuartTrio, KeyStore]]:
    cfg = config(tmp_path)
    keys = KeyStore(tmp_path)
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        yield create_app(ServiceApi(service, None, cfg), service.events, triggers=service.alerts,
                         keys=keys, http=cfg.http), keys  # fmt: skip


async def burst(client: object, method: str, path: str, n: int, **kw: object) -> list[object]:
    out = []
    for _ in range(n):
        out.append(await client.open(path, method=method, **kw))  # type: ignore[attr-defined]
    return out


TIERS = [("free", 60, 15), ("pro", 120, 30), ("enterprise", 600, 120)]


@pytest.mark.parametrize(("tier", "data", "admin"), TIERS)
async def test_each_tier_gets_its_per_minute_limits(
    app: tuple[QuartTrio, KeyStore], tier: str, data: int, admin: int, autojump_clock: object
) -> None:
    quart_app, keys = app
    _, key = keys.create("t", tier)
    headers = {"X-API-Key": key}
    client = quart_app.test_client()
    responses = await burst(client, "GET", "/api/v1/markets/nope/orderbook", data, headers=headers)
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]  # type: ignore[attr-defined]
    assert remaining == list(range(data - 1, -1, -1))
    assert all(r.status_code == 404 for r in responses)  # type: ignore[attr-defined]
    assert {r.headers["X-RateLimit-Tier"] for r in responses} == {tier}  # type: ignore[attr-defined]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {str(data)}  # type: ignore[attr-defined]
    denied = await client.get("/api/v1/markets/nope/orderbook", headers=headers)
    assert denied.status_code == 429
    body = await denied.get_json()
    assert body["error"] == "rate_limited"
    assert int(denied.headers["Retry-After"]) >= 1
    assert int(denied.headers["X-RateLimit-Reset"]) > 0
    await trio.sleep(60 / data)
    assert (await client.get("/api/v1/markets/nope/orderbook", headers=headers)).status_code == 404

    admin_responses = await burst(client, "POST", "/triggers", admin, headers=headers, data=b"{")
    assert {r.status_code for r in admin_responses} == {400}  # type: ignore[attr-defined]
    limited = await client.post("/triggers", headers=headers, data=b"{")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Limit"] == str(admin)


async def test_anonymous_clients_get_the_default_tier_and_health_is_exempt(
    app: tuple[QuartTrio, KeyStore], autojump_clock: object
) -> None:
    quart_app, _ = app
    client = quart_app.test_client()
    first = await client.get("/api/v1/triggers/events/status")
    assert first.headers["X-RateLimit-Tier"] == "pro"
    assert first.headers["X-RateLimit-Limit"] == "120"
    for _ in range(300):
        health = await client.get("/health")
        assert health.status_code == 200
    assert "X-RateLimit-Remaining" in health.headers
    spec = await client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    unknown = await client.get("/nowhere")
    assert unknown.status_code == 404
    assert "X-RateLimit-Limit" in unknown.headers
    unauthorized = await client.get("/triggers")
    assert unauthorized.status_code == 401
    assert "X-RateLimit-Tier" in unauthorized.headers


async def test_a_wrong_key_is_anonymous_and_cannot_reach_protected_routes(
    app: tuple[QuartTrio, KeyStore], autojump_clock: object
) -> None:
    quart_app, keys = app
    record, key = keys.create("t", "free")
    client = quart_app.test_client()
    wrong = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    r = await client.get("/triggers", headers={"X-API-Key": wrong})
    assert r.status_code == 401
    assert r.headers["X-RateLimit-Tier"] == "pro"
    ok = await client.get("/triggers", headers={"X-API-Key": key})
    assert ok.status_code == 200
    assert ok.headers["X-RateLimit-Tier"] == record.tier
