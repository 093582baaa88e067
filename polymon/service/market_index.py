"""Tracked tokens by market, kept up to date as tokens are subscribed and dropped.

The life cycle asks for every tracked market on each Gamma poll; building that answer by
walking every tracked asset took tens of milliseconds of event loop at venue size. The index
answers in O(1) and costs O(1) per token subscribed or dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class MarketIndex:
    """condition id -> its tracked token ids (a token without a market is its own key)."""

    def __init__(self) -> None:
        self._tokens: dict[str, list[str]] = {}
        self._market: dict[str, str] = {}

    def add(self, asset_id: str, market: str) -> None:
        """Record a tracked token (idempotent); O(1)."""
        if asset_id in self._market:
            return
        key = market or asset_id
        self._market[asset_id] = key
        self._tokens.setdefault(key, []).append(asset_id)

    def remove(self, asset_id: str) -> None:
        """Forget a token (no-op if unknown); O(tokens of its market)."""
        key = self._market.pop(asset_id, None)
        if key is None:
            return
        tokens = self._tokens[key]
        tokens.remove(asset_id)
        if not tokens:
            del self._tokens[key]

    @property
    def markets(self) -> Mapping[str, Sequence[str]]:
        """The live index (read it, copy what you keep across an await); O(1)."""
        return self._tokens
