"""What a shard's books look like from outside: their snapshot rows and served views.

A book's rows (see README, Storage): one whenever the book is rebuilt from a venue snapshot
(`ws_snapshot`, `rest_snapshot`), one when it is dropped (`final`), and the periodic ones the
service asks for: `changed` books since their last row, and `keyframe`s of every book. Its
level-change rows in between, in seq order, replay it.
"""

from __future__ import annotations

from collections.abc import Iterable

from polymon.core.asset import AssetState, SnapshotRow
from polymon.core.book import ASK, BID
from polymon.core.gaps import GapTracker
from polymon.core.model import BookView, LevelView
from polymon.core.policy import Policy
from polymon.core.prices import format_mid, spread_bps


class BookRows(GapTracker):
    """Snapshot rows and served views of one shard's books."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self._changed: dict[str, None] = {}  # books changed since their last row, in order

    def take_changed(self) -> list[str]:
        """The books changed since their last snapshot row (in the order they first changed),
        starting a new list; O(changed). Ones snapshotted or dropped since are skipped by
        `snapshot_rows(..., changed_only=True)`."""
        taken, self._changed = self._changed, {}
        return list(taken)

    def snapshot_rows(
        self,
        asset_ids: Iterable[str],
        now: float,
        wall_us: int,
        reason: str,
        *,
        changed_only: bool,
    ) -> list[SnapshotRow]:
        """A snapshot row of each of these tracked books that has ever had a snapshot (with
        `changed_only`: that changed since its last row); O(their levels)."""
        rows = []
        for asset_id in asset_ids:
            state = self.assets.get(asset_id)
            if state is not None and state.timestamp_ms and (state.dirty or not changed_only):
                rows.append(self._snapshot_row(state, now, wall_us, reason))
        return rows

    def _snapshot_row(
        self, state: AssetState, now: float, wall_us: int, reason: str
    ) -> SnapshotRow:
        book = state.book
        bid_prices, bid_sizes = book.side_units(BID)
        ask_prices, ask_sizes = book.side_units(ASK)
        state.dirty = False
        self.seq += 1
        return (
            state.asset_id, state.market, state.timestamp_ms, wall_us, reason,
            str(self.status(state, now)), state.hash, state.tick_size,
            bid_prices, bid_sizes, ask_prices, ask_sizes, self.seq,
        )  # fmt: skip

    def view(self, asset_id: str, now: float, depth: int | None = None) -> BookView | None:
        """The served form of one book (None if untracked). O(depth)."""
        state = self.assets.get(asset_id)
        if state is None:
            return None
        book = state.book
        bb, ba = book.best_bid, book.best_ask
        return BookView(
            asset_id=asset_id,
            condition_id=state.market,
            bids=[LevelView(p, s) for p, s, _ in book.levels(BID, depth)],
            asks=[LevelView(p, s) for p, s, _ in book.levels(ASK, depth)],
            # The venue's own strings, as in the levels ("0.20" stays "0.20").
            best_bid=None if bb is None else book.bids[bb][0],
            best_ask=None if ba is None else book.asks[ba][0],
            mid_price=format_mid(bb, ba) if bb is not None and ba is not None else None,
            spread_bps=spread_bps(bb, ba) if bb is not None and ba is not None else None,
            timestamp_ms=state.timestamp_ms,
            status=self.status(state, now),
            tick_size=state.tick_size,
            hash=state.hash,
        )
