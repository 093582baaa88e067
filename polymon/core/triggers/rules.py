"""Compiled triggers ("rules"): per trigger, its parameters in exact units and its state.

This module holds the base class and the rules without a time window; `window_rules` holds the
windowed ones, and `table` decides which rules an update reaches.

A rule never builds events itself: it calls `emit(rule, actual, threshold, ...)`, and the table
applies the cooldown and builds the TriggerEvent from the update being evaluated.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Protocol

from polymon.core.prices import PRICE_SCALE
from polymon.core.triggers.spec import Trigger
from polymon.core.triggers.units import SCALE, size_units

# Which value of the top of book a price rule watches. MID is kept doubled (bid + ask) so
# that it stays an integer; thresholds on it are doubled to match.
BID_PRICE, ASK_PRICE, MID_PRICE2, SPREAD = 0, 1, 2, 3
PRICE_KINDS = {"BID": BID_PRICE, "ASK": ASK_PRICE, "MID": MID_PRICE2}
IMBALANCE_TOLERANCE = 1e-9
"""Slack for float rounding when an imbalance (a ratio of float sizes) meets its threshold."""


Values = tuple[int | None, int | None, int | None, int | None]
"""A top of book's watched values by kind: (bid, ask, bid + ask, ask - bid) in units, None where
an empty side leaves a value undefined."""


def kind_price(kind: int, value: int) -> float:
    """A watched value as a float price."""
    return value / (2 * PRICE_SCALE) if kind == MID_PRICE2 else value / PRICE_SCALE


class Quote:
    """The last top of book the table saw for one asset (units 0 = empty side)."""

    __slots__ = ("ask", "ask_size", "asset_id", "bid", "bid_size", "changed")

    def __init__(self, asset_id: str, now: float) -> None:
        self.asset_id = asset_id
        self.bid = 0
        self.ask = 0
        self.bid_size = 0.0
        self.ask_size = 0.0
        self.changed = now  # monotonic time of the last BBO update (or of creation)


class Emit(Protocol):
    """The table's fire callback: applies the cooldown and appends a TriggerEvent."""

    def __call__(
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
        """Fire `rule` (unless inside its cooldown)."""


class Rule:
    """Base of compiled triggers: the trigger, its home asset's quote, cooldown and edge state."""

    __slots__ = ("active", "cooldown", "home", "next_allowed", "threshold", "trigger", "type")

    def __init__(self, trigger: Trigger, home: Quote, threshold: float) -> None:
        self.trigger = trigger
        self.type = trigger.spec.condition.type
        self.home = home
        self.threshold = threshold  # as reported in events, in the type's unit
        self.cooldown = trigger.spec.cooldown_ms / 1000
        self.next_allowed = -math.inf
        self.active = False

    def edge(self, holds: bool) -> bool:
        """Record the condition; True when it goes from false to true."""
        was = self.active
        self.active = holds
        return holds and not was


class CrossRule(Rule):
    """PRICE_ABOVE/BELOW, SPREAD_NARROW/WIDE: lives in a CrossingIndex, which holds its state."""

    __slots__ = ("above", "key", "kind")

    def __init__(self, trigger: Trigger, home: Quote, kind: int, above: bool, units: int) -> None:
        super().__init__(trigger, home, units / PRICE_SCALE)
        self.kind = kind
        self.above = above
        self.key = 2 * units if kind == MID_PRICE2 else units

    def holds(self, value: int) -> bool:
        """The condition for a watched value (used when the rule joins an index)."""
        return value > self.key if self.above else value < self.key


class ImbalanceRule(Rule):
    """IMBALANCE_BID / IMBALANCE_ASK over the best `levels` levels."""

    __slots__ = ("ask", "levels", "limit")

    def __init__(self, trigger: Trigger, home: Quote, units: int, levels: int, ask: bool) -> None:
        super().__init__(trigger, home, units / SCALE)
        self.levels = levels
        self.ask = ask
        self.limit = units / SCALE - IMBALANCE_TOLERANCE

    def on_imbalance(self, imbalance: float, now: float, emit: Emit) -> None:
        """Evaluate one imbalance of the asset's top `levels` levels."""
        holds = -imbalance >= self.limit if self.ask else imbalance >= self.limit
        if self.edge(holds):
            emit(self, imbalance, self.threshold)


class PairRule(Rule):
    """ARBITRAGE_BUY (asks sum below) / ARBITRAGE_SELL (bids sum above) of two tokens."""

    __slots__ = ("buy", "key", "paired")

    def __init__(self, trigger: Trigger, home: Quote, paired: Quote, units: int, buy: bool) -> None:
        super().__init__(trigger, home, units / PRICE_SCALE)
        self.paired = paired
        self.key = units
        self.buy = buy

    def on_pair(self, emit: Emit) -> None:
        """Evaluate with the last known top of book of both tokens."""
        home, paired = self.home, self.paired
        if self.buy:
            a, b = home.ask, paired.ask
            if not (a and b):
                return
            holds = a + b < self.key
        else:
            a, b = home.bid, paired.bid
            if not (a and b):
                return
            holds = a + b > self.key
        if self.edge(holds):
            emit(self, (a + b) / PRICE_SCALE, self.threshold)


class FillRule(Rule):
    """LARGE_FILL: a level update removing at least `min_units` of size."""

    __slots__ = ("any_level", "asks", "bids", "min_units")

    def __init__(
        self, trigger: Trigger, home: Quote, min_units: int, side: str, any_level: bool
    ) -> None:
        super().__init__(trigger, home, min_units / SCALE)
        self.min_units = min_units
        self.bids = side != "ASK"
        self.asks = side != "BID"
        self.any_level = any_level

    def on_removed(self, is_bid: bool, price: int, removed: int, at_top: bool, emit: Emit) -> None:
        """Evaluate a size decrease of `removed` units at `price` (at_top: it was the best)."""
        if (
            removed >= self.min_units
            and (at_top or self.any_level)
            and (self.bids if is_bid else self.asks)
        ):
            side = "BID" if is_bid else "ASK"
            emit(self, removed / SCALE, self.threshold, side=side, price=price / PRICE_SCALE)


class TradeRule(Rule, ABC):
    """Base of the rules evaluated on trades."""

    __slots__ = ()

    @abstractmethod
    def on_trade(self, price: int, size: float, side: str, now: float, emit: Emit) -> None:
        """Evaluate one trade (price in units, side BUY/SELL)."""


class LargeTradeRule(TradeRule):
    """LARGE_TRADE: actual_value is the size, or the notional when only that bar is met."""

    __slots__ = ("min_notional", "min_size", "sides")

    def __init__(
        self,
        trigger: Trigger,
        home: Quote,
        min_size: int | None,
        min_notional: int | None,
        side: str,
    ) -> None:
        bar = min_size if min_size is not None else min_notional
        super().__init__(trigger, home, (bar or 0) / SCALE)
        self.min_size = min_size
        # Compared as price units × size units (1e-12 of notional) to stay exact.
        self.min_notional = None if min_notional is None else min_notional * SCALE
        self.sides = ("BUY", "SELL") if side == "BOTH" else (side,)

    def on_trade(self, price: int, size: float, side: str, now: float, emit: Emit) -> None:
        """Fire for a trade at or over either bar."""
        if side not in self.sides:
            return
        units = size_units(size)
        price_f = price / PRICE_SCALE
        if self.min_size is not None and units >= self.min_size:
            emit(self, size, self.min_size / SCALE, side=side, price=price_f, size=size)
        elif self.min_notional is not None and price * units >= self.min_notional:
            notional = price * units / (SCALE * PRICE_SCALE)
            bar = self.min_notional / (SCALE * PRICE_SCALE)
            emit(self, notional, bar, side=side, price=price_f, size=size)


class StaleRule(Rule):
    """STALE_QUOTE: a timer in the table's Deadlines, re-armed by the asset's next BBO update."""

    __slots__ = ("armed", "removed", "span")

    def __init__(self, trigger: Trigger, home: Quote, threshold_ms: int) -> None:
        super().__init__(trigger, home, float(threshold_ms))
        self.span = threshold_ms / 1000
        self.armed = False  # True while it has an entry in the deadlines heap
        self.removed = False
