"""Gamma parsing and listing against an in-memory venue serving the real Gamma captures.

The fake venue behaves like Gamma as the protocol doc describes it: `limit` silently capped at
100, keyset cursors absent on the last page, 422 for `offset > 10000`, implicit `closed=false`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from polymon.core.model import AssetMeta
from polymon.errors import VenueError, VenueStatusError
from polymon.polymarket.gamma import (
    MAX_OFFSET,
    RETRIES,
    GammaMarket,
    asset_metas,
    fetch_active_markets,
    fetch_markets_by_condition,
    parse_keyset_page,
    parse_markets,
    parse_time_ms,
)
from tests.fixtures import DATA

GAMMA_URL = "http://127.0.0.1:1/"
LIVE = DATA / "marcasite" / "gamma_live"
CRATES = DATA / "nautilus_trader" / "crates_test_data"


def element_bytes(path: Path) -> bytes:
    """The market object of a fixture, byte for byte (marcasite wraps it in `body`)."""
    data = path.read_bytes()
    if path.parent == LIVE:
        return bytes(msgspec.json.decode(data, type=dict[str, msgspec.Raw])["body"])
    return data


def element(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(element_bytes(path))
    return result


def array_of(*elements: bytes) -> bytes:
    return b"[" + b",".join(elements) + b"]"


def ms(text: str) -> int:
    """Epoch ms of a whole-second UTC time."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1000


MARKET = element(LIVE / "Market.json")
CLOSED_SPORTS = element(LIVE / "MarketClosedSports.json")


def variant(base: dict[str, Any], i: int, **changes: Any) -> dict[str, Any]:
    """A copy of a real market with its own id, condition id and token ids."""
    return {
        **base,
        "id": str(1_000_000 + i),
        "conditionId": f"0x{i:064x}",
        "clobTokenIds": json.dumps([str(10**70 + 2 * i), str(10**70 + 2 * i + 1)]),
        **changes,
    }


SLIM_KEYS = (
    "id",
    "conditionId",
    "clobTokenIds",
    "outcomes",
    "active",
    "closed",
    "enableOrderBook",
    "orderPriceMinTickSize",
    "orderMinSize",
)


def slim(i: int) -> dict[str, Any]:
    """Just the keys polymon filters on, so a 10,000-market listing stays cheap."""
    return {k: v for k, v in variant(MARKET, i).items() if k in SLIM_KEYS}


class FakeGamma:
    """Gamma in memory: serves `pool` by keyset and offset paging, like the real venue."""

    def __init__(
        self,
        pool: Sequence[dict[str, Any]],
        *,
        keyset_status: int = 200,
        server_limit: int = 100,
        offset_422_above: int = MAX_OFFSET,
        honour_filters: bool = True,
    ) -> None:
        self.pool = list(pool)
        self.keyset_status = keyset_status
        self.server_limit = server_limit
        self.offset_422_above = offset_422_above
        self.honour_filters = honour_filters
        self.script: list[httpx.Response | Exception] = []  # answered first, in order
        self.requests: list[httpx.Request] = []

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def params(self, name: str) -> list[str | None]:
        return [r.url.params.get(name) for r in self.requests]

    def selected(self, q: httpx.QueryParams) -> list[dict[str, Any]]:
        if not self.honour_filters:
            return self.pool
        closed = q.get("closed", "false") == "true"  # Gamma's implicit closed=false
        ids = q.get_list("condition_ids")
        return [
            m
            for m in self.pool
            if m.get("closed", False) == closed
            and ("active" not in q or m.get("active") == (q["active"] == "true"))
            and (not ids or m["conditionId"] in ids)
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            scripted = self.script.pop(0)
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        q = request.url.params
        limit = min(int(q.get("limit", "20")), self.server_limit)
        pool = self.selected(q)
        if request.url.path == "/markets/keyset":
            if self.keyset_status != 200:
                return httpx.Response(self.keyset_status, json={"error": "not found"})
            assert "offset" not in q
            start = int(q.get("after_cursor", "cur-0").removeprefix("cur-"))
            body: dict[str, Any] = {"markets": pool[start : start + limit]}
            if start + limit < len(pool):
                body["next_cursor"] = f"cur-{start + limit}"
            return httpx.Response(200, json=body)
        if request.url.path == "/markets":
            offset = int(q.get("offset", "0"))
            if offset > self.offset_422_above:
                return httpx.Response(422, json={"error": "offset too large"})
            return httpx.Response(200, json=pool[offset : offset + limit])
        return httpx.Response(404, json={"error": "no such route"})


async def active(venue: FakeGamma, **kwargs: Any) -> list[GammaMarket]:
    async with venue.client() as client:
        return await fetch_active_markets(client, GAMMA_URL, **kwargs)


def condition_ids(markets: Sequence[GammaMarket]) -> list[str]:
    return [m.condition_id for m in markets]


# ---------------------------------------------------------------------------------------------
# Parsing the real captures


GAMMA_FIXTURES = sorted(LIVE.glob("*.json")) + sorted(CRATES.glob("gamma_market*.json"))


@pytest.mark.parametrize("path", GAMMA_FIXTURES, ids=lambda p: p.name)
def test_every_gamma_fixture_parses(path: Path) -> None:
    wire = element(path)
    markets, skipped = parse_markets(array_of(element_bytes(path)))
    assert skipped == 0
    [market] = markets
    assert market.id == wire["id"]
    assert market.condition_id == wire["conditionId"]
    assert market.question == wire["question"]
    assert market.token_ids == json.loads(wire["clobTokenIds"])
    assert len(market.token_ids) == 2
    assert market.outcomes == json.loads(wire["outcomes"])
    assert market.outcome_prices == json.loads(wire["outcomePrices"])
    assert market.closed is wire["closed"]
    assert market.enable_order_book is wire.get("enableOrderBook")
    assert market.end_date == ms(wire["endDate"].removesuffix("Z"))
    assert market.updated_at is not None
    assert json.loads(market.raw) == wire


def test_event_fixture_markets_parse() -> None:
    [event] = json.loads((CRATES / "gamma_event.json").read_bytes())
    markets, skipped = parse_markets(json.dumps(event["markets"]).encode())
    assert (len(markets), skipped) == (len(event["markets"]), 0)
    assert all(m.neg_risk and m.tick_size == "0.001" for m in markets)


def test_open_market_fields() -> None:
    [m], _ = parse_markets(array_of(element_bytes(LIVE / "Market.json")))
    assert m.condition_id == "0xdf9bf27ee5757c55b44b8b9826ddc9ec3a8809aa3278634c45edbb7fc8f1a3e3"
    assert (m.active, m.closed, m.archived, m.accepting_orders) == (True, False, False, True)
    assert (m.tick_size, m.min_order_size, m.neg_risk) == ("0.01", "5", True)
    assert m.outcome_prices == ["0.745", "0.255"]
    assert m.volume == "6227014.741697002"
    assert m.uma_resolution_status == ""  # left out by the venue
    assert m.closed_time is None
    assert m.updated_at == ms("2026-10-02T09:43:25") + 571  # "…25.57124Z": 5 digits


def test_closed_sports_market_postgres_dates() -> None:
    [m], _ = parse_markets(array_of(element_bytes(LIVE / "MarketClosedSports.json")))
    assert m.closed_time == ms("2026-09-09 14:25:04")  # "2026-09-09 14:25:04+00" on the wire
    assert (m.closed, m.accepting_orders, m.uma_resolution_status) == (True, False, "resolved")
    assert m.tick_size == "0.001"


def test_closed_legacy_market_proposed_not_resolved() -> None:
    [m], _ = parse_markets(array_of(element_bytes(LIVE / "MarketOld.json")))
    assert (m.closed, m.accepting_orders, m.outcome_prices) == (True, True, ["1", "0"])
    assert m.uma_resolution_status == "proposed"


def test_missing_best_bid_and_volume() -> None:
    path = CRATES / "gamma_market_closed_binary_accepting_false.json"
    assert "bestBid" not in element(path)
    assert "volume" not in element(path)
    [m], _ = parse_markets(array_of(element_bytes(path)))
    assert m.volume == ""
    assert m.automatically_resolved is True


@pytest.mark.parametrize(
    "name",
    ["gamma_market_closed_nonbinary_legacy.json", "gamma_market_closed_zero_zero_legacy.json"],
)
def test_legacy_market_without_order_book_fields(name: str) -> None:
    [m], _ = parse_markets(array_of(element_bytes(CRATES / name)))
    assert (m.tick_size, m.min_order_size, m.enable_order_book, m.neg_risk) == ("", "", None, False)


@pytest.mark.parametrize(
    ("tick", "size", "want_tick", "want_size"),
    [
        ("0.01", "5", "0.01", "5"),
        ("0.001", "5.0", "0.001", "5"),
        ("1e-3", "15", "0.001", "15"),
        ("0.0001", "0.5", "0.0001", "0.5"),
        ("0.1", "100", "0.1", "100"),
        ('"0.01"', '"5"', "0.01", "5"),
    ],
)
def test_tick_and_min_size_are_exact_strings(
    tick: str, size: str, want_tick: str, want_size: str
) -> None:
    body = (
        f'[{{"conditionId":"0xab","clobTokenIds":"[\\"1\\"]",'
        f'"orderPriceMinTickSize":{tick},"orderMinSize":{size}}}]'
    )
    [m], _ = parse_markets(body.encode())
    assert (m.tick_size, m.min_order_size) == (want_tick, want_size)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T12:00:00Z", ms("2026-01-31T12:00:00")),
        ("2026-01-31T12:00:00.5Z", ms("2026-01-31T12:00:00") + 500),
        ("2026-10-02T09:43:25.57124Z", ms("2026-10-02T09:43:25") + 571),
        ("2026-01-31", ms("2026-01-31T00:00:00")),
        ("2026-09-09 14:25:04+00", ms("2026-09-09T14:25:04")),
        ("2026-09-09T16:25:04+02:00", ms("2026-09-09T14:25:04")),
        ("", None),
        (None, None),
        ("tomorrow", None),
    ],
)
def test_parse_time_ms(text: str | None, expected: int | None) -> None:
    assert parse_time_ms(text) == expected


GOOD = variant(MARKET, 1)


@pytest.mark.parametrize(
    "token_ids",
    [
        "<missing>",
        None,
        "",
        "[]",
        "not json",
        "[1, 2]",
        '["0xabc", "12"]',
        '{"a": "1"}',
        '["7", "7"]',
        '[""]',
    ],
)
def test_garbage_clob_token_ids_skipped_and_counted(token_ids: str | None) -> None:
    bad = {k: v for k, v in variant(MARKET, 2).items() if k != "clobTokenIds"}
    if token_ids != "<missing>":
        bad["clobTokenIds"] = token_ids
    markets, skipped = parse_markets(json.dumps([GOOD, bad, GOOD]).encode())
    assert condition_ids(markets) == [GOOD["conditionId"]] * 2
    assert skipped == 1


def test_bad_elements_skipped_and_counted() -> None:
    wrong_type = {**variant(MARKET, 3), "active": "yes"}
    no_condition = {k: v for k, v in variant(MARKET, 4).items() if k != "conditionId"}
    body = json.dumps([1, "x", None, [], wrong_type, no_condition, GOOD]).encode()
    markets, skipped = parse_markets(body)
    assert (condition_ids(markets), skipped) == ([GOOD["conditionId"]], 6)


def test_explicit_nulls_are_tolerated() -> None:
    [m], skipped = parse_markets(json.dumps([{**GOOD, "question": None, "negRisk": None}]).encode())
    assert (skipped, m.question, m.neg_risk) == (0, "", False)


def test_body_of_the_wrong_shape_is_a_venue_error() -> None:
    clob_page = (DATA / "nautilus_trader/integration_http_responses/markets.json").read_bytes()
    with pytest.raises(VenueError):
        parse_markets(clob_page)  # the CLOB /markets page is an object, not Gamma's array
    with pytest.raises(VenueError):
        parse_markets(b"<html>502 Bad Gateway</html>")
    with pytest.raises(VenueError):
        parse_keyset_page(json.dumps([GOOD]).encode())


def test_keyset_page() -> None:
    body = json.dumps({"markets": [GOOD, {"junk": 1}], "next_cursor": "abc"}).encode()
    markets, skipped, cursor = parse_keyset_page(body)
    assert (condition_ids(markets), skipped, cursor) == ([GOOD["conditionId"]], 1, "abc")
    assert parse_keyset_page(b'{"markets": []}') == ([], 0, None)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
MARKETISH = st.fixed_dictionaries(
    {"conditionId": st.text(), "clobTokenIds": st.text() | JSON},
    optional={"orderPriceMinTickSize": JSON, "endDate": JSON, "outcomes": st.text() | JSON},
)


@given(st.lists(JSON | MARKETISH, max_size=6))
def test_parse_markets_never_raises_on_an_array(elements: list[Any]) -> None:
    markets, skipped = parse_markets(json.dumps(elements).encode())
    assert len(markets) + skipped == len(elements)
    assert all(m.token_ids for m in markets)


def test_asset_metas() -> None:
    [m], _ = parse_markets(array_of(element_bytes(LIVE / "Market.json")))
    yes, no = json.loads(MARKET["clobTokenIds"])
    assert asset_metas([m]) == [
        AssetMeta(
            asset_id=token,
            market=m.condition_id,
            outcome=outcome,
            tick_size="0.01",
            min_order_size="5",
            neg_risk=True,
        )
        for token, outcome in [(yes, "Yes"), (no, "No")]
    ]


# ---------------------------------------------------------------------------------------------
# Listing: keyset, offset fallback, caps, dedupe


POOL = [variant(MARKET, i) for i in range(250)]


async def test_keyset_paging_over_several_pages() -> None:
    venue = FakeGamma(POOL)
    markets = await active(venue)
    assert condition_ids(markets) == [m["conditionId"] for m in POOL]
    assert [r.url.path for r in venue.requests] == ["/markets/keyset"] * 3
    assert venue.params("after_cursor") == [None, "cur-100", "cur-200"]
    assert venue.params("limit") == ["100"] * 3
    assert venue.params("active") == ["true"] * 3
    assert venue.params("closed") == ["false"] * 3


@pytest.mark.parametrize("status", [404, 405, 410, 422])
async def test_fallback_to_offset_paging(status: int) -> None:
    venue = FakeGamma(POOL, keyset_status=status)
    markets = await active(venue)
    assert condition_ids(markets) == [m["conditionId"] for m in POOL]
    assert [r.url.path for r in venue.requests] == ["/markets/keyset"] + ["/markets"] * 4
    assert venue.params("offset")[1:] == ["0", "100", "200", "250"]  # stops on the empty page
    assert venue.params("closed")[1:] == ["false"] * 4


async def test_offset_paging_survives_a_silently_shortened_page() -> None:
    venue = FakeGamma(POOL, keyset_status=404, server_limit=40)
    assert len(await active(venue)) == 250
    assert venue.params("offset")[1:4] == ["0", "40", "80"]


async def test_offset_past_10000_stops_cleanly() -> None:
    venue = FakeGamma([slim(i) for i in range(MAX_OFFSET + 500)], keyset_status=404)
    markets = await active(venue)
    assert len(markets) == MAX_OFFSET + 100  # offsets 0..10000 answered, 10100 refused
    assert venue.params("offset")[-1] == str(MAX_OFFSET + 100)
    assert venue.requests[-1].url.path == "/markets"


async def test_422_below_the_offset_cap_is_an_error() -> None:
    venue = FakeGamma(POOL, keyset_status=404, offset_422_above=100)
    with pytest.raises(VenueStatusError) as caught:
        await active(venue)
    assert caught.value.status == 422


@pytest.mark.parametrize(("page_limit", "sent"), [(500, "100"), (100, "100"), (30, "30"), (0, "1")])
async def test_limit_capping(page_limit: int, sent: str) -> None:
    venue = FakeGamma(POOL[:60])
    assert len(await active(venue, page_limit=page_limit)) == 60
    assert set(venue.params("limit")) == {sent}


async def test_max_markets_cap() -> None:
    venue = FakeGamma(POOL)
    markets = await active(venue, max_markets=120)
    assert condition_ids(markets) == [m["conditionId"] for m in POOL[:120]]
    assert len(venue.requests) == 2


async def test_dedupe_and_filters_when_the_venue_ignores_them() -> None:
    no_flag = {k: v for k, v in variant(MARKET, 900).items() if k != "enableOrderBook"}
    pool = [
        *POOL[:50],
        *POOL[:50],  # the same condition ids again
        variant(CLOSED_SPORTS, 901),
        variant(MARKET, 902, enableOrderBook=False),
        variant(MARKET, 903, active=False),
        variant(MARKET, 904, clobTokenIds="[]"),
        no_flag,  # legacy: no enableOrderBook key, kept
    ]
    venue = FakeGamma(pool, honour_filters=False)
    markets = await active(venue)
    assert condition_ids(markets) == [m["conditionId"] for m in [*POOL[:50], no_flag]]


async def test_each_page_is_handed_on_before_the_next_is_asked_for() -> None:
    venue = FakeGamma([*POOL[:150], *POOL[:120]])  # a second pass over the same markets
    seen: list[tuple[int, list[str]]] = []

    async def on_page(page: list[GammaMarket]) -> None:
        seen.append((len(venue.requests), condition_ids(page)))

    markets = await active(venue, on_page=on_page)
    ids = [m["conditionId"] for m in POOL]
    # Handed on as each page arrives; a market listed again is not handed on again, and the
    # third page (duplicates only) not at all.
    assert seen == [(1, ids[:100]), (2, ids[100:150])]
    assert condition_ids(markets) == ids[:150]
    assert len(venue.requests) == 3


async def test_mid_walk_keyset_failure_falls_back_and_dedupes() -> None:
    venue = FakeGamma(POOL)
    venue.script = [httpx.Response(200, json={"markets": POOL[:100], "next_cursor": "gone"})]
    venue.keyset_status = 422  # the cursor is refused from the second page on
    markets = await active(venue)
    assert condition_ids(markets) == [m["conditionId"] for m in POOL]


async def test_repeated_cursor_stops_the_walk() -> None:
    venue = FakeGamma(POOL)
    page = httpx.Response(200, json={"markets": POOL[:10], "next_cursor": "same"})
    venue.script = [page, httpx.Response(200, json={"markets": POOL[10:20], "next_cursor": "same"})]
    assert len(await active(venue)) == 20
    assert len(venue.requests) == 2


# ---------------------------------------------------------------------------------------------
# Retries


def rate_limited(retry_after: str) -> httpx.Response:
    return httpx.Response(
        429,
        headers={"Retry-After": retry_after},
        json={"error": "Too many requests", "code": "RATE_LIMITED", "retry_after_seconds": 7},
    )


async def test_429_with_retry_after_then_success(autojump_clock: trio.testing.MockClock) -> None:
    venue = FakeGamma(POOL[:5])
    venue.script = [rate_limited("7")]
    start = trio.current_time()
    assert len(await active(venue)) == 5
    assert trio.current_time() - start == pytest.approx(7.0)
    assert len(venue.requests) == 2


async def test_retry_after_is_capped(autojump_clock: trio.testing.MockClock) -> None:
    venue = FakeGamma(POOL[:5])
    venue.script = [rate_limited("86400")]
    start = trio.current_time()
    assert len(await active(venue)) == 5
    assert trio.current_time() - start == pytest.approx(60.0)


async def test_retry_after_http_date(autojump_clock: trio.testing.MockClock) -> None:
    venue = FakeGamma(POOL[:5])
    venue.script = [rate_limited("Wed, 21 Oct 2015 07:28:00 GMT")]  # already past: no wait
    start = trio.current_time()
    assert len(await active(venue)) == 5
    assert trio.current_time() - start == pytest.approx(0.0)


async def test_persistent_500_raises_venue_error(autojump_clock: trio.testing.MockClock) -> None:
    venue = FakeGamma(POOL)
    venue.script = [httpx.Response(500, text="upstream down")] * 50
    start = trio.current_time()
    with pytest.raises(VenueError) as caught:
        await active(venue)
    assert isinstance(caught.value, VenueStatusError)
    assert caught.value.status == 500
    assert len(venue.requests) == RETRIES + 1
    assert 0 < trio.current_time() - start <= 0.5 + 1 + 2 + 4  # full-jitter backoff bounds


def refused(request: httpx.Request | None = None) -> httpx.ConnectError:
    return httpx.ConnectError("connection refused", request=request)


async def test_transport_error_retried_then_success(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue = FakeGamma(POOL[:5])
    venue.script = [refused(), httpx.Response(503), refused()]
    assert len(await active(venue)) == 5
    assert len(venue.requests) == 4


async def test_persistent_transport_error_raises_venue_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue = FakeGamma(POOL)
    venue.script = [refused()] * 50
    with pytest.raises(VenueError) as caught:
        await active(venue)
    assert not isinstance(caught.value, VenueStatusError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(venue.requests) == RETRIES + 1


async def test_client_errors_are_not_retried() -> None:
    venue = FakeGamma(POOL)
    venue.script = [httpx.Response(400, json={"error": "bad filter"})]
    with pytest.raises(VenueStatusError):
        await active(venue)
    assert len(venue.requests) == 1


# ---------------------------------------------------------------------------------------------
# Lookup by condition id


RESOLVED = element(CRATES / "gamma_market_closed_binary_accepting_false.json")
CLOSED_POOL = [variant(RESOLVED, i) for i in range(250)]


async def by_condition(
    venue: FakeGamma, ids: Sequence[str], closed: bool | None
) -> list[GammaMarket]:
    async with venue.client() as client:
        return await fetch_markets_by_condition(client, GAMMA_URL, ids, closed=closed)


def ids_of(pool: Sequence[dict[str, Any]]) -> list[str]:
    return [m["conditionId"] for m in pool]


async def test_by_condition_batches_of_100() -> None:
    venue = FakeGamma([*CLOSED_POOL, GOOD])
    wanted = [*ids_of(CLOSED_POOL), *ids_of(CLOSED_POOL[:20]), "0xunknown"]
    markets = await by_condition(venue, wanted, closed=True)
    assert condition_ids(markets) == ids_of(CLOSED_POOL)
    batches = [r.url.params.get_list("condition_ids") for r in venue.requests]
    assert [len(b) for b in batches] == [100, 100, 51]
    assert [c for b in batches for c in b] == [*ids_of(CLOSED_POOL), "0xunknown"]
    assert venue.params("closed") == ["true"] * 3
    assert all(m.automatically_resolved and m.closed for m in markets)


@pytest.mark.parametrize(("closed", "sent"), [(None, None), (False, "false")])
async def test_by_condition_open(closed: bool | None, sent: str | None) -> None:
    venue = FakeGamma([*CLOSED_POOL[:3], GOOD])
    markets = await by_condition(venue, [*ids_of(CLOSED_POOL[:3]), GOOD["conditionId"]], closed)
    assert condition_ids(markets) == [GOOD["conditionId"]]  # implicit closed=false
    assert venue.params("closed") == [sent]


async def test_by_condition_drops_markets_it_did_not_ask_for() -> None:
    venue = FakeGamma(CLOSED_POOL[:5], honour_filters=False)
    markets = await by_condition(venue, ids_of(CLOSED_POOL[1:2]), closed=True)
    assert condition_ids(markets) == ids_of(CLOSED_POOL[1:2])


async def test_by_condition_nothing_to_ask() -> None:
    venue = FakeGamma(CLOSED_POOL)
    assert await by_condition(venue, [], closed=True) == []
    assert venue.requests == []
