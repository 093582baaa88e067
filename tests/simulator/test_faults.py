"""Fault injection: garbage frames are rejected by polymon's decoder; hash corruption rate."""

from __future__ import annotations

import random

from polymon.polymarket.schemas import decode_frame
from polymon.polymarket.simulator.exchange import Exchange, encode_frame
from polymon.polymarket.simulator.faults import GARBAGE_KINDS, corrupt_hashes, garbage_frame


def test_every_garbage_frame_is_rejected_by_the_feed_decoder() -> None:
    exchange = Exchange(3, 1, trade_ratio=0.3)
    rng = random.Random(5)
    reasons: set[str] = set()
    for i in range(2000):
        for message in exchange.step(i):
            messages, skipped = decode_frame(garbage_frame(encode_frame(message), rng))
            assert messages == []
            assert len(skipped) == 1
            reasons.update(skipped)
    assert reasons == {"json", "schema", "unknown_event"}
    assert len(GARBAGE_KINDS) == 4


def test_corrupt_hashes_changes_only_hashes_at_the_ratio() -> None:
    exchange = Exchange(3, 2, trade_ratio=0)
    rng = random.Random(6)
    entries = corrupted = changed = 0
    for i in range(3000):
        messages = exchange.step(i)
        original = [dict(e) for m in messages for e in m.get("price_changes", [])]
        corrupted += corrupt_hashes(messages, 0.1, rng)
        after = [e for m in messages for e in m.get("price_changes", [])]
        entries += len(after)
        for old, new in zip(original, after, strict=True):
            assert {k: v for k, v in old.items() if k != "hash"} == {
                k: v for k, v in new.items() if k != "hash"
            }
            assert len(new["hash"]) == 40
            changed += old["hash"] != new["hash"]
    assert changed == corrupted
    assert 0.08 < corrupted / entries < 0.12
    assert corrupt_hashes(exchange.step(0), 0.0, rng) == 0
