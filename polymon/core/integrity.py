"""Integrity checks of one asset's book against what the venue says it should be."""

from __future__ import annotations

from polymon.core.asset import AssetState
from polymon.core.book import ASK, BID
from polymon.core.bookhash import Recipe, summary_hash
from polymon.core.prices import cached_price, parse_price
from polymon.errors import BadNumber

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
    book = asset.book
    bids_json, asks_json = book.side_json(BID), book.side_json(ASK)
    # After any trade the venue hashes the latest trade's price; before one, the snapshot's.
    trade_prices = [asset.last_trade_event_price or asset.last_trade_price]
    if recipe == "v3" and asset.last_trade_price not in ("", trade_prices[0]):
        trade_prices.append(asset.last_trade_price)
    for offset in range(slack_ms + 1):
        for trade_price in trade_prices:
            got = summary_hash(
                recipe,
                market=asset.market,
                asset_id=asset.asset_id,
                timestamp=str(timestamp_ms - offset),
                bids_json=bids_json,
                asks_json=asks_json,
                min_order_size=asset.min_order_size,
                tick_size=asset.tick_size,
                neg_risk=asset.neg_risk,
                last_trade_price=trade_price,
            )
            if got == expected:
                return True
    return False


def _venue_price(text: str, local: int | None) -> int | None:
    units = cached_price(text)
    if units is None:
        try:
            units = parse_price(text)
        except BadNumber:
            return local  # an unparseable venue value proves nothing about the book
    return units


def bbo_agrees(best_bid: int | None, best_ask: int | None, venue_bid: str, venue_ask: str) -> bool:
    """True when the local best bid/ask (units) equal the venue's strings; O(1).

    `""` means the venue did not say; `"0"` (bid) and `"1"` (ask) mean that side is empty.
    """
    # Runs on every level update: the cache lookup is inlined and _venue_price (a call) is
    # only for a string not seen before.
    if venue_bid:
        if venue_bid == _EMPTY_BID:
            if best_bid is not None:
                return False
        else:
            units = cached_price(venue_bid)
            if (units if units is not None else _venue_price(venue_bid, best_bid)) != best_bid:
                return False
    if venue_ask:
        if venue_ask == _EMPTY_ASK:
            return best_ask is None
        units = cached_price(venue_ask)
        return (units if units is not None else _venue_price(venue_ask, best_ask)) == best_ask
    return True
