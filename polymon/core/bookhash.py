"""Polymarket's book hash: SHA-1 of compact JSON of the book summary, for each known recipe.

Levels go in the order the server sends them (bids ascending, asks descending) with the server's
exact price and size strings, and `"hash": ""` while hashing. The field set changed over time:

    v1  (to mid 2025)   market, asset_id, timestamp, hash, bids, asks
    v2  (Jul-Nov 2025)  v1 + min_order_size, tick_size, neg_risk
    v3  (current)       v2 + last_trade_price

Verified against real captures (v1: Dec 2024, v2: Oct 2025, v3: Dec 2025 and Sep 2026; see
tests/data/polymarket/SOURCES.md). The v3 `last_trade_price` is the market's last trade price
with three decimals ("0.490"), one value for both tokens of a market (see `core.lasttrade`).

The body is built from three parts so that the hot path re-renders only what changed: a per-asset
`prefix` (market and asset id), the levels as JSON (`levels_json`, cached per side by the book)
and a `tail` (the metadata fields of the recipe).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Literal

Recipe = Literal["v1", "v2", "v3"]
RecipeSetting = Literal["auto", "v1", "v2", "v3"]
RECIPES: tuple[Recipe, ...] = ("v1", "v2", "v3")
EMPTY_BOOK_HASH = "0" * 40


_QUOTE_CACHE_LIMIT = 100_000
_quoted: dict[str, str] = {}
_sha1 = hashlib.sha1


def _quote(text: str) -> str:
    # Ids and metadata repeat on every hash; json.dumps them once.
    quoted = _quoted.get(text)
    if quoted is None:
        quoted = json.dumps(text, ensure_ascii=False)
        if len(_quoted) < _QUOTE_CACHE_LIMIT:
            _quoted[text] = quoted
    return quoted


def level_json(price: str, size: str) -> str:
    """One level as the venue hashes it: `{"price":"0.5","size":"10"}`; O(1)."""
    # Prices and sizes are venue decimal strings: digits and a dot, nothing JSON must escape.
    return f'{{"price":"{price}","size":"{size}"}}'


def levels_json(levels: Iterable[tuple[str, str] | tuple[str, str, float]]) -> str:
    """The JSON array body (without brackets) of levels in the given order; O(levels).

    Each level starts with its venue price and size strings (extra fields are ignored).
    """
    return ",".join([level_json(v[0], v[1]) for v in levels])


def summary_prefix(market: str, asset_id: str) -> str:
    """The start of every body of one asset, up to the timestamp's opening quote; O(1)."""
    return f'{{"market":{_quote(market)},"asset_id":{_quote(asset_id)},"timestamp":"'


def summary_tail(
    recipe: Recipe,
    min_order_size: str = "",
    tick_size: str = "",
    neg_risk: bool = False,
    last_trade_price: str = "",
) -> str:
    """The end of a body after the asks: the recipe's metadata fields and the closing brace."""
    if recipe == "v1":
        return "}"
    tail = (
        f',"min_order_size":{_quote(min_order_size)},'
        f'"tick_size":{_quote(tick_size)},"neg_risk":{"true" if neg_risk else "false"}'
    )
    if recipe == "v3":
        tail += f',"last_trade_price":{_quote(last_trade_price)}'
    return tail + "}"


def digest(prefix: str, timestamp: str, bids_json: str, asks_json: str, tail: str) -> str:
    """The venue hash of a body assembled from its parts; O(size of the body)."""
    body = f'{prefix}{timestamp}","hash":"","bids":[{bids_json}],"asks":[{asks_json}]{tail}'
    return _sha1(body.encode(), usedforsecurity=False).hexdigest()


def summary_hash(
    recipe: Recipe,
    *,
    market: str,
    asset_id: str,
    timestamp: str,
    bids_json: str,
    asks_json: str,
    min_order_size: str = "",
    tick_size: str = "",
    neg_risk: bool = False,
    last_trade_price: str = "",
) -> str:
    """The venue hash from pre-rendered level JSON (see `levels_json`); O(size of the JSON)."""
    return digest(
        summary_prefix(market, asset_id),
        timestamp,
        bids_json,
        asks_json,
        summary_tail(recipe, min_order_size, tick_size, neg_risk, last_trade_price),
    )


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
    return summary_hash(
        recipe,
        market=market,
        asset_id=asset_id,
        timestamp=timestamp,
        bids_json=levels_json(bids_ascending),
        asks_json=levels_json(asks_descending),
        min_order_size=min_order_size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        last_trade_price=last_trade_price,
    )
