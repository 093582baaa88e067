"""compile_rule: a validated Trigger -> the rule object the table evaluates.

All decimal parameters become integer units here, once per registration.
"""

from __future__ import annotations

from decimal import Decimal
from typing import assert_never

from polymon.core.triggers.rules import (
    PRICE_KINDS,
    SPREAD,
    CrossRule,
    FillRule,
    ImbalanceRule,
    LargeTradeRule,
    PairRule,
    Quote,
    Rule,
    StaleRule,
)
from polymon.core.triggers.spec import (
    ArbitrageBuy,
    ArbitrageSell,
    ImbalanceAsk,
    ImbalanceBid,
    ImbalanceShift,
    LargeFill,
    LargeTrade,
    PriceAbove,
    PriceBelow,
    PriceMove,
    QuoteVelocity,
    SizeSpike,
    SpreadNarrow,
    SpreadWide,
    StaleQuote,
    Trigger,
    VolumeSpike,
)
from polymon.core.triggers.units import to_units
from polymon.core.triggers.window_rules import (
    ImbalanceShiftRule,
    PriceMoveRule,
    QuoteVelocityRule,
    SizeSpikeRule,
    VolumeSpikeRule,
)


def _units(value: Decimal | None) -> int | None:
    return None if value is None else to_units(value)


def paired_asset(trigger: Trigger) -> str | None:
    """The second token an arbitrage trigger watches, else None."""
    condition = trigger.spec.condition
    if isinstance(condition, ArbitrageBuy | ArbitrageSell):
        return condition.paired_asset_id
    return None


def compile_rule(trigger: Trigger, home: Quote, paired: Quote | None = None) -> Rule:
    """Build the rule for a trigger; `home` is its asset's quote, `paired` the arbitrage partner's.

    Runtime complexity: O(1).
    """
    c = trigger.spec.condition
    match c:
        case PriceAbove() | PriceBelow():
            above = isinstance(c, PriceAbove)
            return CrossRule(trigger, home, PRICE_KINDS[c.side], above, to_units(c.threshold))
        case SpreadNarrow() | SpreadWide():
            above = isinstance(c, SpreadWide)
            return CrossRule(trigger, home, SPREAD, above, to_units(c.threshold))
        case ImbalanceBid() | ImbalanceAsk():
            ask = isinstance(c, ImbalanceAsk)
            return ImbalanceRule(trigger, home, to_units(c.threshold), c.levels, ask)
        case ImbalanceShift():
            return ImbalanceShiftRule(trigger, home, c.window_ms, to_units(c.delta), c.levels)
        case SizeSpike():
            multiplier, min_size = _units(c.multiplier), _units(c.min_size)
            return SizeSpikeRule(trigger, home, c.window_ms, multiplier, min_size, c.side)
        case PriceMove():
            return PriceMoveRule(trigger, home, c.window_ms, to_units(c.pct), PRICE_KINDS[c.side])
        case LargeFill():
            return FillRule(trigger, home, to_units(c.min_size), c.side, c.any_level)
        case QuoteVelocity():
            return QuoteVelocityRule(trigger, home, c.window_ms, c.count)
        case StaleQuote():
            return StaleRule(trigger, home, c.threshold_ms)
        case ArbitrageBuy() | ArbitrageSell():
            assert paired is not None, "arbitrage needs the paired asset's quote"
            buy = isinstance(c, ArbitrageBuy)
            return PairRule(trigger, home, paired, to_units(c.threshold), buy)
        case LargeTrade():
            min_size, min_notional = _units(c.min_size), _units(c.min_notional)
            return LargeTradeRule(trigger, home, min_size, min_notional, c.side)
        case VolumeSpike():
            min_volume, multiplier = _units(c.min_volume), _units(c.multiplier)
            return VolumeSpikeRule(trigger, home, c.window_ms, min_volume, multiplier)
        case _:
            assert_never(c)
