"""Polymarket's book hash: SHA-1 of compact JSON of the book summary, for each known recipe.

Levels go in the order the server sends them (bids ascending, asks descending) with the server's
exact price and size strings, and `"hash": ""` while hashing. The field set changed over time:

    v1  (to mid 2025)   market, asset_id, timestamp, hash, bids, asks
    v2  (Jul-Nov 2025)  v1 + min_order_size, tick_size, neg_risk
    v3  (current)       v2 + last_trade_price

Verified against `polypy` captures (v1: Dec 2024, v2: Oct 2025); v3 follows the official
py-clob-client `generate_orderbook_summary_hash`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Literal

Recipe = Literal["v1", "v2", "v3"]
RECIPES: tuple[Recipe, ...] = ("v1", "v2", "v3")
EMPTY_BOOK_HASH = "0" * 40


def _levels_json(levels: Iterable[tuple[str, str]]) -> str:
    # Prices and sizes are venue decimal strings: digits and a dot, nothing JSON must escape.
    return ",".join([f'{{"price":"{p}","size":"{s}"}}' for p, s in levels])


def book_hash(
    recipe: Recipe,
    *,
    market: str,
    asset_id: str,
    timestamp: str,
    bids_ascending: Iterable[tuple[str, str]],
    asks_descending: Iterable[tuple[str, str]],
    min_order_size: str = "",
    tick_size: str = "",
    neg_risk: bool = False,
    last_trade_price: str = "",
) -> str:
    """The venue hash of one token's book under `recipe`; O(levels).

    `timestamp` is the decimal millisecond string the hash was taken at. The metadata arguments
    are ignored by recipes that do not include them.
    """
    head = (
        f'{{"market":{json.dumps(market)},"asset_id":{json.dumps(asset_id)},'
        f'"timestamp":"{timestamp}","hash":"",'
        f'"bids":[{_levels_json(bids_ascending)}],"asks":[{_levels_json(asks_descending)}]'
    )
    if recipe == "v1":
        body = head + "}"
    else:
        body = (
            f'{head},"min_order_size":{json.dumps(min_order_size)},'
            f'"tick_size":{json.dumps(tick_size)},"neg_risk":{"true" if neg_risk else "false"}'
        )
        if recipe == "v3":
            body += f',"last_trade_price":{json.dumps(last_trade_price)}'
        body += "}"
    return hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()
