"""ShardState: the books of one shard, their integrity state and the rows they produce.

Pure and synchronous: the async shell (`service.shards`) decodes frames, calls these methods
with the time (`now`, monotonic seconds, for windows and rate limits; `wall_us`, epoch
microseconds, for stored records) and drains `out` in bulk. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from polymon.core.asset import AssetState, trade_id
from polymon.core.book import ASK, BID, LevelUpdate, OrderBook
from polymon.core.bookrows import BookRows
from polymon.core.hashmiss import HASH_SETTLE_SECS, HashChecks
from polymon.core.integrity import bbo_agrees, changed_prices, one_trade_apart
from polymon.core.lasttrade import MarketTrade
from polymon.core.model import Arrival, AssetMeta, Phase
from polymon.core.policy import Policy
from polymon.core.prices import (
    cached_price,
    parse_price,
    parse_size,
    parse_timestamp_ms,
)
from polymon.core.triggers import Trigger, TriggerTable
from polymon.core.triggers.spec import trigger_assets
from polymon.errors import BadNumber

__all__ = ["HASH_SETTLE_SECS", "Policy", "ShardState"]

_AWAITING, _EPOCH, _RESYNCING = Phase.AWAITING, Phase.EPOCH, Phase.RESYNCING


def _parse_levels(levels: Iterable[tuple[str, str]]) -> list[LevelUpdate]:
    return [(parse_price(p), p, s, parse_size(s)) for p, s in levels]


class ShardState(BookRows, HashChecks):
    """The books of one shard and the integrity state machine around them: subscriptions
    and venue events here; sync state (`core.gaps`), venue hashes (`core.hashmiss`), rows
    and views (`core.bookrows`) in the parts it is built from."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self._markets: dict[str, MarketTrade] = {}  # condition id -> its hashed last trade
        self.messages = 0
        self.level_updates = 0
        self.triggers = TriggerTable()

    # -- triggers ---------------------------------------------------------------------
    def add_trigger(self, trigger: Trigger, now: float) -> None:
        """Register a trigger in this shard's table (raises BadRequest for a duplicate id)."""
        self.triggers.add(trigger, now)
        self._rewatch(trigger)

    def remove_trigger(self, trigger_id: str) -> bool:
        """Drop a trigger; False if this shard does not hold it."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None or not self.triggers.remove(trigger_id):
            return False
        self._rewatch(trigger)
        return True

    def _rewatch(self, trigger: Trigger) -> None:
        for asset_id in trigger_assets(trigger):
            state = self.assets.get(asset_id)
            if state is not None:
                state.watched = self.triggers.watching(asset_id)

    # -- subscription -----------------------------------------------------------------
    def track(self, meta: AssetMeta) -> AssetState:
        """Start tracking a token (idempotent); its book waits for a snapshot. O(1)."""
        state = self.assets.get(meta.asset_id)
        if state is None:
            state = self.assets[meta.asset_id] = AssetState(meta)
            state.watched = self.triggers.watching(meta.asset_id)
            self._bind_market(state, meta.market)
        return state

    def _bind_market(self, state: AssetState, market: str) -> None:
        # Both tokens of a market hash one last trade price: they share its MarketTrade.
        old = state.trade
        if state in old.assets:
            old.assets.remove(state)
        trade = self._markets.get(market) if market else None
        if trade is None:
            trade = MarketTrade()
            if market:
                self._markets[market] = trade
        trade.assets.append(state)
        state.trade = trade
        state.market = market
        state.hash_prefix = ""

    def untrack(self, asset_id: str, wall_us: int, now: float = 0.0) -> None:
        """Stop tracking a token and drop its book after a final snapshot row; an open gap is
        closed as `unsubscribed`."""
        state = self.assets.pop(asset_id, None)
        if state is None:
            return
        if state.phase != Phase.AWAITING or state.timestamp_ms:
            self.out.snapshots.append(self._snapshot_row(state, now, wall_us, "final"))
        if state.gap is not None:
            self._resolve(state, wall_us, "unsubscribed")
        self._waiting.discard(asset_id)
        self._pending.pop(asset_id, None)
        trade = state.trade
        trade.assets.remove(state)
        if not trade.assets and self._markets.get(state.market) is trade:
            del self._markets[state.market]
        self._changed.pop(asset_id, None)

    # -- venue events -----------------------------------------------------------------
    def on_book(
        self,
        asset_id: str,
        market: str,
        timestamp_ms: int,
        venue_hash: str,
        bids: Sequence[tuple[str, str]],
        asks: Sequence[tuple[str, str]],
        *,
        now: float,
        wall_us: int,
        tick_size: str = "",
        last_trade_price: str = "",
        min_order_size: str = "",
        neg_risk: bool | None = None,
        source: str = "ws_snapshot",
    ) -> None:
        """Replace a book with a snapshot (WS `book` or REST), closing any open gap.

        A snapshot that disagrees with a book believed in sync is itself a gap (missed
        deltas), recorded as `checkpoint_mismatch` and resolved by this snapshot, unless its
        own hash verifies and one trade explains the difference (`checkpoint_trade`).
        Raises BadNumber (before changing anything) for an unparseable level.
        """
        state = self.assets.get(asset_id)
        if state is None:
            self.counts["skipped_untracked"] += 1
            return
        if source == "rest_snapshot" and state.phase != Phase.RESYNCING:
            self.counts["rest_snapshot_unneeded"] += 1
            return
        book = state.book
        # Most snapshots of a book in sync repeat it: then there is nothing to parse or refill.
        parsed = (
            None
            if state.phase == Phase.SYNCED and book.holds_exactly(bids, asks)
            else (_parse_levels(bids), _parse_levels(asks))
        )
        self.messages += 1
        if market and market != state.market:
            self._bind_market(state, market)
        if tick_size:
            state.tick_size = tick_size
        if last_trade_price:
            state.trade.confirm(last_trade_price)  # the market's value, for both its tokens
        if min_order_size:
            state.min_order_size = min_order_size
        if neg_risk is not None:
            state.neg_risk = neg_risk
        self.level_updates += len(bids) + len(asks)
        state.hash_tail_for = ("", "")  # the metadata may have moved
        # Where the last trade may have been: the levels this snapshot moved, and the touch.
        traded = _touch(book)
        differs = False
        one_trade = False
        if parsed is not None:
            if state.phase == Phase.SYNCED and not book.same_levels(*parsed):
                differs = True
                one_trade = one_trade_apart(book, *parsed)
                traded += changed_prices(book, *parsed)
            book.replace(*parsed)
            traded += _touch(book)
        missed = state.pending_hash  # a delta hash held unverified until this snapshot
        held = state.pending_held
        self._clear_pending(state)
        buffered, state.buffer = state.buffer, []
        replayed = 0
        for ts, side, (price, pt, st, size) in buffered:
            if ts > timestamp_ms:
                book.set_level(side, price, pt, st, size)
                replayed += 1
        self.counts["resync_replayed"] += replayed
        verified = False
        if venue_hash and self.policy.hash_mode != "off" and not replayed:
            carried = bool(last_trade_price)
            verified = self._self_check(state, timestamp_ms, venue_hash, carried, traded, now)
        if differs and self.policy.mode != "off":
            if missed:
                self.counts["hash_mismatch"] += 1  # the held miss was a real difference
                self._open_gap(state, "hash_mismatch", wall_us, missed)
            elif verified and one_trade:
                # The venue vouches for the book, and one taker order explains the difference:
                # a trade reported only by a new book (an era of the venue), not a missed delta.
                self.counts["checkpoint_trade"] += 1
            else:
                self._open_gap(state, "checkpoint_mismatch", wall_us, f"snapshot ts {timestamp_ms}")
        elif missed:
            self.counts["hash_superseded"] += held  # the snapshot shows the book was right
        state.phase = Phase.SYNCED
        state.resync_due = False
        state.timestamp_ms = max(timestamp_ms, state.timestamp_ms) if replayed else timestamp_ms
        state.hash = venue_hash
        state.last_update = now
        if parsed is not None:  # rebuilt: a row, so that later level changes replay onto it
            self.out.snapshots.append(self._snapshot_row(state, now, wall_us, source))
        if state.gap is not None:
            self._resolve(state, wall_us, source)
        if book.crossed:
            self._suspect(state, "crossed", self.policy.mode, now, wall_us, "after snapshot")
        self._top_changed(state, timestamp_ms, wall_us, now)

    def on_level(
        self,
        asset_id: str,
        side: int,
        price_text: str,
        size_text: str,
        at: Arrival,
        venue_hash: str = "",
        best_bid: str | None = "",
        best_ask: str | None = "",
    ) -> None:
        """Apply one level update (size is the new total) of the message `at` describes, and
        run the integrity checks.

        `side` is BID or ASK; `best_bid`/`best_ask` are the venue's top of book after it
        (see `integrity.bbo_agrees`: "" not said, None that side is empty). Ignored while the
        book waits for a snapshot. Raises BadNumber (before changing anything) for an
        unparseable price or size, or a side that is neither. This is the hot path: O(log n).
        """
        market, timestamp_ms, now, wall_us = at
        if self._pending:
            self._settle(now, wall_us)
        state = self.assets.get(asset_id)
        if state is None:
            self.counts["skipped_untracked"] += 1
            return
        phase = state.phase
        if phase is _AWAITING or phase is _EPOCH:
            self.counts["skipped_awaiting_snapshot"] += 1
            return
        book = state.book
        if side == BID:
            best_before = book.best_bid
        elif side == ASK:
            best_before = book.best_ask
        else:
            raise BadNumber(f"side {side!r} is neither bid nor ask")
        price = cached_price(price_text)
        if price is None:
            price = parse_price(price_text)
        size = parse_size(size_text)
        previous = book.set_level(side, price, price_text, size_text, size)
        best_after = book.best_bid if side == BID else book.best_ask
        self.level_updates += 1
        self.seq += 1
        self.out.levels.append(
            (asset_id, state.market or market, timestamp_ms, wall_us, side, price,
             size_text, size, previous, self.seq)
        )  # fmt: skip
        state.last_update = now
        if timestamp_ms > state.timestamp_ms:
            state.timestamp_ms = timestamp_ms
        state.hash = venue_hash
        if not state.dirty:
            state.dirty = True
            self._changed[asset_id] = None
        policy = self.policy
        if phase is _RESYNCING:
            check_top = False
            if len(state.buffer) < policy.resync_buffer_messages:
                state.buffer.append((timestamp_ms, side, (price, price_text, size_text, size)))
            else:
                self.counts["resync_buffer_full"] += 1
        elif venue_hash and policy.hash_mode != "off":
            # The hash decides; the top of book is checked only once a miss is decided (a
            # trade's first messages state the top and hash of the state after the last one).
            missed = self._check_hash(state, venue_hash, timestamp_ms, price_text, now, wall_us)
            check_top = missed and policy.mode != "off"
        else:
            check_top = policy.mode != "off"
        if check_top:
            bb, ba = book.best_bid, book.best_ask
            if (best_bid != "" or best_ask != "") and not bbo_agrees(bb, ba, best_bid, best_ask):
                detail = f"venue {best_bid}/{best_ask}"
                self._suspect(state, "bbo_mismatch", policy.mode, now, wall_us, detail)
            elif bb is not None and ba is not None and bb >= ba:
                self._suspect(state, "crossed", policy.mode, now, wall_us, "after delta")
        if state.watched:
            self.triggers.on_level(
                asset_id, side, price, size, previous, timestamp_ms, wall_us, now, book
            )
        # The top of book moved only if this side's best moved or its size changed.
        if best_after != best_before or price == best_after:
            self._top_changed(state, timestamp_ms, wall_us, now)

    def on_trade(
        self,
        asset_id: str,
        price_text: str,
        size_text: str,
        side: str,
        timestamp: str,
        *,
        wall_us: int,
        now: float = 0.0,
        fee_rate_bps: str = "0",
        transaction_hash: str = "",
        market: str = "",
    ) -> None:
        """Record a trade once (replays after a reconnect are dropped by deterministic id)."""
        state = self.assets.get(asset_id)
        if state is None:
            self.counts["skipped_untracked"] += 1
            return
        price = parse_price(price_text)
        size = parse_size(size_text)
        timestamp_ms = parse_timestamp_ms(timestamp)
        tid = trade_id(asset_id, timestamp, price_text, size_text, side, transaction_hash)
        if tid in state.recent_trades:
            self.counts["trade_duplicate"] += 1
            return
        state.recent_trades.append(tid)
        trade = state.trade
        trade.on_trade(price_text)
        if self._pending and self.policy.hash_mode != "off":
            # A hash that missed may have moved to this trade's price before the trade
            # reached the feed (py-clob-client-v2 #117): the books have not moved since.
            for token in trade.assets:
                if token.pending_hash and self.hashes.verify(
                    token, token.pending_hash, token.pending_ts, price_text, now
                ):
                    self.counts["hash_late_ok"] += token.pending_held
                    self._clear_pending(token)
        self.seq += 1
        self.out.trades.append(
            (asset_id, state.market or market, timestamp_ms, wall_us, tid, price, size_text, size,
             side, fee_rate_bps, transaction_hash, self.seq)
        )  # fmt: skip
        if state.watched:
            self.triggers.on_trade(asset_id, price, size, side, timestamp_ms, wall_us, now)

    def on_tick_size_change(self, asset_id: str, new_tick_size: str, *, now: float) -> None:
        """Start a new book epoch: deltas are ignored until the next snapshot."""
        state = self.assets.get(asset_id)
        if state is None:
            self.counts["skipped_untracked"] += 1
            return
        state.tick_size = new_tick_size
        state.hash_tail_for = ("", "")
        state.phase = Phase.EPOCH
        state.epoch_since = now
        self._waiting.add(asset_id)
        state.buffer = []
        self.counts["tick_size_change"] += 1

    def on_best_bid_ask(self, asset_id: str, best_bid: str | None, best_ask: str | None) -> None:
        """Compare a `best_bid_ask` event with the local book (counted only: it may race deltas);
        the venue's top as for `on_level`."""
        state = self.assets.get(asset_id)
        if (
            state is not None
            and state.phase == Phase.SYNCED
            and not bbo_agrees(state.book.best_bid, state.book.best_ask, best_bid, best_ask)
        ):
            self.counts["best_bid_ask_disagree"] += 1

    def _top_changed(self, state: AssetState, timestamp_ms: int, wall_us: int, now: float) -> None:
        book = state.book
        bb, ba = book.best_bid, book.best_ask
        bid_level = None if bb is None else book.bids[bb]
        ask_level = None if ba is None else book.asks[ba]
        top = (
            bb or 0, "" if bid_level is None else bid_level[1],
            ba or 0, "" if ask_level is None else ask_level[1],
        )  # fmt: skip
        if top == state.top:
            return
        state.top = top
        self.seq += 1
        self.out.bbo.append((state.asset_id, state.market, timestamp_ms, wall_us, *top, self.seq))
        if state.watched:
            self.triggers.on_bbo(
                state.asset_id, top[0], 0.0 if bid_level is None else bid_level[2], top[2],
                0.0 if ask_level is None else ask_level[2], timestamp_ms, wall_us, now, book,
            )  # fmt: skip


def _touch(book: OrderBook) -> list[str]:
    """The best bid and ask price strings of a book (a trade happens at the touch)."""
    return [level[0] for level in (book.best_level(BID), book.best_level(ASK)) if level]
