"""ShardState, scripted: integrity state machine, resync, gaps, rows and the served view."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from polymon.core.asset import ROW_STREAMS, ShardOutput, trade_id
from polymon.core.book import ASK, BID
from polymon.core.model import AssetMeta, BookStatus, GapEvent, Phase
from polymon.core.shard import Policy, ShardState
from polymon.errors import BadNumber
from polymon.polymarket.dispatch import NO_SIDE, SIDES
from polymon.storage.rows import TABLES

A = "1001"
OTHER = "2002"
MARKET = "0xmarket"

# Wire order, as the venue sends it: bids ascending, asks descending (best last).
BIDS = [("0.46", "100"), ("0.47", "10"), ("0.48", "1200.5")]
ASKS = [("0.51", "5"), ("0.50", "20"), ("0.49", "310")]


def make(**policy: Any) -> ShardState:
    state = ShardState(Policy(**policy))
    state.track(AssetMeta(asset_id=A, market=MARKET, tick_size="0.01", min_order_size="5"))
    return state


def snapshot(
    state: ShardState,
    *,
    ts: int = 1000,
    now: float = 0.0,
    bids: list[tuple[str, str]] | None = None,
    asks: list[tuple[str, str]] | None = None,
    source: str = "ws_snapshot",
    asset: str = A,
) -> None:
    state.on_book(
        asset,
        MARKET,
        ts,
        "",
        BIDS if bids is None else bids,
        ASKS if asks is None else asks,
        now=now,
        wall_us=wall(now),
        source=source,
    )


def delta(
    state: ShardState,
    side: str,
    price: str,
    size: str,
    *,
    ts: int = 1001,
    now: float = 1.0,
    best_bid: str = "",
    best_ask: str = "",
    asset: str = A,
) -> None:
    state.on_level(
        asset,
        SIDES.get(side, NO_SIDE),  # the wire's word, as the venue adapter converts it
        price,
        size,
        (MARKET, ts, now, wall(now)),
        best_bid=best_bid,
        best_ask=best_ask,
    )


def wall(now: float) -> int:
    return 1_700_000_000_000_000 + int(now * 1_000_000)


def status(state: ShardState, now: float, asset: str = A) -> BookStatus:
    return state.status(state.assets[asset], now)


def book_levels(state: ShardState, asset: str = A) -> tuple[list[str], list[str]]:
    book = state.assets[asset].book
    return (
        [f"{p}@{s}" for p, s, _ in book.levels(BID)],
        [f"{p}@{s}" for p, s, _ in book.levels(ASK)],
    )


def gap_summary(state: ShardState) -> list[tuple[str, str, bool]]:
    return [(g.reason, g.how, g.open) for g in state.out.gaps]


def mismatch(state: ShardState, *, ts: int = 1001, now: float = 1.0) -> None:
    """A delta deep in the book whose venue best bid disagrees with ours (0.48)."""
    delta(state, "BUY", "0.45", "1", ts=ts, now=now, best_bid="0.47", best_ask="0.49")


# -- status -------------------------------------------------------------------------------


def test_status_stale_before_snapshot_fresh_after() -> None:
    state = make()
    assert state.assets[A].phase == Phase.AWAITING
    assert status(state, 0.0) == BookStatus.STALE
    snapshot(state, now=10.0)
    assert state.assets[A].phase == Phase.SYNCED
    assert status(state, 10.0) == BookStatus.FRESH


def test_stale_after_stale_after_secs() -> None:
    state = make(stale_after_secs=5.0)
    snapshot(state, now=100.0)
    assert status(state, 105.0) == BookStatus.FRESH
    assert status(state, 105.001) == BookStatus.STALE
    delta(state, "BUY", "0.46", "101", now=106.0)  # any update refreshes it
    assert status(state, 110.0) == BookStatus.FRESH
    assert status(state, 111.5) == BookStatus.STALE


def test_default_stale_window_is_600_secs() -> None:
    state = make()
    snapshot(state, now=0.0)
    assert status(state, 600.0) == BookStatus.FRESH
    assert status(state, 600.5) == BookStatus.STALE


# -- what is skipped ----------------------------------------------------------------------


def test_untracked_assets_are_skipped_and_counted() -> None:
    state = make()
    snapshot(state, asset=OTHER)
    delta(state, "BUY", "0.4", "1", asset=OTHER)
    state.on_trade(OTHER, "0.5", "1", "BUY", "1", wall_us=1)
    state.on_tick_size_change(OTHER, "0.001", now=1.0)
    state.on_best_bid_ask(OTHER, "0.1", "0.2")
    state.on_disconnect([OTHER], "disconnect", wall_us=1)
    assert state.counts["skipped_untracked"] == 4
    assert OTHER not in state.assets
    assert state.view(OTHER, 0.0) is None
    out = state.out
    assert (out.bbo, out.levels, out.trades, out.gaps) == ([], [], [], [])


def test_untracked_snapshot_with_bad_numbers_is_still_just_skipped() -> None:
    state = make()
    snapshot(state, asset=OTHER, bids=[("nan", "1")])
    assert state.counts["skipped_untracked"] == 1


def test_deltas_before_the_first_snapshot_are_ignored() -> None:
    state = make()
    delta(state, "BUY", "0.48", "10")
    delta(state, "SELL", "0.49", "10")
    assert state.counts["skipped_awaiting_snapshot"] == 2
    assert len(state.assets[A].book) == 0
    assert state.out.levels == []
    assert state.out.bbo == []
    snapshot(state)
    delta(state, "BUY", "0.48", "11")
    assert state.counts["skipped_awaiting_snapshot"] == 2
    assert len(state.out.levels) == 1


def test_tick_size_change_starts_an_epoch_until_the_next_book() -> None:
    state = make()
    snapshot(state, now=0.0)
    state.on_tick_size_change(A, "0.001", now=5.0)
    asset = state.assets[A]
    assert asset.phase == Phase.EPOCH
    assert asset.tick_size == "0.001"
    assert state.counts["tick_size_change"] == 1
    assert status(state, 5.0) == BookStatus.RESYNCING
    before = book_levels(state)
    delta(state, "BUY", "0.485", "3", ts=1002, now=5.5)
    assert state.counts["skipped_awaiting_snapshot"] == 1
    assert book_levels(state) == before
    view = state.view(A, 5.5)
    assert view is not None
    assert view.tick_size == "0.001"
    # The post-change book ends the epoch.
    snapshot(state, ts=1003, now=6.0, bids=[("0.485", "3")], asks=[("0.487", "4")])
    assert asset.phase == Phase.SYNCED
    assert state.take_resyncs(100.0) == []
    delta(state, "BUY", "0.486", "1", ts=1004, now=6.5)
    assert book_levels(state)[0] == ["0.486@1", "0.485@3"]


def test_late_post_epoch_book_is_fetched_after_the_grace() -> None:
    state = make(epoch_grace_secs=2.0)
    snapshot(state, now=0.0)
    state.on_tick_size_change(A, "0.001", now=5.0)
    assert state.take_resyncs(6.9) == []
    assert state.assets[A].phase == Phase.EPOCH
    assert state.take_resyncs(7.0) == [A]
    assert state.assets[A].phase == Phase.RESYNCING
    snapshot(state, ts=2000, now=8.0, source="rest_snapshot")
    assert state.assets[A].phase == Phase.SYNCED
    assert state.counts["rest_snapshot_unneeded"] == 0


# -- gaps and resync ----------------------------------------------------------------------


def test_agreeing_bbo_opens_no_gap() -> None:
    state = make()
    snapshot(state)
    delta(state, "BUY", "0.47", "11", best_bid="0.48", best_ask="0.49")
    delta(state, "SELL", "0.49", "0", ts=1002, best_bid="0.48", best_ask="0.5")
    assert state.out.gaps == []
    assert state.assets[A].phase == Phase.SYNCED


def test_bbo_mismatch_opens_a_gap_and_requests_a_resync() -> None:
    state = make(mode="resync")
    snapshot(state, now=0.0)
    mismatch(state, now=10.0)
    assert state.counts["bbo_mismatch"] == 1
    (gap,) = state.out.gaps
    assert (gap.asset_id, gap.market, gap.reason, gap.open) == (A, MARKET, "bbo_mismatch", True)
    assert gap.detected_us == wall(10.0)
    assert gap.detail == "venue 0.47/0.49"
    assert state.assets[A].phase == Phase.RESYNCING
    assert status(state, 10.0) == BookStatus.RESYNCING
    assert state.take_resyncs(10.0) == [A]


def test_take_resyncs_at_most_once_per_asset_per_interval() -> None:
    state = make(mode="resync", resync_min_interval_secs=30.0)
    snapshot(state, now=0.0)
    mismatch(state, now=10.0)
    assert state.take_resyncs(10.0) == [A]
    assert state.take_resyncs(11.0) == []  # already taken
    state.resync_failed(A)
    assert state.counts["resync_failed"] == 1
    assert state.take_resyncs(20.0) == []  # due again, but within the interval
    assert state.take_resyncs(39.99) == []
    assert state.take_resyncs(40.0) == [A]
    assert state.take_resyncs(80.0) == []  # not due any more
    snapshot(state, ts=1100, now=41.0, source="rest_snapshot")
    assert state.assets[A].phase == Phase.SYNCED
    # A new suspicion right after: the fetch waits for the interval since the last one.
    mismatch(state, ts=1101, now=45.0)
    assert state.assets[A].phase == Phase.RESYNCING
    assert state.take_resyncs(45.0) == []
    assert state.take_resyncs(69.9) == []
    assert state.take_resyncs(70.0) == [A]


def test_resync_failed_is_ignored_unless_resyncing() -> None:
    state = make()
    snapshot(state)
    state.resync_failed(A)
    state.resync_failed(OTHER)
    assert state.counts["resync_failed"] == 0
    assert state.take_resyncs(1000.0) == []


def test_rest_snapshot_resolves_the_gap_and_replays_newer_buffered_deltas() -> None:
    state = make(mode="resync")
    snapshot(state, ts=1000, now=0.0)
    mismatch(state, ts=1001, now=1.0)
    assert state.take_resyncs(1.0) == [A]
    # Deltas while the REST request is in flight: applied and buffered.
    delta(state, "BUY", "0.44", "7", ts=1002, now=2.0)  # older than the REST book: dropped
    delta(state, "SELL", "0.52", "9", ts=1005, now=3.0)  # newer: replayed
    delta(state, "BUY", "0.46", "0", ts=1006, now=4.0)  # newer: replayed (removes 0.46)
    assert state.counts["resync_replayed"] == 0
    rest_bids = [("0.46", "100"), ("0.47", "10"), ("0.48", "1200.5")]
    rest_asks = [("0.50", "20"), ("0.49", "310")]
    snapshot(state, ts=1004, now=5.0, bids=rest_bids, asks=rest_asks, source="rest_snapshot")
    assert book_levels(state) == (
        ["0.48@1200.5", "0.47@10"],
        ["0.49@310", "0.50@20", "0.52@9"],
    )
    state.assets[A].book._check()
    assert state.counts["resync_replayed"] == 2
    assert state.assets[A].buffer == []
    assert state.assets[A].phase == Phase.SYNCED
    assert state.assets[A].timestamp_ms == 1006
    assert status(state, 5.0) == BookStatus.FRESH
    opened, resolved = state.out.gaps
    assert (opened.reason, opened.open) == ("bbo_mismatch", True)
    assert (resolved.reason, resolved.how, resolved.open) == (
        "bbo_mismatch",
        "rest_snapshot",
        False,
    )
    assert resolved.resolved_us == wall(5.0)
    assert resolved.detected_us == opened.detected_us
    assert state.assets[A].gap is None


def test_resync_buffer_is_bounded() -> None:
    state = make(mode="resync", resync_buffer_messages=2)
    snapshot(state)
    mismatch(state)
    for i in range(4):
        delta(state, "BUY", "0.3", str(i + 1), ts=1002 + i)
    assert len(state.assets[A].buffer) == 2
    assert state.counts["resync_buffer_full"] == 2


def test_rest_snapshot_when_not_resyncing_is_ignored_and_counted() -> None:
    state = make()
    snapshot(state, source="rest_snapshot")  # awaiting the first WS book: not asked for
    assert state.assets[A].phase == Phase.AWAITING
    snapshot(state, ts=1000)
    before = book_levels(state)
    rows = (len(state.out.bbo), len(state.out.levels))
    snapshot(state, ts=2000, bids=[("0.1", "1")], asks=[("0.9", "1")], source="rest_snapshot")
    assert state.counts["rest_snapshot_unneeded"] == 2
    assert book_levels(state) == before
    assert state.assets[A].timestamp_ms == 1000
    assert (len(state.out.bbo), len(state.out.levels)) == rows
    assert state.out.gaps == []


def test_mode_off_checks_nothing() -> None:
    state = make(mode="off")
    snapshot(state)
    mismatch(state)
    delta(state, "BUY", "0.50", "1", ts=1002)  # crosses the book
    assert state.assets[A].book.crossed
    snapshot(state, ts=1003, bids=[("0.1", "1")], asks=[("0.9", "1")])  # disagreeing checkpoint
    assert state.out.gaps == []
    assert state.counts["bbo_mismatch"] == 0
    assert state.counts["crossed"] == 0
    assert state.assets[A].phase == Phase.SYNCED
    assert state.take_resyncs(1000.0) == []


def test_mode_observe_records_but_keeps_serving() -> None:
    state = make(mode="observe")
    snapshot(state, now=0.0)
    mismatch(state, ts=1001, now=1.0)
    mismatch(state, ts=1002, now=2.0)
    assert state.counts["bbo_mismatch"] == 2
    assert gap_summary(state) == [("bbo_mismatch", "", True)]  # one open gap, not two
    assert state.assets[A].phase == Phase.SYNCED
    assert status(state, 2.0) == BookStatus.FRESH
    assert state.take_resyncs(1000.0) == []
    delta(state, "SELL", "0.52", "1", ts=1003, now=3.0)  # deltas keep applying
    assert book_levels(state)[1][-1] == "0.52@1"
    snapshot(state, ts=1004, now=4.0)
    assert gap_summary(state) == [
        ("bbo_mismatch", "", True),
        ("bbo_mismatch", "ws_snapshot", False),
    ]


def test_crossed_delta_is_detected() -> None:
    state = make(mode="resync")
    snapshot(state)
    delta(state, "BUY", "0.49", "5", ts=1002, now=2.0)  # bid at the best ask
    assert state.assets[A].book.crossed
    assert state.counts["crossed"] == 1
    (gap,) = state.out.gaps
    assert (gap.reason, gap.detail) == ("crossed", "after delta")
    assert state.assets[A].phase == Phase.RESYNCING
    assert state.take_resyncs(2.0) == [A]


def test_crossed_snapshot_is_detected() -> None:
    state = make(mode="resync")
    snapshot(state, bids=[("0.50", "1")], asks=[("0.49", "1")])
    assert state.counts["crossed"] == 1
    (gap,) = state.out.gaps
    assert (gap.reason, gap.detail, gap.open) == ("crossed", "after snapshot", True)
    assert state.assets[A].phase == Phase.RESYNCING


def test_disagreeing_checkpoint_book_is_a_resolved_gap() -> None:
    state = make()
    snapshot(state, ts=1000, now=0.0)
    snapshot(state, ts=1500, now=1.0)  # identical: no gap
    assert state.out.gaps == []
    snapshot(state, ts=2000, now=2.0, bids=[("0.47", "10")])
    assert gap_summary(state) == [
        ("checkpoint_mismatch", "", True),
        ("checkpoint_mismatch", "ws_snapshot", False),
    ]
    assert state.out.gaps[0].detail == "snapshot ts 2000"
    assert state.assets[A].phase == Phase.SYNCED


def test_a_checkpoint_equal_in_value_keeps_the_venue_strings_without_a_gap() -> None:
    state = make()
    snapshot(state, ts=1000, now=0.0)
    # The same levels, written differently: no gap, and the book now holds the new strings.
    snapshot(state, ts=1500, now=1.0, bids=[*BIDS[:2], ("0.480", "1200.50")])
    assert state.out.gaps == []
    view = state.view(A, 1.0)
    assert view is not None
    assert (view.bids[0].price, view.bids[0].size, view.best_bid) == ("0.480", "1200.50", "0.480")
    assert state.level_updates == 2 * (len(BIDS) + len(ASKS))


def test_disconnect_marks_books_stale_until_the_next_snapshot() -> None:
    state = make()
    state.track(AssetMeta(asset_id=OTHER, market="0xother"))
    snapshot(state, now=0.0)
    state.on_disconnect([A, OTHER, "untracked"], "disconnect", wall_us=wall(3.0))
    assert status(state, 3.0) == BookStatus.STALE
    assert status(state, 3.0, OTHER) == BookStatus.STALE
    # Only the book that had a snapshot has a gap: the other never had data to lose.
    assert gap_summary(state) == [("disconnect", "", True)]
    assert state.out.gaps[0].detected_us == wall(3.0)
    delta(state, "BUY", "0.48", "1", ts=1001, now=4.0)
    assert state.counts["skipped_awaiting_snapshot"] == 1
    snapshot(state, ts=1100, now=5.0)
    assert status(state, 5.0) == BookStatus.FRESH
    assert gap_summary(state) == [("disconnect", "", True), ("disconnect", "ws_snapshot", False)]
    assert state.out.gaps[1].resolved_us == wall(5.0)


def test_disconnect_while_resyncing_cancels_the_fetch() -> None:
    state = make(mode="resync")
    snapshot(state)
    mismatch(state)
    state.on_disconnect([A], "silence", wall_us=wall(2.0))
    assert state.assets[A].phase == Phase.AWAITING
    assert state.take_resyncs(1000.0) == []
    # The reply to a fetch already in flight is no longer wanted.
    snapshot(state, ts=1002, now=3.0, source="rest_snapshot")
    assert state.counts["rest_snapshot_unneeded"] == 1
    # The gap that was already open is the one that stays open (no second gap).
    assert gap_summary(state) == [("bbo_mismatch", "", True)]


def test_untrack_closes_an_open_gap() -> None:
    state = make()
    snapshot(state)
    state.on_disconnect([A], "disconnect", wall_us=wall(1.0))
    state.untrack(A, wall(2.0))
    assert A not in state.assets
    assert gap_summary(state) == [("disconnect", "", True), ("disconnect", "unsubscribed", False)]


def test_gap_events_are_new_records_not_mutations() -> None:
    state = make()
    snapshot(state)
    state.on_disconnect([A], "disconnect", wall_us=wall(1.0))
    opened: GapEvent = state.out.gaps[0]
    snapshot(state, ts=1001, now=2.0)
    assert opened.open
    assert opened.how == ""
    assert state.out.gaps[1] is not opened


# -- rows ---------------------------------------------------------------------------------


def test_trades_are_deduplicated_by_deterministic_id() -> None:
    state = make()
    args = (A, "0.52", "25", "BUY", "1733411293827")
    state.on_trade(*args, wall_us=7, fee_rate_bps="0", transaction_hash="0xabc")
    state.on_trade(*args, wall_us=8, fee_rate_bps="0", transaction_hash="0xabc")
    assert state.counts["trade_duplicate"] == 1
    tid = trade_id(A, "1733411293827", "0.52", "25", "BUY", "0xabc")
    assert len(tid) == 16
    assert int(tid, 16) >= 0
    assert tid == trade_id(A, "1733411293827", "0.52", "25", "BUY", "0xabc")
    assert state.out.trades == [
        (A, MARKET, 1733411293827, 7, tid, 520_000, "25", 25.0, "BUY", "0", "0xabc", 1)
    ]
    # Any differing field is another trade.
    state.on_trade(*args, wall_us=9, transaction_hash="0xdef")
    state.on_trade(A, "0.52", "25", "SELL", "1733411293827", wall_us=9, transaction_hash="0xabc")
    assert len(state.out.trades) == 3
    assert len({row[4] for row in state.out.trades}) == 3


def test_trades_are_recorded_without_a_snapshot() -> None:
    state = make()
    state.on_trade(A, "0.5", "1", "SELL", "1", wall_us=1)
    assert len(state.out.trades) == 1
    # The trade's values (in this token's terms or its sibling's) become last-trade guesses.
    assert state.assets[A].trade.candidates == ["0.500"]


def test_level_rows_carry_previous_size_and_sequence() -> None:
    state = make()
    snapshot(state, ts=1000, now=0.0)
    seq_before = state.seq
    delta(state, "BUY", "0.47", "12.5", ts=1001, now=1.0)
    delta(state, "sell", "0.55", "3", ts=1002, now=2.0)
    assert state.out.levels == [
        (A, MARKET, 1001, wall(1.0), BID, 470_000, "12.5", 12.5, 10.0, seq_before + 1),
        (A, MARKET, 1002, wall(2.0), ASK, 550_000, "3", 3.0, 0.0, seq_before + 2),
    ]


def test_bbo_rows_only_when_the_top_changes() -> None:
    state = make()
    snapshot(state, ts=1000, now=0.0)
    # seq 1 is the book's snapshot row (the rebuilt book), 2 its first top of book
    assert state.out.bbo == [(A, MARKET, 1000, wall(0.0), 480_000, "1200.5", 490_000, "310", 2)]
    delta(state, "BUY", "0.46", "50", ts=1001)  # below the top
    delta(state, "SELL", "0.51", "0", ts=1002)  # above the top
    delta(state, "BUY", "0.48", "1200.5", ts=1003)  # same best size
    snapshot(state, ts=1004)  # same top again (different depth below is irrelevant)
    assert len(state.out.bbo) == 1
    delta(state, "BUY", "0.48", "1000", ts=1005, now=5.0)  # best size changes
    delta(state, "SELL", "0.485", "1", ts=1006, now=6.0)  # new best ask
    delta(state, "BUY", "0.48", "0", ts=1007, now=7.0)  # best bid removed
    tops = [row[2:8] for row in state.out.bbo[1:]]
    assert tops == [
        (1005, wall(5.0), 480_000, "1000", 490_000, "310"),
        (1006, wall(6.0), 480_000, "1000", 485_000, "1"),
        (1007, wall(7.0), 470_000, "10", 485_000, "1"),
    ]
    seqs = [row[-1] for row in state.out.bbo]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


def test_bbo_row_for_an_emptied_side_uses_zero_and_empty_size() -> None:
    state = make()
    snapshot(state, bids=[("0.48", "1")], asks=[("0.49", "2")])
    delta(state, "BUY", "0.48", "0")
    assert state.out.bbo[-1][4:8] == (0, "", 490_000, "2")


# -- the served view ----------------------------------------------------------------------


def test_view_matches_the_interface_orderbook_shape() -> None:
    state = make()
    snapshot(state, ts=1790908667676, now=0.0)
    view = state.view(A, 1.0)
    assert view is not None
    served = msgspec.json.decode(msgspec.json.encode(view))
    assert served == {
        "asset_id": A,
        "condition_id": MARKET,
        "bids": [
            {"price": "0.48", "size": "1200.5"},
            {"price": "0.47", "size": "10"},
            {"price": "0.46", "size": "100"},
        ],
        "asks": [
            {"price": "0.49", "size": "310"},
            {"price": "0.50", "size": "20"},
            {"price": "0.51", "size": "5"},
        ],
        "best_bid": "0.48",
        "best_ask": "0.49",
        "mid_price": "0.485",
        "spread_bps": 206,
        "timestamp_ms": 1790908667676,
        "status": "fresh",
        "tick_size": "0.01",
        "hash": "",
    }


def test_view_depth_and_one_sided_books() -> None:
    state = make()
    snapshot(state, asks=[])
    view = state.view(A, 0.0, depth=2)
    assert view is not None
    assert [lv.price for lv in view.bids] == ["0.48", "0.47"]
    assert view.asks == []
    assert (view.best_bid, view.best_ask, view.mid_price, view.spread_bps) == (
        "0.48",
        None,
        None,
        None,
    )


def test_view_before_any_snapshot_is_empty_and_stale() -> None:
    state = make()
    view = state.view(A, 0.0)
    assert view is not None
    assert (view.bids, view.asks, view.best_bid, view.mid_price) == ([], [], None, None)
    assert view.status == "stale"
    assert view.condition_id == MARKET


# -- bad input changes nothing ------------------------------------------------------------


def fingerprint(state: ShardState) -> tuple[Any, ...]:
    asset = state.assets[A]
    out = state.out
    return (
        book_levels(state),
        asset.phase,
        asset.timestamp_ms,
        asset.hash,
        asset.last_update,
        asset.tick_size,
        (asset.trade.value, asset.trade.known, list(asset.trade.candidates)),
        list(asset.recent_trades),
        dict(state.counts),
        state.seq,
        state.messages,
        state.level_updates,
        (len(out.bbo), len(out.levels), len(out.trades), len(out.gaps)),
    )


@pytest.mark.parametrize(
    ("bids", "asks"),
    [
        ([*BIDS, ("0.5", "abc")], ASKS),
        (BIDS, [*ASKS, ("1.5", "1")]),
        ([("nan", "1"), *BIDS], ASKS),
        (BIDS, [("0.49", "-1")]),
        (BIDS, [("0.49", "inf")]),
    ],
)
def test_bad_level_in_a_snapshot_changes_nothing(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]]
) -> None:
    state = make()
    snapshot(state, ts=1000, now=0.0)
    before = fingerprint(state)
    with pytest.raises(BadNumber):
        state.on_book(
            A, MARKET, 2000, "", bids, asks, now=5.0, wall_us=wall(5.0), tick_size="0.001"
        )
    assert fingerprint(state) == before
    state.assets[A].book._check()


@pytest.mark.parametrize(
    ("side", "price", "size"),
    [("BUY", "1.5", "1"), ("SELL", "0.4", "-2"), ("BUY", "0.4", "nan"), ("HOLD", "0.4", "1")],
)
def test_bad_delta_changes_nothing(side: str, price: str, size: str) -> None:
    state = make()
    snapshot(state, ts=1000, now=0.0)
    before = fingerprint(state)
    with pytest.raises(BadNumber):
        delta(state, side, price, size, ts=1001, now=1.0)
    assert fingerprint(state) == before


@pytest.mark.parametrize(
    ("price", "size", "timestamp"),
    [
        ("1.5", "1", "1"),
        ("0.5", "-1", "1"),
        ("0.5", "1", "not-a-number"),
        ("0.5", "1", ""),
        ("0.5", "1", "-5"),
        ("0.5", "1", "1.5"),
        ("0.5", "1", "\u00b2"),  # "²": str.isdigit() is True, int() rejects it
    ],
)
def test_bad_trade_raises_bad_number_and_changes_nothing(
    price: str, size: str, timestamp: str
) -> None:
    state = make()
    snapshot(state)
    before = fingerprint(state)
    with pytest.raises(BadNumber):
        state.on_trade(A, price, size, "BUY", timestamp, wall_us=1)
    assert fingerprint(state) == before


def test_row_streams_are_the_output_lists_and_stored_tables() -> None:
    out = ShardOutput()
    assert list(ShardOutput.__annotations__) == list(ROW_STREAMS) == list(ShardOutput.__slots__)
    assert set(ROW_STREAMS.values()) <= {table.name for table in TABLES}
    out.levels.append(("a", "m", 1, 2, 0, 500_000, "1", 1.0, 0.0, 1))
    first = out.drain()
    assert [len(rows) for rows in first] == [0, 1, 0, 0, 0]
    assert [len(rows) for rows in out.drain()] == [0] * len(ROW_STREAMS)
