"""Pure request handling of the simulated Gamma and CLOB REST endpoints.

Each function takes the parsed query (or body) and the exchange and returns `(status, body)`,
so the venue's quirks are unit-testable without HTTP: Gamma `limit` is silently capped at 100,
`offset > 10000` is a 422, `closed` defaults to false, keyset pages carry `next_cursor` except
the last; CLOB answers 404 `{"error": "No orderbook exists for the requested token id"}` for
unknown tokens, closed markets and new markets it does not know yet.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any, Final, Protocol

import msgspec

from polymon.polymarket.simulator.exchange import Exchange, Message, SimMarket, gamma_flags

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 20
MAX_OFFSET: Final = 10_000
MAX_BOOKS_PER_REQUEST: Final = 500
NO_BOOK: Final = {"error": "No orderbook exists for the requested token id"}
NO_MARKET: Final = {"error": "market not found"}

Reply = tuple[int, Any]


class Query(Protocol):
    """A query string: werkzeug's MultiDict has this shape."""

    def get(self, key: str) -> str | None:
        """The first value of `key`, or None."""

    def getlist(self, key: str) -> list[str]:
        """Every value of `key`."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> Reply:
    return status, {"type": "validation error", "error": message}


def _int(query: Query, key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(422, f"{key} must be an integer") from None
    if value < 0:
        raise _BadRequest(422, f"{key} must not be negative")
    return value


def _bool(query: Query, key: str, default: bool | None) -> bool | None:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise _BadRequest(422, f"{key} must be true or false")


class _Selection:
    """The markets a Gamma query selects, found lazily in id order (= creation order): a page
    costs O(limit + markets skipped), never a pass over every market."""

    def __init__(self, exchange: Exchange, query: Query) -> None:
        self.exchange = exchange
        self.flags = {
            key: value
            # Gamma leaves closed markets out unless closed= is given.
            for key, default in (("active", None), ("closed", False), ("archived", None))
            if (value := _bool(query, key, default)) is not None
        }
        self.ids = set(query.getlist("id"))
        self.slugs = set(query.getlist("slug"))
        self.indexed: list[int] | None = None  # positions of the only candidates, if filtered
        chosen: set[int] | None = None
        for key, lookup in (
            ("condition_ids", exchange.market_by_condition),
            ("clob_token_ids", exchange.market_by_token),
        ):
            values = query.getlist(key)
            if values:  # looked up, not scanned
                found = {m.index for v in values if (m := lookup(v)) is not None}
                chosen = found if chosen is None else chosen & found
        if chosen is not None:
            self.indexed = sorted(chosen)

    def _candidates(self, start: int) -> Iterator[SimMarket]:
        markets = self.exchange.markets
        if self.indexed is None:
            return (markets[i] for i in range(start, len(markets)))
        return (markets[i] for i in self.indexed if i >= start)

    def _matches(self, market: SimMarket) -> bool:
        flags = gamma_flags(market)
        return (
            all(flags[key] == value for key, value in self.flags.items())
            and (not self.ids or market.gamma_id in self.ids)
            and (not self.slugs or market.slug in self.slugs)
        )

    def page(self, start: int, skip: int, limit: int) -> tuple[list[Message], int | None]:
        """Up to `limit` selected markets from position `start` on, after skipping `skip` of
        them, in Gamma shape; and the position of the next selected market (None: no more)."""
        page: list[Message] = []
        for market in self._candidates(start):
            if not self._matches(market):
                continue
            if skip:
                skip -= 1
            elif len(page) == limit:
                return page, market.index
            else:
                page.append(self.exchange.gamma_market(market))
        return page, None


def gamma_markets(exchange: Exchange, query: Query) -> Reply:
    """Gamma `GET /markets`: a JSON array page by `limit` (capped at 100) and `offset` (≤ 10000)."""
    try:
        limit = min(_int(query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        offset = _int(query, "offset", 0)
        if offset > MAX_OFFSET:
            raise _BadRequest(422, f"offset must be <= {MAX_OFFSET}")
        selection = _Selection(exchange, query)
    except _BadRequest as e:
        return _error(e.status, str(e))
    return 200, selection.page(0, offset, limit)[0]


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{position}".encode()).decode()


def _position(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _BadRequest(400, "invalid after_cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "sim" or not number.isdigit():
        raise _BadRequest(400, "invalid after_cursor")
    return int(number)


def gamma_markets_keyset(exchange: Exchange, query: Query) -> Reply:
    """Gamma `GET /markets/keyset`: `{"markets": [...], "next_cursor": ...}`, no cursor at the end.

    `after_cursor` continues a walk; `offset` is rejected with 422 as on the venue. The cursor
    is the position of the next selected market, so each page costs O(limit) and a whole walk
    O(markets).
    """
    try:
        if query.get("offset") is not None:
            raise _BadRequest(422, "offset is not supported on keyset endpoints")
        limit = min(_int(query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        cursor = query.get("after_cursor")
        start = _position(cursor) if cursor else 0
        selection = _Selection(exchange, query)
    except _BadRequest as e:
        return _error(e.status, str(e))
    markets, following = selection.page(start, 0, limit)
    page: dict[str, Any] = {"markets": markets}
    if following is not None and limit:
        page["next_cursor"] = _cursor(following)
    return 200, page


def clob_book(exchange: Exchange, token_id: str | None, now_ms: int) -> Reply:
    """CLOB `GET /book?token_id=`: the REST book, 404 for an unknown token, 400 without one."""
    if not token_id:
        return 400, {"error": "Invalid payload: token_id is required"}
    if not exchange.has_book(token_id, now_ms):
        return 404, NO_BOOK
    return 200, exchange.rest_book(token_id, now_ms)


class _BookRequest(msgspec.Struct):
    token_id: str
    side: str = ""


_BOOKS_DECODER: Final = msgspec.json.Decoder(list[_BookRequest])


def clob_books(exchange: Exchange, body: bytes, now_ms: int) -> Reply:
    """CLOB `POST /books` with `[{"token_id": ...}]`: the known tokens' REST books, in order.

    A body that is not such an array (or has more than 500 items) is a 400.
    """
    try:
        requests = _BOOKS_DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        return 400, {"error": f"Invalid payload: {e}"}
    if len(requests) > MAX_BOOKS_PER_REQUEST:
        return 400, {"error": f"Invalid payload: at most {MAX_BOOKS_PER_REQUEST} token ids"}
    return 200, [
        exchange.rest_book(r.token_id, now_ms)
        for r in requests
        if exchange.has_book(r.token_id, now_ms)
    ]


def clob_market(exchange: Exchange, condition_id: str, now_ms: int) -> Reply:
    """CLOB `GET /markets/{condition_id}`: the market with `tokens[].winner`; 404 for a market
    the CLOB does not know (yet)."""
    market = exchange.clob_market(condition_id, now_ms)
    if market is None:
        return 404, NO_MARKET
    return 200, market
