"""A market's recent trades and gap history on the real embedded engine."""

from __future__ import annotations

import pytest

from polymon.core.activity import GapRecord, Trade
from polymon.errors import BadRequest
from polymon.storage import activity
from polymon.storage.rows import GAPS, TRADES
from polymon.storage.store import Store
from tests.storage.helpers import ASSET, now_us
from tests.storage.test_queries import MIN_MS, OFFLINE, OTHER, gap, minute_ms, put, trade


async def test_recent_trades_newest_first_distinct_and_in_window(store: Store) -> None:
    t = minute_ms()
    await put(store, TRADES, [
        trade("a", t + 100, 500_000, "10", "BUY", 1),
        trade("b", t + 3100, 520_000, "5.5", "SELL", 2),
        trade("c", t + 3100, 530_000, "1", "BUY", 3),  # same time as b: ties by id, descending
        trade("old", t - 25 * 60 * MIN_MS, 900_000, "1000", "BUY", 4),  # outside 24 h
        trade("x", t + 200, 900_000, "1000", "BUY", 5, OTHER),  # another asset
    ])  # fmt: skip
    await put(store, TRADES, [trade("a", t + 100, 500_000, "10", "BUY", 1)])  # replayed
    got = await activity.recent_trades(store, ASSET, 10, 24.0, now_us())
    assert [x.trade_id for x in got] == ["c", "b", "a"]
    assert got[1] == Trade(
        ts_us=(t + 3100) * 1000, received_us=(t + 3100) * 1000 + 9, trade_id="b", side="SELL",
        price="0.52", size="5.5", fee_rate_bps=0, transaction_hash="0xabc",
    )  # fmt: skip
    assert [x.trade_id for x in await activity.recent_trades(store, ASSET, 2, 24.0, now_us())] == [
        "c", "b",
    ]  # fmt: skip
    assert await activity.recent_trades(store, "nothing", 10, 24.0, now_us()) == []


async def test_gap_history_lists_resolved_and_open_gaps_overlapping_the_window(
    store: Store,
) -> None:
    now = now_us() // 1000
    await put(store, GAPS, [
        gap("silence", now - 30 * MIN_MS),  # open at first ...
        gap("hash_mismatch", now - 10 * MIN_MS),  # still open
        gap("disconnect", now - 70 * MIN_MS, now - 55 * MIN_MS),  # straddles the start
        gap("silence", now - 180 * MIN_MS, now - 120 * MIN_MS),  # over before the window
        gap("silence", now - 30 * MIN_MS, asset=OTHER),
    ])  # fmt: skip
    await put(store, GAPS, [gap("silence", now - 30 * MIN_MS, now - 29 * MIN_MS)])  # ... resolved
    got = await activity.gap_history(store, ASSET, 100, 1.0, now * 1000)
    assert got == [
        GapRecord(reason="hash_mismatch", detected_at_us=(now - 10 * MIN_MS) * 1000,
                  resolved_at_us=None, resolution="", duration_ms=None, detail=""),
        GapRecord(reason="silence", detected_at_us=(now - 30 * MIN_MS) * 1000,
                  resolved_at_us=(now - 29 * MIN_MS) * 1000, resolution="rest_snapshot",
                  duration_ms=MIN_MS, detail=""),
        GapRecord(reason="disconnect", detected_at_us=(now - 70 * MIN_MS) * 1000,
                  resolved_at_us=(now - 55 * MIN_MS) * 1000, resolution="rest_snapshot",
                  duration_ms=15 * MIN_MS, detail=""),
    ]  # fmt: skip
    assert len(await activity.gap_history(store, ASSET, 1, 1.0, now * 1000)) == 1
    assert len(await activity.gap_history(store, ASSET, 100, 4.0, now * 1000)) == 4


@pytest.mark.parametrize(
    ("limit", "hours", "named"), [(0, 1.0, "limit"), (1001, 1.0, "limit"), (10, 0.0, "hours")]
)
async def test_bad_arguments_are_refused_before_any_query(
    limit: int, hours: float, named: str
) -> None:
    for query in (activity.recent_trades, activity.gap_history):
        with pytest.raises(BadRequest, match=named):
            await query(OFFLINE, ASSET, limit, hours, now_us())
