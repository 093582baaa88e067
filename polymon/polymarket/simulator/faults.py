"""Fault injection for the simulated feed: wrong hashes and garbage frames. Pure functions.

Both take the caller's `random.Random`, so a seeded server injects the same faults each run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Final

from polymon.polymarket.simulator.exchange import Message, encode_frame

GARBAGE_KINDS: Final = ("truncated", "unknown_event", "wrong_types", "random_text")


def corrupt_hashes(messages: list[Message], ratio: float, rng: random.Random) -> int:
    """Replace the hash of about `ratio` of the price_change entries in place; returns how many.

    Only the hash changes, so the books the messages describe stay right.
    """
    if ratio <= 0:
        return 0
    corrupted = 0
    for message in messages:
        if message.get("event_type") != "price_change":
            continue
        for entry in message["price_changes"]:
            if rng.random() < ratio:
                entry["hash"] = hashlib.sha1(
                    entry["hash"].encode() + b"!", usedforsecurity=False
                ).hexdigest()
                corrupted += 1
    return corrupted


def _truncated(frame: str, rng: random.Random) -> str:
    # A proper prefix of a JSON object or array is never valid JSON.
    return frame[: rng.randint(1, max(1, len(frame) - 1))]


def _unknown_event(frame: str, rng: random.Random) -> str:
    return encode_frame(
        {"event_type": f"sim_unknown_{rng.randint(0, 9)}", "payload": frame[:40], "timestamp": "0"}
    )


def _wrong_types(frame: str, rng: random.Random) -> str:
    shapes: list[Message] = [
        {"event_type": "price_change", "market": 7, "price_changes": "none", "timestamp": []},
        {"event_type": "book", "asset_id": None, "bids": {"price": 1}, "asks": 0},
        {"event_type": "last_trade_price", "asset_id": 12, "price": [0.5], "size": {}},
        {"event_type": "tick_size_change", "asset_id": True, "new_tick_size": None},
    ]
    return encode_frame(rng.choice(shapes))


def _random_text(frame: str, rng: random.Random) -> str:
    # DEL first: no JSON value and no venue text frame ("PONG") starts with it.
    return "\x7f" + rng.randbytes(rng.randint(8, 200)).decode("latin-1")


_MAKERS: Final[dict[str, Callable[[str, random.Random], str]]] = {
    "truncated": _truncated,
    "unknown_event": _unknown_event,
    "wrong_types": _wrong_types,
    "random_text": _random_text,
}


def garbage_frame(frame: str, rng: random.Random) -> str:
    """A garbage frame in place of `frame`: truncated JSON, unknown event, wrong types or noise."""
    return _MAKERS[rng.choice(GARBAGE_KINDS)](frame, rng)
