"""Triggers evaluated inline by the shard state: book changes and trades reach the table."""

from __future__ import annotations

from polymon.core.model import AssetMeta
from polymon.core.triggers import Trigger, decode_trigger_spec
from tests.core.test_shard import MARKET, A, delta, make, snapshot, wall

B = "3003"  # the other outcome of MARKET


def trigger(tid: str, body: str) -> Trigger:
    return Trigger(trigger_id=tid, spec=decode_trigger_spec(body))


def test_a_price_crossing_fires_once_with_the_frame_times() -> None:
    state = make()
    state.add_trigger(
        trigger("trig_a", f'{{"asset_id": "{A}", "condition": '
                          '{"type": "PRICE_ABOVE", "threshold": 0.485, "side": "BID"}}'),
        now=0.0,
    )  # fmt: skip
    snapshot(state)  # best bid 0.48: below
    assert state.triggers.drain() == []
    delta(state, "BUY", "0.485", "50", ts=2000, now=2.0)  # at the threshold: not above
    delta(state, "BUY", "0.486", "50", ts=2001, now=2.1)  # crosses
    delta(state, "BUY", "0.487", "50", ts=2002, now=2.2)  # still above: no new edge
    fired = state.triggers.drain()
    assert [(e.trigger_id, e.actual_value) for e in fired] == [("trig_a", 0.486)]
    assert fired[0].venue_ts_ms == 2001
    assert fired[0].received_us == wall(2.1)


def test_arbitrage_reads_both_books_of_the_market() -> None:
    state = make()
    state.track(AssetMeta(asset_id=B, market=MARKET))
    state.add_trigger(
        trigger("trig_arb", f'{{"asset_id": "{A}", "condition": {{"type": "ARBITRAGE_BUY", '
                            f'"threshold": 0.99, "paired_asset_id": "{B}"}}}}'),
        now=0.0,
    )  # fmt: skip
    snapshot(state)  # A: best ask 0.49
    snapshot(state, asset=B, bids=[("0.40", "10")], asks=[("0.52", "10")])  # 0.49 + 0.52
    assert state.triggers.drain() == []
    delta(state, "SELL", "0.49", "5", asset=B, now=3.0)  # B's ask 0.49: 0.98 < 0.99
    assert [e.trigger_type for e in state.triggers.drain()] == ["ARBITRAGE_BUY"]


def test_trades_reach_large_trade_triggers_and_removal_stops_them() -> None:
    state = make()
    state.add_trigger(
        trigger("trig_t", f'{{"asset_id": "{A}", "condition": '
                          '{"type": "LARGE_TRADE", "min_size": 100}}'),
        now=0.0,
    )  # fmt: skip
    snapshot(state)
    state.on_trade(A, "0.49", "150", "BUY", "3000", wall_us=3_000_000, now=3.0)
    state.on_trade(A, "0.49", "10", "BUY", "3001", wall_us=3_001_000, now=3.1)
    assert [e.trigger_id for e in state.triggers.drain()] == ["trig_t"]
    assert state.remove_trigger("trig_t")
    assert not state.assets[A].watched
    state.on_trade(A, "0.49", "500", "BUY", "3002", wall_us=3_002_000, now=3.2)
    assert state.triggers.drain() == []


def test_assets_without_triggers_are_not_watched() -> None:
    state = make()
    snapshot(state)
    delta(state, "BUY", "0.485", "50")
    assert not state.assets[A].watched
    assert state.triggers.drain() == []
