"""Gamma REST: the active markets and their tokens, for bootstrap and resolution checks.

Gamma quirks handled here (protocol doc §4): arrays sent as JSON inside strings
(`clobTokenIds`, `outcomes`, `outcomePrices`), null fields left out, two date formats (ISO-8601
and Postgres `2026-09-09 14:25:04+00`), `limit` silently capped at 100, `offset > 10000`
answered with 422, and the implicit `closed=false`. Listing prefers keyset paging and falls
back to offset paging where the keyset endpoint is not served.

Parsing never raises for a bad element: it is skipped and counted. Only a body that is not a
JSON array (or keyset object) at all is a VenueError.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import httpx
import msgspec
import trio

from polymon.core.model import AssetMeta
from polymon.errors import VenueError, VenueStatusError
from polymon.polymarket.rest import Query, check_status, status_error, venue_request

log = logging.getLogger(__name__)

MAX_PAGE_LIMIT: Final = 100
MAX_OFFSET: Final = 10_000
MAX_CONDITION_IDS: Final = 100
RETRIES: Final = 4

_BACKOFF_BASE_S: Final = 0.5
_BACKOFF_CAP_S: Final = 8.0
# A Retry-After of hours would stall the bootstrap; the retry budget still bounds the total.
_RETRY_AFTER_CAP_S: Final = 60.0
_KEYSET_UNSUPPORTED: Final = frozenset({404, 405, 410, 422})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class GammaMarket(msgspec.Struct, frozen=True, kw_only=True):
    """One Gamma market as polymon uses it; `raw` is the element's JSON as the venue sent it.

    token_ids[i] belongs to outcomes[i] (both may be shorter on odd markets; the parser never
    pads). tick_size and min_order_size are exact decimal strings ("0.001", "5"), "" when the
    venue left them out. Times are epoch milliseconds (UTC), None when missing or unparseable.
    enable_order_book is None when the venue left it out (legacy AMM markets).
    """

    id: str
    condition_id: str
    question: str
    slug: str
    description: str
    token_ids: list[str]
    outcomes: list[str]
    outcome_prices: list[str]
    active: bool
    closed: bool
    archived: bool
    accepting_orders: bool
    enable_order_book: bool | None
    neg_risk: bool
    tick_size: str
    min_order_size: str
    end_date: int | None
    closed_time: int | None
    uma_resolution_status: str
    automatically_resolved: bool
    volume: str
    updated_at: int | None
    raw: str


_WIRE_NAMES: Final = {
    "condition_id": "conditionId",
    "clob_token_ids": "clobTokenIds",
    "outcome_prices": "outcomePrices",
    "accepting_orders": "acceptingOrders",
    "enable_order_book": "enableOrderBook",
    "neg_risk": "negRisk",
    "order_price_min_tick_size": "orderPriceMinTickSize",
    "order_min_size": "orderMinSize",
    "end_date": "endDate",
    "end_date_iso": "endDateIso",
    "closed_time": "closedTime",
    "uma_resolution_status": "umaResolutionStatus",
    "automatically_resolved": "automaticallyResolved",
    "updated_at": "updatedAt",
}

_JsonList = str | list[str] | None


class _WireMarket(msgspec.Struct, frozen=True, rename=_WIRE_NAMES):
    # Everything optional and nullable: Gamma omits null fields, and an explicit null must not
    # cost us the whole market. The JSON-in-string arrays also accept a real array.
    id: str | int | None = None
    condition_id: str | None = None
    question: str | None = None
    slug: str | None = None
    description: str | None = None
    clob_token_ids: _JsonList = None
    outcomes: _JsonList = None
    outcome_prices: _JsonList = None
    active: bool | None = None
    closed: bool | None = None
    archived: bool | None = None
    accepting_orders: bool | None = None
    enable_order_book: bool | None = None
    neg_risk: bool | None = None
    # Decimal decodes a JSON number from its text, so 0.001 stays exactly "0.001".
    order_price_min_tick_size: Decimal | None = None
    order_min_size: Decimal | None = None
    end_date: str | None = None
    end_date_iso: str | None = None
    closed_time: str | None = None
    uma_resolution_status: str | None = None
    automatically_resolved: bool | None = None
    volume: Decimal | None = None
    updated_at: str | None = None


class _KeysetPage(msgspec.Struct, frozen=True):
    markets: list[msgspec.Raw]
    next_cursor: str | None = None


_ARRAY_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw])
_KEYSET_DECODER: Final = msgspec.json.Decoder(_KeysetPage)
_WIRE_DECODER: Final = msgspec.json.Decoder(_WireMarket)
_STR_LIST_DECODER: Final = msgspec.json.Decoder(list[str])


def parse_time_ms(text: str | None) -> int | None:
    """Epoch ms of a Gamma time: ISO-8601, date-only or Postgres style; None if missing or bad.

    A value without a zone (date-only `endDateIso`) is taken as UTC.
    """
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _first_time_ms(*texts: str | None) -> int | None:
    for text in texts:
        ms = parse_time_ms(text)
        if ms is not None:
            return ms
    return None


def _decimal_text(value: Decimal | None) -> str:
    if value is None or not value.is_finite():
        return ""
    return format(value.normalize(), "f")


def _str_list(value: _JsonList) -> list[str]:
    if value is None or isinstance(value, list):
        return value or []
    try:
        return _STR_LIST_DECODER.decode(value)
    except msgspec.DecodeError:
        return []


def _token_ids(value: _JsonList) -> list[str]:
    tokens = _str_list(value)
    # A token id is a decimal uint256; anything else means the whole list cannot be trusted.
    if any(not (t.isascii() and t.isdigit()) for t in tokens) or len(set(tokens)) != len(tokens):
        return []
    return tokens


def _market(element: msgspec.Raw) -> GammaMarket | None:
    try:
        wire = _WIRE_DECODER.decode(element)
    except msgspec.DecodeError:
        return None
    token_ids = _token_ids(wire.clob_token_ids)
    if not wire.condition_id or not token_ids:
        return None
    return GammaMarket(
        id="" if wire.id is None else str(wire.id),
        condition_id=wire.condition_id,
        question=wire.question or "",
        slug=wire.slug or "",
        description=wire.description or "",
        token_ids=token_ids,
        outcomes=_str_list(wire.outcomes),
        outcome_prices=_str_list(wire.outcome_prices),
        active=bool(wire.active),
        closed=bool(wire.closed),
        archived=bool(wire.archived),
        accepting_orders=bool(wire.accepting_orders),
        enable_order_book=wire.enable_order_book,
        neg_risk=bool(wire.neg_risk),
        tick_size=_decimal_text(wire.order_price_min_tick_size),
        min_order_size=_decimal_text(wire.order_min_size),
        end_date=_first_time_ms(wire.end_date, wire.end_date_iso),
        closed_time=parse_time_ms(wire.closed_time),
        uma_resolution_status=wire.uma_resolution_status or "",
        automatically_resolved=bool(wire.automatically_resolved),
        volume=_decimal_text(wire.volume),
        updated_at=parse_time_ms(wire.updated_at),
        raw=bytes(element).decode("utf-8", "replace"),
    )


def _parse_elements(elements: Iterable[msgspec.Raw]) -> tuple[list[GammaMarket], int]:
    markets: list[GammaMarket] = []
    skipped = 0
    for element in elements:
        market = _market(element)
        if market is None:
            skipped += 1
        else:
            markets.append(market)
    return markets, skipped


def parse_markets(body: bytes) -> tuple[list[GammaMarket], int]:
    """Decode a `GET /markets` body (a JSON array); returns (markets, elements skipped).

    An element is skipped when it is not a market object of the right types, has no condition
    id, or has no usable `clobTokenIds` (missing, empty, not JSON, not decimal token ids).
    Raises VenueError when the body is not a JSON array.
    """
    try:
        elements = _ARRAY_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise VenueError(f"Gamma /markets: body is not a JSON array: {exc}") from exc
    return _parse_elements(elements)


def parse_keyset_page(body: bytes) -> tuple[list[GammaMarket], int, str | None]:
    """Decode a `GET /markets/keyset` body; returns (markets, elements skipped, next cursor).

    The cursor is None on the last page (the venue leaves `next_cursor` out). Elements are
    skipped as in `parse_markets`. Raises VenueError when the body is not a keyset page.
    """
    try:
        page = _KEYSET_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise VenueError(f"Gamma /markets/keyset: body is not a keyset page: {exc}") from exc
    markets, skipped = _parse_elements(page.markets)
    return markets, skipped, page.next_cursor or None


def asset_metas(markets: Iterable[GammaMarket]) -> list[AssetMeta]:
    """One AssetMeta per token of each market, with its outcome name ("" if Gamma has none)."""
    return [
        AssetMeta(
            asset_id=token_id,
            market=market.condition_id,
            outcome=market.outcomes[i] if i < len(market.outcomes) else "",
            tick_size=market.tick_size,
            min_order_size=market.min_order_size,
            neg_risk=market.neg_risk,
        )
        for market in markets
        for i, token_id in enumerate(market.token_ids)
    ]


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP_S)


def _retryable(status: int) -> bool:
    return status == httpx.codes.TOO_MANY_REQUESTS or status >= 500


async def _get(client: httpx.AsyncClient, url: str, params: Query) -> bytes:
    """GET with up to RETRIES retries on 429, 5xx and transport errors; the 2xx body.

    Waits the venue's Retry-After when given, else exponential backoff with full jitter. Other
    non-2xx answers raise VenueStatusError at once; exhausted retries raise the last failure.
    """
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            response = await venue_request(client, "GET", url, params=params)
        except VenueError as exc:
            failure = exc
        else:
            if not _retryable(response.status_code):
                check_status(response)
                return response.content
            failure = status_error(response)
            retry_after = _retry_after_s(response.headers.get("retry-after"))
        if attempt >= RETRIES:
            raise failure
        if retry_after is None:
            retry_after = random.uniform(0.0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt))
        attempt += 1
        log.warning("Gamma retry %d/%d in %.2fs: %s", attempt, RETRIES, retry_after, failure)
        await trio.sleep(retry_after)


PageSink = Callable[[list[GammaMarket]], Awaitable[None]]
"""Called with each page's newly kept markets as the walk goes (before the next request)."""


class _Collector:
    """Markets kept so far: deduplicated by condition id, filtered, capped at `limit` (0 = none);
    each page's new ones go to `on_page` as they arrive."""

    def __init__(
        self, keep: Callable[[GammaMarket], bool], limit: int = 0, on_page: PageSink | None = None
    ) -> None:
        self.keep = keep
        self.limit = limit
        self.on_page = on_page
        self.markets: list[GammaMarket] = []
        self.seen: set[str] = set()
        self.skipped = 0

    async def add(self, markets: list[GammaMarket], skipped: int) -> bool:
        """Add one page (and hand its new markets to `on_page`); True once the cap is reached."""
        self.skipped += skipped
        kept: list[GammaMarket] = []
        capped = False
        for market in markets:
            if market.condition_id in self.seen or not self.keep(market):
                continue
            self.seen.add(market.condition_id)
            kept.append(market)
            if self.limit and len(self.markets) + len(kept) >= self.limit:
                capped = True
                break
        self.markets.extend(kept)
        if kept and self.on_page is not None:
            await self.on_page(kept)
        return capped


def _tradable(market: GammaMarket) -> bool:
    # Filters the venue should already apply are checked again: a server that ignores a
    # query parameter must not make us subscribe to closed or book-less markets.
    return (
        market.active
        and not market.closed
        and market.enable_order_book is not False
        and len(market.token_ids) >= 1
    )


_OPEN_FILTER: Final = (("active", "true"), ("closed", "false"))


async def _walk_keyset(client: httpx.AsyncClient, base: str, limit: int, acc: _Collector) -> bool:
    """Page `/markets/keyset` into `acc`; False when the venue does not serve it."""
    cursor: str | None = None
    used: set[str] = set()
    while True:
        params = [("limit", str(limit)), *_OPEN_FILTER]
        if cursor is not None:
            params.append(("after_cursor", cursor))
        try:
            body = await _get(client, f"{base}/markets/keyset", params)
        except VenueStatusError as exc:
            if exc.status in _KEYSET_UNSUPPORTED:
                log.warning("Gamma keyset paging unavailable (%d); using offset paging", exc.status)
                return False
            raise
        markets, skipped, cursor = parse_keyset_page(body)
        if await acc.add(markets, skipped) or cursor is None:
            return True
        # An empty page or a repeated cursor would otherwise loop forever.
        if not (markets or skipped) or cursor in used:
            return True
        used.add(cursor)


async def _walk_offset(client: httpx.AsyncClient, base: str, limit: int, acc: _Collector) -> None:
    """Page `/markets` by offset into `acc`, until an empty page or the venue's offset cap."""
    offset = 0
    while True:
        # Ascending id keeps pages stable while new markets are created during the walk.
        params = [
            ("limit", str(limit)),
            ("offset", str(offset)),
            *_OPEN_FILTER,
            ("order", "id"),
            ("ascending", "true"),
        ]
        try:
            body = await _get(client, f"{base}/markets", params)
        except VenueStatusError as exc:
            if exc.status == httpx.codes.UNPROCESSABLE_ENTITY and offset > MAX_OFFSET:
                log.warning(
                    "Gamma offset paging stopped at the venue's offset cap (offset %d); "
                    "markets past it are not listed",
                    offset,
                )
                return
            raise
        markets, skipped = parse_markets(body)
        received = len(markets) + skipped
        if await acc.add(markets, skipped) or received == 0:
            return
        # Advance by what arrived, not by `limit`: the venue silently shortens pages.
        offset += received


async def fetch_active_markets(
    client: httpx.AsyncClient,
    gamma_url: str,
    *,
    page_limit: int = 100,
    max_markets: int = 0,
    on_page: PageSink | None = None,
) -> list[GammaMarket]:
    """All active, open markets with an order book and at least one token, in venue order.

    `on_page` receives each page's new markets as soon as the page is parsed (the bootstrap
    subscribes them while later pages load); a walk is O(markets) in time and requests.

    Uses keyset paging, or offset paging when the keyset endpoint answers 404/405/410/422 (on
    any page: markets already collected are kept). Offset paging stops cleanly at the venue's
    offset cap (422 past offset 10000), so it may not list every market.
    `page_limit` is clamped to 1..100; `max_markets` stops the walk once that many markets are
    kept (0 = no cap). Markets are deduplicated by condition id. Retries 429/5xx/transport
    errors a few times (see `RETRIES`), then raises VenueError.
    """
    base = gamma_url.rstrip("/")
    limit = max(1, min(page_limit, MAX_PAGE_LIMIT))
    acc = _Collector(_tradable, max(0, max_markets), on_page)
    if not await _walk_keyset(client, base, limit, acc):
        # Markets from keyset pages before a mid-walk fallback stay; the collector dedupes.
        await _walk_offset(client, base, limit, acc)
    log.info("Gamma: %d active markets (%d elements skipped)", len(acc.markets), acc.skipped)
    return acc.markets


async def fetch_markets_by_condition(
    client: httpx.AsyncClient,
    gamma_url: str,
    condition_ids: Iterable[str],
    *,
    closed: bool | None,
) -> list[GammaMarket]:
    """The markets with these condition ids, in batches of at most 100 ids per request.

    `closed=True`/`False` filters on the venue; None sends no `closed` parameter, so the
    venue's implicit `closed=false` applies. Markets the venue returns for other ids are
    dropped. Retries as `fetch_active_markets`.
    """
    wanted = list(dict.fromkeys(c for c in condition_ids if c))
    wanted_set = set(wanted)
    acc = _Collector(lambda market: market.condition_id in wanted_set)
    extra = [] if closed is None else [("closed", "true" if closed else "false")]
    url = f"{gamma_url.rstrip('/')}/markets"
    for start in range(0, len(wanted), MAX_CONDITION_IDS):
        batch = wanted[start : start + MAX_CONDITION_IDS]
        # An explicit limit: Gamma's default page is smaller than a full batch.
        params = [("limit", str(MAX_PAGE_LIMIT)), *(("condition_ids", c) for c in batch), *extra]
        await acc.add(*parse_markets(await _get(client, url, params)))
    return acc.markets
