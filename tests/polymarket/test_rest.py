"""CLOB REST book snapshots against an in-memory venue serving the real `/book` capture."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from polymon.errors import VenueError, VenueStatusError
from polymon.polymarket.rest import fetch_book, fetch_books
from polymon.polymarket.schemas import Level
from tests.fixtures import DATA

CLOB_URL = "http://127.0.0.1:1/"
HTTP = DATA / "nautilus_trader" / "integration_http_responses"
BOOK_BYTES = (HTTP / "book.json").read_bytes()
BOOK: dict[str, Any] = json.loads(BOOK_BYTES)
TOKEN = BOOK["asset_id"]
# Real token ids of another market (the CLOB /markets/{cid} capture), which has no book here.
OTHER_TOKENS = [t["token_id"] for t in json.loads((HTTP / "market.json").read_bytes())["tokens"]]
NO_BOOK = {"error": "No orderbook exists for the requested token id"}


class FakeClob:
    """CLOB REST in memory: one book (the capture); every other token answers 404 / is absent."""

    def __init__(self, status: int = 200, body: bytes | None = None) -> None:
        self.status = status
        self.body = body
        self.requests: list[httpx.Request] = []

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200 or self.body is not None:
            return httpx.Response(self.status, content=self.body or b'{"error":"boom"}')
        if request.method == "GET" and request.url.path == "/book":
            if request.url.params["token_id"] == TOKEN:
                return httpx.Response(200, content=BOOK_BYTES)
            return httpx.Response(404, json=NO_BOOK)
        if request.method == "POST" and request.url.path == "/books":
            wanted = [entry["token_id"] for entry in json.loads(request.content)]
            books = [BOOK_BYTES for token in wanted if token == TOKEN]
            return httpx.Response(200, content=b"[" + b",".join(books) + b"]")
        return httpx.Response(404, json={"error": "no such route"})


def assert_is_the_captured_book(book: Any) -> None:
    assert book.asset_id == TOKEN
    assert book.market == BOOK["market"]
    assert book.hash == "2fc4a3d6a98bc164e057589bcb74981852b87412"
    assert book.timestamp == "1728799418260"
    assert book.bids == [Level(**level) for level in BOOK["bids"]]  # ascending, as sent
    assert book.asks == [Level(**level) for level in BOOK["asks"]]  # descending, as sent
    assert (len(book.bids), len(book.asks)) == (5, 7)


async def test_fetch_books_decodes_the_capture() -> None:
    venue = FakeClob()
    async with venue.client() as client:
        books = await fetch_books(client, CLOB_URL, [TOKEN, *OTHER_TOKENS])
    [book] = books  # the venue leaves out tokens without a book
    assert_is_the_captured_book(book)
    [request] = venue.requests
    assert (request.method, request.url.path) == ("POST", "/books")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == [{"token_id": t} for t in [TOKEN, *OTHER_TOKENS]]


async def test_fetch_books_without_tokens_sends_nothing() -> None:
    venue = FakeClob()
    async with venue.client() as client:
        assert await fetch_books(client, CLOB_URL, []) == []
    assert venue.requests == []


async def test_fetch_books_refuses_a_lone_id() -> None:
    async with FakeClob().client() as client:
        with pytest.raises(TypeError):
            await fetch_books(client, CLOB_URL, TOKEN)


async def test_fetch_book_decodes_the_capture() -> None:
    venue = FakeClob()
    async with venue.client() as client:
        book = await fetch_book(client, CLOB_URL, TOKEN)
    assert_is_the_captured_book(book)
    [request] = venue.requests
    assert (request.method, request.url.path) == ("GET", "/book")
    assert request.url.params["token_id"] == TOKEN


async def test_fetch_book_404_is_none() -> None:
    async with FakeClob().client() as client:
        assert await fetch_book(client, CLOB_URL, OTHER_TOKENS[0]) is None


@pytest.mark.parametrize("status", [500, 429, 400])
async def test_non_2xx_is_a_status_error_without_retry(status: int) -> None:
    venue = FakeClob(status=status)
    async with venue.client() as client:
        with pytest.raises(VenueStatusError) as single:
            await fetch_book(client, CLOB_URL, TOKEN)
        with pytest.raises(VenueStatusError) as batch:
            await fetch_books(client, CLOB_URL, [TOKEN])
    assert single.value.status == batch.value.status == status
    assert len(venue.requests) == 2  # one each: the resync scheduler owns retries


@pytest.mark.parametrize(
    "body",
    [b"<html>Bad gateway</html>", b'{"asset_id": 5}', b'[{"bids": []}]', b""],
)
async def test_bad_json_is_a_venue_error(body: bytes) -> None:
    async with FakeClob(body=body).client() as client:
        with pytest.raises(VenueError) as single:
            await fetch_book(client, CLOB_URL, TOKEN)
        with pytest.raises(VenueError) as batch:
            await fetch_books(client, CLOB_URL, [TOKEN])
    assert not isinstance(single.value, VenueStatusError)
    assert not isinstance(batch.value, VenueStatusError)


async def test_transport_error_is_a_venue_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(VenueError) as single:
            await fetch_book(client, CLOB_URL, TOKEN)
        with pytest.raises(VenueError) as batch:
            await fetch_books(client, CLOB_URL, [TOKEN])
    assert isinstance(single.value.__cause__, httpx.ConnectError)
    assert isinstance(batch.value.__cause__, httpx.ConnectError)
