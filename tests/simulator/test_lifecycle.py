"""Markets appear and resolve on the simulated exchange, in the venue's wire shapes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import trio
import trio.testing
from trio_websocket import open_websocket_url

from polymon.polymarket.gamma import parse_markets
from polymon.polymarket.schemas import MarketResolved, NewMarket, decode_frame
from polymon.polymarket.simulator import rest
from polymon.polymarket.simulator.exchange import Exchange
from polymon.service.records import winner
from tests.fixtures import DATA
from tests.simulator.test_server import advance, start, subscribe

T0 = 1_790_000_000_000
FIXTURES = DATA / "nautilus_trader" / "crates_test_data"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class Args(dict[str, str]):
    """A query string with one value per key (werkzeug's MultiDict shape)."""

    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


def test_a_new_market_is_announced_in_the_venue_shape_and_listed_on_gamma_at_once() -> None:
    exchange = Exchange(3, 1)
    market, message = exchange.add_market(T0, book_delay_ms=5_000)
    assert set(message) == set(fixture("ws_market_new_market_msg.json"))
    (decoded,), skipped = decode_frame(json.dumps(message))
    assert skipped == []
    assert isinstance(decoded, NewMarket)
    assert decoded.market == market.condition_id
    assert decoded.assets_ids == [market.yes_id, market.no_id]
    listed = rest.gamma_markets(exchange, Args(condition_ids=market.condition_id))[1]
    assert [m["conditionId"] for m in listed] == [market.condition_id]


def test_a_new_markets_clob_book_404s_until_its_delay_has_passed() -> None:
    exchange = Exchange(2, 1, trade_ratio=0, tick_change_ratio=0)
    market, _ = exchange.add_market(T0, book_delay_ms=5_000)
    assert rest.clob_book(exchange, market.yes_id, T0 + 4_999)[0] == 404
    assert rest.clob_market(exchange, market.condition_id, T0 + 4_999)[0] == 404
    assert rest.clob_books(exchange, json.dumps([{"token_id": market.no_id}]).encode(), T0)[1] == []
    # no events for it either, until the CLOB knows it
    assert all(
        m.get("market") != market.condition_id for i in range(200) for m in exchange.step(T0 + i)
    )
    assert rest.clob_book(exchange, market.yes_id, T0 + 5_000)[0] == 200
    seen = {m["market"] for i in range(400) for m in exchange.step(T0 + 5_000 + i)}
    assert market.condition_id in seen


def test_a_resolved_market_is_closed_everywhere_with_one_winner() -> None:
    exchange = Exchange(3, 2)
    market = exchange.markets[1]
    message = exchange.resolve_market(market.condition_id, T0, yes_wins=False)
    assert set(message) == set(fixture("ws_market_resolved_msg.json"))
    (decoded,), _ = decode_frame(json.dumps(message))
    assert isinstance(decoded, MarketResolved)
    assert (decoded.winning_asset_id, decoded.winning_outcome) == (market.no_id, "No")

    status, listed = rest.gamma_markets(exchange, Args(closed="true"))
    assert status == 200
    (gamma,) = listed
    assert json.loads(gamma["outcomePrices"]) == ["0", "1"]
    assert gamma["umaResolutionStatus"] == "resolved"
    assert gamma["closedTime"].endswith("+00")
    (parsed,), skipped = parse_markets(json.dumps(listed).encode())
    assert skipped == 0
    assert parsed.closed_time is not None
    assert abs(parsed.closed_time - T0) < 1000
    assert winner(parsed) == ("No", market.no_id)
    assert market.condition_id not in {
        m["conditionId"] for m in rest.gamma_markets(exchange, Args())[1]
    }

    status, clob = rest.clob_market(exchange, market.condition_id, T0)
    assert status == 200
    assert set(clob) <= set(fixture("clob_market_closed_binary_accepting_false.json"))
    assert [(t["token_id"], t["winner"]) for t in clob["tokens"]] == [
        (market.yes_id, False),
        (market.no_id, True),
    ]
    assert rest.clob_book(exchange, market.yes_id, T0)[0] == 404
    assert all(m.get("market") != market.condition_id for i in range(300) for m in exchange.step(i))


def test_a_proposed_resolution_is_closed_on_gamma_but_not_final() -> None:
    exchange = Exchange(2, 2)
    market = exchange.markets[0]
    exchange.resolve_market(market.condition_id, T0, yes_wins=True, uma_status="proposed")
    (gamma,) = rest.gamma_markets(exchange, Args(closed="true"))[1]
    (parsed,), _ = parse_markets(json.dumps([gamma]).encode())
    assert parsed.closed
    assert [Decimal(p) for p in parsed.outcome_prices] == [1, 0]
    assert winner(parsed) is None  # the strict rule waits for UMA
    tokens = rest.clob_market(exchange, market.condition_id, T0)[1]["tokens"]
    assert [t["winner"] for t in tokens] == [False, False]  # not settled on chain either
    exchange.set_uma_status(market.condition_id, "resolved")
    (gamma,) = rest.gamma_markets(exchange, Args(closed="true"))[1]
    assert winner(parse_markets(json.dumps([gamma]).encode())[0][0]) == ("Yes", market.yes_id)
    tokens = rest.clob_market(exchange, market.condition_id, T0)[1]["tokens"]
    assert [t["winner"] for t in tokens] == [True, False]


def test_without_a_uma_status_only_the_clob_tells_the_winner() -> None:
    exchange = Exchange(2, 2)
    market = exchange.markets[1]
    exchange.resolve_market(market.condition_id, T0, yes_wins=False, uma_status="")
    (gamma,) = rest.gamma_markets(exchange, Args(closed="true"))[1]
    assert "umaResolutionStatus" not in gamma
    assert winner(parse_markets(json.dumps([gamma]).encode())[0][0]) is None
    tokens = rest.clob_market(exchange, market.condition_id, T0)[1]["tokens"]
    assert [t["winner"] for t in tokens] == [False, True]


def test_when_every_market_is_resolved_nothing_happens_any_more() -> None:
    exchange = Exchange(2, 5)
    for market in list(exchange.markets):
        exchange.resolve_market(market.condition_id, T0)
    assert exchange.next_frames(T0) == []
    assert exchange.open_markets() == []


async def test_lifecycle_events_reach_every_client_and_the_control_routes_work(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(nursery, markets=2, rate_per_sec=1.0, new_market_book_delay_secs=2.0)
    async with (
        httpx.AsyncClient(base_url=sim.http_url) as client,
        open_websocket_url(sim.ws_url) as ws,
    ):
        await subscribe(ws, [sim.exchange.markets[0].yes_id])
        await ws.get_message()  # the initial dump
        created = (await client.post("/simulator/markets")).json()
        frame = await ws.get_message()
        (announced,), _ = decode_frame(frame)
        assert isinstance(announced, NewMarket)
        assert announced.market == created["condition_id"]
        # a token the CLOB does not know yet: an empty dump, then its book after the delay
        await subscribe(ws, created["token_ids"][:1])
        assert await ws.get_message() == "[]"
        book = await client.get("/book", params={"token_id": created["token_ids"][0]})
        assert book.status_code == 404
        await advance(mock_clock, 2.5)
        book = await client.get("/book", params={"token_id": created["token_ids"][0]})
        assert book.status_code == 200

        resolved = await client.post(
            f"/simulator/markets/{created['condition_id']}/resolve", params={"winner": "yes"}
        )
        assert resolved.json()["yes_won"] is True
        messages: list[Any] = []
        while not any(isinstance(m, MarketResolved) for m in messages):
            messages += decode_frame(await ws.get_message())[0]
        again = await client.post(f"/simulator/markets/{created['condition_id']}/resolve")
        assert again.status_code == 409
        assert (await client.post("/simulator/markets/0xnope/resolve")).status_code == 404
        market = await client.get(f"/markets/{created['condition_id']}")
        assert [t["winner"] for t in market.json()["tokens"]] == [True, False]

        assert (await client.post("/simulator/gamma/fail")).status_code == 200
        assert (await client.get("/markets")).status_code == 500
        assert (await client.get("/markets/keyset")).status_code == 500
        await client.post("/simulator/gamma/recover")
        assert (await client.get("/markets")).status_code == 200
    assert (sim.stats.markets_created, sim.stats.markets_resolved) == (1, 1)


async def test_markets_appear_and_resolve_on_a_schedule(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    sim = await start(
        nursery, markets=3, rate_per_sec=1.0, new_market_every_secs=10.0, resolve_every_secs=15.0
    )
    await advance(mock_clock, 31.0)
    assert (sim.stats.markets_created, sim.stats.markets_resolved) == (3, 2)
    resolved = [m for m in sim.exchange.markets if m.closed_ms is not None]
    assert resolved == sim.exchange.markets[:2]  # the oldest first
