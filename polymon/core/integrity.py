"""Integrity checks of one asset's book against what the venue says it should be."""

from __future__ import annotations

from polymon.core.book import ASK, BID, LevelUpdate, OrderBook
from polymon.core.prices import cached_price, format_price, parse_price
from polymon.errors import BadNumber


def _changes(
    book: OrderBook, bids: list[LevelUpdate], asks: list[LevelUpdate]
) -> tuple[tuple[dict[int, float], dict[int, float]], list[list[int]]]:
    # The snapshot's sizes by price per side, and the prices whose size differs, per side.
    new = ({p: s for p, _, _, s in bids if s > 0}, {p: s for p, _, _, s in asks if s > 0})
    changed: list[list[int]] = []
    for side, o in ((BID, book.bids), (ASK, book.asks)):
        n = new[side]
        changed.append([p for p in o.keys() | n.keys()
                        if (o[p][2] if p in o else 0.0) != n.get(p, 0.0)])  # fmt: skip
    return new, changed


def changed_prices(
    book: OrderBook, bids: list[LevelUpdate], asks: list[LevelUpdate], limit: int = 8
) -> list[str]:
    """Prices (shortest decimal strings) whose size a snapshot changes, best first per side,
    at most `limit`: where a trade the deltas did not show consumed liquidity. O(n log n)."""
    _new, changed = _changes(book, bids, asks)
    out = [format_price(p) for p in sorted(changed[BID], reverse=True)]
    out += [format_price(p) for p in sorted(changed[ASK])]
    return out[:limit]


def one_trade_apart(book: OrderBook, bids: list[LevelUpdate], asks: list[LevelUpdate]) -> bool:
    """True when a snapshot differs from `book` as one taker order would change it.

    One side lost liquidity from its best level on (levels consumed in price order, the last
    one possibly in part), and the other side is unchanged or gained one level at or through
    the consumed side's old best price (the taker's remainder resting). In an era when the
    venue reported trades only by a new `book`, such a snapshot is not a missed message.
    Runtime complexity: O(n log n) in the number of levels.
    """
    new, changed = _changes(book, bids, asks)
    old = (book.bids, book.asks)
    for consumed in (BID, ASK):
        other = ASK if consumed == BID else BID
        gone = changed[consumed]
        if not gone:
            continue
        o, n = old[consumed], new[consumed]
        ladder = sorted(o, reverse=consumed == BID)  # best first
        gone.sort(reverse=consumed == BID)
        if ladder[: len(gone)] != gone:
            continue  # not the best levels, or a level that was not there before
        if any(n.get(p, 0.0) >= o[p][2] for p in gone) or any(p in n for p in gone[:-1]):
            continue  # something grew, or a level was skipped before the last one
        added = changed[other]
        if not added:
            return True
        touch = ladder[0]
        if len(added) == 1 and added[0] not in old[other]:
            price = added[0]
            if price >= touch if consumed == ASK else price <= touch:
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


def bbo_agrees(
    best_bid: int | None, best_ask: int | None, venue_bid: str | None, venue_ask: str | None
) -> bool:
    """True when the local best bid/ask (units) equal the venue's price strings; O(1).

    `""` means the venue did not say (that side is not checked); None that the venue says the
    side is empty.
    """
    # Runs on every level update: the cache lookup is inlined and _venue_price (a call) is
    # only for a string not seen before.
    if venue_bid is None:
        if best_bid is not None:
            return False
    elif venue_bid:
        units = cached_price(venue_bid)
        if (units if units is not None else _venue_price(venue_bid, best_bid)) != best_bid:
            return False
    if venue_ask is None:
        return best_ask is None
    if venue_ask:
        units = cached_price(venue_ask)
        return (units if units is not None else _venue_price(venue_ask, best_ask)) == best_ask
    return True
