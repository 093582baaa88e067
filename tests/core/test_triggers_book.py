"""Trigger types evaluated on the book: crossings, imbalance, arbitrage, stale quotes, fills."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymon.core.book import ASK, BID, OrderBook
from polymon.core.triggers import TriggerTable
from polymon.core.triggers.crossing import CrossingIndex
from tests.core.test_triggers import (
    RECV_US,
    VENUE_MS,
    A,
    B,
    bbo,
    fired,
    table_of,
    trig,
    units,
)


def make_book(bids: list[tuple[str, float]], asks: list[tuple[str, float]]) -> OrderBook:
    book = OrderBook()
    book.replace(
        [(units(p), p, str(s), s) for p, s in bids], [(units(p), p, str(s), s) for p, s in asks]
    )
    return book


def level(
    table: TriggerTable, book: OrderBook, side: int, price: str, size: float, now: float
) -> None:
    """Apply a level update to the book, then tell the table (as the shard would)."""
    previous = book.set_level(side, units(price), price, str(size), size)
    table.on_level(A, side, units(price), size, previous, VENUE_MS, RECV_US, now, book)


# -- PRICE_ABOVE / PRICE_BELOW -------------------------------------------------------------------
def test_price_above_fires_on_each_crossing_only() -> None:
    t = trig("PRICE_ABOVE", threshold="0.50", side="BID")
    table = table_of(t)
    bbo(table, 0.0, "0.49", "0.52")
    bbo(table, 1.0, "0.50", "0.52")  # equal is not above
    assert fired(table) == []
    bbo(table, 2.0, "0.51", "0.52")
    assert fired(table) == [(t.trigger_id, 0.51)]
    bbo(table, 3.0, "0.52", "0.53")  # still above: no new crossing
    bbo(table, 4.0, "0.51", "0.53", bid_size=5)
    assert fired(table) == []
    bbo(table, 5.0, "0.50", "0.53")
    bbo(table, 6.0, "0.55", "0.56")
    assert fired(table) == [(t.trigger_id, 0.55)]


def test_price_above_fires_when_first_value_is_already_above() -> None:
    t = trig("PRICE_ABOVE", threshold="0.50", side="ASK")
    table = table_of(t)
    bbo(table, 0.0, "", "0.60")
    assert fired(table) == [(t.trigger_id, 0.6)]
    bbo(table, 1.0, "", "0.61")
    assert fired(table) == []


def test_trigger_added_later_fires_if_next_value_is_beyond() -> None:
    early = trig("PRICE_ABOVE", threshold="0.50", side="BID")
    table = table_of(early)
    bbo(table, 0.0, "0.60", "0.70")
    assert fired(table) == [(early.trigger_id, 0.6)]
    late = trig("PRICE_ABOVE", threshold="0.55", side="BID")
    later = trig("PRICE_ABOVE", threshold="0.65", side="BID")
    table.add(late, 0.5)
    table.add(later, 0.5)
    table._check()
    bbo(table, 1.0, "0.60", "0.70")  # same value: only the new trigger's first evaluation
    assert fired(table) == [(late.trigger_id, 0.6)]
    bbo(table, 2.0, "0.66", "0.70")
    assert fired(table) == [(later.trigger_id, 0.66)]


def test_price_below_mid_is_exact_to_half_a_unit() -> None:
    t = trig("PRICE_BELOW", threshold="0.485")
    table = table_of(t)
    bbo(table, 0.0, "0.48", "0.49")  # mid 0.485: not below
    assert fired(table) == []
    bbo(table, 1.0, "0.48", "0.489999")  # mid 0.4849995
    [event] = table.drain()
    assert event.actual_value == 0.4849995
    assert event.mid_price == 0.4849995
    assert event.best_ask == 0.489999


def test_empty_side_changes_nothing() -> None:
    t = trig("PRICE_ABOVE", threshold="0.50")  # MID: needs both sides
    table = table_of(t)
    bbo(table, 0.0, "0.52", "0.54")
    assert len(fired(table)) == 1
    bbo(table, 1.0, "", "0.54")  # no bid: no mid, state kept
    bbo(table, 2.0, "0.52", "")
    bbo(table, 3.0, "0.52", "0.54")
    assert fired(table) == []


def test_one_move_crosses_several_thresholds_in_order() -> None:
    ts = [trig("PRICE_ABOVE", threshold=f"0.{n}", side="BID") for n in (7, 5, 6, 9)]
    table = table_of(*ts)
    bbo(table, 0.0, "0.40", "0.95")
    bbo(table, 1.0, "0.80", "0.95")
    assert [tid for tid, _ in fired(table)] == [
        ts[1].trigger_id,
        ts[2].trigger_id,
        ts[0].trigger_id,
    ]


def test_cooldown_suppresses_then_allows() -> None:
    t = trig("PRICE_ABOVE", threshold="0.50", side="BID", cooldown_ms=1000)
    table = table_of(t)
    bbo(table, 10.0, "0.51", "0.60")
    assert len(fired(table)) == 1
    bbo(table, 10.25, "0.49", "0.60")
    bbo(table, 10.5, "0.51", "0.60")  # a crossing inside the cooldown: dropped
    assert fired(table) == []
    assert table.suppressed == 1
    bbo(table, 10.75, "0.52", "0.60")  # still above: no new crossing once the cooldown ends
    bbo(table, 11.0, "0.49", "0.60")
    bbo(table, 11.0, "0.51", "0.60")  # exactly cooldown_ms after the fire: allowed
    assert fired(table) == [(t.trigger_id, 0.51)]


# -- SPREAD_NARROW / SPREAD_WIDE ------------------------------------------------------------------
def test_spread_narrow_and_wide_on_absolute_spread() -> None:
    narrow = trig("SPREAD_NARROW", threshold="0.02")
    wide = trig("SPREAD_WIDE", threshold="0.05")
    table = table_of(narrow, wide)
    bbo(table, 0.0, "0.40", "0.43")  # 0.03: neither
    assert fired(table) == []
    bbo(table, 1.0, "0.40", "0.42")  # 0.02: not narrower than 0.02
    assert fired(table) == []
    bbo(table, 2.0, "0.41", "0.42")
    [event] = table.drain()
    assert (event.trigger_id, event.actual_value, event.spread_bps) == (
        narrow.trigger_id,
        0.01,
        241,
    )
    bbo(table, 3.0, "0.30", "0.36")
    assert fired(table) == [(wide.trigger_id, 0.06)]
    bbo(table, 4.0, "0.30", "0.37")
    assert fired(table) == []


# Model: each crossing trigger has a boolean state, false at registration; an evaluation with a
# defined value sets it and fires on false -> true.
KINDS = [("PRICE_ABOVE", "BID"), ("PRICE_BELOW", "ASK"), ("PRICE_ABOVE", "MID"),
         ("PRICE_BELOW", "MID"), ("SPREAD_NARROW", ""), ("SPREAD_WIDE", "")]  # fmt: skip
# Small grids, so that values often land exactly on thresholds (the boundary cases).
THRESHOLDS = st.sampled_from([Fraction(n, 1000) for n in (50, 100, 400, 425, 450, 475, 500, 550)])
PRICES = st.sampled_from([0, 400_000, 450_000, 500_000, 550_000, 600_000])


def model_value(kind: str, side: str, bid: int, ask: int) -> Fraction | None:
    if kind.startswith("SPREAD"):
        return Fraction(ask - bid, 10**6) if bid and ask else None
    if side == "MID":
        return Fraction(bid + ask, 2 * 10**6) if bid and ask else None
    price = bid if side == "BID" else ask
    return Fraction(price, 10**6) if price else None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.sampled_from(KINDS), THRESHOLDS),
            st.tuples(st.just("bbo"), PRICES, PRICES),
            st.tuples(st.just("remove"), st.integers(min_value=0, max_value=40)),
        ),
        max_size=50,
    )
)
def test_sorted_thresholds_equal_evaluating_every_trigger(steps: list[tuple[object, ...]]) -> None:
    table = TriggerTable()
    model: dict[str, tuple[str, str, Fraction, list[bool]]] = {}
    for now, step in enumerate(steps):
        if step[0] == "add":
            (kind, side), threshold = step[1], step[2]
            assert isinstance(threshold, Fraction)
            params = {"side": side} if side else {}
            t = trig(str(kind), threshold=str(float(threshold)), **params)
            table.add(t, float(now))
            model[t.trigger_id] = (str(kind), str(side), threshold, [False])
            continue
        if step[0] == "remove":
            assert isinstance(step[1], int)
            if model:
                tid = list(model)[step[1] % len(model)]
                del model[tid]
                assert table.remove(tid)
                table._check()
            continue
        bid, ask = step[1], step[2]
        assert isinstance(bid, int)
        assert isinstance(ask, int)
        table.on_bbo(A, bid, 1.0, ask, 1.0, VENUE_MS, RECV_US, float(now))
        expected = []
        for tid, (kind, side, threshold, state) in model.items():
            value = model_value(kind, side, bid, ask)
            if value is None:
                continue
            above = kind in ("PRICE_ABOVE", "SPREAD_WIDE")
            holds = value > threshold if above else value < threshold
            if holds and not state[0]:
                expected.append(tid)
            state[0] = holds
        assert sorted(e.trigger_id for e in table.drain()) == sorted(expected)
        table._check()


def test_value_landing_on_a_threshold_then_crossing_it() -> None:
    below = trig("PRICE_BELOW", threshold="0.50", side="ASK")
    above = trig("PRICE_ABOVE", threshold="0.50", side="BID")
    table = table_of(below, above)
    bbo(table, 0.0, "0.60", "0.40")
    assert len(fired(table)) == 2  # both already beyond at their first evaluation
    bbo(table, 1.0, "0.50", "0.50")  # both land on the threshold: neither is beyond
    bbo(table, 2.0, "0.55", "0.45")
    assert sorted(fired(table)) == sorted([(below.trigger_id, 0.45), (above.trigger_id, 0.55)])


@given(st.lists(st.integers(min_value=-5, max_value=5), max_size=30), st.booleans())
def test_crossing_index_items_keep_order_of_equal_keys(keys: list[int], above: bool) -> None:
    index: CrossingIndex[int] = CrossingIndex(0, above)
    for n, key in enumerate(keys):
        index.add(key, n)
    crossed = index.update(100 if not above else -100)
    assert list(crossed) == []
    crossed = index.update(-100 if not above else 100)
    assert list(crossed) == sorted(range(len(keys)), key=lambda n: keys[n])
    for n in range(len(keys)):
        assert index.remove(n)
    assert not index.remove(0)
    assert len(index) == 0


# -- IMBALANCE_BID / IMBALANCE_ASK -----------------------------------------------------------------
def test_imbalance_bid_and_ask_over_top_levels() -> None:
    bid5 = trig("IMBALANCE_BID", threshold="0.6")
    bid1 = trig("IMBALANCE_BID", threshold="0.6", levels=1)
    ask2 = trig("IMBALANCE_ASK", threshold="0.5", levels=2)
    table = table_of(bid5, bid1, ask2)
    book = make_book([("0.48", 300), ("0.47", 100)], [("0.49", 100)])
    bbo(table, 0.0, "0.48", "0.49", book=book)  # top 5: (400-100)/500 = 0.6; top 1: 0.5
    assert fired(table) == [(bid5.trigger_id, 0.6)]
    level(table, book, BID, "0.48", 700.0, 1.0)  # top 1: (700-100)/800 = 0.75
    assert fired(table) == [(bid1.trigger_id, 0.75)]
    level(table, book, ASK, "0.50", 1600.0, 2.0)  # top 2: (800-1700)/2500 = -0.36
    level(table, book, ASK, "0.49", 2300.0, 3.0)  # (800-3900)/4700 = -0.66
    assert [tid for tid, _ in fired(table)] == [ask2.trigger_id]


def test_imbalance_needs_a_book_and_skips_levels_outside_the_top() -> None:
    t = trig("IMBALANCE_BID", threshold="0.5", levels=2)
    table = table_of(t)
    book = make_book([("0.48", 10), ("0.47", 10), ("0.40", 10)], [("0.49", 100)])
    bbo(table, 0.0, "0.48", "0.49")  # no book passed: nothing evaluated
    level(table, book, BID, "0.40", 10_000.0, 1.0)  # third level: outside the top 2
    assert fired(table) == []
    level(table, book, BID, "0.47", 10_000.0, 2.0)
    assert len(fired(table)) == 1


# -- ARBITRAGE ---------------------------------------------------------------------------------
def test_arbitrage_buy_uses_both_tokens_last_quotes() -> None:
    t = trig("ARBITRAGE_BUY", threshold="0.99", paired_asset_id=B)
    table = table_of(t)
    bbo(table, 0.0, "0.46", "0.48", asset=A)  # B not seen yet
    assert fired(table) == []
    bbo(table, 1.0, "0.49", "0.51", asset=B)  # 0.48 + 0.51 = 0.99: not below
    assert fired(table) == []
    bbo(table, 2.0, "0.49", "0.505", asset=B)  # 0.985
    [event] = table.drain()
    assert event.asset_id == A
    assert event.actual_value == 0.985
    assert (event.best_bid, event.best_ask) == (0.46, 0.48)
    assert event.paired_asset_id == B
    assert (event.paired_best_bid, event.paired_best_ask) == (0.49, 0.505)
    assert event.venue_ts_ms == VENUE_MS + 2000  # caused by B's update
    bbo(table, 3.0, "0.46", "0.47", asset=A)  # still below: no new edge
    bbo(table, 4.0, "0.46", "", asset=A)  # A's ask gone: undefined, state kept
    bbo(table, 5.0, "0.46", "0.47", asset=A)
    assert fired(table) == []
    bbo(table, 6.0, "0.46", "0.50", asset=A)  # 1.005: re-armed
    bbo(table, 7.0, "0.46", "0.48", asset=A)
    assert fired(table) == [(t.trigger_id, 0.985)]


def test_arbitrage_sell_on_bids() -> None:
    t = trig("ARBITRAGE_SELL", threshold="1.01", paired_asset_id=A, asset=B)  # home is B
    table = table_of(t)
    bbo(table, 0.0, "0.52", "0.53", asset=A)
    bbo(table, 1.0, "0.49", "0.50", asset=B)  # 1.01: not above
    bbo(table, 2.0, "0.50", "0.51", asset=B)
    assert fired(table) == [(t.trigger_id, 1.02)]


# -- STALE_QUOTE -------------------------------------------------------------------------------
def test_stale_quote_fires_once_per_quiet_spell() -> None:
    t = trig("STALE_QUOTE", threshold_ms=1000)
    table = table_of(t, now=0.0)
    table.check_stale(0.5, 500)
    bbo(table, 0.75, "0.40", "0.60")  # pushes the deadline to 1.75
    table.check_stale(1.0, 1_000)
    table.check_stale(1.5, 1_500)
    assert fired(table) == []
    table.check_stale(1.75, 1_750_000)
    [event] = table.drain()
    assert (event.actual_value, event.threshold) == (1000.0, 1000.0)
    assert (event.venue_ts_ms, event.received_us) == (1_750, 1_750_000)
    assert (event.best_bid, event.best_ask) == (0.4, 0.6)
    table.check_stale(5.0, 5_000_000)  # same quiet spell: no second fire
    assert fired(table) == []
    bbo(table, 6.0, "0.41", "0.60")
    table.check_stale(6.9, 6_900_000)
    assert fired(table) == []
    table.check_stale(7.5, 7_500_000)
    assert fired(table) == [(t.trigger_id, 1500.0)]


def test_stale_quotes_coming_due_together_fire_a_bounded_number_per_check() -> None:
    # A whole feed gone quiet: every STALE_QUOTE is due at once; each check (one per shard
    # flush) fires at most `limit`, so none holds the event loop for long.
    triggers = [trig("STALE_QUOTE", threshold_ms=1000, asset=f"{i:03d}") for i in range(250)]
    table = table_of(*triggers, now=0.0)
    assert table.check_stale(5.0, 0, limit=100) is True
    assert len(fired(table)) == 100
    assert table.check_stale(5.05, 0, limit=100) is True
    assert table.check_stale(5.1, 0, limit=100) is False
    assert len(fired(table)) == 150
    assert table.check_stale(5.2, 0, limit=100) is False


def test_stale_quote_clock_starts_at_registration_and_respects_removal() -> None:
    kept = trig("STALE_QUOTE", threshold_ms=2000)
    dropped = trig("STALE_QUOTE", threshold_ms=1000)
    table = table_of(kept, dropped, now=10.0)
    assert table.remove(dropped.trigger_id)
    table._check()
    table.check_stale(11.5, 0)
    assert fired(table) == []
    table.check_stale(12.0, 0)
    assert fired(table) == [(kept.trigger_id, 2000.0)]


def test_stale_quote_cooldown() -> None:
    t = trig("STALE_QUOTE", threshold_ms=125, cooldown_ms=1000)
    table = table_of(t)
    table.check_stale(0.125, 0)
    assert len(fired(table)) == 1
    bbo(table, 0.25, "0.4", "0.6")
    table.check_stale(0.375, 0)  # stale again, inside the cooldown: dropped
    bbo(table, 1.25, "0.4", "0.6")
    table.check_stale(1.375, 0)
    assert len(fired(table)) == 1
    assert table.suppressed == 1


# -- LARGE_FILL --------------------------------------------------------------------------------
@pytest.fixture
def book() -> OrderBook:
    return make_book([("0.48", 1200.5), ("0.47", 1500)], [("0.49", 310), ("0.50", 2000)])


def test_large_fill_at_the_best_level(book: OrderBook) -> None:
    t = trig("LARGE_FILL", min_size=1000)
    table = table_of(t)
    level(table, book, BID, "0.48", 200.0, 0.0)  # 1000.5 taken off the best bid
    [event] = table.drain()
    assert (event.actual_value, event.side, event.price, event.threshold) == (
        1000.5, "BID", 0.48, 1000.0,
    )  # fmt: skip
    level(table, book, BID, "0.47", 0.0, 1.0)  # 1500 off a deeper level: a cancel
    level(table, book, ASK, "0.50", 100.0, 2.0)  # 1900 off a deeper ask
    level(table, book, ASK, "0.49", 5000.0, 3.0)  # growth
    assert fired(table) == []
    level(table, book, ASK, "0.49", 0.0, 4.0)  # the whole best ask (5000) taken
    assert fired(table) == [(t.trigger_id, 5000.0)]


def test_large_fill_any_level_and_side(book: OrderBook) -> None:
    anywhere = trig("LARGE_FILL", min_size=800, any_level=True, side="BID")
    asks = trig("LARGE_FILL", min_size=800, side="ASK")
    table = table_of(anywhere, asks)
    level(table, book, BID, "0.47", 50.0, 0.0)
    assert fired(table) == [(anywhere.trigger_id, 1450.0)]
    level(table, book, ASK, "0.50", 0.0, 1.0)  # a deeper ask: the ASK trigger is top-only
    level(table, book, BID, "0.48", 0.5, 2.0)  # the best bid: only the BID trigger looks
    assert fired(table) == [(anywhere.trigger_id, 1200.0)]


def test_large_fill_is_per_update_with_cooldown(book: OrderBook) -> None:
    t = trig("LARGE_FILL", min_size=100, cooldown_ms=500)
    table = table_of(t)
    level(table, book, BID, "0.48", 1000.5, 0.0)
    level(table, book, BID, "0.48", 800.5, 0.25)
    level(table, book, BID, "0.48", 600.5, 0.5)
    assert [value for _, value in fired(table)] == [200.0, 200.0]
