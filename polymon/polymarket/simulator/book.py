"""The simulator's canonical book: one YES book per market in integer units, NO derived from it.

Prices are integers in 1/1000 (`UNITS` = 1.0); the tick is 10 units (0.01) or 1 unit (0.001).
Sizes are integers in cents. The NO book is never stored: a YES ask at p of size s *is* a NO bid
at 1-p of size s, and a YES bid is a NO ask, so the two books can never disagree.
All randomness comes from the `random.Random` the caller passes in.
"""

from __future__ import annotations

import functools
import random
from typing import Final

UNITS: Final = 1000
COARSE_TICK: Final = 10
FINE_TICK: Final = 1
TICK_TEXT: Final = {COARSE_TICK: "0.01", FINE_TICK: "0.001"}
MIN_LEVELS: Final = 5
MAX_LEVELS: Final = 30
# Bounds that keep at least MIN_LEVELS coarse grid points free on each side of the spread, so a
# re-grid to 0.01 can always top a side back up without crossing or leaving [0.01, 0.99].
BID_CAP: Final = 850
ASK_FLOOR: Final = 150
BID_FLOOR: Final = 100
ASK_CAP: Final = 900

Levels = list[tuple[int, int]]
WireLevels = list[tuple[str, str]]


def _price_text(units: int, tick: int) -> str:
    if units <= 0:
        return "0"
    if units >= UNITS:
        return "1"
    return f"0.{units // COARSE_TICK:02d}" if tick == COARSE_TICK else f"0.{units:03d}"


# Every price string the simulator can emit, so formatting is a list lookup on the hot path.
_PRICE_TEXT: Final = {
    tick: [_price_text(units, tick) for units in range(UNITS + 1)] for tick in TICK_TEXT
}


def format_price(units: int, tick: int) -> str:
    """The venue string of a price for its tick: 480 → "0.48" (tick 10), "0.480" (tick 1)."""
    return _PRICE_TEXT[tick][units]


# Most levels keep their size from one event to the next, so their strings are reused.
@functools.lru_cache(maxsize=1 << 16)
def format_size(cents: int) -> str:
    """The venue string of a size in cents, without trailing zeros: 120050 → "1200.5"."""
    whole, frac = divmod(cents, 100)
    if frac == 0:
        return str(whole)
    if frac % 10 == 0:
        return f"{whole}.{frac // 10}"
    return f"{whole}.{frac:02d}"


def random_size(rng: random.Random) -> int:
    """A level size in cents: mostly whole shares, some with one or two decimals."""
    kind = rng.random()
    if kind < 0.5:
        return rng.randint(5, 5000) * 100
    if kind < 0.8:
        return rng.randint(50, 50_000) * 10
    return rng.randint(500, 500_000)


class SimBook:
    """The YES book of one market: price units → size cents per side, never crossed."""

    __slots__ = ("asks", "bids", "tick")

    def __init__(self, tick: int) -> None:
        self.tick = tick
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    @classmethod
    def generate(cls, tick: int, rng: random.Random) -> SimBook:
        """A fresh two-sided book of 5–30 levels a side around a random mid in [0.2, 0.8]."""
        book = cls(tick)
        best_bid = rng.randint(200, 790) // tick * tick
        best_ask = best_bid + tick * rng.randint(1, 3)
        price = best_bid
        for _ in range(rng.randint(MIN_LEVELS, MAX_LEVELS)):
            if price < tick:
                break
            book.bids[price] = random_size(rng)
            price -= tick * rng.randint(1, 2)
        price = best_ask
        for _ in range(rng.randint(MIN_LEVELS, MAX_LEVELS)):
            if price > UNITS - tick:
                break
            book.asks[price] = random_size(rng)
            price += tick * rng.randint(1, 2)
        return book

    def side(self, is_bid: bool) -> dict[int, int]:
        """The bid or ask dict of the YES book."""
        return self.bids if is_bid else self.asks

    def best_bid(self) -> int:
        """Best YES bid in units (0 when empty); O(levels)."""
        return max(self.bids) if self.bids else 0

    def best_ask(self) -> int:
        """Best YES ask in units (UNITS when empty); O(levels)."""
        return min(self.asks) if self.asks else UNITS

    def best(self, is_bid: bool) -> int:
        """Best price of one YES side."""
        return self.best_bid() if is_bid else self.best_ask()

    def set_level(self, is_bid: bool, price: int, size: int) -> None:
        """Set the total size at a YES level; size 0 removes it."""
        levels = self.side(is_bid)
        if size:
            levels[price] = size
        else:
            del levels[price]

    def can_remove(self, is_bid: bool, price: int) -> bool:
        """Whether removing this level keeps MIN_LEVELS and the best price inside its bounds."""
        levels = self.side(is_bid)
        if len(levels) <= MIN_LEVELS:
            return False
        if price != self.best(is_bid):
            return True
        rest = [p for p in levels if p != price]
        return max(rest) >= BID_FLOOR if is_bid else min(rest) <= ASK_CAP

    def token_levels(self, yes: bool) -> tuple[Levels, Levels]:
        """(bids ascending, asks descending) in units for the YES or the mirrored NO token."""
        bids = sorted(self.bids.items())
        asks = sorted(self.asks.items(), reverse=True)
        if yes:
            return bids, asks
        return [(UNITS - p, s) for p, s in asks], [(UNITS - p, s) for p, s in bids]

    def wire_levels(self, yes: bool) -> tuple[WireLevels, WireLevels]:
        """`token_levels` as venue strings, in venue order (best last)."""
        text = _PRICE_TEXT[self.tick]
        bids, asks = self.token_levels(yes)
        return (
            [(text[p], format_size(s)) for p, s in bids],
            [(text[p], format_size(s)) for p, s in asks],
        )

    def token_top(self, yes: bool) -> tuple[str, str]:
        """(best bid, best ask) strings of the YES or NO token; "0"/"1" for an empty side."""
        bid, ask = self.best_bid(), self.best_ask()
        if not yes:
            bid, ask = UNITS - ask, UNITS - bid
        return format_price(bid, self.tick), format_price(ask, self.tick)

    def random_change(self, rng: random.Random) -> tuple[bool, int]:
        """Apply one random order-flow change to the YES book; returns (is_bid, price) changed.

        Mixes size changes, new levels behind the top, cancels, and moves of the top (a new
        best inside the spread, or the best level pulled) so the mid random-walks.
        """
        is_bid = rng.random() < 0.5
        levels = self.side(is_bid)
        roll = rng.random()
        if roll < 0.15:
            price = rng.choice(list(levels))
            if self.can_remove(is_bid, price):
                del levels[price]
                return is_bid, price
        elif roll < 0.3:
            moved = self._move_top(is_bid, rng)
            if moved is not None:
                return is_bid, moved
        elif roll < 0.45 and len(levels) < MAX_LEVELS:
            free = self._free_price_behind(is_bid, rng)
            if free is not None:
                levels[free] = random_size(rng)
                return is_bid, free
        target = rng.choice(list(levels))
        old = levels[target]
        while (size := random_size(rng)) == old:
            pass
        levels[target] = size
        return is_bid, target

    def _move_top(self, is_bid: bool, rng: random.Random) -> int | None:
        levels = self.side(is_bid)
        bid, ask = self.best_bid(), self.best_ask()
        gap = (ask - bid) // self.tick - 1
        if gap > 0 and len(levels) < MAX_LEVELS:
            step = self.tick * rng.randint(1, min(gap, 3))
            price = bid + step if is_bid else ask - step
            if (is_bid and price <= BID_CAP) or (not is_bid and price >= ASK_FLOOR):
                levels[price] = random_size(rng)
                return price
        top = bid if is_bid else ask
        if self.can_remove(is_bid, top):
            del levels[top]
            return top
        return None

    def _free_price_behind(self, is_bid: bool, rng: random.Random) -> int | None:
        levels = self.side(is_bid)
        top = self.best(is_bid)
        tick = self.tick
        if is_bid:
            grid = range(max(tick, top - 40 * tick), top, tick)
        else:
            grid = range(top + tick, min(UNITS - tick, top + 40 * tick) + 1, tick)
        free = [p for p in grid if p not in levels]
        return rng.choice(free) if free else None

    def regrid(self, tick: int, rng: random.Random) -> None:
        """Switch to a new tick; going coarser drops off-grid levels and tops each side up.

        Dropped sides are refilled behind the old best prices (rounded onto the new grid), so
        the book stays two-sided, uncrossed and within MIN_LEVELS..MAX_LEVELS.
        """
        old_bid, old_ask = self.best_bid(), self.best_ask()
        self.tick = tick
        for levels in (self.bids, self.asks):
            for price in [p for p in levels if p % tick]:
                del levels[price]
        price = old_bid // tick * tick
        while len(self.bids) < MIN_LEVELS:
            self.bids.setdefault(price, random_size(rng))
            price -= tick
        price = -(-old_ask // tick) * tick
        while len(self.asks) < MIN_LEVELS:
            self.asks.setdefault(price, random_size(rng))
            price += tick

    def check(self) -> None:
        """Assert the invariants: on-grid, inside (0, 1), sizes positive, not crossed."""
        for levels in (self.bids, self.asks):
            assert MIN_LEVELS <= len(levels) <= MAX_LEVELS, len(levels)
            for price, size in levels.items():
                assert 0 < price < UNITS, price
                assert price % self.tick == 0, price
                assert size > 0, size
        assert self.best_bid() < self.best_ask(), (self.best_bid(), self.best_ask())
