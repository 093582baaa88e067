"""Windowed rules: SIZE_SPIKE, PRICE_MOVE, QUOTE_VELOCITY, IMBALANCE_SHIFT, VOLUME_SPIKE.

Each keeps its own compact window (see `windows`), pruned by the time of the update being
evaluated; all are edge-triggered (see `spec`). Sizes, prices and percentages are compared as
exact integers; imbalances, which are ratios of float sizes, with a 1e-9 tolerance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from polymon.core.prices import PRICE_SCALE
from polymon.core.triggers.rules import (
    IMBALANCE_TOLERANCE,
    Emit,
    Quote,
    Rule,
    TradeRule,
    Values,
    kind_price,
)
from polymon.core.triggers.spec import Trigger
from polymon.core.triggers.units import SCALE, size_units
from polymon.core.triggers.windows import CountWindow, ExtremaWindow, SumWindow, TwoWindowSum


class BboRule(Rule, ABC):
    """Base of the windowed rules evaluated on every BBO update of their asset."""

    __slots__ = ("span",)

    def __init__(self, trigger: Trigger, home: Quote, threshold: float, window_ms: int) -> None:
        super().__init__(trigger, home, threshold)
        self.span = window_ms / 1000

    @abstractmethod
    def on_bbo(self, quote: Quote, values: Values, now: float, emit: Emit) -> None:
        """Evaluate the asset's new top of book (`values`: its watched values, by kind)."""


class _SideSpike:
    __slots__ = ("active", "is_bid", "window")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.window = SumWindow()
        self.active = False


class SizeSpikeRule(BboRule):
    """SIZE_SPIKE: best size against `min_size` or `multiplier` × its mean over the window.

    threshold in the event: the bar that was met (min_size, or multiplier × mean).
    """

    __slots__ = ("min_size", "multiplier", "sides")

    def __init__(
        self,
        trigger: Trigger,
        home: Quote,
        window_ms: int,
        multiplier: int | None,
        min_size: int | None,
        side: str,
    ) -> None:
        super().__init__(trigger, home, (min_size or 0) / SCALE, window_ms)
        self.multiplier = multiplier
        self.min_size = min_size
        wanted = {"BID": (True,), "ASK": (False,)}.get(side, (True, False))
        self.sides = [_SideSpike(is_bid) for is_bid in wanted]

    def on_bbo(self, quote: Quote, values: Values, now: float, emit: Emit) -> None:
        """Sample both best sizes and compare each with its bars."""
        oldest = now - self.span
        for spike in self.sides:
            if spike.is_bid:
                price, size = quote.bid, quote.bid_size
            else:
                price, size = quote.ask, quote.ask_size
            if not price:
                continue
            units = round(size * SCALE)  # size_units, inlined on this per-update path
            window = spike.window
            samples = window.samples
            while samples and samples[0][0] < oldest:
                window.total -= samples.popleft()[1]
            n, total = len(samples), window.total
            bar: float | None = None
            if self.min_size is not None and units >= self.min_size:
                bar = self.min_size / SCALE
            elif self.multiplier is not None and n and units * n * SCALE >= self.multiplier * total:
                bar = self.multiplier * total / (n * SCALE * SCALE)
            window.push(now, units)
            was, spike.active = spike.active, bar is not None
            if bar is not None and not was:
                mean = total / (n * SCALE) if n else None
                side = "BID" if spike.is_bid else "ASK"
                emit(self, size, bar, side=side, price=price / PRICE_SCALE, reference=mean)


class PriceMoveRule(BboRule):
    """PRICE_MOVE: actual_value is the signed move in percent from the window's low or high."""

    __slots__ = ("kind", "pct", "window")

    def __init__(self, trigger: Trigger, home: Quote, window_ms: int, pct: int, kind: int) -> None:
        super().__init__(trigger, home, pct / SCALE, window_ms)
        self.kind = kind
        self.pct = pct  # percent × 1e6
        self.window: ExtremaWindow[int] = ExtremaWindow()

    def on_bbo(self, quote: Quote, values: Values, now: float, emit: Emit) -> None:
        """Sample the watched price and compare it with the window's extremes."""
        value = values[self.kind]
        if value is None:
            return
        low, high = self.window.update(now, value, now - self.span)
        # (value - low) / low ≥ pct / 100, in integers: × 100 × 1e6 on the left.
        up = (value - low) * 100 * SCALE >= self.pct * low
        down = (high - value) * 100 * SCALE >= self.pct * high
        if self.edge(up or down):
            # Report the larger relative move when both bars are met.
            rise_wins = up and (not down or (value - low) * high >= (high - value) * low)
            reference = low if rise_wins else high
            move = (value - reference) * 100 / reference
            emit(self, move, self.threshold, reference=kind_price(self.kind, reference))


class QuoteVelocityRule(BboRule):
    """QUOTE_VELOCITY: reference_value is how many ms the counted updates spanned."""

    __slots__ = ("window",)

    def __init__(self, trigger: Trigger, home: Quote, window_ms: int, count: int) -> None:
        super().__init__(trigger, home, float(count), window_ms)
        self.window = CountWindow(count)

    def on_bbo(self, quote: Quote, values: Values, now: float, emit: Emit) -> None:
        """Count this update."""
        window = self.window
        window.push(now)
        if self.edge(window.reached(now - self.span)):
            spanned = (now - window.times[0]) * 1000
            emit(self, float(window.count), self.threshold, reference=spanned)


class ImbalanceShiftRule(Rule):
    """IMBALANCE_SHIFT: actual_value is the signed change from the window's low or high."""

    __slots__ = ("delta", "levels", "span", "window")

    def __init__(
        self, trigger: Trigger, home: Quote, window_ms: int, delta: int, levels: int
    ) -> None:
        super().__init__(trigger, home, delta / SCALE)
        self.span = window_ms / 1000
        self.levels = levels
        self.delta = delta / SCALE - IMBALANCE_TOLERANCE
        self.window: ExtremaWindow[float] = ExtremaWindow()

    def on_imbalance(self, imbalance: float, now: float, emit: Emit) -> None:
        """Sample one imbalance of the asset's top `levels` levels."""
        low, high = self.window.update(now, imbalance, now - self.span)
        rise, fall = imbalance - low, high - imbalance
        if self.edge(max(rise, fall) >= self.delta):
            reference = low if rise >= fall else high
            emit(self, imbalance - reference, self.threshold, reference=reference)


class VolumeSpikeRule(TradeRule):
    """VOLUME_SPIKE: threshold in the event is the bar met (min_volume or multiplier × P)."""

    __slots__ = ("min_volume", "multiplier", "windows")

    def __init__(
        self,
        trigger: Trigger,
        home: Quote,
        window_ms: int,
        min_volume: int | None,
        multiplier: int | None,
    ) -> None:
        super().__init__(trigger, home, (min_volume or 0) / SCALE)
        self.windows = TwoWindowSum(window_ms / 1000)
        self.min_volume = min_volume
        self.multiplier = multiplier

    def on_trade(self, price: int, size: float, side: str, now: float, emit: Emit) -> None:
        """Add the trade to the current window and compare the two windows."""
        windows = self.windows
        windows.advance(now)
        windows.add(now, size_units(size))
        volume, previous = windows.current.total, windows.previous.total
        bar: float | None = None
        if self.min_volume is not None and volume >= self.min_volume:
            bar = self.min_volume / SCALE
        elif (
            self.multiplier is not None
            and previous
            and volume * SCALE >= self.multiplier * previous
        ):
            bar = self.multiplier * previous / (SCALE * SCALE)
        if self.edge(bar is not None) and bar is not None:
            emit(self, volume / SCALE, bar, reference=previous / SCALE)
