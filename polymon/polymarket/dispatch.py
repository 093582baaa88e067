"""Apply decoded market-channel messages to a shard's state (the wire -> core seam): the
venue's words (sides, empty-side sentinels) become the core's values here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from polymon.core.book import ASK, BID
from polymon.core.model import Arrival
from polymon.core.prices import parse_timestamp_ms
from polymon.core.shard import ShardState
from polymon.polymarket.schemas import (
    BestBidAsk,
    Book,
    LastTradePrice,
    Message,
    PriceChange,
    RestBook,
    TickSizeChange,
)

SIDES: Final[Mapping[str, int]] = {
    "BUY": BID, "SELL": ASK, "buy": BID, "sell": ASK, "BID": BID, "ASK": ASK,
}  # fmt: skip
"""The venue's side words -> the core's side codes."""
NO_SIDE: Final = -1
"""The side code of any other word (the core rejects it as BadNumber, as it does a bad price)."""
EMPTY_BID: Final = "0"
EMPTY_ASK: Final = "1"
"""A top of book quoting these out-of-range prices says that side is empty (the core's None;
"" stays "": the venue did not say)."""


def apply_message(state: ShardState, msg: Message, now: float, wall_us: int) -> None:
    """Apply one message to `state`. Raises InvalidInput subclasses for unusable content.

    `new_market` and `market_resolved` are lifecycle events: the caller routes them.
    """
    if type(msg) is PriceChange:
        at: Arrival = (msg.market, parse_timestamp_ms(msg.timestamp), now, wall_us)
        on_level = state.on_level
        sides = SIDES
        if msg.price_changes is not None:
            for e in msg.price_changes:
                bb, ba = e.best_bid, e.best_ask
                on_level(
                    e.asset_id, sides.get(e.side, NO_SIDE), e.price, e.size, at, e.hash,
                    None if bb == EMPTY_BID else bb, None if ba == EMPTY_ASK else ba,
                )  # fmt: skip
        elif msg.changes is not None:
            # Legacy: one hash for the whole message, valid after its last change.
            last = len(msg.changes) - 1
            for i, c in enumerate(msg.changes):
                on_level(
                    msg.asset_id, sides.get(c.side, NO_SIDE), c.price, c.size, at,
                    msg.hash if i == last else "",
                )  # fmt: skip
        elif msg.price:
            on_level(msg.asset_id, sides.get(msg.side, NO_SIDE), msg.price, msg.size, at, msg.hash)
        state.messages += 1
    elif type(msg) is Book:
        apply_snapshot(state, msg, now, wall_us, "ws_snapshot")
    elif type(msg) is LastTradePrice:
        state.on_trade(
            msg.asset_id, msg.price, msg.size, msg.side, str(msg.timestamp), wall_us=wall_us,
            now=now, fee_rate_bps=str(msg.fee_rate_bps), transaction_hash=msg.transaction_hash,
            market=msg.market,
        )  # fmt: skip
        state.messages += 1
    elif type(msg) is TickSizeChange:
        state.on_tick_size_change(msg.asset_id, msg.new_tick_size, now=now)
        state.messages += 1
    elif type(msg) is BestBidAsk:
        bb, ba = msg.best_bid, msg.best_ask
        state.on_best_bid_ask(
            msg.asset_id, None if bb == EMPTY_BID else bb, None if ba == EMPTY_ASK else ba
        )
        state.messages += 1


def apply_snapshot(
    state: ShardState, msg: Book | RestBook, now: float, wall_us: int, source: str
) -> None:
    """Apply a WS `book` or a REST book to `state` as a snapshot from `source`."""
    state.on_book(
        msg.asset_id, msg.market, parse_timestamp_ms(msg.timestamp), msg.hash,
        [(lv.price, lv.size) for lv in msg.bids], [(lv.price, lv.size) for lv in msg.asks],
        now=now, wall_us=wall_us, tick_size=msg.tick_size, last_trade_price=msg.last_trade_price,
        min_order_size=msg.min_order_size, neg_risk=msg.neg_risk, source=source,
    )  # fmt: skip
