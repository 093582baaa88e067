"""Integrity checks of one asset's book against what the venue says it should be."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polymon.core.book import OrderBook
from polymon.core.bookhash import Recipe, book_hash
from polymon.core.prices import parse_price
from polymon.errors import BadNumber

if TYPE_CHECKING:
    from polymon.core.shard import AssetState

# Empty sides have been sent as the out-of-range sentinels "0" (bid) / "1" (ask); "" means the
# venue did not say, so that side is not checked.
_EMPTY_BID = "0"
_EMPTY_ASK = "1"


def hash_matches(
    asset: AssetState, expected: str, timestamp_ms: int, recipe: Recipe, slack_ms: int
) -> bool:
    """True when the local book hashes to `expected` at the message timestamp.

    Also accepts timestamps up to `slack_ms` earlier (the 2024 server hashed a timestamp
    4-11 ms before the one it sent) and, for v3, either the snapshot's last trade price or the
    latest trade event's. Runtime: O(levels × candidates).
    """
    bids, asks = asset.book.wire_levels()
    trade_prices = [asset.last_trade_price]
    if recipe == "v3" and asset.last_trade_event_price not in ("", asset.last_trade_price):
        trade_prices.append(asset.last_trade_event_price)
    for offset in range(slack_ms + 1):
        for trade_price in trade_prices:
            got = book_hash(
                recipe,
                market=asset.market,
                asset_id=asset.asset_id,
                timestamp=str(timestamp_ms - offset),
                bids_ascending=bids,
                asks_descending=asks,
                min_order_size=asset.min_order_size,
                tick_size=asset.tick_size,
                neg_risk=asset.neg_risk,
                last_trade_price=trade_price,
            )
            if got == expected:
                return True
    return False


def _side_agrees(local: int | None, venue: str, empty: str) -> bool:
    if venue == "":
        return True
    if venue == empty:
        return local is None
    try:
        return local == parse_price(venue)
    except BadNumber:
        return True  # an unparseable venue value proves nothing about the book


def bbo_agrees(book: OrderBook, best_bid: str, best_ask: str) -> bool:
    """True when the book's best bid/ask equal the venue's; O(1) with a warm price cache."""
    return _side_agrees(book.best_bid, best_bid, _EMPTY_BID) and _side_agrees(
        book.best_ask, best_ask, _EMPTY_ASK
    )
