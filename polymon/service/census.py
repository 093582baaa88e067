"""The book census: every shard's books by served status, its markets and its open gaps.

`/health`, `/health/subscriptions` and `/metrics` used to count these by walking every tracked
asset inside the request: tens of milliseconds of event loop at 100,000 tokens, on every poll
or scrape. Now they read the census (O(shards)), and reading it asks for a fresh one: a task
walks the assets in slices of `SLICE_ASSETS` (about a millisecond each, yielding between
them) when the counts are older than `max_age_secs` and someone wants them. So the walk's
cost follows how often the figures are asked for (at most one pass per `max_age_secs`),
never the frame rate, and no step holds the loop for long. Counts can be one pass old.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import msgspec
import trio

from polymon.core.model import BookStatus
from polymon.service.shards import Shard

SLICE_ASSETS = 2_000


class ShardCensus(msgspec.Struct, frozen=True, kw_only=True):
    """One shard's counts as of its last pass."""

    books: dict[str, int]
    """Books by served status (every BookStatus, 0 included)."""
    markets: int
    gaps_open: dict[str, int]
    """Open gaps by reason."""


_EMPTY = ShardCensus(books={str(s): 0 for s in BookStatus}, markets=0, gaps_open={})


class Census:
    """The latest counts of every shard, and the task that refreshes them on demand."""

    def __init__(self, shards: Sequence[Shard], *, max_age_secs: float = 1.0) -> None:
        self.shards = shards
        self.max_age_secs = max_age_secs
        self.by_shard: list[ShardCensus] = [_EMPTY for _ in shards]
        self.as_of = -math.inf  # trio time the last complete pass began
        self.passes = 0
        self._wanted = trio.Event()

    def read(self) -> list[ShardCensus]:
        """The latest counts per shard (O(shards)); asks for a new pass if they are older
        than `max_age_secs`."""
        if trio.current_time() - self.as_of > self.max_age_secs:
            self._wanted.set()
        return self.by_shard

    def totals(self) -> Counter[str]:
        """Books by status over every shard, from `read()`."""
        total: Counter[str] = Counter()
        for shard in self.read():
            total.update(shard.books)
        return total

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Make a pass whenever one is asked for, until cancelled."""
        task_status.started()
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            await self.refresh()

    async def refresh(self) -> None:
        """One pass over every shard, in slices with a checkpoint between them."""
        began = trio.current_time()
        for i, shard in enumerate(self.shards):
            self.by_shard[i] = await _count(shard)
        self.as_of = began
        self.passes += 1


async def _count(shard: Shard) -> ShardCensus:
    state = shard.state
    assets = state.assets
    ids = list(assets)  # a copy: the dict may change between slices
    books: Counter[str] = Counter({str(s): 0 for s in BookStatus})
    gaps: Counter[str] = Counter()
    markets: set[str] = set()
    for start in range(0, len(ids), SLICE_ASSETS):
        if start:
            await trio.lowlevel.checkpoint()
        now = trio.current_time()
        for asset_id in ids[start : start + SLICE_ASSETS]:
            asset = assets.get(asset_id)
            if asset is None:
                continue  # dropped since the pass began
            books[state.status(asset, now)] += 1  # a StrEnum: counts under its str
            markets.add(asset.market)
            if asset.gap is not None:
                gaps[asset.gap.reason] += 1
    return ShardCensus(books=dict(books), markets=len(markets), gaps_open=dict(gaps))
