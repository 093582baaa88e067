"""Ingest.handle with bad content in well-formed frames: counted by reason, nothing changed."""

from __future__ import annotations

import json

import pytest

from polymon.core.model import AssetMeta
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.ingest import Ingest

ASSET = "111"
BOOK = {
    "event_type": "book", "asset_id": ASSET, "market": "0xm", "timestamp": "1000",
    "bids": [{"price": "0.48", "size": "10"}], "asks": [{"price": "0.52", "size": "5"}],
}  # fmt: skip


def change(timestamp: object, price: str = "0.49") -> str:
    entry = {"asset_id": ASSET, "price": price, "size": "7", "side": "BUY"}
    message = {"event_type": "price_change", "market": "0xm", "price_changes": [entry]}
    return json.dumps({**message, "timestamp": timestamp})


@pytest.mark.parametrize("timestamp", ["1.5", "-5", "", "12ab", "1e3", " 12", "١٢"])
def test_a_bad_timestamp_is_a_counted_skip_that_changes_nothing(timestamp: str) -> None:
    state = ShardState(Policy())
    state.track(AssetMeta(asset_id=ASSET, market="0xm"))
    ingest = Ingest(state, max_frame_bytes=10_000)
    ingest.handle(json.dumps(BOOK), 1.0, 1_000)
    before = state.view(ASSET, 1.0)

    ingest.handle(change(timestamp), 2.0, 2_000)
    ingest.handle(json.dumps({**BOOK, "timestamp": timestamp, "bids": []}), 2.0, 2_000)

    assert dict(ingest.invalid) == {"bad_number": 2}
    assert state.view(ASSET, 1.0) == before
    # The next good message applies as usual.
    ingest.handle(change(1001), 3.0, 3_000)
    view = state.view(ASSET, 3.0)
    assert view is not None
    assert view.best_bid == "0.49"
    assert view.timestamp_ms == 1001


@pytest.mark.parametrize(
    ("side", "best_bid", "best_ask", "agrees"),
    [
        ("SELL", "0.48", "1", True),  # "1": the venue says the ask side is now empty
        ("SELL", "0.48", "0.52", False),  # the venue still quotes the ask we emptied
        ("BUY", "0", "0.52", True),  # "0": the bid side is empty
        ("BUY", "0.48", "0.52", False),
        ("HOLD", "0", "1", None),  # not a side: a counted bad number
    ],
)
def test_venue_words_become_core_values(
    side: str, best_bid: str, best_ask: str, agrees: bool | None
) -> None:
    state = ShardState(Policy(mode="observe", hash_mode="off"))
    state.track(AssetMeta(asset_id=ASSET, market="0xm"))
    ingest = Ingest(state, max_frame_bytes=10_000)
    ingest.handle(json.dumps(BOOK), 1.0, 1_000)
    price = "0.52" if side == "SELL" else "0.48"
    entry = {"asset_id": ASSET, "price": price, "size": "0", "side": side,
             "best_bid": best_bid, "best_ask": best_ask}  # fmt: skip
    message = {"event_type": "price_change", "market": "0xm", "timestamp": "1001"}
    ingest.handle(json.dumps({**message, "price_changes": [entry]}), 2.0, 2_000)
    if agrees is None:
        assert dict(ingest.invalid) == {"bad_number": 1}
    else:
        assert state.counts["bbo_mismatch"] == (0 if agrees else 1)
