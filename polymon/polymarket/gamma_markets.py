"""Gamma's market JSON -> GammaMarket and the tokens' AssetMeta (pure: no I/O).

Gamma quirks handled here (protocol doc §4): arrays sent as JSON inside strings
(`clobTokenIds`, `outcomes`, `outcomePrices`), null fields left out, and two date formats
(ISO-8601 and Postgres `2026-09-09 14:25:04+00`).

Parsing never raises for a bad element: it is skipped and counted. Only a body that is not a
JSON array (or keyset object) at all is a VenueError.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import msgspec

from polymon.core.model import AssetMeta
from polymon.errors import VenueError

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
