"""The sync state of a shard's books: gaps opened and resolved, resyncs due, served status.

The base of `ShardState` (core.shard): it holds what every part of a shard shares (policy,
assets, output rows, counts, row sequence) and the state machine every check ends in: a
suspect book opens a gap and, in `resync` mode, waits for a REST snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from polymon.core.asset import AssetState, ShardOutput
from polymon.core.model import BookStatus, GapEvent, Phase
from polymon.core.policy import Policy


class GapTracker:
    """Gaps, resyncs and the served status of one shard's books."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.assets: dict[str, AssetState] = {}
        self.out = ShardOutput()
        self.counts: Counter[str] = Counter()
        self.seq = 0
        self._waiting: set[str] = set()  # assets that take_resyncs must look at

    def mark_gap(self, asset_ids: Iterable[str], reason: str, *, since_us: int, detail: str) -> int:
        """Open a gap that began at `since_us` on each tracked asset that has none (whatever
        its phase), resolved by its next snapshot like any other; e.g. `restart`, the downtime
        after an unclean stop. Returns how many were opened. O(assets)."""
        opened = 0
        for asset_id in asset_ids:
            state = self.assets.get(asset_id)
            if state is not None and state.gap is None:
                self._open_gap(state, reason, since_us, detail)
                opened += 1
        return opened

    def on_disconnect(self, asset_ids: Iterable[str], reason: str, *, wall_us: int) -> None:
        """A connection dropped (or froze): its books are stale until their next snapshot."""
        for asset_id in asset_ids:
            state = self.assets.get(asset_id)
            if state is None:
                continue
            if state.phase != Phase.AWAITING:
                self._open_gap(state, reason, wall_us, "")
            state.phase = Phase.AWAITING
            state.buffer = []
            state.resync_due = False

    def take_resyncs(self, now: float) -> list[str]:
        """Assets whose REST resync is due now (at most one per asset per min interval).

        Only assets waiting for a resync or a post-tick-change book are looked at, so the
        shell can call this every flush. O(waiting assets).
        """
        due: list[str] = []
        interval = self.policy.resync_min_interval_secs
        grace = self.policy.epoch_grace_secs
        for asset_id in list(self._waiting):
            state = self.assets.get(asset_id)
            if state is None or not (state.resync_due or state.phase == Phase.EPOCH):
                self._waiting.discard(asset_id)  # resolved by a snapshot, or untracked
                continue
            if state.phase == Phase.EPOCH and now - state.epoch_since >= grace:
                state.phase = Phase.RESYNCING  # the post-tick-change book is late: fetch it
                state.resync_due = True
            if state.resync_due and now - state.last_resync >= interval:
                state.resync_due = False
                state.last_resync = now
                due.append(asset_id)
                self._waiting.discard(asset_id)
        return due

    def resync_failed(self, asset_id: str) -> None:
        """A REST resync did not deliver; try again after the min interval."""
        state = self.assets.get(asset_id)
        if state is not None and state.phase == Phase.RESYNCING:
            state.resync_due = True
            self._waiting.add(asset_id)
            self.counts["resync_failed"] += 1

    def status(self, state: AssetState, now: float) -> BookStatus:
        """Served status of a book: fresh, stale (no snapshot / no update lately) or resyncing."""
        if state.phase == Phase.SYNCED:
            if now - state.last_update > self.policy.stale_after_secs:
                return BookStatus.STALE
            return BookStatus.FRESH
        if state.phase == Phase.AWAITING:
            return BookStatus.STALE
        return BookStatus.RESYNCING

    def _suspect(
        self, state: AssetState, reason: str, mode: str, now: float, wall_us: int, detail: str
    ) -> None:
        self.counts[reason] += 1
        self._open_gap(state, reason, wall_us, detail)
        self._resync_if(state, mode)

    def _resync_if(self, state: AssetState, mode: str) -> None:
        if mode == "resync" and state.phase == Phase.SYNCED:
            state.phase = Phase.RESYNCING
            state.buffer = []
            state.resync_due = True
            self._waiting.add(state.asset_id)

    def _open_gap(self, state: AssetState, reason: str, wall_us: int, detail: str) -> None:
        if state.gap is not None:
            return
        state.gap = GapEvent(
            asset_id=state.asset_id, market=state.market, reason=reason,
            detected_us=wall_us, detail=detail,
        )  # fmt: skip
        self.out.gaps.append(state.gap)
        self.counts["gaps_opened"] += 1
        self.counts["gap_" + reason] += 1  # per-reason totals for /metrics

    def _resolve(self, state: AssetState, wall_us: int, how: str) -> None:
        gap = state.gap
        if gap is None:
            return
        state.gap = None
        # A new record, not a mutation: the open one may already sit in a writer batch.
        self.out.gaps.append(msgspec.structs.replace(gap, resolved_us=wall_us, how=how))
        self.counts["gaps_resolved"] += 1
