"""AssetWatch: one asset's last top of book and its rules, grouped by the entry point that
reaches them, so that an update walks only lists that can fire."""

from __future__ import annotations

from polymon.core.triggers.crossing import CrossingIndex
from polymon.core.triggers.rules import (
    CrossRule,
    FillRule,
    ImbalanceRule,
    PairRule,
    Quote,
    Rule,
    StaleRule,
    TradeRule,
)
from polymon.core.triggers.window_rules import BboRule, ImbalanceShiftRule

BookRule = ImbalanceRule | ImbalanceShiftRule


class AssetWatch(Quote):
    """The rules that read one asset (as their home, or as arbitrage partner) and its quote.

    Runtime complexity: `attach` O(n) (a sorted insert), `detach` O(n) in the asset's rules.
    """

    __slots__ = (
        "bbo_rules", "book_rules", "cross", "crossings", "fills", "max_levels", "pairs", "refs",
        "stale", "trades",
    )  # fmt: skip

    def __init__(self, asset_id: str, now: float) -> None:
        super().__init__(asset_id, now)
        self.cross: dict[tuple[int, bool], CrossingIndex[CrossRule]] = {}
        self.crossings: list[CrossingIndex[CrossRule]] = []  # cross.values(), for iteration
        self.bbo_rules: list[BboRule] = []
        self.book_rules: list[BookRule] = []  # sorted by levels: equal depths share one sum
        self.max_levels = 0
        self.pairs: list[PairRule] = []
        self.stale: list[StaleRule] = []
        self.fills: list[FillRule] = []
        self.trades: list[TradeRule] = []
        self.refs = 0  # rules that read this quote; the table drops the watch at 0

    def attach(self, rule: Rule) -> None:
        """Put a rule into the list (or crossing index) its entry point walks."""
        if isinstance(rule, CrossRule):
            index = self.cross.get((rule.kind, rule.above))
            if index is None:
                index = self.cross[rule.kind, rule.above] = CrossingIndex(rule.kind, rule.above)
                self.crossings.append(index)
            index.add(rule.key, rule)
        elif isinstance(rule, BboRule):
            self.bbo_rules.append(rule)
        elif isinstance(rule, ImbalanceRule | ImbalanceShiftRule):
            self.book_rules.append(rule)
            self.book_rules.sort(key=lambda r: r.levels)
            self.max_levels = max(self.max_levels, rule.levels)
        elif isinstance(rule, PairRule):
            self.pairs.append(rule)
        elif isinstance(rule, StaleRule):
            self.stale.append(rule)
        elif isinstance(rule, FillRule):
            self.fills.append(rule)
        elif isinstance(rule, TradeRule):
            self.trades.append(rule)

    def detach(self, rule: Rule) -> None:
        """Take a rule out again (a STALE_QUOTE rule is also marked removed for its timer)."""
        if isinstance(rule, CrossRule):
            index = self.cross[rule.kind, rule.above]
            index.remove(rule)
            if not index:
                del self.cross[rule.kind, rule.above]
                self.crossings.remove(index)
        elif isinstance(rule, BboRule):
            self.bbo_rules.remove(rule)
        elif isinstance(rule, ImbalanceRule | ImbalanceShiftRule):
            self.book_rules.remove(rule)
            self.max_levels = max((r.levels for r in self.book_rules), default=0)
        elif isinstance(rule, PairRule):
            self.pairs.remove(rule)
        elif isinstance(rule, StaleRule):
            self.stale.remove(rule)
            rule.removed = True  # its heap entry is dropped when it comes due
        elif isinstance(rule, FillRule):
            self.fills.remove(rule)
        elif isinstance(rule, TradeRule):
            self.trades.remove(rule)

    def __len__(self) -> int:
        """Number of rules attached here."""
        return (
            len(self.bbo_rules) + len(self.book_rules) + len(self.pairs) + len(self.stale)
            + len(self.fills) + len(self.trades) + sum(len(index) for index in self.crossings)
        )  # fmt: skip

    def _check(self) -> None:
        """Assert the watch's invariants (sorted indexes, quiet bands, levels). O(n)."""
        assert list(self.cross.values()) == self.crossings
        for index in self.crossings:
            assert index
            assert index.keys == sorted(index.keys)
            assert len(index.keys) == len(index.items)
            assert all(r.key == k for k, r in zip(index.keys, index.items, strict=True))
            band = index.lo, index.hi
            index._reband()
            assert (index.lo, index.hi) == band, "quiet band"
        levels = [r.levels for r in self.book_rules]
        assert levels == sorted(levels)
        assert self.max_levels == max(levels, default=0)
