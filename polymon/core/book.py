"""OrderBook: one token's L2 book, exact prices, cached best bid/ask.

Each side is a plain dict from integer price units (1e-6, see `core.prices`) to its level, plus a
`SortedList` of those prices for order; a level keeps the venue's exact price and size strings
(for hashes and the API) and the size as a float (for depth arithmetic). A size change at an
existing price, the most common update, touches the dict only. The size in a venue update is
the new total at that level, so an update is a set, and size 0 removes the level.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sortedcontainers import SortedList

from polymon.core.bookhash import level_json
from polymon.core.prices import cached_price
from polymon.errors import BookInvariantError

BID = 0
ASK = 1

Level = tuple[str, str, float]
"""(venue price string, venue size string, size)."""

LevelUpdate = tuple[int, str, str, float]
"""(price units, venue price string, venue size string, size)."""


class _LevelJson(dict[int, str]):
    """Each level of one side as the venue hashes it, rendered when first asked for.

    A level update drops its own entry only, so re-rendering a side after a delta joins
    cached strings and renders one level. O(1) per entry.
    """

    __slots__ = ("levels",)

    def __init__(self, levels: dict[int, Level]) -> None:
        super().__init__()
        self.levels = levels

    def __missing__(self, price: int) -> str:
        price_text, size_text, _ = self.levels[price]
        rendered = self[price] = level_json(price_text, size_text)
        return rendered


class LevelDict(dict[int, Level]):
    """One side's levels by price units: a plain dict to its users.

    A subclass so that the garbage collector never untracks it: CPython untracks an exact
    dict whose values are all untracked (level tuples are, after a young collection) at every
    full collection, and the next level update tracks it again as a young object. With
    thousands of books that churn made each full collection scan every active book's levels
    (100+ ms on the event loop); a tracked dict frozen at start-up (`runtime.tune_runtime`)
    is never scanned again.
    """

    __slots__ = ()


class OrderBook:
    """L2 book for one outcome token with O(1) best bid/ask."""

    __slots__ = ("_json", "_level_json", "_prices", "asks", "best_ask", "best_bid", "bids")

    def __init__(self) -> None:
        # All four are read-only outside this class. Plain attributes, not properties: the hot
        # path reads them several times per level update.
        self.bids: dict[int, Level] = LevelDict()  # price units -> level
        self.asks: dict[int, Level] = LevelDict()
        self._prices = (SortedList(), SortedList())  # each side's prices, ascending; by side
        self.best_bid: int | None = None  # highest bid in price units, None when empty
        self.best_ask: int | None = None  # lowest ask in price units, None when empty
        self._json: list[str | None] = [None, None]  # wire-order JSON per side, built on demand
        self._level_json = (_LevelJson(self.bids), _LevelJson(self.asks))  # by side

    def replace(self, bids: Iterable[LevelUpdate], asks: Iterable[LevelUpdate]) -> None:
        """Replace the whole book with a snapshot; zero-size levels are skipped.

        Runtime complexity: O(n log n) in the number of levels.
        """
        bid_prices, ask_prices = self._prices
        for book, prices, levels in ((self.bids, bid_prices, bids), (self.asks, ask_prices, asks)):
            book.clear()
            book.update({p: (pt, st, s) for p, pt, st, s in levels if s > 0})
            # Refilled in place: building a SortedList costs more than filling one.
            prices.clear()
            prices.update(book)
        self.best_bid = bid_prices[-1] if bid_prices else None
        self.best_ask = ask_prices[0] if ask_prices else None
        self._json = [None, None]
        self._level_json[BID].clear()
        self._level_json[ASK].clear()

    def clear(self) -> None:
        """Remove every level. Runtime complexity: O(1)."""
        self.replace((), ())

    def set_level(
        self, side: int, price: int, price_text: str, size_text: str, size: float
    ) -> float:
        """Set the total size at one price (0 removes the level); returns the previous size.

        Runtime complexity: O(log n).
        """
        if side == BID:
            book, best = self.bids, self.best_bid
        else:
            book, best = self.asks, self.best_ask
        self._json[side] = None
        self._level_json[side].pop(price, None)
        previous = book.get(price)
        if size > 0:
            book[price] = (price_text, size_text, size)
            if previous is None:  # a new price: only it can improve the best
                self._prices[side].add(price)
                if best is None or (price > best if side == BID else price < best):
                    best = price
        elif previous is not None:
            del book[price]
            prices = self._prices[side]
            prices.remove(price)
            if price == best:
                best = (prices[-1] if side == BID else prices[0]) if prices else None
        if side == BID:
            self.best_bid = best
        else:
            self.best_ask = best
        return 0.0 if previous is None else float(previous[2])

    def best_level(self, side: int) -> Level | None:
        """The best level of one side, or None. Runtime complexity: O(1)."""
        best = self.best_bid if side == BID else self.best_ask
        if best is None:
            return None
        level: Level = (self.bids if side == BID else self.asks)[best]
        return level

    def better_levels(self, side: int, price: int) -> int:
        """How many levels of one side are strictly better than `price`; O(log n)."""
        prices = self._prices[side]
        if side == BID:
            return len(prices) - prices.bisect_right(price)  # type: ignore[no-any-return]
        return prices.bisect_left(price)  # type: ignore[no-any-return]

    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask (a venue or replay fault). Runtime complexity: O(1)."""
        return (
            self.best_bid is not None
            and self.best_ask is not None
            and self.best_bid >= self.best_ask
        )

    def levels(self, side: int, limit: int | None = None) -> list[Level]:
        """Levels of one side, best first, at most `limit`.

        Runtime complexity: O(log n + limit).
        """
        book = self.bids if side == BID else self.asks
        return list(map(book.__getitem__, self._best_prices(side, limit)))

    def side_units(self, side: int) -> tuple[list[int], list[float]]:
        """One side's prices (1e-6 units) and sizes, best first, as two parallel lists.

        For storage rows: the exact integer keys, no string parsing. Runtime complexity: O(n).
        """
        book = self.bids if side == BID else self.asks
        prices = list(self._best_prices(side, None))
        return prices, [book[p][2] for p in prices]

    def depth(self, side: int, levels: int) -> float:
        """Total size of the best `levels` levels of one side.

        Runtime complexity: O(log n + levels).
        """
        book = self.bids if side == BID else self.asks
        return float(sum(book[p][2] for p in self._best_prices(side, levels)))

    def imbalance(self, levels: int) -> float | None:
        """(bid depth - ask depth) / (bid depth + ask depth) over the best `levels` levels.

        In [-1, 1]; positive means more size bid. None for an empty book.
        Runtime complexity: O(levels).
        """
        bid = self.depth(BID, levels)
        ask = self.depth(ASK, levels)
        total = bid + ask
        return None if total <= 0 else (bid - ask) / total

    def wire_levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Both sides as the venue orders them (bids ascending, asks descending), exact strings.

        This is the order the venue hash is computed over. Runtime complexity: O(n).
        """
        bids, asks = self.bids, self.asks
        bid_prices, ask_prices = self._prices
        return [bids[k][:2] for k in bid_prices], [asks[k][:2] for k in reversed(ask_prices)]

    def side_json(self, side: int) -> str:
        """One side's levels as the venue hashes them (bids ascending, asks descending).

        Cached until that side changes; then the cached level strings are joined and only
        the changed level is rendered again. O(n) joins on a miss, O(1) on a hit.
        """
        cached = self._json[side]
        if cached is None:
            prices = self._prices[side]
            rendered = self._level_json[side].__getitem__
            cached = ",".join(map(rendered, prices if side == BID else reversed(prices)))
            self._json[side] = cached
        return cached

    def same_levels(self, bids: Iterable[LevelUpdate], asks: Iterable[LevelUpdate]) -> bool:
        """True when this book holds exactly these levels (by price units and size).

        Runtime complexity: O(n).
        """
        for book, levels in ((self.bids, bids), (self.asks, asks)):
            seen = 0
            for price, _pt, _st, size in levels:
                if size <= 0:
                    continue
                seen += 1
                level = book.get(price)
                if level is None or level[2] != size:
                    return False
            if seen != len(book):
                return False
        return True

    def holds_exactly(
        self, bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]
    ) -> bool:
        """True when this book holds exactly these venue levels, strings included.

        Levels in the venue's order (bids ascending, asks descending); a snapshot that repeats
        the book can then skip parsing and refilling. False (never an error) for anything
        it cannot vouch for: a price string not in the price cache (never parsed, or the cache
        is full), a zero size, levels out of order or repeated.
        Runtime complexity: O(n).
        """
        for book, levels, ascending in ((self.bids, bids, True), (self.asks, asks, False)):
            if len(levels) != len(book):
                return False
            last = -1 if ascending else 1 << 62
            for price_text, size_text in levels:
                price = cached_price(price_text)
                # Strictly monotonic prices are distinct keys, so equal counts mean equal sets.
                if price is None or (price <= last if ascending else price >= last):
                    return False
                level = book.get(price)
                if level is None or level[0] != price_text or level[1] != size_text:
                    return False
                last = price
        return True

    def _best_prices(self, side: int, limit: int | None) -> Iterator[int]:
        # An islice of the sorted prices: indexing a SortedList is O(log n) per item.
        prices = self._prices[side]
        n = len(prices)
        if limit is None or limit > n:
            limit = n
        if side == BID:
            return prices.islice(n - limit, n, reverse=True)  # type: ignore[no-any-return]
        return prices.islice(0, limit)  # type: ignore[no-any-return]

    def __len__(self) -> int:
        """Number of levels on both sides."""
        return len(self.bids) + len(self.asks)

    def _check(self) -> None:
        """Assert every structural invariant; raises BookInvariantError. O(n)."""
        for name, book, prices in (("bids", self.bids, self._prices[BID]),
                                   ("asks", self.asks, self._prices[ASK])):  # fmt: skip
            if list(prices) != sorted(book):
                raise BookInvariantError(f"{name}: the sorted prices are not the dict's keys")
            for price, (_pt, _st, size) in book.items():
                if not size > 0:
                    raise BookInvariantError(f"{name} level {price} has size {size}")
        want_bid = max(self.bids, default=None)
        want_ask = min(self.asks, default=None)
        if (self.best_bid, self.best_ask) != (want_bid, want_ask):
            raise BookInvariantError(
                f"cached best {self.best_bid}/{self.best_ask} != {want_bid}/{want_ask}"
            )
