"""The `last_trade_price` the venue puts into its v3 book hash, one per market.

What real captures show (tests/data/polymarket/SOURCES.md, "v3 last trade price"):

- It is a market-level value: both tokens of a market hash the same string, and it is written
  with three decimals ("0.490", "0.850", "0.301"), whatever the tick size or the spelling of
  the `last_trade_price` events ("0.49").
- It is the price of the market's latest trade in the terms of one of its two tokens: a book
  quoted 0.14/0.15 hashes "0.850", its sibling's price. So a trade at `p` makes it `p` or
  `1 - p`.
- The initial-dump `book` and REST `/book` carry it (`last_trade_price`); later `book`
  messages do not, but hash it all the same.
- It changes with the trade's own `price_change`, before the `last_trade_price` event reaches
  the feed (py-clob-client-v2 #117 saw the event 88 ms after the book it explains).

So a verifier keeps, per market, the value last confirmed by a hash (or carried by a book) and
the values a recent trade allows, and tries the price a change itself touched (a trade consumes
liquidity at its own price). A hash that no guess reproduces is unverifiable, not a gap, while
the market has had a trade whose value is not confirmed yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from polymon.core.prices import PRICE_SCALE, cached_price, format_units, parse_price
from polymon.errors import BadNumber

if TYPE_CHECKING:
    from polymon.core.asset import AssetState

_MAX_CANDIDATES = 8  # two per trade: the last four trades not confirmed by a hash
_MILLI = PRICE_SCALE // 1000


def hashed_value(units: int) -> str:
    """A price in 1e-6 units as the venue hashes a last trade price: three decimals; O(1).

    Finer prices (never seen) keep their exact shortest form.
    """
    whole, frac = divmod(units, PRICE_SCALE)
    if frac % _MILLI:
        return format_units(units)
    return f"{whole}.{frac // _MILLI:03d}"


def trade_values(price_text: str) -> tuple[str, str]:
    """The two values a trade at `price_text` can make the hash use: (p, 1 - p), three decimals.

    ("", "") for a price that does not parse.
    """
    units = cached_price(price_text)
    if units is None:
        try:
            units = parse_price(price_text)
        except BadNumber:
            return "", ""
    return hashed_value(units), hashed_value(PRICE_SCALE - units)


class MarketTrade:
    """The hashed last trade price of one market, shared by the states of its tokens.

    `value` is the one to try first: carried by a book or confirmed by a hash. `known` is
    False after a trade until a hash confirms a value; `candidates` are the values recent
    trades allow. `assets` are the token states that share this object.
    """

    __slots__ = ("assets", "candidates", "known", "value")

    def __init__(self) -> None:
        self.value = ""
        self.known = False
        self.candidates: list[str] = []
        self.assets: list[AssetState] = []

    def confirm(self, value: str) -> None:
        """A book carried `value`, or a hash verified with it: try it first from now on."""
        self.value = value
        self.known = True
        self.candidates.clear()

    def on_trade(self, price_text: str) -> None:
        """A trade event: its values become candidates until a hash confirms one. O(1)."""
        values = trade_values(price_text)
        if self.value in values or not values[0]:
            return  # the hashes already moved to this trade's value (or it is no price)
        fresh = list(dict.fromkeys(values))
        candidates = [v for v in self.candidates if v not in fresh]
        self.candidates = (fresh + candidates)[:_MAX_CANDIDATES]
        self.known = False

    def guesses(self, prices: Iterable[str] = ()) -> Iterator[str]:
        """Values to try, most likely first: the current value, the trade candidates, then the
        values implied by `prices` (levels the change or book touched); no repeats. Lazy: the
        implied values are only worked out if the first guesses miss."""
        yield self.value
        tried = [self.value]
        for value in self.candidates:
            if value not in tried:
                tried.append(value)
                yield value
        for price in prices:
            for value in trade_values(price):
                if value and value not in tried:
                    tried.append(value)
                    yield value
