"""Wire schemas of the Polymarket market channel and CLOB REST, as msgspec Structs.

Messages are tagged on `event_type`; a text frame holds one object or an array of them, and
`PONG` / `NO NEW ASSETS` arrive as bare text. `decode_frame` is the one entry point: it never
raises for bad input, it returns the decoded messages plus the reasons of what it skipped.
Prices and sizes stay the venue's decimal strings; timestamps are ms, as string or integer.
"""

from __future__ import annotations

from typing import Final

import msgspec


class Level(msgspec.Struct, frozen=True):
    """One price level: `{"price": "0.48", "size": "1200.5"}`."""

    price: str
    size: str


class Book(msgspec.Struct, frozen=True, tag="book", tag_field="event_type"):
    """Full L2 snapshot of one token. Bids ascending, asks descending (best last).

    `{"event_type":"book","market":"0x8a9f…","asset_id":"98756…","timestamp":"1790908667676",
    "hash":"9e4f…","bids":[{"price":"0.01","size":"112689"}],"asks":[…],"tick_size":"0.01",
    "last_trade_price":"0.140"}` (tick_size and last_trade_price only on the initial dump).
    """

    asset_id: str
    market: str = ""
    timestamp: str | int = 0
    hash: str = ""
    bids: list[Level] = []
    asks: list[Level] = []
    tick_size: str = ""
    last_trade_price: str = ""
    min_order_size: str = ""
    neg_risk: bool | None = None


class PriceChangeEntry(msgspec.Struct, frozen=True):
    """One entry of the current `price_changes[]`; size is the new total at the level.

    `{"asset_id":"3329…","price":"0.08","size":"0","side":"BUY","hash":"eb10…",
    "best_bid":"0.66","best_ask":"0.67"}`
    """

    asset_id: str
    price: str
    size: str
    side: str
    hash: str = ""
    best_bid: str = ""
    best_ask: str = ""


class LegacyChange(msgspec.Struct, frozen=True):
    """One entry of the legacy (to 2025-09-15) `changes[]`.

    `{"price":"0.53","side":"BUY","size":"1608.18"}`
    """

    price: str
    side: str
    size: str


class PriceChange(msgspec.Struct, frozen=True, tag="price_change", tag_field="event_type"):
    """Incremental level updates, in any of the three shapes the venue has used.

    Current (since 2025-09-15): `market`, `timestamp`, `price_changes[]` (entries may cover
    several tokens, with a hash and best bid/ask each). Legacy: top-level `asset_id`, `hash`
    and `changes[]`. Flat 2024 variant: top-level `asset_id`, `price`, `side`, `size`, `hash`.
    """

    market: str = ""
    timestamp: str | int = 0
    price_changes: list[PriceChangeEntry] | None = None
    changes: list[LegacyChange] | None = None
    asset_id: str = ""
    hash: str = ""
    price: str = ""
    size: str = ""
    side: str = ""


class LastTradePrice(msgspec.Struct, frozen=True, tag="last_trade_price", tag_field="event_type"):
    """A trade. `side` is the taker side; there is no trade id.

    `{"event_type":"last_trade_price","asset_id":"1141…","market":"0x6a67…","price":"0.456",
    "size":"219.217767","fee_rate_bps":"0","side":"BUY","timestamp":"1750428146322",
    "transaction_hash":"0xeee…"}`
    """

    asset_id: str
    price: str
    size: str
    market: str = ""
    side: str = ""
    fee_rate_bps: str | int = "0"
    timestamp: str | int = 0
    transaction_hash: str = ""


class TickSizeChange(msgspec.Struct, frozen=True, tag="tick_size_change", tag_field="event_type"):
    """The tick size changed; the book must wait for its next `book` snapshot.

    `{"event_type":"tick_size_change","asset_id":"1154…","market":"0xbacd…",
    "old_tick_size":"0.01","new_tick_size":"0.001","timestamp":"1739068041853"}`
    """

    asset_id: str
    new_tick_size: str
    market: str = ""
    old_tick_size: str = ""
    timestamp: str | int = 0


class BestBidAsk(msgspec.Struct, frozen=True, tag="best_bid_ask", tag_field="event_type"):
    """Top of book (needs custom_feature_enabled); empty sides may be `""`."""

    asset_id: str
    market: str = ""
    best_bid: str = ""
    best_ask: str = ""
    spread: str = ""
    timestamp: str | int = 0


class NewMarket(msgspec.Struct, frozen=True, tag="new_market", tag_field="event_type"):
    """A market was created (needs custom_feature_enabled); may say `active: false`."""

    market: str = ""
    id: str = ""
    question: str = ""
    slug: str = ""
    assets_ids: list[str] = []
    outcomes: list[str] = []
    active: bool = True
    order_price_min_tick_size: str | float = ""
    timestamp: str | int = 0


class MarketResolved(msgspec.Struct, frozen=True, tag="market_resolved", tag_field="event_type"):
    """A market resolved (needs custom_feature_enabled)."""

    market: str = ""
    id: str = ""
    assets_ids: list[str] = []
    winning_asset_id: str = ""
    winning_outcome: str = ""
    timestamp: str | int = 0


Message = (
    Book | PriceChange | LastTradePrice | TickSizeChange | BestBidAsk | NewMarket | MarketResolved
)


class RestBook(msgspec.Struct, frozen=True):
    """CLOB `GET /book` / `POST /books` element (no event_type), same level order as WS."""

    asset_id: str
    market: str = ""
    timestamp: str | int = 0
    hash: str = ""
    bids: list[Level] = []
    asks: list[Level] = []
    min_order_size: str = ""
    tick_size: str = ""
    neg_risk: bool = False
    last_trade_price: str = ""


class _EventTypeOnly(msgspec.Struct):
    event_type: str = ""


TEXT_FRAMES: Final = frozenset({"PONG", "NO NEW ASSETS"})
KNOWN_EVENT_TYPES: Final = frozenset(
    {
        "book",
        "price_change",
        "last_trade_price",
        "tick_size_change",
        "best_bid_ask",
        "new_market",
        "market_resolved",
    }
)
_FRAME_DECODER: Final = msgspec.json.Decoder(list[Message] | Message)
_ELEMENTS_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw])
_MESSAGE_DECODER: Final = msgspec.json.Decoder(Message)
_EVENT_TYPE_DECODER: Final = msgspec.json.Decoder(_EventTypeOnly)
REST_BOOKS_DECODER: Final = msgspec.json.Decoder(list[RestBook])
REST_BOOK_DECODER: Final = msgspec.json.Decoder(RestBook)


def _classify(raw: bytes | str) -> str:
    try:
        head = _EVENT_TYPE_DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return "schema"
    return "schema" if head.event_type in KNOWN_EVENT_TYPES else "unknown_event"


def decode_frame(frame: bytes | str) -> tuple[list[Message], list[str]]:
    """Decode one text frame into messages; returns (messages, reasons of skipped parts).

    Skip reasons: `json` (not JSON), `schema` (known event of the wrong shape, or a non-object),
    `unknown_event`. Text keepalives (`PONG`, `NO NEW ASSETS`) and `[]` give ([], []).
    Runtime: one msgspec decode on the fast path; per-element decode only for a bad array.
    """
    try:
        decoded = _FRAME_DECODER.decode(frame)
    except msgspec.ValidationError:
        pass
    except RecursionError:
        return [], ["json"]  # absurdly deep nesting; msgspec refuses it without crashing
    except msgspec.DecodeError:
        text = frame.strip() if isinstance(frame, str) else frame.strip().decode("utf-8", "replace")
        return ([], []) if text in TEXT_FRAMES else ([], ["json"])
    else:
        return (decoded, []) if isinstance(decoded, list) else ([decoded], [])
    # Slow path: a bad element somewhere; keep the good ones and count each bad one.
    try:
        elements = _ELEMENTS_DECODER.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return [], [_classify(frame)]
    messages: list[Message] = []
    reasons: list[str] = []
    for element in elements:
        try:
            messages.append(_MESSAGE_DECODER.decode(element))
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            reasons.append(_classify(element))
    return messages, reasons
