"""The orderbook fast path: a plain read is answered in front of Quart with exactly what the
Quart route would answer (status, headers, body), and anything unusual is left to Quart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from quart_trio import QuartTrio

from polymon.config import load_config
from polymon.core.model import AssetMeta
from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.fastpath import OrderbookFastPath
from polymon.web.keys import KeyStore
from tests.fixtures import read_lines

BOOK = read_lines("polypy/head/messages_hash.txt")[0]  # a real `book` message
ASSET = BOOK["asset_id"]
PATH = f"/api/v1/markets/{ASSET}/orderbook"
# A cookie polymon does not know changes nothing about the answer, but sends it to Quart.
TO_QUART = {"Cookie": "unrelated=1"}


class Api:
    def __init__(self, app: QuartTrio, keys: KeyStore) -> None:
        self.app = app
        self.keys = keys
        self.client = app.test_client()

    @property
    def answered(self) -> int:
        fast = self.app.asgi_app
        assert isinstance(fast, OrderbookFastPath)
        return fast.answered

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return await self.client.get(path, headers=headers or {})


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    overrides: dict[str, Any] = {
        "service": {"data_dir": str(tmp_path)}, "storage": {"enabled": False},
        "http": {"cors_allow_origins": ["https://app.example"]},
    }  # fmt: skip
    cfg = load_config(None, environ={}, overrides=overrides)
    keys = KeyStore(tmp_path)
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        meta = AssetMeta(asset_id=ASSET, market=BOOK["market"], tick_size="0.01")
        service.shard_for(ASSET).state.track(meta)
        service.state_of(ASSET).on_book(
            ASSET, BOOK["market"], int(BOOK["timestamp"]), BOOK["hash"],
            [(b["price"], b["size"]) for b in BOOK["bids"]],
            [(a["price"], a["size"]) for a in BOOK["asks"]],
            now=trio.current_time(), wall_us=int(BOOK["timestamp"]) * 1000,
        )  # fmt: skip
        app = create_app(ServiceApi(service, None, cfg), service.events, triggers=service.alerts,
                         keys=keys, http=cfg.http)  # fmt: skip
        yield Api(app, keys)


def comparable(response: Any) -> dict[str, str]:
    headers = {k.lower(): v for k, v in response.headers.items()}
    headers.pop("x-ratelimit-remaining")  # each request consumes one
    headers.pop("x-ratelimit-reset")  # epoch seconds, rounded up: checked by reset_agrees
    return headers


def reset_agrees(fast: Any, slow: Any) -> bool:
    # The later of the two requests sees a later wall clock (and, if allowed, one more request
    # in the bucket): the two resets are the same second or neighbours.
    a, b = (int(r.headers["X-RateLimit-Reset"]) for r in (fast, slow))
    return abs(a - b) <= 1


async def test_a_plain_read_is_answered_in_front_of_quart_with_the_same_response(api: Api) -> None:
    slow = await api.get(PATH, TO_QUART)
    assert api.answered == 0
    fast = await api.get(PATH)
    assert api.answered == 1
    assert fast.status_code == slow.status_code == 200
    assert await fast.get_data() == await slow.get_data()
    assert comparable(fast) == comparable(slow)
    assert reset_agrees(fast, slow)
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (slow, fast)]
    assert remaining[1] == remaining[0] - 1
    body = json.loads(await fast.get_data())
    assert body["asset_id"] == ASSET
    assert body["hash"] == BOOK["hash"]
    assert len(body["bids"]) == len(BOOK["bids"])
    assert len(body["asks"]) == len(BOOK["asks"])


async def test_depth_is_served_fast_and_every_other_query_gets_quarts_400(api: Api) -> None:
    fast = await api.get(PATH + "?depth=1")
    assert api.answered == 1
    body = json.loads(await fast.get_data())
    assert (len(body["bids"]), len(body["asks"])) == (1, 1)
    assert body == json.loads(await (await api.get(PATH + "?depth=1", TO_QUART)).get_data())
    for query in ("depth=0", "depth=abc", "depth=10001", "depth=1&depth=2", "deep=1", "depth="):
        response = await api.get(f"{PATH}?{query}")
        assert response.status_code == 400, query
        assert (await response.get_json())["error"] == "bad_request"
    assert api.answered == 1


async def test_an_untracked_asset_gets_quarts_404(api: Api) -> None:
    response = await api.get("/api/v1/markets/12345/orderbook")
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not_found"
    assert "X-RateLimit-Limit" in response.headers
    assert api.answered == 0


async def test_the_key_sets_the_tier_and_a_spent_bucket_gets_the_same_429(
    api: Api, autojump_clock: object
) -> None:
    _, key = api.keys.create("fast", "free")
    headers = {"X-API-Key": key}
    for _ in range(60):  # the free tier's data limit per minute
        ok = await api.get(PATH, headers)
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Tier"] == "free"
    fast = await api.get(PATH, headers)
    slow = await api.get(PATH, headers | TO_QUART)
    assert api.answered == 61
    assert fast.status_code == slow.status_code == 429
    assert await fast.get_json() == await slow.get_json()
    assert (await fast.get_json())["error"] == "rate_limited"
    assert comparable(fast) == comparable(slow)
    assert reset_agrees(fast, slow)
    assert int(fast.headers["Retry-After"]) >= 1


async def test_cors_head_and_bodies_are_left_to_quart(api: Api) -> None:
    origin = "https://app.example"
    cors = await api.get(PATH, {"Origin": origin})
    assert cors.status_code == 200
    assert cors.headers["Access-Control-Allow-Origin"] == origin
    head = await api.client.head(PATH)
    assert head.status_code == 200
    with_body = await api.client.get(PATH, data=b"x", headers={"Content-Length": "1"})
    assert with_body.status_code == 200
    assert api.answered == 0


async def test_fast_answers_are_counted_in_the_http_metrics(api: Api) -> None:
    for _ in range(3):
        await api.get(PATH)
    await api.get(PATH, TO_QUART)
    text = (await (await api.get("/metrics")).get_data()).decode()
    line = next(
        x for x in text.splitlines()
        if x.startswith("polymon_http_requests_total{")
        and 'route="/api/v1/markets/<asset_id>/orderbook"' in x and 'status="200"' in x
    )  # fmt: skip
    assert float(line.rsplit(" ", 1)[1]) == 4
