"""The simulated Gamma and CLOB REST handlers, without HTTP."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from polymon.polymarket.simulator import rest
from polymon.polymarket.simulator.exchange import Exchange

T0 = 1_790_000_000_000


@pytest.fixture(scope="module")
def exchange() -> Exchange:
    return Exchange(250, 1)


def query(**params: str | list[str]) -> MultiDict[str, str]:
    return MultiDict(params)


def ids(markets: list[dict[str, object]]) -> list[object]:
    return [m["id"] for m in markets]


def test_offset_paging_walks_every_market_in_id_order(exchange: Exchange) -> None:
    walked: list[object] = []
    offset = 0
    while True:
        status, page = rest.gamma_markets(exchange, query(limit="100", offset=str(offset)))
        assert status == 200
        walked += ids(page)
        if not page:
            break
        offset += len(page)
    assert walked == ids(exchange.gamma_markets())
    assert len(walked) == 250


def test_limit_is_silently_capped_at_100_and_defaults_to_20(exchange: Exchange) -> None:
    assert len(rest.gamma_markets(exchange, query(limit="500"))[1]) == 100
    assert len(rest.gamma_markets(exchange, query())[1]) == 20


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"offset": "10001"}, 422),
        ({"offset": "10000"}, 200),
        ({"limit": "ten"}, 422),
        ({"offset": "-1"}, 422),
        ({"active": "maybe"}, 422),
    ],
)
def test_bad_gamma_parameters(exchange: Exchange, params: dict[str, str], status: int) -> None:
    got, body = rest.gamma_markets(exchange, query(**params))
    assert got == status
    if status != 200:
        assert "error" in body


def test_closed_defaults_to_false_and_filters_apply(exchange: Exchange) -> None:
    assert rest.gamma_markets(exchange, query(closed="true"))[1] == []
    assert len(rest.gamma_markets(exchange, query(active="true", limit="100"))[1]) == 100
    wanted = [m.condition_id for m in exchange.markets[3:6]]
    _, page = rest.gamma_markets(exchange, query(condition_ids=wanted))
    assert [m["conditionId"] for m in page] == wanted
    token = exchange.markets[7].no_id
    _, page = rest.gamma_markets(exchange, query(clob_token_ids=token))
    assert [json.loads(m["clobTokenIds"])[1] for m in page] == [token]


def test_keyset_walk_ends_without_next_cursor(exchange: Exchange) -> None:
    walked: list[object] = []
    params: dict[str, str] = {"limit": "1000"}
    pages = 0
    while True:
        status, page = rest.gamma_markets_keyset(exchange, query(**params))
        assert status == 200
        pages += 1
        assert len(page["markets"]) <= 100
        walked += ids(page["markets"])
        if "next_cursor" not in page:
            break
        params["after_cursor"] = page["next_cursor"]
    assert pages == 3
    assert walked == ids(exchange.gamma_markets())


def test_keyset_rejects_offset_and_bad_cursors(exchange: Exchange) -> None:
    assert rest.gamma_markets_keyset(exchange, query(offset="0"))[0] == 422
    assert rest.gamma_markets_keyset(exchange, query(after_cursor="%%%"))[0] == 400
    assert rest.gamma_markets_keyset(exchange, query(after_cursor="bm9wZQ=="))[0] == 400


def test_clob_book_answers_like_the_venue(exchange: Exchange) -> None:
    token = exchange.markets[0].yes_id
    assert rest.clob_book(exchange, token, T0) == (200, exchange.rest_book(token, T0))
    assert rest.clob_book(exchange, "123", T0) == (404, rest.NO_BOOK)
    assert rest.clob_book(exchange, None, T0)[0] == 400


def test_clob_books_returns_known_books_in_order(exchange: Exchange) -> None:
    a, b = exchange.markets[1].no_id, exchange.markets[0].yes_id
    body = json.dumps([{"token_id": a}, {"token_id": "1"}, {"token_id": b, "side": "BUY"}])
    status, books = rest.clob_books(exchange, body.encode(), T0)
    assert status == 200
    assert [book["asset_id"] for book in books] == [a, b]
    for bad in (b"{", b'{"token_id": "1"}', b'[{"id": "1"}]', b"[1]"):
        status, error = rest.clob_books(exchange, bad, T0)
        assert status == 400
        assert "error" in error


def test_paging_costs_each_market_once_not_once_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,000 markets, every tenth resolved: a whole walk looks at each market about once (the
    # first market of a page is also looked at as the end of the one before), and builds the
    # Gamma shape only of the markets it returns. Building every market per page made a
    # 50,000-market bootstrap take hours.
    exchange = Exchange(1000, 2)
    for market in exchange.markets[::10]:
        exchange.resolve_market(market.condition_id, T0)
    looked, built = [0], [0]
    flags, shape = rest.gamma_flags, exchange.gamma_market

    def counting_flags(market: object) -> dict[str, bool]:
        looked[0] += 1
        return flags(market)  # type: ignore[arg-type]

    def counting_shape(market: object) -> dict[str, object]:
        built[0] += 1
        return shape(market)  # type: ignore[arg-type]

    monkeypatch.setattr(rest, "gamma_flags", counting_flags)
    monkeypatch.setattr(exchange, "gamma_market", counting_shape)
    walked: list[object] = []
    params: dict[str, str] = {"limit": "100"}
    pages = 0
    while True:
        _, page = rest.gamma_markets_keyset(exchange, query(**params))
        pages += 1
        walked += ids(page["markets"])
        if "next_cursor" not in page:
            break
        params["after_cursor"] = page["next_cursor"]
    assert walked == [m.gamma_id for m in exchange.markets if m.closed_ms is None]
    assert pages == 9
    assert built[0] == 900
    assert looked[0] <= 1000 + pages
    looked[0] = built[0] = 0
    _, page = rest.gamma_markets(exchange, query(limit="100", offset="800"))
    assert ids(page) == walked[800:]
    assert built[0] == 100
    assert looked[0] <= 1000
