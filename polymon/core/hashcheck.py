"""Venue hash verification for one shard: which recipe, which timestamp, which last trade price.

`HashVerifier.verify` is on the hot path. Its fast path renders the body from the book's cached
side JSON and the asset's cached prefix with the values that verified last time (recipe,
timestamp offset, last trade price) and hashes it once. Only a miss searches: the market's
other last-trade guesses (`core.lasttrade`), earlier timestamps up to the slack, and, while no
recipe is locked, every known recipe.

`auto` (the default) locks on the first recipe that reproduces a venue hash (books on
subscribe do within the first frame) and relocks when the venue changes: a failure whose book
verifies under another known recipe switches at once, and failures on several assets in a row
unlock the recipe (`note_decided`), so that a new, unknown recipe is counted as unverifiable
instead of opening a gap on every asset. The timestamp slack is detected the same way: the 2024
server hashed deltas 4-11 ms before the timestamp it sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

from polymon.core.asset import AssetState
from polymon.core.book import ASK, BID
from polymon.core.bookhash import Recipe, RecipeSetting, digest, summary_prefix, summary_tail

AUTO_SLACK_MS = 15  # the slack `auto` tries when none is configured (2024: 4-11 ms)
_DETECT_ORDER: tuple[Recipe, ...] = ("v3", "v2", "v1")  # newest first
_DETECTIONS_PER_SEC = 50  # full searches while no recipe is locked (each ~30 hashes)
_REDETECT_FAILS = 6  # decided failures in a row...
_REDETECT_ASSETS = 3  # ...on this many assets: the recipe changed, not every book at once


class RecipeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What `/shards/status` shows of a shard's hash recipe."""

    setting: str  # auto | v1 | v2 | v3
    recipe: str  # the recipe in use, "" while detecting
    timestamp_slack_ms: int
    locks: int  # times a recipe was locked (first detection included)
    unlocks: int  # times failures on many assets sent `auto` back to detecting


class HashVerifier:
    """Checks venue hashes of one shard's books and learns the recipe that reproduces them."""

    __slots__ = (
        "_budget", "_budget_second", "_fail_assets", "_offset", "auto", "failing", "locks",
        "max_slack", "recipe", "setting", "slack", "unlocks",
    )  # fmt: skip

    def __init__(self, setting: RecipeSetting, slack_ms: int = 0) -> None:
        self.setting = setting
        self.auto = setting == "auto"
        self.recipe: Recipe | None = None if setting == "auto" else setting
        # auto starts without slack and widens to max_slack only when a hash needs it.
        self.max_slack = slack_ms if slack_ms or not self.auto else AUTO_SLACK_MS
        self.slack = 0 if self.auto else slack_ms
        self._offset = 0  # the timestamp offset that verified last (tried first)
        self.locks = 0
        self.unlocks = 0
        self.failing = 0  # decided misses since the last decided verification
        self._fail_assets: set[str] = set()
        self._budget = 0
        self._budget_second = -math.inf

    def status(self) -> RecipeStatus:
        """The current setting, locked recipe and slack."""
        return RecipeStatus(
            setting=self.setting, recipe=self.recipe or "", timestamp_slack_ms=self.slack,
            locks=self.locks, unlocks=self.unlocks,
        )  # fmt: skip

    # -- checks ---------------------------------------------------------------------------
    def verify(
        self,
        asset: AssetState,
        expected: str,
        timestamp_ms: int,
        price: str = "",
        now: float = 0.0,
    ) -> bool:
        """True when the asset's book reproduces `expected` (a delta's hash at its timestamp).

        `price` is the level the message touched: a trade moves the last trade price to the
        price it consumed. O(levels) on the fast path; a miss costs a few more hashes.
        """
        recipe = self.recipe
        if recipe is None:
            return self._detect(asset, expected, timestamp_ms, (price,) if price else (), now)
        book = asset.book
        bids, asks = book.side_json(BID), book.side_json(ASK)
        prefix = asset.hash_prefix or _prefix(asset)
        key = (recipe, asset.trade.value)
        if asset.hash_tail_for != key:
            asset.hash_tail_for = key
            asset.hash_tail = summary_tail(
                recipe, asset.min_order_size, asset.tick_size, asset.neg_risk, key[1]
            )
        if (
            digest(prefix, str(timestamp_ms - self._offset), bids, asks, asset.hash_tail)
            == expected
        ):
            if recipe == "v3":
                asset.trade.known = True
            return True
        prices = (price,) if price else ()
        if self._search(asset, recipe, expected, timestamp_ms, self.slack, prices) is not None:
            return True
        if self.auto and self.slack < self.max_slack:
            offset = self._search(asset, recipe, expected, timestamp_ms, self.max_slack, prices)
            if offset is not None:
                self.slack = self.max_slack
                return True
        return False

    def verify_snapshot(
        self, asset: AssetState, expected: str, timestamp_ms: int, prices: Sequence[str], now: float
    ) -> bool:
        """True when a snapshot's own hash verifies (books hash their own timestamp).

        A snapshot is the strongest evidence of a recipe: one that verifies under another
        known recipe switches to it. `prices` are levels the last trade may have been at.
        """
        recipe = self.recipe
        if recipe is None:
            return self._detect(asset, expected, timestamp_ms, prices, now, slack=False)
        found = self._search(asset, recipe, expected, timestamp_ms, 0, prices, snapshot=True)
        if found is not None:
            return True
        return self.switch(asset, expected, timestamp_ms, prices, slack=False)

    def switch(
        self,
        asset: AssetState,
        expected: str,
        timestamp_ms: int,
        prices: Sequence[str] = (),
        *,
        slack: bool = True,
    ) -> bool:
        """Try the other known recipes on a hash the locked one missed; lock the one that
        verifies (the venue changed its recipe). Only in `auto`. Up to ~30 hashes."""
        if not self.auto:
            return False
        for recipe in _DETECT_ORDER:
            if recipe != self.recipe and self._try_recipe(
                asset, recipe, expected, timestamp_ms, prices, slack
            ):
                return True
        return False

    def unverifiable(self, asset: AssetState) -> bool:
        """True when a miss cannot tell a gap: no recipe yet, or the market's last trade price
        (part of v3) is not known since its latest trade."""
        return self.recipe is None or (self.recipe == "v3" and not asset.trade.known)

    def note_decided(self, asset_id: str, ok: bool) -> bool:
        """Record a decided check; True when misses on many assets in a row unlocked the
        recipe (`auto` detects again). O(1)."""
        if ok:
            if self.failing:
                self.failing = 0
                self._fail_assets.clear()
            return False
        self.failing += 1
        self._fail_assets.add(asset_id)
        if (
            self.auto
            and self.recipe is not None
            and self.failing >= _REDETECT_FAILS
            and len(self._fail_assets) >= _REDETECT_ASSETS
        ):
            self.recipe = None
            self.slack = 0
            self.unlocks += 1
            self.failing = 0
            self._fail_assets.clear()
            return True
        return False

    # -- internals ------------------------------------------------------------------------
    def _detect(
        self,
        asset: AssetState,
        expected: str,
        timestamp_ms: int,
        prices: Sequence[str],
        now: float,
        *,
        slack: bool = True,
    ) -> bool:
        second = math.floor(now)
        if second != self._budget_second:
            self._budget_second, self._budget = second, 0
        if self._budget >= _DETECTIONS_PER_SEC:
            return False
        self._budget += 1
        return any(
            self._try_recipe(asset, recipe, expected, timestamp_ms, prices, slack)
            for recipe in _DETECT_ORDER
        )

    def _try_recipe(
        self,
        asset: AssetState,
        recipe: Recipe,
        expected: str,
        timestamp_ms: int,
        prices: Sequence[str],
        slack: bool,
    ) -> bool:
        # Only v1 was ever hashed at an earlier timestamp (2024).
        max_offset = self.max_slack if slack and recipe == "v1" else 0
        offset = self._search(asset, recipe, expected, timestamp_ms, max_offset, prices,
                              snapshot=not slack)  # fmt: skip
        if offset is None:
            return False
        self.recipe = recipe
        self.slack = self.max_slack if offset else 0
        self.locks += 1
        self.failing = 0
        self._fail_assets.clear()
        return True

    def _search(
        self,
        asset: AssetState,
        recipe: Recipe,
        expected: str,
        timestamp_ms: int,
        max_offset: int,
        prices: Iterable[str],
        *,
        snapshot: bool = False,
    ) -> int | None:
        """The timestamp offset (0..max_offset) and last trade guess that reproduce `expected`;
        confirms the guess. None if nothing does. O(offsets x guesses) hashes."""
        book = asset.book
        bids, asks = book.side_json(BID), book.side_json(ASK)
        prefix = asset.hash_prefix or _prefix(asset)
        trade = asset.trade
        moq, tick, neg = asset.min_order_size, asset.tick_size, asset.neg_risk
        # The offset that verified last first: consecutive deltas of an era share it.
        offsets: Iterable[int] = range(max_offset + 1)
        if 0 < self._offset <= max_offset and not snapshot:
            offsets = [self._offset, *(o for o in offsets if o != self._offset)]
        for offset in offsets:
            timestamp = str(timestamp_ms - offset)
            for guess in trade.guesses(prices) if recipe == "v3" else ("",):
                tail = summary_tail(recipe, moq, tick, neg, guess)
                if digest(prefix, timestamp, bids, asks, tail) == expected:
                    if recipe == "v3":
                        trade.confirm(guess)
                    if not snapshot:
                        self._offset = offset
                    return offset
        return None


def _prefix(asset: AssetState) -> str:
    prefix = asset.hash_prefix = summary_prefix(asset.market, asset.asset_id)
    return prefix
