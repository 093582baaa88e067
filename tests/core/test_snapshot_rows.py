"""Snapshot rows proportional to change, and the reconstruction rule they serve: a book is its
latest snapshot row plus its level-change rows after it, in seq order."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from polymon.core.book import ASK, BID
from polymon.core.model import AssetMeta, Phase
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.ingest import Ingest
from polymon.polymarket.simulator.exchange import Exchange, encode_frame
from tests.core.test_shard import MARKET, A, delta, make, snapshot, wall

OTHER = "2002"


def rows_of(state: ShardState) -> list[Any]:
    return state.out.drain()[4]


def test_a_rebuilt_book_gets_a_row_and_a_repeated_one_does_not() -> None:
    state = make()
    snapshot(state, ts=1000)
    (row,) = rows_of(state)
    assert row[:8] == (A, MARKET, 1000, wall(0.0), "ws_snapshot", "fresh", "", "0.01")
    # prices best first in exact 1e-6 units, sizes as floats
    assert row[8:12] == (
        [480_000, 470_000, 460_000], [1200.5, 10.0, 100.0],
        [490_000, 500_000, 510_000], [310.0, 20.0, 5.0],
    )  # fmt: skip
    snapshot(state, ts=1001)  # the same book again: nothing to store
    assert rows_of(state) == []
    assert state.take_changed() == []
    snapshot(state, ts=1002, bids=[("0.40", "1")])  # a different book: a new row
    (row,) = rows_of(state)
    assert (row[4], row[8], row[9]) == ("ws_snapshot", [400_000], [1.0])


def test_only_books_changed_since_their_last_row_are_listed() -> None:
    state = make()
    state.track(AssetMeta(asset_id=OTHER, market=MARKET))
    for asset in (A, OTHER):
        snapshot(state, asset=asset)
    rows_of(state)
    assert state.take_changed() == []
    delta(state, "BUY", "0.45", "7", asset=OTHER)
    delta(state, "BUY", "0.44", "8", asset=OTHER)
    delta(state, "SELL", "0.52", "9", asset=A)
    changed = state.take_changed()
    assert changed == [OTHER, A]  # in the order they first changed, each once
    assert state.take_changed() == []
    rows = state.snapshot_rows(changed, 2.0, wall(2.0), "changed", changed_only=True)
    assert [(r[0], r[4]) for r in rows] == [(OTHER, "changed"), (A, "changed")]
    assert rows[0][8] == [480_000, 470_000, 460_000, 450_000, 440_000]
    # Snapshotted now: asking again (a stale list, or a keyframe meanwhile) gives nothing.
    assert state.snapshot_rows(changed, 2.0, wall(2.0), "changed", changed_only=True) == []
    keyframes = state.snapshot_rows([A, OTHER, "untracked"], 3.0, wall(3.0), "keyframe",
                                    changed_only=False)  # fmt: skip
    assert [(r[0], r[4]) for r in keyframes] == [(A, "keyframe"), (OTHER, "keyframe")]
    seqs = [r[-1] for r in [*rows, *keyframes]]
    assert seqs == sorted(seqs)


def test_a_dropped_book_gets_a_final_row_and_leaves_the_changed_list() -> None:
    state = make()
    snapshot(state)
    delta(state, "BUY", "0.45", "7")
    rows_of(state)
    state.untrack(A, wall(5.0), 5.0)
    (final,) = rows_of(state)
    assert (final[4], final[8][-1]) == ("final", 450_000)
    assert state.take_changed() == []


def test_books_awaiting_their_first_snapshot_have_no_rows() -> None:
    state = ShardState(Policy())
    state.track(AssetMeta(asset_id=A, market=MARKET))
    assert state.snapshot_rows([A], 1.0, wall(1.0), "keyframe", changed_only=False) == []


# -- the reconstruction rule, against the simulated venue with faults --------------------------


def replay(rows: Iterable[Any]) -> dict[str, tuple[dict[int, float], dict[int, float]]]:
    """Every book as the README's rule rebuilds it from snapshot and level-change rows."""
    books: dict[str, tuple[dict[int, float], dict[int, float]]] = {}
    for kind, row in sorted(rows, key=lambda item: item[1][-1]):  # seq order
        if kind == "snapshot":
            books[row[0]] = (dict(zip(row[8], row[9], strict=True)),
                             dict(zip(row[10], row[11], strict=True)))  # fmt: skip
        elif row[0] in books:
            side = books[row[0]][0 if row[4] == BID else 1]
            if row[7] > 0:
                side[row[5]] = row[7]
            else:
                side.pop(row[5], None)
    return books


def live(state: ShardState) -> dict[str, tuple[dict[int, float], dict[int, float]]]:
    books = {}
    for asset_id, asset in state.assets.items():
        if asset.timestamp_ms:
            sides = [asset.book.side_units(side) for side in (BID, ASK)]
            books[asset_id] = tuple(dict(zip(p, s, strict=True)) for p, s in sides)
    return books  # type: ignore[return-value]


def test_snapshot_rows_plus_level_changes_rebuild_every_book_through_faults() -> None:
    exchange = Exchange(30, 11, trade_ratio=0.1, tick_change_ratio=0.01)
    state = ShardState(Policy(mode="resync", hash_mode="off", resync_min_interval_secs=0))
    for market in exchange.markets:
        for asset_id, outcome in zip(market.token_ids(), ("Yes", "No"), strict=True):
            state.track(AssetMeta(asset_id=asset_id, market=market.condition_id, outcome=outcome))
    ingest = Ingest(state, max_frame_bytes=1 << 24)
    rng = random.Random(5)
    rows: list[tuple[str, Any]] = []
    clock = [0]

    def feed(frame: str) -> None:
        clock[0] += 1
        ingest.handle(frame, clock[0] / 100, wall(clock[0] / 100))

    def collect() -> None:
        _bbo, levels, _trades, _gaps, snapshots = state.out.drain()
        rows.extend(("level", r) for r in levels)
        rows.extend(("snapshot", r) for r in snapshots)

    now_ms = 1_700_000_000_000
    tokens = exchange.token_ids()
    feed(encode_frame([exchange.snapshot(a, now_ms) for a in tokens]))
    dropped: list[str] = []
    checked = 0
    for step in range(1, 6001):
        for frame in exchange.next_frames(now_ms + step):
            feed(encode_frame(frame))
        if step % 97 == 0:  # a connection drops: its books wait for their next snapshot
            dropped = rng.sample(tokens, 10)
            state.on_disconnect(dropped, "disconnect", wall_us=wall(step))
        if step % 97 == 40:  # ... which arrives with the reconnect's dump
            feed(encode_frame([exchange.snapshot(a, now_ms + step) for a in dropped]))
        if step % 131 == 0:  # a gap: the book is fetched over REST while deltas keep coming
            asset = rng.choice(tokens)
            state.assets[asset].phase = Phase.SYNCED
            state._suspect(state.assets[asset], "bbo_mismatch", "resync", step, wall(step), "")
        if step % 131 == 60:
            for asset in state.take_resyncs(step + 1000.0):
                book = exchange.rest_book(asset, now_ms + step - 30)  # older than some deltas
                state.on_book(asset, book["market"], int(book["timestamp"]), book["hash"],
                              [(lv["price"], lv["size"]) for lv in book["bids"]],
                              [(lv["price"], lv["size"]) for lv in book["asks"]],
                              now=step, wall_us=wall(step), source="rest_snapshot")  # fmt: skip
        if step % 50 == 0:  # the periodic job: books changed since their last row
            state.out.snapshots += state.snapshot_rows(
                state.take_changed(), step, wall(step), "changed", changed_only=True
            )
        if step % 400 == 0:  # keyframes, a slice at a time
            part = tokens[(step // 400) % 3 :: 3]
            state.out.snapshots += state.snapshot_rows(part, step, wall(step), "keyframe",
                                                       changed_only=False)  # fmt: skip
        if step % 1000 == 0:
            collect()
            assert replay(rows) == live(state)
            checked += 1
    collect()
    assert replay(rows) == live(state)
    reasons = {row[4] for kind, row in rows if kind == "snapshot"}
    assert reasons == {"ws_snapshot", "rest_snapshot", "changed", "keyframe"}
    assert state.counts["tick_size_change"] > 0
    assert state.counts["resync_replayed"] > 0
    assert checked == 6
