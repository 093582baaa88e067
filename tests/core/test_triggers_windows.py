"""Windowed trigger types and trade types, and the sliding windows they are built on.

Times are multiples of 1/4 s so that window edges are exact in binary floats.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polymon.core.book import ASK, BID
from polymon.core.triggers import TriggerTable
from polymon.core.triggers.windows import CountWindow, ExtremaWindow, TwoWindowSum
from tests.core.test_triggers import RECV_US, VENUE_MS, A, bbo, fired, table_of, trig
from tests.core.test_triggers_book import level, make_book


def trade(
    table: TriggerTable, now: float, size: float, price: int = 500_000, side: str = "BUY"
) -> None:
    table.on_trade(A, price, size, side, VENUE_MS, RECV_US, now)


# -- SIZE_SPIKE --------------------------------------------------------------------------------
def test_size_spike_absolute_size_is_an_edge() -> None:
    t = trig("SIZE_SPIKE", min_size=1000, side="BID")
    table = table_of(t)
    bbo(table, 0.0, "0.40", "0.60", bid_size=500, ask_size=5000)
    assert fired(table) == []
    bbo(table, 1.0, "0.40", "0.60", bid_size=1500)
    [event] = table.drain()
    assert (event.actual_value, event.threshold, event.side, event.price) == (
        1500,
        1000,
        "BID",
        0.4,
    )
    bbo(table, 2.0, "0.40", "0.60", bid_size=1600)
    assert fired(table) == []
    bbo(table, 3.0, "0.40", "0.60", bid_size=100)
    bbo(table, 4.0, "0.41", "0.60", bid_size=2000)
    assert fired(table) == [(t.trigger_id, 2000)]


def test_size_spike_multiplier_of_the_window_mean() -> None:
    t = trig("SIZE_SPIKE", multiplier=3, window_ms=1000, side="ASK")
    table = table_of(t)
    bbo(table, 0.0, "0.40", "0.60", ask_size=1000)  # no history: no multiple of anything
    bbo(table, 0.5, "0.40", "0.60", ask_size=100)
    bbo(table, 0.75, "0.40", "0.60", ask_size=100)
    assert fired(table) == []
    bbo(table, 1.0, "0.40", "0.60", ask_size=1200)  # mean of 1000, 100, 100 = 400: 3x = 1200
    [event] = table.drain()
    assert (event.actual_value, event.reference_value, event.threshold) == (1200, 400, 1200)
    assert event.window_ms == 1000
    bbo(table, 1.25, "0.40", "0.60", ask_size=100)  # re-arms
    bbo(table, 1.5, "0.40", "0.60", ask_size=1000)  # mean of 100, 100, 1200, 100 = 375
    assert fired(table) == []
    bbo(table, 3.0, "0.40", "0.60", ask_size=1000)  # every earlier sample has left the window
    assert fired(table) == []


def test_size_spike_both_sides_fire_separately() -> None:
    t = trig("SIZE_SPIKE", min_size=1000)
    table = table_of(t)
    bbo(table, 0.0, "0.40", "0.60", bid_size=2000, ask_size=3000)
    assert [(e.side, e.actual_value) for e in table.drain()] == [("BID", 2000), ("ASK", 3000)]
    bbo(table, 1.0, "0.40", "", bid_size=2000)  # empty ask: no sample, ask state kept
    bbo(table, 2.0, "0.40", "0.60", bid_size=2000, ask_size=3000)
    assert fired(table) == []


# -- PRICE_MOVE --------------------------------------------------------------------------------
def test_price_move_up_and_down_within_the_window() -> None:
    t = trig("PRICE_MOVE", pct=10, window_ms=1000)
    table = table_of(t)
    bbo(table, 0.0, "0.49", "0.51")  # mid 0.50
    bbo(table, 0.5, "0.53", "0.55")  # +8 %
    assert fired(table) == []
    bbo(table, 1.0, "0.54", "0.56")  # +10 % from 0.50, taken exactly window_ms ago
    [event] = table.drain()
    assert (event.actual_value, event.reference_value, event.threshold) == (10.0, 0.5, 10.0)
    bbo(table, 1.25, "0.55", "0.57")  # +3.7 % from 0.54, the low of [0.25, 1.25]: re-arms
    assert fired(table) == []
    bbo(table, 3.0, "0.55", "0.57")  # alone in its window
    bbo(table, 3.5, "0.495", "0.513")  # mid 0.504: -10 % from 0.56
    [event] = table.drain()
    assert (event.actual_value, event.reference_value) == (-10.0, 0.56)


def test_price_move_forgets_samples_older_than_the_window() -> None:
    t = trig("PRICE_MOVE", pct="10", window_ms=1000, side="BID")
    table = table_of(t)
    bbo(table, 0.0, "0.50", "0.60")
    bbo(table, 1.25, "0.60", "0.70")  # +20 %, but 0.50 is 1.25 s old
    bbo(table, 1.5, "", "0.70")  # no bid: no sample
    assert fired(table) == []


# -- QUOTE_VELOCITY ------------------------------------------------------------------------------
def test_quote_velocity_counts_updates_in_the_window() -> None:
    t = trig("QUOTE_VELOCITY", count=3, window_ms=1000)
    table = table_of(t)
    bbo(table, 0.0, "0.40", "0.60")
    bbo(table, 0.5, "0.41", "0.60")
    assert fired(table) == []
    bbo(table, 1.0, "0.42", "0.60")  # three updates within [0, 1]
    [event] = table.drain()
    assert (event.actual_value, event.reference_value, event.threshold) == (3, 1000.0, 3)
    bbo(table, 1.25, "0.43", "0.60")  # still fast: no new edge
    bbo(table, 3.0, "0.44", "0.60")  # slow again
    bbo(table, 3.25, "0.45", "0.60")
    assert fired(table) == []
    bbo(table, 3.5, "0.46", "0.60")
    [event] = table.drain()
    assert event.reference_value == 500.0


def test_quote_velocity_cooldown() -> None:
    t = trig("QUOTE_VELOCITY", count=2, window_ms=250, cooldown_ms=2000)
    table = table_of(t)
    for now in (0.0, 0.25, 1.0, 1.25, 2.0, 2.25):
        bbo(table, now, "0.40", "0.60")
    assert [e.venue_ts_ms - VENUE_MS for e in table.drain()] == [250, 2250]
    assert table.suppressed == 1


# -- IMBALANCE_SHIFT -----------------------------------------------------------------------------
def test_imbalance_shift_within_the_window() -> None:
    t = trig("IMBALANCE_SHIFT", delta="0.5", window_ms=1000, levels=1)
    table = table_of(t)
    book = make_book([("0.48", 100)], [("0.52", 100)])
    bbo(table, 0.0, "0.48", "0.52", book=book)  # 0
    level(table, book, BID, "0.48", 300.0, 0.5)  # 0.5
    [event] = table.drain()
    assert (event.actual_value, event.reference_value, event.levels) == (0.5, 0.0, 1)
    level(table, book, BID, "0.48", 100.0, 2.0)  # 0, and the earlier samples are gone
    assert fired(table) == []
    level(table, book, ASK, "0.52", 300.0, 2.5)  # -0.5
    assert fired(table) == [(t.trigger_id, -0.5)]


# -- LARGE_TRADE ---------------------------------------------------------------------------------
def test_large_trade_by_size_every_trade() -> None:
    t = trig("LARGE_TRADE", min_size=1000)
    table = table_of(t)
    trade(table, 0.0, 999.999999)
    assert fired(table) == []
    trade(table, 1.0, 1000.0)
    trade(table, 1.0, 2500.5, side="SELL")
    events = table.drain()
    assert [(e.actual_value, e.size, e.side, e.price) for e in events] == [
        (1000.0, 1000.0, "BUY", 0.5),
        (2500.5, 2500.5, "SELL", 0.5),
    ]


def test_large_trade_by_notional_and_side() -> None:
    t = trig("LARGE_TRADE", min_notional=500, side="SELL", cooldown_ms=1000)
    table = table_of(t)
    trade(table, 0.0, 999.998, side="SELL")  # 499.999
    trade(table, 0.0, 5000.0, side="BUY")
    assert fired(table) == []
    trade(table, 1.0, 1000.0, side="SELL")
    [event] = table.drain()
    assert (event.actual_value, event.threshold, event.size) == (500.0, 500.0, 1000.0)
    trade(table, 1.5, 9000.0, side="SELL")  # inside the cooldown
    assert fired(table) == []


# -- VOLUME_SPIKE --------------------------------------------------------------------------------
def test_volume_spike_absolute_volume() -> None:
    t = trig("VOLUME_SPIKE", min_volume=1000, window_ms=1000)
    table = table_of(t)
    trade(table, 0.0, 400)
    trade(table, 0.5, 500)
    assert fired(table) == []
    trade(table, 1.0, 200)  # 1100 within [0, 1]
    assert fired(table) == [(t.trigger_id, 1100.0)]
    trade(table, 1.25, 100)  # 800 within [0.25, 1.25]: re-arms
    assert fired(table) == []
    trade(table, 1.5, 300)  # 1100 within [0.5, 1.5]
    assert fired(table) == [(t.trigger_id, 1100.0)]


def test_volume_spike_multiple_of_the_previous_window() -> None:
    t = trig("VOLUME_SPIKE", multiplier=3, window_ms=1000)
    table = table_of(t)
    trade(table, 0.0, 100)  # no previous volume: no multiple
    trade(table, 1.5, 100)  # current 100, previous 100
    assert fired(table) == []
    trade(table, 1.75, 200)  # current 300 = 3 × 100
    [event] = table.drain()
    assert (event.actual_value, event.reference_value, event.threshold) == (300.0, 100.0, 300.0)


# -- windows against naive models ------------------------------------------------------------------
STEPS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=6), st.integers(min_value=-50, max_value=50)),
    max_size=60,
)
SPANS = st.integers(min_value=1, max_value=12).map(lambda n: n / 4)


@given(STEPS, SPANS)
def test_extrema_window_equals_min_max_of_the_window(
    steps: list[tuple[int, int]], span: float
) -> None:
    window: ExtremaWindow[int] = ExtremaWindow()
    samples: list[tuple[float, int]] = []
    now = 0.0
    for gap, value in steps:
        now += gap / 4
        low, high = window.update(now, value, now - span)
        samples.append((now, value))
        inside = [v for t, v in samples if t >= now - span]
        assert (low, high) == (window.low, window.high) == (min(inside), max(inside))


@given(STEPS, SPANS)
def test_two_window_sum_equals_naive_sums(steps: list[tuple[int, int]], span: float) -> None:
    windows = TwoWindowSum(span)
    samples: list[tuple[float, int]] = []
    now = 0.0
    for gap, value in steps:
        now += gap / 4
        windows.advance(now)
        windows.add(now, abs(value))
        samples.append((now, abs(value)))
        current = sum(v for t, v in samples if t >= now - span)
        previous = sum(v for t, v in samples if now - 2 * span <= t < now - span)
        assert (windows.current.total, windows.previous.total) == (current, previous)
        assert len(windows.current) + len(windows.previous) <= len(samples)


@given(STEPS, SPANS, st.integers(min_value=1, max_value=5))
def test_count_window_equals_naive_count(
    steps: list[tuple[int, int]], span: float, count: int
) -> None:
    window = CountWindow(count)
    times: list[float] = []
    now = 0.0
    for gap, _value in steps:
        now += gap / 4
        window.push(now)
        times.append(now)
        assert window.reached(now - span) == (sum(t >= now - span for t in times) >= count)
        assert len(window.times) <= count
