"""Periodic L2 snapshot rows, proportional to change and spread over time.

Each run (the `snapshots` job, every `storage.snapshot_interval_secs`) takes from every shard
the books changed since their last row, O(changed), plus the next share of the keyframe cycle,
which snapshots every book once per `storage.keyframe_interval_secs` whether it changed or
not. The rows are made in slices of at most `SLICE_LEVELS` levels, spread evenly over
`SPREAD` of the interval: a steady trickle of small steps (well under 2 ms each) instead of
a burst, so the event loop never waits on it. Idle books cost nothing but their keyframe.
The shards also write a row whenever a book is rebuilt from a venue snapshot and when it is
dropped (`core.shard`), so snapshot rows plus level changes always replay a book exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import msgspec
import trio

from polymon.clock import wall_us
from polymon.config import StorageConfig
from polymon.service.shards import Shard

SLICE_LEVELS = 4_000
"""Levels per slice: about 0.5 ms of row building in the running service."""
SPREAD = 0.5
"""Share of the interval a run's slices are spread over (it ends well before the next run)."""


class SnapshotRun(msgspec.Struct, frozen=True, kw_only=True):
    """What one run wrote (its result in /cron/health)."""

    changed: int
    keyframes: int
    rows: int
    slices: int


class _Cycle:
    """One shard's keyframe cycle: its assets when the cycle began, and how far it got."""

    __slots__ = ("assets", "position")

    def __init__(self, assets: list[str]) -> None:
        self.assets = assets
        self.position = 0


class Snapshotter:
    """Writes the periodic snapshot rows of every shard (see the module docstring)."""

    def __init__(self, shards: Sequence[Shard], cfg: StorageConfig) -> None:
        self.shards = shards
        self.interval_secs = cfg.snapshot_interval_secs
        self.keyframe_interval_secs = cfg.keyframe_interval_secs
        self._cycles: dict[int, _Cycle] = {}

    def _keyframe_share(self, shard: Shard) -> list[str]:
        """The next assets of this shard's keyframe cycle: enough that a cycle takes
        `keyframe_interval_secs`; O(share), plus O(assets) when a new cycle begins."""
        if self.keyframe_interval_secs <= 0 or self.interval_secs <= 0:
            return []
        cycle = self._cycles.get(shard.index)
        if cycle is None or cycle.position >= len(cycle.assets):
            cycle = self._cycles[shard.index] = _Cycle(list(shard.state.assets))
        runs = max(1.0, self.keyframe_interval_secs / self.interval_secs)
        share = math.ceil(len(cycle.assets) / runs)
        taken = cycle.assets[cycle.position : cycle.position + share]
        cycle.position += share
        return taken

    async def run(self) -> SnapshotRun:
        """One run: every changed book and this run's keyframes, in paced slices.

        A slice is cut as it is made (O(its books)), and the pause after it is its share of
        the spread by book count, so neither the cutting nor the rows ever come in a burst.
        """
        work = []
        changed = keyframes = 0
        for shard in self.shards:
            dirty = shard.state.take_changed()
            due = self._keyframe_share(shard)
            changed += len(dirty)
            keyframes += len(due)
            # Keyframes first: a changed book among them is then not written twice.
            work += [(shard, "keyframe", due, False), (shard, "changed", dirty, True)]
        per_book = self.interval_secs * SPREAD / max(changed + keyframes, 1)
        rows = slices = 0
        pause = 0.0
        for shard, reason, ids, only in work:
            for piece in _slices(shard, ids, SLICE_LEVELS):
                if slices:
                    await trio.sleep(pause)
                made = shard.state.snapshot_rows(
                    piece, trio.current_time(), wall_us(), reason, changed_only=only
                )
                shard.sinks.rows["snapshots"].put(made)
                rows += len(made)
                slices += 1
                pause = per_book * len(piece)
        return SnapshotRun(changed=changed, keyframes=keyframes, rows=rows, slices=slices)


def _slices(shard: Shard, asset_ids: list[str], max_levels: int) -> Iterator[list[str]]:
    """`asset_ids` cut into consecutive runs of at most `max_levels` book levels (at least one
    book each); O(len(asset_ids))."""
    assets = shard.state.assets
    piece: list[str] = []
    levels = 0
    for asset_id in asset_ids:
        state = assets.get(asset_id)
        size = len(state.book) if state is not None else 0
        if piece and levels + size > max_levels:
            yield piece
            piece, levels = [], 0
        piece.append(asset_id)
        levels += size
    if piece:
        yield piece
