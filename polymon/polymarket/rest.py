"""CLOB REST: order book snapshots, one market's status, and the shared request wrapper.

`fetch_books` / `fetch_book` / `fetch_clob_market` make exactly one request each and never
retry: their callers (the resync scheduler, the market life cycle) own the rate limits
(protocol doc §5) and decide when to try again. Failures are `VenueError`; a non-2xx answer is
its subclass `VenueStatusError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from polymon.errors import VenueError, VenueStatusError
from polymon.polymarket.schemas import REST_BOOK_DECODER, REST_BOOKS_DECODER, RestBook

T = TypeVar("T")

Query = Sequence[tuple[str, str]]

_JSON_HEADERS: Final = {"content-type": "application/json"}


class ClobToken(msgspec.Struct, frozen=True):
    """One token of a CLOB market: `{"token_id": "1088…", "outcome": "Yes", "price": 0,
    "winner": false}` (`winner` is true on the winning token of a resolved market)."""

    token_id: str = ""
    outcome: str = ""
    winner: bool | None = None


class ClobMarket(msgspec.Struct, frozen=True):
    """The fields of CLOB `GET /markets/{condition_id}` that tell a market's state.

    `{"condition_id": "0x8ccc…", "active": true, "closed": true, "accepting_orders": false,
    "tokens": [{"token_id": "1088…", "outcome": "Yes", "price": 0, "winner": false}, …], …}`
    """

    condition_id: str = ""
    active: bool | None = None
    closed: bool | None = None
    accepting_orders: bool | None = None
    tokens: list[ClobToken] = []


_CLOB_MARKET_DECODER: Final = msgspec.json.Decoder(ClobMarket)


class _BookRequest(msgspec.Struct, frozen=True):
    token_id: str


_BOOKS_REQUEST_ENCODER: Final = msgspec.json.Encoder()


async def venue_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    params: Query | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send one request and read its body; any httpx failure becomes VenueError.

    The status is not checked here (see `check_status`), so callers can treat 404 or 429
    specially.
    """
    try:
        return await client.request(
            method,
            url,
            params=None if params is None else tuple(params),
            content=content,
            headers=headers,
        )
    except httpx.HTTPError as exc:
        raise VenueError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def status_error(response: httpx.Response) -> VenueStatusError:
    """The VenueStatusError describing `response` (URL, status, start of the body)."""
    return VenueStatusError(str(response.url), response.status_code, response.text)


def check_status(response: httpx.Response) -> None:
    """Raise VenueStatusError unless the response is 2xx."""
    if not response.is_success:
        raise status_error(response)


def decode_body(decoder: msgspec.json.Decoder[T], response: httpx.Response) -> T:
    """Decode a 2xx response body with `decoder`; bad JSON or a wrong shape is VenueError."""
    try:
        return decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        raise VenueError(f"{response.request.url}: undecodable body: {exc}") from exc


async def fetch_books(
    client: httpx.AsyncClient, clob_url: str, token_ids: Sequence[str]
) -> list[RestBook]:
    """Fetch the current books of `token_ids` with one `POST {clob_url}/books`.

    The venue may leave out tokens it has no book for; the caller matches books by `asset_id`.
    An empty `token_ids` returns [] without a request.
    """
    if isinstance(token_ids, str):
        # A lone id is a Sequence[str] too, and would be sent one digit per entry.
        raise TypeError("token_ids must be a sequence of token ids, not one id")
    if not token_ids:
        return []
    body = _BOOKS_REQUEST_ENCODER.encode([_BookRequest(token_id) for token_id in token_ids])
    response = await venue_request(
        client, "POST", f"{clob_url.rstrip('/')}/books", content=body, headers=_JSON_HEADERS
    )
    check_status(response)
    return decode_body(REST_BOOKS_DECODER, response)


async def fetch_book(client: httpx.AsyncClient, clob_url: str, token_id: str) -> RestBook | None:
    """Fetch one token's book with `GET {clob_url}/book?token_id=…`; None when the venue has none.

    The venue answers 404 for an unknown token and for a closed market's tokens.
    """
    response = await venue_request(
        client, "GET", f"{clob_url.rstrip('/')}/book", params=[("token_id", token_id)]
    )
    if response.status_code == httpx.codes.NOT_FOUND:
        return None
    check_status(response)
    return decode_body(REST_BOOK_DECODER, response)


async def fetch_clob_market(
    client: httpx.AsyncClient, clob_url: str, condition_id: str
) -> ClobMarket | None:
    """Fetch one market with `GET {clob_url}/markets/{condition_id}`; None when the venue does
    not know it (404, as for markets created minutes ago)."""
    url = f"{clob_url.rstrip('/')}/markets/{quote(condition_id, safe='')}"
    response = await venue_request(client, "GET", url)
    if response.status_code == httpx.codes.NOT_FOUND:
        return None
    check_status(response)
    return decode_body(_CLOB_MARKET_DECODER, response)
