"""Venue hashes of real captures, verified with polymon's shipped defaults (`Policy()`).

Every capture is replayed through the production decoder and shard state with the default
integrity settings (hash_recipe = auto, no configured slack). The share of venue hashes that
verify is what the README reports per capture; a capture's gaps are the ones its capturer left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from polymon.core.bookhash import book_hash
from polymon.core.lasttrade import MarketTrade, hashed_value, trade_values
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.dispatch import apply_message
from polymon.polymarket.schemas import decode_frame
from tests.fixtures import DATA, as_frame, read_lines

BURST = "nautilus_trader/live_captures/ws_market_price_change_crossing_burst.json"  # Sep 2026
SNAPSHOT = "nautilus_trader/live_captures/ws_book_snapshot_captured.json"  # Aug 2026
OCT_2025 = "polypy/head/messages_hash.txt"
DEC_2024 = "polypy/initial_2025-02/messages_hash.txt"
DEC_2024_STREAM = "polypy/initial_2025-02/test_server_messages.txt"
DEC_2024_MULTI = "polypy/initial_2025-02/test_server_multi_book.txt"
TRADE_TS = "1790658827000"  # the burst capture's trade: three price_changes and a book


def messages_of(relpath: str) -> list[dict[str, Any]]:
    """The messages of a capture: a JSON array file, or a polypy one-message-per-line file."""
    if relpath.endswith(".json"):
        loaded = json.loads((DATA / relpath).read_text())
        return loaded if isinstance(loaded, list) else [loaded]
    return read_lines(relpath)


def tracked(messages: list[dict[str, Any]]) -> list[AssetMeta]:
    """Every token a capture names, with the metadata Gamma gives its markets (minimum size 5,
    not neg-risk, and the tick size: the one a book states, else 0.01)."""
    seen: dict[str, tuple[str, str]] = {}
    for m in messages:
        for entry in m.get("price_changes") or [m]:
            if entry.get("asset_id"):
                seen.setdefault(entry["asset_id"], (m.get("market", ""), m.get("tick_size", "")))
    return [
        AssetMeta(asset_id=a, market=mk, min_order_size="5", tick_size=tick or "0.01")
        for a, (mk, tick) in seen.items()
    ]


def replay(
    messages: list[dict[str, Any]],
    policy: Policy | None = None,
    after: Callable[[int, ShardState], None] | None = None,
) -> ShardState:
    state = ShardState(policy or Policy())
    for meta in tracked(messages):
        state.track(meta)
    for i, message in enumerate(messages):
        decoded, skipped = decode_frame(as_frame(message))
        assert skipped == []
        for msg in decoded:
            apply_message(state, msg, now=i * 0.01, wall_us=10_000 * i)
        if after is not None:
            after(i, state)
    return state


def verified_share(state: ShardState) -> tuple[int, int]:
    """(venue hashes verified, venue hashes checked): books plus deltas of tokens with a book.

    A delta held unverified that a later message of the same trade verifies counts as verified:
    the venue sends a trade's messages with the hash of the state after the last of them.
    """
    c = state.counts
    ok = c["snapshot_hash_ok"] + c["hash_ok"] + c["hash_late_ok"]
    return ok, c["snapshot_hash_ok"] + c["snapshot_hash_mismatch"] + c["hash_ok"] + c["hash_missed"]


# -- the share verified per capture with the shipped defaults ------------------------------

SHARES = [
    # capture, verified, checked, recipe auto locks on, slack it detects
    (BURST, 51, 51, "v3", 0),
    (SNAPSHOT, 1, 1, "v3", 0),
    (OCT_2025, 5, 5, "v2", 0),
    (DEC_2024, 5, 5, "v1", 15),
    (DEC_2024_STREAM, 8, 8, "v1", 15),
    (DEC_2024_MULTI, 10, 11, "v1", 15),
]


@pytest.mark.parametrize(("path", "ok", "checked", "recipe", "slack"), SHARES)
def test_share_of_venue_hashes_verified_with_shipped_defaults(
    path: str, ok: int, checked: int, recipe: str, slack: int
) -> None:
    state = replay(messages_of(path))
    assert verified_share(state) == (ok, checked)
    status = state.hashes.status()
    assert (status.setting, status.recipe, status.timestamp_slack_ms) == ("auto", recipe, slack)
    assert state.counts["hash_unverifiable"] == 0


def test_burst_verifies_every_hash_and_learns_the_trade_price() -> None:
    messages = messages_of(BURST)
    state = replay(messages)
    book = messages[0]
    asset = state.assets[book["asset_id"]]
    # The initial dump's value, then the trade's: three decimals, market-level.
    assert book["last_trade_price"] == "0.255"
    assert (asset.trade.value, asset.trade.known) == ("0.301", True)
    # The trade's first two messages carry the hash of the state after the third: held, not
    # decided; the third verifies them. The book after the trade carries no last trade price.
    assert state.counts["hash_late_ok"] == 2
    assert "last_trade_price" not in messages[-1]
    assert state.counts["snapshot_hash_ok"] == 2
    assert state.out.gaps == []
    # Its sibling never got a book in the capture: its deltas wait for one, unchecked.
    assert state.counts["skipped_awaiting_snapshot"] == 49


def test_old_rule_for_the_last_trade_price_fails_on_real_v3_data() -> None:
    # The trade's event spelling ("0.3") or an empty value, as polymon used before, do not
    # reproduce the book after the trade; the three-decimal market value does.
    final = messages_of(BURST)[-1]

    def digest(value: str) -> str:
        return book_hash(
            "v3", market=final["market"], asset_id=final["asset_id"],
            timestamp=final["timestamp"],
            bids_ascending=[(lv["price"], lv["size"]) for lv in final["bids"]],
            asks_descending=[(lv["price"], lv["size"]) for lv in final["asks"]],
            min_order_size="5", tick_size="0.001", neg_risk=False, last_trade_price=value,
        )  # fmt: skip

    assert digest("0.301") == final["hash"]
    assert final["hash"] not in {digest(v) for v in ("", "0.255", "0.699", "0.3010")}


def test_a_book_quoted_at_its_siblings_complement_hashes_the_siblings_price() -> None:
    # A token quoted 0.07/0.08 whose initial book hashes "0.920": the market's value is in
    # its sibling's terms. auto locks on v3 from this one book.
    snapshot = messages_of(SNAPSHOT)[0]
    assert (snapshot["bids"][-1]["price"], snapshot["asks"][-1]["price"]) == ("0.07", "0.08")
    state = replay([snapshot])
    assert state.counts["snapshot_hash_ok"] == 1
    assert state.assets[snapshot["asset_id"]].trade.value == "0.920"


# -- trades reported only by a new book -----------------------------------------------------


def test_no_checkpoint_mismatch_when_a_trade_arrives_only_as_a_book() -> None:
    # The burst capture without the trade's three price_changes: the venue's next book then
    # differs from the replay by exactly that trade, as in the era when trades reached the
    # feed only as books. Its hash verifies, so it is a trade, not a missed delta.
    messages = [m for m in messages_of(BURST) if m.get("timestamp") != TRADE_TS or "bids" in m]
    state = replay(messages)
    assert state.counts["checkpoint_trade"] == 1
    assert state.counts["snapshot_hash_ok"] == 2
    assert state.out.gaps == []


def test_a_snapshot_that_one_trade_does_not_explain_is_still_a_gap() -> None:
    # Without an order placement (the 2005 bid at 0.29) the final book differs in a way no
    # single taker order explains: a missed delta, recorded and resolved by the book.
    placed = "1790658806575"
    messages = [m for m in messages_of(BURST) if m.get("timestamp") != placed]
    state = replay(messages)
    assert state.counts["checkpoint_trade"] == 0
    assert [(g.reason, g.how) for g in state.out.gaps] == [
        ("hash_mismatch", ""),
        ("hash_mismatch", "ws_snapshot"),
    ]


# -- a divergence is found within one message, bursts included -------------------------------


def test_a_dropped_delta_is_found_at_the_assets_next_message() -> None:
    messages = messages_of(BURST)
    dropped = 10  # a price_change in the middle of the quiet stretch
    kept = messages[:dropped] + messages[dropped + 1 :]
    opened_at: list[int] = []

    def watch(i: int, state: ShardState) -> None:
        if state.out.gaps and not opened_at:
            opened_at.append(i)

    replay(kept, after=watch)
    # Message `dropped` of `kept` is the first whose hash misses; the next one decides.
    assert opened_at == [dropped + 1]


def test_a_divergence_inside_a_trade_burst_is_found_at_the_message_after_it() -> None:
    messages = messages_of(BURST)
    first_trade = next(i for i, m in enumerate(messages) if m.get("timestamp") == TRADE_TS)
    kept = messages[: first_trade + 1] + messages[first_trade + 2 :]  # drop the burst's 2nd
    opened_at: list[int] = []

    def watch(i: int, state: ShardState) -> None:
        if state.out.gaps and not opened_at:
            opened_at.append(i)

    state = replay(kept, after=watch)
    # The burst's last message cannot verify; the book right after it shows the difference.
    assert opened_at == [first_trade + 2]
    assert [g.reason for g in state.out.gaps] == ["hash_mismatch", "hash_mismatch"]


# -- the rule itself ---------------------------------------------------------------------------


def test_hashed_values_have_three_decimals() -> None:
    assert [hashed_value(u) for u in (490_000, 850_000, 301_000, 0, 1_000_000)] == [
        "0.490",
        "0.850",
        "0.301",
        "0.000",
        "1.000",
    ]
    assert hashed_value(123_400) == "0.1234"  # finer than the venue's ticks: exact
    assert trade_values("0.49") == ("0.490", "0.510")
    assert trade_values(".65") == ("0.650", "0.350")
    assert trade_values("not a price") == ("", "")


def test_a_trade_offers_both_terms_until_a_hash_confirms_one() -> None:
    trade = MarketTrade()
    trade.confirm("0.500")
    trade.on_trade("0.49")
    assert (trade.known, trade.candidates) == (False, ["0.490", "0.510"])
    assert list(trade.guesses(["0.47"])) == ["0.500", "0.490", "0.510", "0.470", "0.530"]
    trade.on_trade("0.51")  # the same trade seen from the sibling: nothing new
    assert trade.candidates == ["0.510", "0.490"]
    trade.confirm("0.490")
    assert (trade.value, trade.known, trade.candidates) == ("0.490", True, [])
    trade.on_trade("0.49")  # a trade event after its price_change moved the hashes already
    assert trade.known
