"""OrderBook: a hypothesis state machine against a dict model, plus scripted unit tests."""

from __future__ import annotations

import gc

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from polymon.core.book import ASK, BID, Level, LevelUpdate, OrderBook
from polymon.core.prices import format_price, parse_price
from polymon.errors import BookInvariantError

# A coarse grid (step 0.025) so that updates often hit existing levels and the best level.
PRICE_UNITS = st.integers(min_value=0, max_value=40).map(lambda k: k * 25_000)
SIZE_TEXTS = st.sampled_from(
    ["0", "0.0", "0.000001", "1", "5", "12.5", "100", "310", "1200.5", "110000"]
)
SIDES = st.sampled_from([BID, ASK])
LIMITS = (0, 1, 2, 3, 5, 100)


@st.composite
def price_texts(draw: st.DrawFn, units: int) -> str:
    """The venue's exact price string: shortest form, or with a trailing zero ("0.480")."""
    text = format_price(units)
    if draw(st.booleans()):
        text = text + "0" if "." in text else text + ".0"
    return text


@st.composite
def level_updates(draw: st.DrawFn) -> LevelUpdate:
    units = draw(PRICE_UNITS)
    size_text = draw(SIZE_TEXTS)
    return units, draw(price_texts(units)), size_text, float(size_text)


SNAPSHOT_SIDE = st.lists(level_updates(), max_size=12, unique_by=lambda lv: lv[0])

Model = dict[int, dict[int, Level]]


def best_first(model: Model, side: int) -> list[Level]:
    prices = sorted(model[side], reverse=side == BID)
    return [model[side][p] for p in prices]


class OrderBookMachine(RuleBasedStateMachine):
    """Drive OrderBook with random level sets, snapshots and clears; compare with a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook()
        self.model: Model = {BID: {}, ASK: {}}

    @initialize(bids=SNAPSHOT_SIDE, asks=SNAPSHOT_SIDE)
    def start(self, bids: list[LevelUpdate], asks: list[LevelUpdate]) -> None:
        self.replace(bids, asks)

    @rule(side=SIDES, update=level_updates())
    def set_level(self, side: int, update: LevelUpdate) -> None:
        units, price_text, size_text, size = update
        side_model = self.model[side]
        want_previous = side_model[units][2] if units in side_model else 0.0
        got = self.book.set_level(side, units, price_text, size_text, size)
        assert got == want_previous
        assert isinstance(got, float)
        if size > 0:
            side_model[units] = (price_text, size_text, size)
        else:
            side_model.pop(units, None)

    @rule(bids=SNAPSHOT_SIDE, asks=SNAPSHOT_SIDE)
    def replace(self, bids: list[LevelUpdate], asks: list[LevelUpdate]) -> None:
        self.book.replace(bids, asks)
        self.model = {
            BID: {p: (pt, st_, s) for p, pt, st_, s in bids if s > 0},
            ASK: {p: (pt, st_, s) for p, pt, st_, s in asks if s > 0},
        }

    @rule()
    def clear(self) -> None:
        self.book.clear()
        self.model = {BID: {}, ASK: {}}

    @invariant()
    def structure_holds(self) -> None:
        self.book._check()
        assert len(self.book) == len(self.model[BID]) + len(self.model[ASK])

    @invariant()
    def best_prices_match(self) -> None:
        bids, asks = self.model[BID], self.model[ASK]
        want_bid = max(bids) if bids else None
        want_ask = min(asks) if asks else None
        assert self.book.best_bid == want_bid
        assert self.book.best_ask == want_ask
        assert self.book.best_level(BID) == (None if want_bid is None else bids[want_bid])
        assert self.book.best_level(ASK) == (None if want_ask is None else asks[want_ask])
        crossed = want_bid is not None and want_ask is not None and want_bid >= want_ask
        assert self.book.crossed is crossed

    @invariant()
    def levels_best_first(self) -> None:
        for side in (BID, ASK):
            want = best_first(self.model, side)
            assert self.book.levels(side) == want
            assert self.book.levels(side, None) == want
            for limit in LIMITS:
                assert self.book.levels(side, limit) == want[:limit]

    @invariant()
    def depth_and_imbalance(self) -> None:
        for limit in LIMITS:
            # Summed best-first, as the book does, so the floats are bit-identical.
            bid = sum(lv[2] for lv in best_first(self.model, BID)[:limit])
            ask = sum(lv[2] for lv in best_first(self.model, ASK)[:limit])
            assert self.book.depth(BID, limit) == bid
            assert self.book.depth(ASK, limit) == ask
            imbalance = self.book.imbalance(limit)
            if bid + ask <= 0:
                assert imbalance is None
            else:
                assert imbalance == (bid - ask) / (bid + ask)
                assert -1.0 <= imbalance <= 1.0

    @invariant()
    def wire_order(self) -> None:
        bids, asks = self.book.wire_levels()
        model_bids, model_asks = self.model[BID], self.model[ASK]
        assert bids == [(model_bids[p][0], model_bids[p][1]) for p in sorted(model_bids)]
        assert asks == [
            (model_asks[p][0], model_asks[p][1]) for p in sorted(model_asks, reverse=True)
        ]

    @invariant()
    def same_levels_agrees(self) -> None:
        bids = [(p, pt, st_, s) for p, (pt, st_, s) in self.model[BID].items()]
        asks = [(p, pt, st_, s) for p, (pt, st_, s) in self.model[ASK].items()]
        assert self.book.same_levels(bids, asks)
        # Zero-size entries are "no level" and do not count.
        assert self.book.same_levels([*bids, (999_999, "0.999999", "0", 0.0)], asks)
        # One extra level, one missing level, one changed size: all differ.
        off_grid = (1, "0.000001", "1", 1.0)
        assert not self.book.same_levels(bids, [*asks, off_grid])
        if bids:
            assert not self.book.same_levels(bids[1:], asks)
            p, pt, st_, s = bids[0]
            assert not self.book.same_levels([(p, pt, st_, s + 1.0), *bids[1:]], asks)
        if asks:
            assert not self.book.same_levels(bids, asks[:-1])

    @invariant()
    def holds_exactly_its_own_wire_levels_only(self) -> None:
        bids, asks = self.book.wire_levels()
        for price_text, _ in bids + asks:
            parse_price(price_text)  # holds_exactly only vouches for prices seen before
        assert self.book.holds_exactly(bids, asks)
        assert not self.book.holds_exactly(bids, [*asks, ("0.000001", "1")])
        if bids:
            assert not self.book.holds_exactly(bids[1:], asks)
            assert not self.book.holds_exactly(bids[::-1], asks) or len(bids) == 1
            price_text, size_text = bids[0]
            assert not self.book.holds_exactly([(price_text, size_text + "0"), *bids[1:]], asks)
            assert not self.book.holds_exactly([(price_text + "0", size_text), *bids[1:]], asks)
        if asks:
            # Same count, a level twice and one missing: still not this book.
            assert not self.book.holds_exactly(bids, [asks[0], *asks[:-1]]) or len(asks) == 1

    @invariant()
    def better_levels_counts_strictly_better_prices(self) -> None:
        for units in (0, 12_500, 500_000, 512_500, 1_000_000):
            assert self.book.better_levels(BID, units) == sum(p > units for p in self.model[BID])
            assert self.book.better_levels(ASK, units) == sum(p < units for p in self.model[ASK])


OrderBookMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None
)
test_order_book_machine = OrderBookMachine.TestCase


# -- scripted unit tests ------------------------------------------------------------------


def lv(price: str, size: str) -> LevelUpdate:
    return parse_price(price), price, size, float(size)


def set_level(book: OrderBook, side: int, price: str, size: str) -> float:
    return book.set_level(side, parse_price(price), price, size, float(size))


def test_empty_book() -> None:
    book = OrderBook()
    book._check()
    assert (book.best_bid, book.best_ask) == (None, None)
    assert book.best_level(BID) is None
    assert book.best_level(ASK) is None
    assert not book.crossed
    assert book.levels(BID) == []
    assert book.levels(ASK, 5) == []
    assert book.depth(BID, 10) == 0.0
    assert book.depth(ASK, 10) == 0.0
    assert book.imbalance(10) is None
    assert book.wire_levels() == ([], [])
    assert book.same_levels([], [])
    assert len(book) == 0


def test_set_level_returns_previous_size() -> None:
    book = OrderBook()
    assert set_level(book, BID, "0.48", "100") == 0.0
    assert set_level(book, BID, "0.48", "250.5") == 100.0
    assert set_level(book, BID, "0.48", "0") == 250.5
    assert set_level(book, BID, "0.48", "0") == 0.0
    assert set_level(book, ASK, "0.52", "7") == 0.0
    assert set_level(book, ASK, "0.52", "8") == 7.0
    book._check()
    assert book.best_bid is None
    assert book.best_ask == 520_000


def test_removing_a_missing_level_changes_nothing() -> None:
    book = OrderBook()
    book.replace([lv("0.47", "10"), lv("0.48", "20")], [lv("0.50", "5"), lv("0.49", "6")])
    before = (book.levels(BID), book.levels(ASK), book.best_bid, book.best_ask)
    assert set_level(book, BID, "0.46", "0") == 0.0
    assert set_level(book, ASK, "0.49", "0") == 6.0  # exists on the ask side, not the bid side
    assert set_level(book, BID, "0.49", "0") == 0.0
    book._check()
    assert book.levels(BID) == before[0]
    assert book.best_bid == before[2]
    assert book.best_ask == 500_000


def test_best_moves_when_best_level_removed_or_improved() -> None:
    book = OrderBook()
    book.replace([lv("0.47", "10"), lv("0.48", "20")], [lv("0.50", "5"), lv("0.49", "6")])
    assert (book.best_bid, book.best_ask) == (480_000, 490_000)
    set_level(book, BID, "0.48", "0")
    assert book.best_bid == 470_000
    set_level(book, BID, "0.485", "1")
    assert book.best_bid == 485_000
    set_level(book, ASK, "0.49", "0")
    set_level(book, ASK, "0.50", "0")
    assert book.best_ask is None
    book._check()


@pytest.mark.parametrize(
    ("bid", "ask", "crossed"),
    [("0.48", "0.49", False), ("0.49", "0.49", True), ("0.50", "0.49", True)],
)
def test_crossed_detection(bid: str, ask: str, crossed: bool) -> None:
    book = OrderBook()
    book.replace([lv(bid, "1")], [lv(ask, "1")])
    assert book.crossed is crossed
    book.clear()
    set_level(book, BID, bid, "1")
    assert not book.crossed  # one side empty is never crossed
    set_level(book, ASK, ask, "1")
    assert book.crossed is crossed


def test_exact_strings_are_kept() -> None:
    book = OrderBook()
    book.replace([lv("0.480", "1200.50"), lv(".47", "1e2")], [lv("0.4900", "310.000")])
    assert book.levels(BID) == [("0.480", "1200.50", 1200.5), (".47", "1e2", 100.0)]
    assert book.levels(ASK) == [("0.4900", "310.000", 310.0)]
    assert book.wire_levels() == ([(".47", "1e2"), ("0.480", "1200.50")], [("0.4900", "310.000")])
    # A later update with a different spelling of the same price replaces the level's strings.
    set_level(book, BID, "0.48", "7")
    assert book.levels(BID, 1) == [("0.48", "7", 7.0)]
    assert len(book) == 3


def test_replace_skips_zero_sizes_and_clear_empties() -> None:
    book = OrderBook()
    book.replace([lv("0.1", "0"), lv("0.2", "3")], [lv("0.9", "0")])
    assert book.levels(BID) == [("0.2", "3", 3.0)]
    assert book.best_ask is None
    assert book.same_levels([lv("0.2", "3"), lv("0.1", "0")], [lv("0.9", "0")])
    book.clear()
    assert len(book) == 0
    assert book.best_bid is None
    book._check()


def test_same_levels_ignores_text_but_not_size() -> None:
    book = OrderBook()
    book.replace([lv("0.48", "10")], [lv("0.49", "5")])
    assert book.same_levels([lv("0.480", "10.0")], [lv("0.49", "5")])
    assert not book.same_levels([lv("0.48", "10.5")], [lv("0.49", "5")])
    assert not book.same_levels([lv("0.48", "10")], [])
    assert not book.same_levels([lv("0.48", "10")], [lv("0.49", "5"), lv("0.5", "1")])


def test_depth_and_imbalance() -> None:
    book = OrderBook()
    book.replace(
        [lv("0.46", "1"), lv("0.47", "10"), lv("0.48", "20")], [lv("0.50", "5"), lv("0.49", "15")]
    )
    assert book.depth(BID, 1) == 20.0
    assert book.depth(BID, 2) == 30.0
    assert book.depth(BID, 10) == 31.0
    assert book.depth(ASK, 1) == 15.0
    assert book.depth(ASK, 10) == 20.0
    assert book.imbalance(1) == pytest.approx((20 - 15) / 35)
    assert book.imbalance(10) == pytest.approx((31 - 20) / 51)
    assert book.imbalance(0) is None


def test_check_detects_a_corrupted_book() -> None:
    book = OrderBook()
    book.replace([lv("0.47", "10"), lv("0.48", "20")], [lv("0.49", "5")])
    book.best_bid = 470_000
    with pytest.raises(BookInvariantError):
        book._check()
    book.best_bid = 480_000
    book._check()
    book.asks[490_000] = ("0.49", "0", 0.0)
    with pytest.raises(BookInvariantError):
        book._check()


def test_book_sides_stay_tracked_by_the_garbage_collector() -> None:
    # An exact dict of untracked values is untracked by every full collection and tracked
    # again by the next update, as a young object: at venue size each full collection then
    # scanned every active book. The sides are a dict subclass, which the GC never untracks.
    book = OrderBook()
    book.replace([(480_000, "0.48", "10", 10.0)], [(490_000, "0.49", "5", 5.0)])
    book.set_level(BID, 470_000, "0.47", "1", 1.0)
    gc.collect()
    assert gc.is_tracked(book.bids)
    assert gc.is_tracked(book.asks)
    assert type(book.bids).__mro__[1] is dict  # a plain dict to every reader
