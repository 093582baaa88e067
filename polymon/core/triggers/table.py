"""TriggerTable: the compiled triggers of one shard, evaluated inline on the hot path.

Entry points (pure: the shell passes `now`, monotonic seconds, and the times of the cause):

    on_bbo(asset_id, bid_units, bid_size, ask_units, ask_size, venue_ts_ms, recv_us, now, book)
        after a top-of-book change (price or size of either best level; units 0 = empty side):
        price and spread crossings, SIZE_SPIKE, PRICE_MOVE, QUOTE_VELOCITY, arbitrage (for
        either token of the pair), re-arms STALE_QUOTE; and the imbalance types if `book` is
        given and the asset has any.
    on_level(asset_id, side, price_units, size, previous_size, venue_ts_ms, recv_us, now, book)
        after one level update was applied to `book` (size is the new total, previous_size the
        old): LARGE_FILL, and the imbalance types when the level lies inside their top levels.
    on_trade(asset_id, price_units, size, side, venue_ts_ms, recv_us, now)
        LARGE_TRADE, VOLUME_SPIKE.
    check_stale(now, wall_us, limit)
        STALE_QUOTE; O(1) when nothing is due and at most `limit` due entries a call, so the
        shell may call it every flush.

A shell that calls `on_level` for every level update may pass `book=None` to `on_bbo`; passing
both evaluates an imbalance twice for one change, which fires nothing twice (edges) and adds
only a repeated sample to IMBALANCE_SHIFT.

Arbitrage reads the table's own last-known top of book of both tokens, so both must reach the
same table: a shell that shards by asset must route the partner token's BBO updates here too.

Cost: on every entry point an asset without triggers is one dict miss. A BBO change evaluates
the price and spread triggers through sorted thresholds (see `crossing`), so it touches only
the triggers whose threshold it crosses; windowed triggers keep O(window) deques.
"""

from __future__ import annotations

from polymon.core.book import BID, OrderBook
from polymon.core.triggers.compiler import compile_rule, paired_asset
from polymon.core.triggers.deadlines import Deadlines
from polymon.core.triggers.events import TriggerEvent, price_float, quote_fields
from polymon.core.triggers.rules import PairRule, Rule, StaleRule, Values, kind_price
from polymon.core.triggers.spec import Trigger
from polymon.core.triggers.units import size_units
from polymon.core.triggers.watch import AssetWatch
from polymon.errors import BadRequest


class TriggerTable:
    """The triggers of one shard, by asset, with their evaluation state.

    Runtime complexity: `add` O(n) in the asset's triggers (list inserts), `remove` O(n);
    `on_bbo` O(log n + k + w) for k crossed thresholds and w windowed/arbitrage/stale triggers
    of the asset; `on_level` O(f + log L) plus O(levels) if it reaches imbalance triggers;
    `on_trade` O(t); `check_stale` O(1) when nothing is due, O(log s) per due entry.
    """

    def __init__(self) -> None:
        self.fired: list[TriggerEvent] = []
        self.suppressed = 0  # fires dropped by a cooldown, for metrics
        self._rules: dict[str, Rule] = {}
        self._watches: dict[str, AssetWatch] = {}
        self._deadlines: Deadlines[StaleRule] = Deadlines()
        # The cause of the update being evaluated, for the events `_emit` builds.
        self._now = 0.0
        self._venue_ts_ms = 0
        self._received_us = 0

    # -- registry -----------------------------------------------------------------------
    def add(self, trigger: Trigger, now: float) -> None:
        """Compile and register a trigger; `now` starts its STALE_QUOTE clock.

        Raises BadRequest if a trigger with this id is already registered.
        """
        if trigger.trigger_id in self._rules:
            raise BadRequest(f"trigger {trigger.trigger_id} is already registered")
        home = self._watch(trigger.spec.asset_id, now)
        pair_id = paired_asset(trigger)
        paired = None if pair_id is None else self._watch(pair_id, now)
        rule = compile_rule(trigger, home, paired)
        self._rules[trigger.trigger_id] = rule
        home.attach(rule)
        if paired is not None:
            paired.attach(rule)
        if isinstance(rule, StaleRule):
            rule.armed = True
            self._deadlines.push(home.changed + rule.span, rule)

    def remove(self, trigger_id: str) -> bool:
        """Unregister a trigger; False if there is none with this id."""
        rule = self._rules.pop(trigger_id, None)
        if rule is None:
            return False
        self._watches[rule.home.asset_id].detach(rule)
        self._release(rule.home.asset_id)
        if isinstance(rule, PairRule):
            self._watches[rule.paired.asset_id].detach(rule)
            self._release(rule.paired.asset_id)
        return True

    def triggers(self) -> list[Trigger]:
        """Every registered trigger, in registration order. O(n)."""
        return [rule.trigger for rule in self._rules.values()]

    def get(self, trigger_id: str) -> Trigger | None:
        """One registered trigger, or None. O(1)."""
        rule = self._rules.get(trigger_id)
        return None if rule is None else rule.trigger

    def watching(self, asset_id: str) -> bool:
        """True when a trigger reads this asset's updates. O(1)."""
        return asset_id in self._watches

    def __len__(self) -> int:
        """Number of registered triggers."""
        return len(self._rules)

    def drain(self) -> list[TriggerEvent]:
        """Take the events fired so far and start an empty list; O(1)."""
        taken, self.fired = self.fired, []
        return taken

    # -- evaluation ---------------------------------------------------------------------
    def on_bbo(
        self,
        asset_id: str,
        bid_units: int,
        bid_size: float,
        ask_units: int,
        ask_size: float,
        venue_ts_ms: int,
        recv_us: int,
        now: float,
        book: OrderBook | None = None,
    ) -> None:
        """Evaluate a top-of-book change (units 0 = empty side); see the module docstring."""
        watch = self._watches.get(asset_id)
        if watch is None:
            return
        watch.bid = bid_units
        watch.bid_size = bid_size
        watch.ask = ask_units
        watch.ask_size = ask_size
        watch.changed = now
        self._now, self._venue_ts_ms, self._received_us = now, venue_ts_ms, recv_us
        emit = self._emit
        if watch.crossings or watch.bbo_rules:
            if bid_units and ask_units:
                values: Values = (
                    bid_units, ask_units, bid_units + ask_units, ask_units - bid_units,
                )  # fmt: skip
            else:
                values = (bid_units or None, ask_units or None, None, None)
            for index in watch.crossings:
                value = values[index.kind]
                if value is None:
                    continue
                if index.lo < value <= index.hi:
                    index.last = value  # inside the quiet band: crosses nothing (see crossing)
                else:
                    for rule in index.update(value):
                        emit(rule, kind_price(index.kind, value), rule.threshold)
            for bbo_rule in watch.bbo_rules:
                bbo_rule.on_bbo(watch, values, now, emit)
        if book is not None and watch.book_rules:
            self._evaluate_book(watch, book, now)
        for pair_rule in watch.pairs:
            pair_rule.on_pair(emit)
        for stale_rule in watch.stale:
            if not stale_rule.armed:
                stale_rule.armed = True
                self._deadlines.push(now + stale_rule.span, stale_rule)

    def on_level(
        self,
        asset_id: str,
        side: int,
        price_units: int,
        size: float,
        previous_size: float,
        venue_ts_ms: int,
        recv_us: int,
        now: float,
        book: OrderBook,
    ) -> None:
        """Evaluate one level update already applied to `book` (side: core.book BID or ASK)."""
        watch = self._watches.get(asset_id)
        if watch is None or not (watch.fills or watch.book_rules):
            return
        self._now, self._venue_ts_ms, self._received_us = now, venue_ts_ms, recv_us
        is_bid = side == BID
        if watch.fills and size < previous_size:
            # Only this level changed, so it was the best before iff nothing is better now.
            best = book.best_bid if is_bid else book.best_ask
            at_top = best is None or (best <= price_units if is_bid else best >= price_units)
            removed = size_units(previous_size) - size_units(size)
            for rule in watch.fills:
                rule.on_removed(is_bid, price_units, removed, at_top, self._emit)
        if watch.book_rules and book.better_levels(side, price_units) < watch.max_levels:
            self._evaluate_book(watch, book, now)

    def on_trade(
        self,
        asset_id: str,
        price_units: int,
        size: float,
        side: str,
        venue_ts_ms: int,
        recv_us: int,
        now: float,
    ) -> None:
        """Evaluate one trade (side: the venue's BUY or SELL)."""
        watch = self._watches.get(asset_id)
        if watch is None or not watch.trades:
            return
        self._now, self._venue_ts_ms, self._received_us = now, venue_ts_ms, recv_us
        for rule in watch.trades:
            rule.on_trade(price_units, size, side, now, self._emit)

    def check_stale(self, now: float, wall_us: int, limit: int = 200) -> bool:
        """Fire the STALE_QUOTE triggers whose asset has had no BBO update for their threshold;
        returns whether due entries are left for the next call.

        At most `limit` due entries are looked at per call, so a shell calling this every
        flush never holds its loop for long when thousands come due at once (a feed that went
        quiet); the rest fire on the following calls. Their events carry `wall_us` as cause,
        so their latencies measure delivery only.
        """
        deadlines = self._deadlines
        due = deadlines.pop_due(now)
        if due is None:
            return False
        self._now, self._venue_ts_ms, self._received_us = now, wall_us // 1000, wall_us
        while due is not None:
            if not due.removed:
                quiet = now - due.home.changed
                if quiet < due.span:
                    deadlines.push(due.home.changed + due.span, due)
                else:
                    due.armed = False
                    self._emit(due, round(quiet * 1000, 3), due.threshold)
            limit -= 1
            if limit <= 0:
                following = deadlines.next_deadline
                return following is not None and following <= now
            due = deadlines.pop_due(now)
        return False

    # -- internals ----------------------------------------------------------------------
    def _watch(self, asset_id: str, now: float) -> AssetWatch:
        watch = self._watches.get(asset_id)
        if watch is None:
            watch = self._watches[asset_id] = AssetWatch(asset_id, now)
        watch.refs += 1
        return watch

    def _release(self, asset_id: str) -> None:
        watch = self._watches[asset_id]
        watch.refs -= 1
        if watch.refs == 0:
            del self._watches[asset_id]

    def _evaluate_book(self, watch: AssetWatch, book: OrderBook, now: float) -> None:
        depth, imbalance = 0, None
        for rule in watch.book_rules:
            if rule.levels != depth:
                depth, imbalance = rule.levels, book.imbalance(rule.levels)
            if imbalance is not None:
                rule.on_imbalance(imbalance, now, self._emit)

    def _emit(
        self,
        rule: Rule,
        actual: float,
        threshold: float,
        *,
        side: str | None = None,
        price: float | None = None,
        size: float | None = None,
        reference: float | None = None,
    ) -> None:
        now = self._now
        if now < rule.next_allowed:
            self.suppressed += 1
            return
        rule.next_allowed = now + rule.cooldown
        home = rule.home
        best_bid, best_ask, mid, bps = quote_fields(home.bid, home.ask)
        spec = rule.trigger.spec
        event = TriggerEvent(
            trigger_id=rule.trigger.trigger_id, trigger_type=rule.type, asset_id=spec.asset_id,
            condition_id=spec.condition_id, fired_at=0, total_latency_us=0,
            processing_latency_us=0, best_bid=best_bid, best_ask=best_ask, mid_price=mid,
            spread_bps=bps, threshold=threshold, actual_value=actual,
            venue_ts_ms=self._venue_ts_ms, received_us=self._received_us, side=side,
            price=price, size=size, reference_value=reference,
            window_ms=getattr(spec.condition, "window_ms", None),
            levels=getattr(spec.condition, "levels", None),
        )  # fmt: skip
        if isinstance(rule, PairRule):
            paired = rule.paired
            event.paired_asset_id = paired.asset_id
            event.paired_best_bid = price_float(paired.bid)
            event.paired_best_ask = price_float(paired.ask)
        self.fired.append(event)

    def _check(self) -> None:
        """Assert the registry's invariants (tests call it after every change). O(n)."""
        refs: dict[str, int] = {}
        for trigger_id, rule in self._rules.items():
            assert rule.trigger.trigger_id == trigger_id
            refs[rule.home.asset_id] = refs.get(rule.home.asset_id, 0) + 1
            if isinstance(rule, PairRule):
                refs[rule.paired.asset_id] = refs.get(rule.paired.asset_id, 0) + 1
            assert self._watches[rule.home.asset_id] is rule.home
        assert refs == {a: w.refs for a, w in self._watches.items()}, "watch refcounts"
        for watch in self._watches.values():
            watch._check()
        registered = sum(map(len, self._watches.values()))
        pairs = sum(isinstance(r, PairRule) for r in self._rules.values())
        assert registered == len(self._rules) + pairs, "every rule sits in exactly its lists"
