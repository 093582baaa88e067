"""Replay the real polypy captures through the production decoder and shard state.

Oct 2025 (current price_changes[] format, 9-field hash): every hash must verify and no gap may
be reported. Dec 2024 (legacy format, 6-field hash hashed 4-11 ms before the sent timestamp):
the hashes verify with slack, and the gaps the capturer left in the stream must be found.
"""

from __future__ import annotations

from polymon.core.model import AssetMeta, GapEvent, Phase
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.dispatch import apply_message
from polymon.polymarket.schemas import decode_frame
from tests.fixtures import as_frame, read_lines

YES_OCT = "94022367472047775158269173293876979533288470167463650966689320774843018181757"
NO_OCT = "3329029450753225654467003002742946394863848082479209219558348197750220015613"
TOKEN_DEC = "72936048731589292555781174533757608024096898681344338816447372274344589246891"
TOKEN_DEC_2 = "101669189743438912873361127612589311253202068943959811456820079057046819967115"


def replay(path: str, policy: Policy, assets: list[str]) -> ShardState:
    state = ShardState(policy)
    for asset in assets:
        state.track(AssetMeta(asset_id=asset, min_order_size="5", tick_size="0.01"))
    for i, line in enumerate(read_lines(path)):
        messages, skipped = decode_frame(as_frame(line))
        assert skipped == []
        for msg in messages:
            apply_message(state, msg, now=float(i), wall_us=1_000_000 * i)
        for asset in state.assets.values():
            asset.book._check()
    return state


def gaps_by_asset(state: ShardState) -> dict[str, list[GapEvent]]:
    out: dict[str, list[GapEvent]] = {}
    for gap in state.out.gaps:
        out.setdefault(gap.asset_id[:6], []).append(gap)
    return out


def test_oct_2025_every_hash_matches() -> None:
    policy = Policy(mode="resync", hash_mode="resync", hash_recipe="v2")
    state = replay("polypy/head/messages_hash.txt", policy, [YES_OCT, NO_OCT])
    # WS book + two REST books verify as snapshots; both deltas on the YES token verify.
    assert state.counts["snapshot_hash_ok"] == 3
    assert state.counts["hash_ok"] == 2
    assert state.counts["snapshot_hash_mismatch"] == 0
    assert state.counts["hash_mismatch"] == 0
    assert state.out.gaps == []
    # The NO token never got a snapshot in this capture, so its deltas wait for one.
    assert state.counts["skipped_awaiting_snapshot"] == 2
    assert state.assets[YES_OCT].phase == Phase.SYNCED


def test_oct_2025_wrong_recipe_is_caught_but_the_books_show_no_gap() -> None:
    policy = Policy(mode="resync", hash_mode="resync", hash_recipe="v1")
    state = replay("polypy/head/messages_hash.txt", policy, [YES_OCT, NO_OCT])
    # A fixed wrong recipe reproduces nothing: each delta's miss is held, and the REST book
    # that follows holds exactly the replayed levels, so the miss was the recipe's, not a gap.
    assert state.counts["hash_ok"] == 0
    assert state.counts["hash_missed"] == 2
    assert state.counts["hash_superseded"] == 2
    assert state.counts["snapshot_hash_mismatch"] == 3
    assert state.out.gaps == []


def test_dec_2024_hashes_verify_and_match_rest_books() -> None:
    policy = Policy(hash_mode="resync", hash_recipe="v1", hash_timestamp_slack_ms=15)
    state = replay("polypy/initial_2025-02/messages_hash.txt", policy, [TOKEN_DEC])
    assert state.counts["hash_ok"] == 2
    assert state.counts["snapshot_hash_ok"] == 3
    assert state.out.gaps == []


def test_dec_2024_without_slack_every_delta_misses() -> None:
    policy = Policy(hash_mode="observe", hash_recipe="v1", hash_timestamp_slack_ms=0)
    state = replay("polypy/initial_2025-02/messages_hash.txt", policy, [TOKEN_DEC])
    assert state.counts["hash_ok"] == 0
    assert state.counts["hash_missed"] == 2
    assert state.counts["snapshot_hash_ok"] == 3


def test_dec_2024_single_token_gap_is_found() -> None:
    policy = Policy(hash_mode="resync", hash_recipe="v1", hash_timestamp_slack_ms=15)
    state = replay("polypy/initial_2025-02/test_server_messages.txt", policy, [TOKEN_DEC])
    assert state.counts["hash_ok"] == 6
    assert state.counts["hash_mismatch"] == 0
    # The second book disagrees with the replayed one: messages were left out of the capture.
    opened, resolved = state.out.gaps
    assert (opened.reason, opened.open) == ("checkpoint_mismatch", True)
    assert (resolved.reason, resolved.how) == ("checkpoint_mismatch", "ws_snapshot")
    assert state.counts["trade_duplicate"] == 0
    assert len(state.out.trades) == 1
    # The capture ends with a tick size change: a new epoch waits for the next book.
    assert state.assets[TOKEN_DEC].phase == Phase.EPOCH
    assert state.assets[TOKEN_DEC].tick_size == "0.01"


def test_dec_2024_multi_token_gaps_are_found() -> None:
    policy = Policy(hash_mode="resync", hash_recipe="v1", hash_timestamp_slack_ms=15)
    state = replay(
        "polypy/initial_2025-02/test_server_multi_book.txt", policy, [TOKEN_DEC, TOKEN_DEC_2]
    )
    gaps = gaps_by_asset(state)
    # Token 2: its later book disagrees with the replayed deltas.
    assert [(g.reason, g.how) for g in gaps[TOKEN_DEC_2[:6]]] == [
        ("checkpoint_mismatch", ""),
        ("checkpoint_mismatch", "ws_snapshot"),
    ]
    # Token 1: a delta from after a missing stretch fails its hash; the next book resolves it.
    assert [(g.reason, g.how) for g in gaps[TOKEN_DEC[:6]]] == [
        ("hash_mismatch", ""),
        ("hash_mismatch", "ws_snapshot"),
    ]
    assert state.counts["hash_ok"] == 6
    assert all(a.phase == Phase.SYNCED for a in state.assets.values())
