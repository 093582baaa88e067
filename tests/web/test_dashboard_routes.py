"""The read routes added for the dashboard: a token's trades and gap history (live service,
simulated exchange, embedded ClickHouse), HTTP statistics as JSON and the session route
(through the test client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio
from quart_trio import QuartTrio

from polymon.service.api import ServiceApi
from polymon.service.main import Running, Service, run_service
from polymon.web.app import create_app
from polymon.web.httpstats import bucket_quantile
from polymon.web.keys import KeyStore
from polymon.web.sessions import COOKIE_NAME
from tests.service.test_simulated_service import service_config
from tests.web.test_limits import config


# -- trades and gaps, on a live service ---------------------------------------------------
@pytest.fixture
async def live(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> AsyncIterator[tuple[Running, httpx.AsyncClient]]:
    cfg = service_config(tmp_path, storage_url, database, rate_per_sec=300.0, trade_ratio=0.2)
    cfg = msgspec.structs.replace(
        cfg,
        http=msgspec.structs.replace(cfg.http, rate_limit_enabled=False),
        storage=msgspec.structs.replace(cfg.storage, batch_max_age_secs=0.1),
    )
    _, key = KeyStore(tmp_path).create("tests", "enterprise")
    handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
    with trio.fail_after(20):
        await handle.service.bootstrapped.wait()
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=30, headers=headers) as client:
        yield handle, client
    handle.stop()


async def poll(client: httpx.AsyncClient, path: str, done: Any, limit_secs: float = 20) -> Any:
    """GET `path` until `done(body)` holds; returns that body."""
    with trio.fail_after(limit_secs):
        while True:
            response = await client.get(path)
            assert response.status_code == 200, response.text
            body = response.json()
            if done(body):
                return body
            await trio.sleep(0.1)


@pytest.mark.slow
async def test_trades_and_gap_history_of_a_token(
    live: tuple[Running, httpx.AsyncClient],
) -> None:
    handle, client = live
    asset = handle.simulator.exchange.token_ids()[0]
    body = await poll(client, f"/api/v1/markets/{asset}/trades?limit=5", lambda b: b["count"] == 5)
    assert body["asset_id"] == asset
    items = body["items"]
    assert [t["ts_us"] for t in items] == sorted((t["ts_us"] for t in items), reverse=True)
    assert {t["side"] for t in items} <= {"BUY", "SELL"}
    for trade in items:
        assert set(trade) == {"ts_us", "received_us", "trade_id", "side", "price", "size",
                              "fee_rate_bps", "transaction_hash"}  # fmt: skip
        assert 0 < float(trade["price"]) < 1
        assert float(trade["size"]) > 0
        assert isinstance(trade["price"], str)
        assert isinstance(trade["size"], str)
    # The same trades as the backtest export holds for this token (and only this token's).
    export = await client.get(
        "/api/v1/backtest/export/backtest", params={"asset_id": asset, "granularity": "trades"}
    )
    assert export.status_code == 200, export.text
    exported = {json.loads(line)["trade_id"] for line in export.text.splitlines()}
    assert {t["trade_id"] for t in items} <= exported
    other = handle.simulator.exchange.token_ids()[1]
    theirs = (await client.get(f"/api/v1/markets/{other}/trades?limit=1000")).json()["items"]
    assert not {t["trade_id"] for t in theirs} & {t["trade_id"] for t in items}

    # No gap yet; a dropped connection opens one per token, resolved by the next snapshot.
    assert (await client.get(f"/api/v1/markets/{asset}/gaps")).json() == {
        "asset_id": asset, "items": [], "count": 0, "open": 0,
    }  # fmt: skip
    assert handle.simulator.drop_connections() > 0
    gaps = await poll(
        client,
        f"/api/v1/markets/{asset}/gaps?hours=1",
        lambda b: any(g["resolved_at_us"] for g in b["items"]) and b["open"] == 0,
    )
    gap = gaps["items"][0]
    assert gap["reason"] == "disconnect"
    assert gap["resolution"] == "ws_snapshot"
    assert gap["resolved_at_us"] >= gap["detected_at_us"]
    # dateDiff counts millisecond boundaries crossed, so it may be 1 above the floor.
    span_us = gap["resolved_at_us"] - gap["detected_at_us"]
    assert span_us // 1000 <= gap["duration_ms"] <= span_us // 1000 + 1
    assert gaps["count"] == len(gaps["items"])

    # An unknown token has no activity (like its candles), not an error.
    for route in ("trades", "gaps"):
        empty = (await client.get(f"/api/v1/markets/nope/{route}")).json()
        assert (empty["count"], empty["items"]) == (0, [])


@pytest.mark.parametrize("route", ["trades", "gaps"])
@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "hours=0", "hours=3000", "limit=x", "bogus=1"]
)
async def test_bad_queries_are_400(tmp_path: Path, route: str, query: str) -> None:
    cfg = config(tmp_path)
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        app = create_app(ServiceApi(service, None, cfg), service.events)
        response = await app.test_client().get(f"/api/v1/markets/123/{route}?{query}")
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "bad_request"


async def test_without_storage_trades_and_gaps_are_503(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        client = create_app(ServiceApi(service, None, cfg), service.events).test_client()
        for route in ("trades", "gaps"):
            response = await client.get(f"/api/v1/markets/123/{route}")
            assert response.status_code == 503
            assert (await response.get_json())["error"] == "unavailable"


# -- HTTP statistics ------------------------------------------------------------------------
def test_bucket_quantile_interpolates_like_histogram_quantile() -> None:
    bounds = [1.0, 2.0, 4.0]
    # 10 observations <= 1, 10 more <= 2, none <= 4, 0 above: rank 10 is the first bucket's end.
    assert bucket_quantile(0.5, bounds, [10, 20, 20, 20]) == 1.0
    assert bucket_quantile(0.75, bounds, [10, 20, 20, 20]) == 1.5
    assert bucket_quantile(0.25, bounds, [10, 20, 20, 20]) == 0.5
    # Ranks in the +Inf bucket give the largest finite bound.
    assert bucket_quantile(0.99, bounds, [0, 0, 1, 10]) == 4.0
    # A rank that falls on an empty bucket's start is its lower bound.
    assert bucket_quantile(0.5, bounds, [5, 5, 10, 10]) == 1.0
    assert bucket_quantile(0.5, bounds, [0, 0, 0, 0]) is None
    assert bucket_quantile(0.5, [], [3]) is None


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[QuartTrio, str]]:
    cfg = config(tmp_path)
    keys = KeyStore(tmp_path)
    _, key = keys.create("dash", "pro")
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        yield create_app(ServiceApi(service, None, cfg), service.events, triggers=service.alerts,
                         keys=keys, http=cfg.http), key  # fmt: skip


async def test_http_statistics_count_each_route_by_method_and_status(
    app: tuple[QuartTrio, str],
) -> None:
    client = app[0].test_client()
    for _ in range(3):
        assert (await client.get("/health")).status_code == 200
    assert (await client.get("/api/v1/markets/nope/orderbook")).status_code == 404
    assert (await client.get("/no/such/route")).status_code == 404
    assert (await client.post("/health")).status_code == 405
    stats = await (await client.get("/api/v1/metrics/http")).get_json()
    routes = {r["route"]: r for r in stats["routes"]}
    health = routes["/health"]
    assert health["requests"] == 3
    assert health["methods"] == {"GET": 3}
    assert health["statuses"] == {"200": 3}
    assert (health["client_errors"], health["server_errors"]) == (0, 0)
    assert health["mean_ms"] > 0
    assert 0 < health["p50_ms"] <= health["p95_ms"] <= health["p99_ms"]
    assert health["p99_ms"] <= stats["bucket_bounds_ms"][-1]
    assert routes["/api/v1/markets/<asset_id>/orderbook"]["statuses"] == {"404": 1}
    # No rule matched a 405 either (the path exists, the method does not).
    assert routes["unmatched"]["statuses"] == {"404": 1, "405": 1}
    assert routes["unmatched"]["methods"] == {"GET": 1, "POST": 1}
    # This request is counted once it is answered, so the next reading shows it.
    assert "/api/v1/metrics/http" not in routes
    assert stats["routes"][0]["route"] == "/health"  # most requests first
    total = stats["total"]
    assert total["route"] == "*"
    assert total["requests"] == sum(r["requests"] for r in stats["routes"]) == 6
    assert total["statuses"] == {"200": 3, "404": 2, "405": 1}
    again = await (await client.get("/api/v1/metrics/http")).get_json()
    assert {r["route"]: r["requests"] for r in again["routes"]}["/api/v1/metrics/http"] == 1
    assert stats["bucket_bounds_ms"][:3] == [0.5, 1.0, 2.5]


async def test_session_route_says_who_is_calling(app: tuple[QuartTrio, str]) -> None:
    quart_app, key = app
    client = quart_app.test_client()
    anonymous = await (await client.get("/api/v1/auth")).get_json()
    assert anonymous == {"authenticated": False, "via": None, "key_id": None, "tier": None,
                         "expires_in_secs": None}  # fmt: skip
    by_key = await (await client.get("/api/v1/auth", headers={"X-API-Key": key})).get_json()
    assert by_key["authenticated"] is True
    assert (by_key["via"], by_key["tier"], by_key["expires_in_secs"]) == ("key", "pro", None)
    assert key.startswith(f"pm_{by_key['key_id']}_")
    login = await client.post("/api/v1/auth", headers={"X-API-Key": key})
    assert login.status_code == 200
    assert login.headers["Set-Cookie"].startswith(f"{COOKIE_NAME}=")
    by_cookie = await (await client.get("/api/v1/auth")).get_json()
    assert by_cookie["via"] == "cookie"
    assert by_cookie["key_id"] == by_key["key_id"]
    assert 0 < by_cookie["expires_in_secs"] <= 43200
    logout = await client.delete("/api/v1/auth", headers={"Origin": "http://localhost"})
    assert logout.status_code == 200  # a same-origin logout (others are refused: test_api)
    assert (await (await client.get("/api/v1/auth")).get_json())["authenticated"] is False
    bad = await (await client.get("/api/v1/auth", headers={"X-API-Key": "pm_x_y"})).get_json()
    assert bad["authenticated"] is False
