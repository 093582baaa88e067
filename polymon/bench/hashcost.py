"""The CPU cost of the venue hash check per message, on one book of a given depth.

The same pre-generated level updates (with the hashes the venue would send) go through
`ShardState.on_level` with hash checks off and on, interleaved A/B/A/B, timed with
`time.process_time` (CPU time: other tenants of a shared host do not count). The difference of
the best runs, per message, is the check's own cost.
"""

from __future__ import annotations

import random
import time

from polymon.core.bookhash import book_hash
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.dispatch import SIDES

_ASSET = "7667056713091772381649057261554060553787846267246429199094006765912765807111"
_MARKET = "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01"
Update = tuple[str, str, str, int, str]


def _updates(
    levels: int, messages: int, seed: int = 1
) -> tuple[dict[str, str], dict[str, str], list[Update]]:
    rng = random.Random(seed)
    bids = {f"0.{i:02d}": f"{100 + i}.5" for i in range(49 - levels, 49)}
    asks = {f"0.{i:02d}": f"{200 + i}" for i in range(51, 51 + levels)}
    start = dict(bids), dict(asks)
    out: list[Update] = []
    ts = 1_790_000_000_000
    for _ in range(messages):
        ts += 1
        side, book = ("BUY", bids) if rng.random() < 0.5 else ("SELL", asks)
        price = rng.choice(list(book))
        size = str(rng.randint(1, 9999))
        book[price] = size
        venue_hash = _hash(bids, asks, ts)
        out.append((side, price, size, ts, venue_hash))
    return start[0], start[1], out


def _hash(bids: dict[str, str], asks: dict[str, str], ts: int) -> str:
    return book_hash(
        "v3", market=_MARKET, asset_id=_ASSET, timestamp=str(ts),
        bids_ascending=sorted(bids.items()), asks_descending=sorted(asks.items(), reverse=True),
        min_order_size="5", tick_size="0.01", neg_risk=False, last_trade_price="0.500",
    )  # fmt: skip


def _run(
    hash_mode: str, bids: dict[str, str], asks: dict[str, str], updates: list[Update]
) -> float:
    state = ShardState(Policy(mode="observe", hash_mode=hash_mode))
    state.track(AssetMeta(asset_id=_ASSET, market=_MARKET, min_order_size="5", tick_size="0.01"))
    ts0 = updates[0][3] - 1
    state.on_book(
        _ASSET, _MARKET, ts0, _hash(bids, asks, ts0), sorted(bids.items()),
        sorted(asks.items(), reverse=True), now=0.0, wall_us=0, last_trade_price="0.500",
    )  # fmt: skip
    on_level = state.on_level
    start = time.process_time()
    for side, price, size, ts, venue_hash in updates:
        on_level(_ASSET, SIDES[side], price, size, (_MARKET, ts, 1.0, 0), venue_hash)
    cpu = time.process_time() - start
    if hash_mode != "off" and state.counts["hash_ok"] != len(updates):
        raise RuntimeError(f"hash bench input did not verify: {dict(state.counts)}")
    return cpu


def hash_check_cost_us(levels: int = 20, messages: int = 20_000, rounds: int = 3) -> float:
    """CPU µs the hash check adds per level update on a book of `levels` a side (best of
    `rounds` interleaved off/on pairs)."""
    levels = max(1, min(levels, 48))  # two-decimal prices around 0.50
    bids, asks, updates = _updates(levels, messages)
    off, on = [], []
    for _ in range(rounds):
        off.append(_run("off", bids, asks, updates))
        on.append(_run("observe", bids, asks, updates))
    return (min(on) - min(off)) / messages * 1e6


def hash_cost_line(levels: int = 20) -> str:
    """One `polymon bench` line: the per-message CPU cost of the venue hash check."""
    cost = hash_check_cost_us(levels)
    return (
        f"hot path: venue hash check alone     {cost:5.2f} us CPU per message "
        f"({levels}-level book a side, hash_mode=observe; target <= 5 us)"
    )
