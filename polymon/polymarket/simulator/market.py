"""One simulated binary market: its identity and the venue's wire shapes of it.

Ids come from a hash of (seed, index), so they do not depend on call order. The shapes are
those of the current (2025-09+) venue: WS `book` and `price_change` messages with v3 hashes,
and the Gamma `/markets` element. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from polymon.core.bookhash import book_hash
from polymon.polymarket.simulator import lifecycle
from polymon.polymarket.simulator.book import TICK_TEXT, UNITS, SimBook, format_price, format_size

Message = dict[str, Any]
MIN_ORDER_SIZE: Final = "5"


def digest(seed: int, index: int, label: str) -> int:
    """A stable 256-bit number for (seed, index, label)."""
    # Ids come from a hash of (seed, index), not the RNG, so they do not depend on call order.
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}:{label}".encode()).digest(), "big")


def token_id(seed: int, index: int, label: str) -> str:
    """A 77-digit token id, as the venue's look, stable for (seed, index, label)."""
    return str(10**76 + digest(seed, index, label) % (9 * 10**76))


@dataclass(eq=False)
class SimMarket:
    """One binary market: its identifiers, its YES book and its last trade price.

    `last_trade` is the venue's market-level value, as its v3 hash and initial books carry it:
    the latest trade's price in the traded token's terms with three decimals ("" before any
    trade), the same for both tokens.
    """

    index: int
    condition_id: str
    gamma_id: str
    question_id: str
    question: str
    slug: str
    yes_id: str
    no_id: str
    end_date: str
    book: SimBook
    volume_cents: int
    last_trade: str
    book_from_ms: int = 0
    closed_ms: int | None = None
    yes_won: bool | None = None
    uma_status: str = ""

    def token_ids(self) -> tuple[str, str]:
        """(YES token id, NO token id)."""
        return self.yes_id, self.no_id

    @property
    def description(self) -> str:
        """The market's description text, as Gamma and the CLOB show it."""
        return f"Simulated market {self.index}; resolves to Yes or No."


def gamma_flags(market: SimMarket) -> dict[str, bool]:
    """Gamma's `active`, `closed` and `archived` for a market (`active` stays true after close)."""
    return {"active": True, "closed": market.closed_ms is not None, "archived": False}


def yes_price(market: SimMarket) -> str:
    """The YES token's mid price, exact (as Gamma shows it)."""
    book = market.book
    # The mid is exact in half ticks of 1/1000, i.e. in 1/2000: format it with integer math.
    return format_fraction(book.best_bid() + book.best_ask(), 2000)


def gamma_market(market: SimMarket) -> Message:
    """One market in Gamma `/markets` shape (built on demand: O(levels) for its prices)."""
    book = market.book
    bid, ask = book.best_bid(), book.best_ask()
    gamma: Message = {
        "id": market.gamma_id,
        "question": market.question,
        "conditionId": market.condition_id,
        "questionID": market.question_id,
        "slug": market.slug,
        "description": market.description,
        "endDate": market.end_date,
        "outcomes": json.dumps(["Yes", "No"]),
        "outcomePrices": json.dumps(
            [yes_price(market), format_fraction(2 * UNITS - bid - ask, 2000)]
        ),
        "clobTokenIds": json.dumps([market.yes_id, market.no_id]),
        "volume": format_size(market.volume_cents),
        **gamma_flags(market),
        "acceptingOrders": True,
        "enableOrderBook": True,
        "negRisk": False,
        "orderPriceMinTickSize": float(TICK_TEXT[book.tick]),
        "orderMinSize": int(MIN_ORDER_SIZE),
        "bestBid": float(format_price(bid, book.tick)),
        "bestAsk": float(format_price(ask, book.tick)),
    }
    if market.closed_ms is not None:
        lifecycle.close_gamma_market(gamma, market)
    return gamma


def price_change(market: SimMarket, timestamp: str, is_bid: bool, price: int) -> Message:
    """The WS `price_change` of one YES level change (and its mirrored NO entry)."""
    size = market.book.side(is_bid).get(price, 0)
    return {
        "event_type": "price_change",
        "market": market.condition_id,
        "price_changes": [
            _entry(market, True, timestamp, "BUY" if is_bid else "SELL", price, size),
            _entry(market, False, timestamp, "SELL" if is_bid else "BUY", UNITS - price, size),
        ],
        "timestamp": timestamp,
    }


def _entry(
    market: SimMarket, yes: bool, timestamp: str, side: str, price: int, size: int
) -> Message:
    book = market.book
    bids, asks = book.wire_levels(yes)
    best_bid, best_ask = book.token_top(yes)
    return {
        "asset_id": market.yes_id if yes else market.no_id,
        "price": format_price(price, book.tick),
        "size": format_size(size),
        "side": side,
        "hash": _hash(market, yes, timestamp, bids, asks),
        "best_bid": best_bid,
        "best_ask": best_ask,
    }


def book_message(market: SimMarket, yes: bool, timestamp: str, *, initial: bool) -> Message:
    """A WS `book` message of one token; `initial` adds tick_size and last_trade_price."""
    asset_id = market.yes_id if yes else market.no_id
    bids, asks = market.book.wire_levels(yes)
    message: Message = {
        "event_type": "book",
        "market": market.condition_id,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": _hash(market, yes, timestamp, bids, asks),
        "bids": [{"price": p, "size": s} for p, s in bids],
        "asks": [{"price": p, "size": s} for p, s in asks],
    }
    if initial:
        message["tick_size"] = TICK_TEXT[market.book.tick]
        message["last_trade_price"] = market.last_trade
    return message


def _hash(
    market: SimMarket,
    yes: bool,
    timestamp: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
) -> str:
    asset_id = market.yes_id if yes else market.no_id
    return book_hash(
        "v3",
        market=market.condition_id,
        asset_id=asset_id,
        timestamp=timestamp,
        bids_ascending=bids,
        asks_descending=asks,
        min_order_size=MIN_ORDER_SIZE,
        tick_size=TICK_TEXT[market.book.tick],
        neg_risk=False,
        last_trade_price=market.last_trade,
    )


def format_fraction(numerator: int, denominator: int) -> str:
    """The exact decimal text of numerator/denominator (denominator 2^a * 5^b)."""
    # Exact decimal of numerator/denominator for denominators of the form 2^a * 5^b.
    whole, rest = divmod(numerator, denominator)
    digits = ""
    while rest and len(digits) < 8:
        rest *= 10
        digit, rest = divmod(rest, denominator)
        digits += str(digit)
    return f"{whole}.{digits}" if digits else str(whole)
