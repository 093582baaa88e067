"""Which shard holds which token: ownership, subscription, trigger placement and book views.

A token is placed by its market (condition id), so both tokens of a market share a shard
(arbitrage triggers see both books); a token never subscribed falls back to the hash of its
own id. The router is what the life cycle tracks markets through (`lifecycle.Tracker`), what
the trigger registry places triggers through (`alerts.TriggerRouting`) and what the read side
looks books up with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import trio

from polymon.core.model import AssetMeta, BookView
from polymon.core.shard import ShardState
from polymon.core.triggers import Trigger
from polymon.service.market_index import MarketIndex
from polymon.service.runstate import RestartGap
from polymon.service.shards import Shard, shard_of


class ShardRouter:
    """The owner of every tracked token among `shards`, and the tracked markets."""

    def __init__(self, shards: Sequence[Shard]) -> None:
        self.shards = shards
        self._owner: dict[str, int] = {}  # asset id -> shard index
        self._markets = MarketIndex()
        self._trigger_shard: dict[str, int] = {}

    # -- ownership ---------------------------------------------------------------------------
    def shard_for(self, asset_id: str) -> Shard:
        """The shard that owns `asset_id` (by its market once subscribed); O(1)."""
        index = self._owner.get(asset_id)
        if index is None:
            index = shard_of(asset_id, len(self.shards))
        return self.shards[index]

    def state_of(self, asset_id: str) -> ShardState:
        """The ShardState that owns `asset_id`; O(1)."""
        return self.shard_for(asset_id).state

    def tracks(self, asset_id: str) -> bool:
        """Whether a token is tracked; O(1)."""
        return asset_id in self._owner

    def has_book(self, asset_id: str) -> bool:
        """Whether a tracked token has received a book snapshot since it was subscribed."""
        state = self.state_of(asset_id).assets.get(asset_id)
        return state is not None and state.timestamp_ms > 0

    def tracked_markets(self) -> Mapping[str, Sequence[str]]:
        """Every tracked market: condition id -> its tracked token ids; O(1) (a live index)."""
        return self._markets.markets

    def market_of(self, asset_id: str) -> str | None:
        """The condition id of a tracked token, None if it is not tracked; O(1)."""
        state = self.state_of(asset_id).assets.get(asset_id)
        return state.market if state is not None else None

    def binary_markets(self) -> dict[str, tuple[str, str]]:
        """Tracked markets with exactly two tokens: condition id -> (YES, NO) by outcome order
        ("Yes" first when named, else the order Gamma listed them); O(tracked tokens)."""
        tokens: dict[str, list[tuple[str, str]]] = {}
        for shard in self.shards:
            for asset_id, state in shard.state.assets.items():
                if state.market:
                    tokens.setdefault(state.market, []).append((state.outcome, asset_id))
        out = {}
        for market, pair in tokens.items():
            if len(pair) == 2:
                pair.sort(key=lambda p: (p[0].lower() != "yes", p[0]))
                out[market] = (pair[0][1], pair[1][1])
        return out

    def book_view(self, asset_id: str, depth: int | None) -> BookView | None:
        """The served book of one asset, None if it is not tracked."""
        return self.state_of(asset_id).view(asset_id, trio.current_time(), depth)

    # -- subscription ------------------------------------------------------------------------
    async def subscribe(self, metas: Iterable[AssetMeta], *, gap: RestartGap | None = None) -> int:
        """Track and subscribe tokens on their shards (with `gap`, opened on each new one
        before it is subscribed); returns how many were new."""
        by_shard: dict[int, list[AssetMeta]] = {}
        for meta in metas:
            index = self._owner.get(meta.asset_id)
            if index is None:
                index = shard_of(meta.market or meta.asset_id, len(self.shards))
                self._owner[meta.asset_id] = index
                self._markets.add(meta.asset_id, meta.market)
            by_shard.setdefault(index, []).append(meta)
        added = 0
        for index, group in sorted(by_shard.items()):
            added += await self.shards[index].add(group, gap=gap)
        return added

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Unsubscribe tokens and drop their books."""
        by_shard: dict[int, list[str]] = {}
        for asset_id in asset_ids:
            index = self._owner.pop(asset_id, None)
            if index is not None:
                self._markets.remove(asset_id)
                by_shard.setdefault(index, []).append(asset_id)
        for index, group in sorted(by_shard.items()):
            await self.shards[index].remove(group)

    # -- triggers ----------------------------------------------------------------------------
    def place_trigger(self, trigger: Trigger) -> None:
        """Put a trigger on the shard of its asset (or of its market, before the asset is
        tracked); O(1)."""
        spec = trigger.spec
        index = self._owner.get(spec.asset_id)
        if index is None:
            index = shard_of(spec.condition_id or spec.asset_id, len(self.shards))
        self.shards[index].add_trigger(trigger)
        self._trigger_shard[trigger.trigger_id] = index

    def unplace_trigger(self, trigger: Trigger) -> None:
        """Take a placed trigger off its shard (no-op if it was never placed); O(1)."""
        index = self._trigger_shard.pop(trigger.trigger_id, None)
        if index is not None:
            self.shards[index].remove_trigger(trigger.trigger_id)
