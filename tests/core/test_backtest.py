"""BacktestTally: fires and cooldown-suppressed fires per UTC day, the first events kept."""

from __future__ import annotations

from polymon.core.backtest import BacktestTally, DayCount, utc_day
from polymon.core.triggers import TriggerEvent

DAY_US = 86_400_000_000
JAN_1 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def event(received_us: int) -> TriggerEvent:
    return TriggerEvent(
        trigger_id="trig_backtest", trigger_type="PRICE_ABOVE", asset_id="1", condition_id="0x",
        fired_at=received_us, total_latency_us=0, processing_latency_us=0, best_bid=0.5,
        best_ask=0.6, mid_price=0.55, spread_bps=1818, threshold=0.5, actual_value=0.55,
        venue_ts_ms=received_us // 1000, received_us=received_us,
    )  # fmt: skip


def test_days_are_utc_dates() -> None:
    assert utc_day(JAN_1) == "2026-01-01"
    assert utc_day(JAN_1 - 1) == "2025-12-31"
    assert utc_day(JAN_1 + DAY_US + 5) == "2026-01-02"


def test_counts_per_day_and_keeps_the_first_events() -> None:
    tally = BacktestTally(max_events=2)
    tally.add_fired([event(JAN_1 + 1), event(JAN_1 + 2)])
    tally.add_suppressed(3, JAN_1 + 3)
    tally.add_fired([event(JAN_1 + 2 * DAY_US)])
    tally.add_suppressed(0, JAN_1 + DAY_US)  # nothing suppressed: no day of its own
    tally.evaluated = 10
    result = tally.result("PRICE_ABOVE", "1", "bbo", JAN_1, JAN_1 + 3 * DAY_US)
    assert (result.fired, result.suppressed, result.evaluated) == (3, 3, 10)
    assert result.per_day == [
        DayCount(day="2026-01-01", fired=2, suppressed=3),
        DayCount(day="2026-01-03", fired=1, suppressed=0),
    ]
    assert [e.received_us for e in result.events] == [JAN_1 + 1, JAN_1 + 2]
    assert result.events_truncated


def test_no_events_kept_when_none_are_asked_for() -> None:
    tally = BacktestTally(max_events=0)
    tally.add_fired([event(JAN_1)])
    result = tally.result("PRICE_ABOVE", "1", "recordings", None, None)
    assert result.events == []
    assert result.fired == 1
    assert result.events_truncated
