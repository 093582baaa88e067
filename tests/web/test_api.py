"""Every API route against a real service: simulated exchange, embedded ClickHouse, loopback
HTTP. Error paths included; rate limits are off here (tests/web/test_limits.py covers them)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import msgspec
import pytest
import trio

from polymon.service.main import Running, run_service
from polymon.web.keys import KeyStore
from tests.service.test_simulated_service import service_config

pytestmark = pytest.mark.slow


@dataclass
class Api:
    handle: Running
    client: httpx.AsyncClient
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@pytest.fixture
async def api(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> AsyncIterator[Api]:
    cfg = service_config(tmp_path, storage_url, database, rate_per_sec=300.0)
    cfg = msgspec.structs.replace(
        cfg,
        http=msgspec.structs.replace(cfg.http, rate_limit_enabled=False, max_body_bytes=4096),
        storage=msgspec.structs.replace(cfg.storage, batch_max_age_secs=0.1),
        webhooks=msgspec.structs.replace(cfg.webhooks, allow_private=True, allowed_ports=[]),
    )
    _, key = KeyStore(tmp_path).create("tests", "enterprise")
    handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
    with trio.fail_after(20):
        await handle.service.bootstrapped.wait()
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=30) as client:
        yield Api(handle, client, key)
    handle.stop()


async def wait_for(check: object, limit_secs: float = 20.0) -> None:
    assert callable(check)
    with trio.fail_after(limit_secs):
        while not await check():  # noqa: ASYNC110 - the service fills storage meanwhile
            await trio.sleep(0.1)


async def tracked_asset(api: Api) -> str:
    """A token whose book is synced and two-sided (waits for the feed)."""
    with trio.fail_after(20):
        while True:
            for shard in api.handle.service.shards:
                for asset_id, state in shard.state.assets.items():
                    if state.book.bids and state.book.asks:
                        return asset_id
            await trio.sleep(0.05)


def assert_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    return dict(body)


async def test_status_routes_report_the_running_service(api: Api) -> None:
    c = api.client
    health = (await c.get("/health")).json()
    assert health["status"] == "ok"
    assert health["assets"] == 16
    subs = (await c.get("/health/subscriptions")).json()["data"]
    assert subs
    shards = (await c.get("/shards/status")).json()["data"]
    assert shards
    # The simulated venue hashes with v3: each shard with books has locked on it (auto).
    for shard in shards["shards"]:
        recipe = shard["hash_recipe"]
        assert (recipe["setting"], recipe["timestamp_slack_ms"]) == ("auto", 0)
        assert recipe["recipe"] == ("v3" if shard["counts"].get("snapshot_hash_ok") else "")
    cron = (await c.get("/cron/health")).json()["data"]
    assert isinstance(cron, dict)
    metrics = (await c.get("/do/metrics")).json()
    assert len(metrics["shards"]) == 3
    for check in ("all", "websocket", "clickhouse"):  # they reach out: keyed
        assert_error(await c.get(f"/test/{check}"), 401)
    checks = (await c.get("/test/all", headers=api.auth)).json()
    assert [ch["name"] for ch in checks["checks"]] == ["websocket", "clickhouse"]
    assert checks["ok"], checks
    ws = (await c.get("/test/websocket", headers=api.auth)).json()["checks"][0]
    assert ws["ok"]
    assert ws["detail"]["first_frame_ms"] is not None
    assert ws["duration_ms"] > 0
    ch = (await c.get("/test/clickhouse", headers=api.auth)).json()["checks"][0]
    assert ch["ok"]
    assert ch["detail"]["ping_ms"] >= 0
    text = (await c.get("/metrics")).text
    assert "polymon_http_requests_total" in text


async def test_market_routes_serve_metadata_books_stats_and_candles(api: Api) -> None:
    c = api.client

    async def listed() -> bool:
        r = await c.get("/api/v1/markets", params={"limit": 3})
        return r.status_code == 200 and r.json()["total"] == 8

    await wait_for(listed)
    page = (await c.get("/api/v1/markets", params={"limit": 3})).json()
    assert page["count"] == 3
    assert page["next_offset"] == 3
    last = (await c.get("/api/v1/markets", params={"limit": 3, "offset": 6})).json()
    assert last["count"] == 2
    assert last["next_offset"] is None
    seen = {m["condition_id"] for m in page["items"]} | {m["condition_id"] for m in last["items"]}
    assert len(seen) == 5
    active = (await c.get("/api/v1/markets", params={"active": "true"})).json()
    assert active["total"] == 8
    closed = (await c.get("/api/v1/markets", params={"closed": "true"})).json()
    assert closed["total"] == 0
    assert closed["items"] == []
    market = page["items"][0]
    word = market["question"].split()[0]
    found = (await c.get("/api/v1/markets/search", params={"q": word.upper()})).json()
    assert market["condition_id"] in {m["condition_id"] for m in found["items"]}

    asset = await tracked_asset(api)
    book = (await c.get(f"/api/v1/markets/{asset}/orderbook", params={"depth": 2})).json()
    assert book["asset_id"] == asset
    assert len(book["bids"]) <= 2
    assert book["status"] == "fresh"

    async def ticked() -> bool:
        r = await c.get(f"/api/v1/markets/{asset}")
        return r.status_code == 200 and (r.json()["stats_24h"] or {}).get("ticks", 0) > 0

    await wait_for(ticked)
    details = (await c.get(f"/api/v1/markets/{asset}")).json()
    assert details["market"]["condition_id"] == details["condition_id"]
    assert asset in details["market"]["token_ids"]
    assert details["book"]["status"] == "fresh"

    async def candles() -> bool:
        for interval in ("1m", "5m"):  # the 5m bars are fed from the 1m view's inserts
            r = await c.get(f"/api/v1/ohlc/{asset}", params={"interval": interval, "hours": 1})
            if r.status_code != 200 or not r.json()["candles"]:
                return False
        return True

    await wait_for(candles)
    ohlc = (await c.get(f"/api/v1/ohlc/{asset}", params={"interval": "5m"})).json()
    assert ohlc["interval"] == "5m"
    assert ohlc["candles"][0]["ticks"] > 0

    assert_error(await c.get("/api/v1/markets/nope/orderbook"), 404)
    assert_error(await c.get("/api/v1/markets/nope"), 404)
    assert_error(await c.get(f"/api/v1/markets/{asset}/orderbook?depth=0"), 400)
    assert_error(await c.get(f"/api/v1/markets/{asset}/orderbook?depth=x"), 400)
    assert_error(await c.get(f"/api/v1/ohlc/{asset}?interval=2m"), 400)
    assert_error(await c.get(f"/api/v1/ohlc/{asset}?hours=-1"), 400)
    assert_error(await c.get("/api/v1/markets?limit=0"), 400)
    assert_error(await c.get("/api/v1/markets?limit=5&limit=6"), 400)
    assert_error(await c.get("/api/v1/markets?bogus=1"), 400)
    assert_error(await c.get("/api/v1/markets/search"), 400)
    assert_error(await c.get("/api/v1/markets/search?q=%20"), 400)


async def test_export_routes_stream_csv_and_json_lines(api: Api) -> None:
    c = api.client
    asset = await tracked_asset(api)
    assert_error(await c.get("/api/v1/backtest/export/backtest"), 401)
    assert_error(await c.get("/api/v1/backtest/export/assets"), 401)
    assert_error(
        await c.get("/api/v1/backtest/export/quality/x", headers={"X-API-Key": "pm_x_y"}), 401
    )

    async def exported() -> bool:
        r = await c.get("/api/v1/backtest/export/backtest", params={"asset_id": asset},
                        headers=api.auth)  # fmt: skip
        return r.status_code == 200 and len(r.text.splitlines()) >= 3

    await wait_for(exported)
    r = await c.get("/api/v1/backtest/export/backtest",
                    params={"asset_id": asset, "limit": 2}, headers=api.auth)  # fmt: skip
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 2
    assert all(row["asset_id"] == asset for row in lines)
    assert lines[0]["source_ts_us"] <= lines[1]["source_ts_us"]
    r = await c.get(
        "/api/v1/backtest/export/backtest",
        params={"asset_id": asset, "format": "csv", "start": "2020-01-01", "granularity": "tick"},
        headers=api.auth,
    )
    rows = list(csv.reader(io.StringIO(r.text)))
    assert r.headers["content-type"].startswith("text/csv")
    assert rows[0][:3] == ["source_ts_us", "ingest_ts_us", "asset_id"]
    assert len(rows) >= 3
    assert {row[2] for row in rows[1:]} == {asset}
    params = {"granularity": "trades", "format": "csv"}
    trades = await c.get("/api/v1/backtest/export/backtest", params=params, headers=api.auth)
    assert trades.status_code == 200
    assert trades.text.startswith("source_ts_us,")

    async def counted() -> bool:
        r = await c.get("/api/v1/backtest/export/assets", params={"min_ticks": 1},
                        headers=api.auth)  # fmt: skip
        return asset in {a["asset_id"] for a in r.json()["items"]}

    await wait_for(counted)
    assets = (await c.get("/api/v1/backtest/export/assets", params={"min_ticks": 1},
                          headers=api.auth)).json()  # fmt: skip
    assert assets["count"] >= 1
    assert asset in {a["asset_id"] for a in assets["items"]}
    quality = (await c.get(f"/api/v1/backtest/export/quality/{asset}", headers=api.auth)).json()
    assert quality["asset_id"] == asset
    assert quality["bbo_ticks"] > 0

    backwards = {"start": "2030-01-01", "end": "2029-01-01", "format": "csv"}
    empty = await c.get("/api/v1/backtest/export/backtest", headers=api.auth, params=backwards)
    assert empty.text.splitlines() == [",".join(rows[0])]  # an empty range: the header only
    for params in ({"start": "yesterday"}, {"end": "-5"}, {"granularity": "bars"},
                   {"limit": "0"}, {"format": "xml"}):  # fmt: skip
        assert_error(
            await c.get("/api/v1/backtest/export/backtest", params=params, headers=api.auth), 400
        )


async def test_admin_lifecycle_and_webhook_routes(api: Api) -> None:
    c, auth = api.client, api.auth
    for method, path in (
        ("POST", "/admin/bootstrap-markets"), ("POST", "/admin/migrate"),
        ("POST", "/admin/cleanup-test-data"), ("POST", "/cron/clear-errors"),
        ("POST", "/lifecycle/check"), ("GET", "/lifecycle/webhooks"),
        ("POST", "/lifecycle/webhooks"), ("GET", "/webhooks/dead-letters"),
        ("POST", "/webhooks/dead-letters/replay"), ("GET", "/triggers"),
        ("POST", "/admin/init-triggers"), ("GET", "/api/v1/triggers/events"),
        ("GET", "/api/v1/triggers/events/sse"),
    ):  # fmt: skip
        assert_error(await c.request(method, path), 401)

    boot = (await c.post("/admin/bootstrap-markets", headers=auth)).json()
    assert boot["ok"]
    assert boot["result"]["assets"] == 16
    assert boot["result"]["tokens_added"] == 0
    assert (await c.post("/admin/migrate", headers=auth)).json()["result"]["applied"] == []
    dry = (await c.post("/admin/cleanup-test-data", json={"prefix": "test-", "dry_run": True},
                        headers=auth)).json()  # fmt: skip
    assert dry["result"]["untracked"] == 0
    assert dry["result"]["rows"]["ob_bbo"] == 0
    assert_error(await c.post("/admin/cleanup-test-data", json={"prefix": "x"}, headers=auth), 400)
    assert (await c.post("/cron/clear-errors", headers=auth)).json()["ok"]
    check = (await c.post("/lifecycle/check", headers=auth)).json()
    assert check["ok"]

    hook = {"url": "http://127.0.0.1:9/hook", "events": ["market.created"]}
    created = await c.post("/lifecycle/webhooks", headers=auth, json=hook)
    assert created.status_code == 201, created.text
    assert created.json()["secret"].startswith("whsec_")
    listed = (await c.get("/lifecycle/webhooks", headers=auth)).json()
    assert listed["count"] == 1
    assert "secret" not in json.dumps(listed["items"])
    assert_error(await c.post("/lifecycle/webhooks", headers=auth, json={"url": 5}), 400)
    assert_error(await c.delete("/lifecycle/webhooks", params={"id": "nope"}, headers=auth), 404)

    letters = (await c.get("/webhooks/dead-letters", headers=auth)).json()
    assert letters == {"items": [], "count": 0}
    assert_error(await c.post("/webhooks/dead-letters/replay", json={"webhook_id": "msg_x"},
                              headers=auth), 404)  # fmt: skip

    asset = await tracked_asset(api)
    made = await c.post("/triggers", headers=auth, json={
        "asset_id": asset, "condition": {"type": "PRICE_ABOVE", "threshold": 0.99}})  # fmt: skip
    assert made.status_code == 201
    trigger_id = made.json()["trigger_id"]
    assert (await c.get("/triggers", headers=auth)).json()["count"] == 1
    assert (await c.delete("/triggers", params={"trigger_id": trigger_id},
                           headers=auth)).json() == {"deleted": trigger_id}  # fmt: skip
    assert_error(await c.delete("/triggers", params={"trigger_id": trigger_id}, headers=auth), 404)
    assert_error(await c.delete("/triggers", headers=auth), 400)
    assert_error(await c.post("/triggers", headers=auth, json={"asset_id": asset}), 400)
    assert (await c.post("/admin/init-triggers", headers=auth)).json()["created"] == 16
    assert (await c.post("/admin/delete-all-triggers", headers=auth)).json()["deleted"] == 16
    events = (await c.get("/api/v1/triggers/events", headers=auth)).json()
    assert events["count"] == len(events["events"])
    status = (await c.get("/api/v1/triggers/events/status")).json()
    assert status["capacity"] == 100


async def test_session_cookie_stands_in_for_the_key_with_an_origin_check(api: Api) -> None:
    c = api.client
    assert_error(await c.post("/api/v1/auth"), 401)
    r = await c.post("/api/v1/auth", headers=api.auth)
    assert r.status_code == 200
    assert r.json()["tier"] == "enterprise"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert api.key not in cookie
    session = r.cookies["polymon_session"]
    jar = {"polymon_session": session}
    async with httpx.AsyncClient(base_url=api.handle.http_url, cookies=jar) as browser:
        assert (await browser.get("/triggers")).status_code == 200
        origin = api.handle.http_url.rstrip("/")
        assert_error(await browser.post("/admin/init-triggers"), 403)
        assert_error(
            await browser.post("/admin/init-triggers", headers={"Origin": "https://evil.example"}),
            403,
        )
        ok = await browser.post("/admin/init-triggers", headers={"Origin": origin})
        assert ok.status_code == 200
        # Logout is a cookie-authenticated write too: another site cannot end the session.
        assert_error(await browser.delete("/api/v1/auth"), 403)
        evil = {"Origin": "https://evil.example"}
        assert_error(await browser.delete("/api/v1/auth", headers=evil), 403)
        assert (await browser.get("/triggers")).status_code == 200  # still logged in
        out = await browser.delete("/api/v1/auth", headers={"Origin": origin})
        assert out.json() == {"deleted": 1}
    async with httpx.AsyncClient(base_url=api.handle.http_url, cookies=jar) as replayed:
        assert_error(await replayed.get("/triggers"), 401)


async def test_bad_input_never_makes_a_server_error(api: Api) -> None:
    c, auth = api.client, api.auth
    assert_error(await c.get("/no/such/route"), 404)
    r = assert_error(await c.put("/health"), 405)
    assert r["error"] == "method_not_allowed"
    bad_bodies: list[bytes] = [b"{", b"\xff\xfe\x00", b"[]", b'{"asset_id": 1}', b"null"]
    for data in bad_bodies:
        assert_error(await c.post("/triggers", content=data, headers=auth), 400)
        assert_error(await c.post("/lifecycle/webhooks", content=data, headers=auth), 400)
    assert_error(await c.post("/triggers", content=b"x" * 5000, headers=auth), 413)
    unknown = {"asset_id": "1", "condition": {"type": "PRICE_ABOVE", "threshold": 0.5}, "zzz": 1}
    assert_error(await c.post("/triggers", json=unknown, headers=auth), 400)
    assert_error(await c.post("/webhooks/dead-letters/replay", json={}, headers=auth), 400)


async def test_unread_bodies_do_not_stall_a_keep_alive_connection(api: Api) -> None:
    # A 405 or 401 is answered before the body is read; the next request on the same
    # connection must still be served (hypercorn stalls it unless the body is drained).
    body = b'{"prefix": "test", "dry_run": true}'
    for method, headers in (("PATCH", api.auth), ("QUERY", api.auth), ("POST", {}),
                            ("PUT", {}), ("POST", api.auth)):  # fmt: skip
        with trio.fail_after(5):
            r = await api.client.request(method, "/admin/cleanup-test-data", content=body,
                                         headers=headers)  # fmt: skip
        assert r.status_code in (200, 401, 405)
