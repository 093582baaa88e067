"""Trigger specs: what a client registers, decoded from JSON and validated.

A registration body, as in the seed:

    {"asset_id": "1234…", "condition_id": "0xabc…",
     "condition": {"type": "PRICE_ABOVE", "threshold": 0.90, "side": "BID"},
     "webhook_url": "https://…", "webhook_secret": "…", "cooldown_ms": 10000}

`condition` is a tagged union on `type`. Decimal parameters (thresholds, sizes, percentages,
multipliers) may be JSON numbers or strings; they are decoded as `Decimal` and must be exact in
1e-6 units (at most six decimal places). Windows and durations are whole milliseconds.

Definitions (`now` is the monotonic time passed to the evaluation call; a sample taken at `t` is
*within window_ms* while `now - t <= window_ms`):

type            value evaluated / when it fires / parameters (defaults after =)
--------------  ----------------------------------------------------------------------------
PRICE_ABOVE     the `side` price: BID best bid, ASK best ask, MID (bid + ask) / 2
                fires: value goes from ≤ threshold (or never seen) to > threshold
                threshold in [0, 1), side = MID
PRICE_BELOW     the `side` price, as PRICE_ABOVE
                fires: value goes from ≥ threshold (or never seen) to < threshold
                threshold in (0, 1], side = MID
SPREAD_NARROW   absolute spread, best ask - best bid (a price difference, not bps)
                fires: value goes from ≥ threshold (or never seen) to < threshold
                threshold in (0, 1]
SPREAD_WIDE     absolute spread, as SPREAD_NARROW
                fires: value goes from ≤ threshold (or never seen) to > threshold
                threshold in [0, 1)
IMBALANCE_BID   imbalance (B - A) / (B + A): B, A total size of the best `levels` bid, ask
                levels; evaluated on `on_level` inside the top `levels` and on `on_bbo` with a
                book. fires: imbalance ≥ threshold becomes true
                threshold in (0, 1], levels in [1, 100] = 5
IMBALANCE_ASK   imbalance, as IMBALANCE_BID
                fires: imbalance ≤ -threshold becomes true
                threshold in (0, 1], levels = 5
IMBALANCE_SHIFT imbalance, as IMBALANCE_BID, one sample per evaluation
                fires: abs(imbalance - s) ≥ delta for some sample s within window_ms becomes true
                delta in (0, 2], window_ms, levels = 5
SIZE_SPIKE      size at the best bid and/or ask, one sample per side per `on_bbo`
                fires: size ≥ min_size, or size ≥ multiplier × mean of that side's earlier
                samples within window_ms (needs one), becomes true; each side on its own
                multiplier in (1, 1e6] and/or min_size, window_ms = 60000, side BID|ASK|BOTH = BOTH
PRICE_MOVE      the `side` price, as PRICE_ABOVE, one sample per `on_bbo`
                fires: (value - low) / low ≥ pct % or (high - value) / high ≥ pct % becomes
                true; low and high are the extremes of the samples within window_ms
                pct in (0, 10000], window_ms, side = MID
LARGE_FILL      a level update (`on_level`) that lowers the size at its side's best price as it
                was before the update (at any price if any_level)
                fires: removed = old size - new size ≥ min_size; on every such update
                min_size, side BID|ASK|BOTH = BOTH, any_level = false
QUOTE_VELOCITY  BBO updates (calls of `on_bbo`)
                fires: ≥ count updates within window_ms becomes true
                count in [1, 10000], window_ms
STALE_QUOTE     time since the asset's last BBO update, or since registration if later
                fires: ≥ threshold_ms, found by `check_stale`; once per quiet spell
                threshold_ms
ARBITRAGE_BUY   best ask of asset_id + best ask of paired_asset_id (last known of each)
                fires: sum < threshold becomes true
                threshold in (0, 2), paired_asset_id
ARBITRAGE_SELL  best bid of asset_id + best bid of paired_asset_id (last known of each)
                fires: sum > threshold becomes true
                threshold in (0, 2), paired_asset_id
LARGE_TRADE     one trade (`on_trade`, the venue's last_trade_price)
                fires: size ≥ min_size or price × size ≥ min_notional; on every such trade
                min_size and/or min_notional, side BUY|SELL|BOTH = BOTH
VOLUME_SPIKE    traded size within window_ms (V) and in the window_ms before that (P), per trade
                fires: V ≥ min_volume, or P > 0 and V ≥ multiplier × P, becomes true
                window_ms, min_volume and/or multiplier in (1, 1e6]

window_ms and threshold_ms are whole milliseconds in [1, 86400000]; sizes and notionals are in
(0, 1e12].

"Becomes true" (edge): a trigger fires when its condition holds at an evaluation and did not
hold at its previous one (a trigger starts with the condition false, so one that already holds
at the first evaluation fires then). An evaluation whose value is undefined (a side is empty, so
no mid, spread or imbalance) changes nothing. "Every such" triggers fire once per event. On top,
`cooldown_ms` suppresses any fire less than cooldown_ms after the previous fire; a suppressed
edge is dropped, not postponed. Equal is "above" only where the table says ≥.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Literal

import msgspec

from polymon.core.triggers.units import check_range
from polymon.errors import BadRequest

PriceSide = Literal["BID", "ASK", "MID"]
BookSide = Literal["BID", "ASK", "BOTH"]
TradeSide = Literal["BUY", "SELL", "BOTH"]
WindowMs = Annotated[int, msgspec.Meta(ge=1, le=86_400_000)]
Levels = Annotated[int, msgspec.Meta(ge=1, le=100)]
TokenId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]

Range = tuple[str, str, bool, bool]
"""(low, high, low_open, high_open) of a decimal parameter."""
_PRICE: Range = ("0", "1", False, False)
_POSITIVE_PRICE: Range = ("0", "1", True, False)
_BELOW_ONE: Range = ("0", "1", False, True)
_SIZE: Range = ("0", "1000000000000", True, False)
_MULTIPLIER: Range = ("1", "1000000", True, False)
_PAIR_SUM: Range = ("0", "2", True, True)


class Condition(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    """Base of the condition types; `type` (the tag) selects the subclass."""

    ranges: ClassVar[dict[str, Range]] = {}
    one_of: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a ValidationError located at the condition.
        for name, (low, high, low_open, high_open) in self.ranges.items():
            value = getattr(self, name)
            if value is not None:
                check_range(value, name, low, high, low_open=low_open, high_open=high_open)
        if self.one_of and all(getattr(self, name) is None for name in self.one_of):
            raise ValueError("give at least one of " + ", ".join(f"`{n}`" for n in self.one_of))

    @property
    def type(self) -> str:
        """The trigger type name, e.g. "PRICE_ABOVE"."""
        return str(self.__struct_config__.tag)


class PriceAbove(Condition, frozen=True, tag="PRICE_ABOVE"):
    """The `side` price goes above `threshold`."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _BELOW_ONE}
    threshold: Decimal
    side: PriceSide = "MID"


class PriceBelow(Condition, frozen=True, tag="PRICE_BELOW"):
    """The `side` price goes below `threshold`."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _POSITIVE_PRICE}
    threshold: Decimal
    side: PriceSide = "MID"


class SpreadNarrow(Condition, frozen=True, tag="SPREAD_NARROW"):
    """The absolute spread (ask - bid) goes below `threshold`."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _POSITIVE_PRICE}
    threshold: Decimal


class SpreadWide(Condition, frozen=True, tag="SPREAD_WIDE"):
    """The absolute spread (ask - bid) goes above `threshold`."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _BELOW_ONE}
    threshold: Decimal


class ImbalanceBid(Condition, frozen=True, tag="IMBALANCE_BID"):
    """Top-`levels` imbalance reaches +`threshold` (bid heavy)."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _POSITIVE_PRICE}
    threshold: Decimal
    levels: Levels = 5


class ImbalanceAsk(Condition, frozen=True, tag="IMBALANCE_ASK"):
    """Top-`levels` imbalance reaches -`threshold` (ask heavy)."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _POSITIVE_PRICE}
    threshold: Decimal
    levels: Levels = 5


class ImbalanceShift(Condition, frozen=True, tag="IMBALANCE_SHIFT"):
    """Top-`levels` imbalance changes by at least `delta` within `window_ms`."""

    ranges: ClassVar[dict[str, Range]] = {"delta": ("0", "2", True, False)}
    delta: Decimal
    window_ms: WindowMs
    levels: Levels = 5


class SizeSpike(Condition, frozen=True, tag="SIZE_SPIKE"):
    """Size at the best bid/ask reaches `min_size` or `multiplier` × its recent mean."""

    ranges: ClassVar[dict[str, Range]] = {"multiplier": _MULTIPLIER, "min_size": _SIZE}
    one_of: ClassVar[tuple[str, ...]] = ("multiplier", "min_size")
    multiplier: Decimal | None = None
    min_size: Decimal | None = None
    window_ms: WindowMs = 60_000
    side: BookSide = "BOTH"


class PriceMove(Condition, frozen=True, tag="PRICE_MOVE"):
    """The `side` price moves by at least `pct` percent within `window_ms`."""

    ranges: ClassVar[dict[str, Range]] = {"pct": ("0", "10000", True, False)}
    pct: Decimal
    window_ms: WindowMs
    side: PriceSide = "MID"


class LargeFill(Condition, frozen=True, tag="LARGE_FILL"):
    """A level update takes at least `min_size` off the best level (any level if any_level)."""

    ranges: ClassVar[dict[str, Range]] = {"min_size": _SIZE}
    min_size: Decimal
    side: BookSide = "BOTH"
    any_level: bool = False


class QuoteVelocity(Condition, frozen=True, tag="QUOTE_VELOCITY"):
    """At least `count` BBO updates within `window_ms`."""

    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    window_ms: WindowMs


class StaleQuote(Condition, frozen=True, tag="STALE_QUOTE"):
    """No BBO update for `threshold_ms`."""

    threshold_ms: WindowMs


class ArbitrageBuy(Condition, frozen=True, tag="ARBITRAGE_BUY"):
    """Best ask of the asset + best ask of `paired_asset_id` < `threshold`."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _PAIR_SUM}
    threshold: Decimal
    paired_asset_id: TokenId


class ArbitrageSell(Condition, frozen=True, tag="ARBITRAGE_SELL"):
    """Best bid of the asset + best bid of `paired_asset_id` > `threshold`."""

    ranges: ClassVar[dict[str, Range]] = {"threshold": _PAIR_SUM}
    threshold: Decimal
    paired_asset_id: TokenId


class LargeTrade(Condition, frozen=True, tag="LARGE_TRADE"):
    """One trade of at least `min_size` shares or `min_notional` (price × size)."""

    ranges: ClassVar[dict[str, Range]] = {"min_size": _SIZE, "min_notional": _SIZE}
    one_of: ClassVar[tuple[str, ...]] = ("min_size", "min_notional")
    min_size: Decimal | None = None
    min_notional: Decimal | None = None
    side: TradeSide = "BOTH"


class VolumeSpike(Condition, frozen=True, tag="VOLUME_SPIKE"):
    """Traded size within `window_ms` reaches `min_volume` or `multiplier` × the window before."""

    ranges: ClassVar[dict[str, Range]] = {"min_volume": _SIZE, "multiplier": _MULTIPLIER}
    one_of: ClassVar[tuple[str, ...]] = ("min_volume", "multiplier")
    window_ms: WindowMs
    min_volume: Decimal | None = None
    multiplier: Decimal | None = None


AnyCondition = (
    PriceAbove | PriceBelow | SpreadNarrow | SpreadWide | ImbalanceBid | ImbalanceAsk
    | ImbalanceShift | SizeSpike | PriceMove | LargeFill | QuoteVelocity | StaleQuote
    | ArbitrageBuy | ArbitrageSell | LargeTrade | VolumeSpike
)  # fmt: skip
CONDITION_TYPES: tuple[type[Condition], ...] = (
    PriceAbove, PriceBelow, SpreadNarrow, SpreadWide, ImbalanceBid, ImbalanceAsk,
    ImbalanceShift, SizeSpike, PriceMove, LargeFill, QuoteVelocity, StaleQuote,
    ArbitrageBuy, ArbitrageSell, LargeTrade, VolumeSpike,
)  # fmt: skip
TRIGGER_TYPES: tuple[str, ...] = tuple(str(c.__struct_config__.tag) for c in CONDITION_TYPES)
"""Every trigger type name, in the order of the definitions table."""


class TriggerSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A trigger as a client registers it; the webhook fields are carried, not checked here."""

    asset_id: TokenId
    condition: AnyCondition
    condition_id: Annotated[str, msgspec.Meta(max_length=128)] = ""
    webhook_url: Annotated[str, msgspec.Meta(max_length=2048)] = ""
    webhook_secret: Annotated[str, msgspec.Meta(max_length=256)] = ""
    cooldown_ms: Annotated[int, msgspec.Meta(ge=0, le=86_400_000)] = 0

    def __post_init__(self) -> None:
        paired = getattr(self.condition, "paired_asset_id", None)
        if paired == self.asset_id:
            raise ValueError("`condition.paired_asset_id` must differ from `asset_id`")

    def __repr__(self) -> str:
        # Specs end up in logs; never print the webhook secret.
        secret = "'***'" if self.webhook_secret else "''"
        return (
            f"TriggerSpec(asset_id={self.asset_id!r}, condition={self.condition!r}, "
            f"webhook_url={self.webhook_url!r}, webhook_secret={secret}, "
            f"cooldown_ms={self.cooldown_ms})"
        )


class Trigger(msgspec.Struct, frozen=True, kw_only=True):
    """A registered trigger: its id ("trig_" + letters and digits) and spec."""

    trigger_id: str
    spec: TriggerSpec

    def __post_init__(self) -> None:
        tail = self.trigger_id.removeprefix("trig_")
        if not (tail != self.trigger_id and len(tail) <= 64 and tail.isascii() and tail.isalnum()):
            raise ValueError(f"trigger id {self.trigger_id[:80]!r} is not trig_ + 1-64 letters")


_decoder = msgspec.json.Decoder(TriggerSpec)


def decode_trigger_spec(body: bytes | str) -> TriggerSpec:
    """Decode and validate a registration body; BadRequest names the offending field.

    The detail reads like "`threshold` must be a number in [0, 1) - at `$.condition`" or
    "Object contains unknown field `foo` - at `$.condition`".
    """
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None


def make_trigger_id(entropy: bytes) -> str:
    """A trigger id from caller-supplied random bytes (e.g. `os.urandom(8)`): "trig_" + hex."""
    if not 0 < len(entropy) <= 32:
        raise ValueError("trigger id entropy must be 1 to 32 bytes")
    return "trig_" + entropy.hex()


def trigger_assets(trigger: Trigger) -> tuple[str, ...]:
    """The token ids a trigger reads: its asset, and the paired token of an arbitrage."""
    paired = getattr(trigger.spec.condition, "paired_asset_id", None)
    return (trigger.spec.asset_id, paired) if paired else (trigger.spec.asset_id,)
