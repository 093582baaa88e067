"""A pure, deterministic model of the Polymarket market channel: books, trades, tick changes.

`Exchange` holds N binary markets and turns each `step(now_ms)` into the wire messages the venue
would send for one event, in the current (2025-09+) format, with v3 hashes. Markets can be
added (`add_market`: Gamma lists them at once, the CLOB only after a delay) and resolved
(`resolve_market`); a market's own wire shapes are in `simulator.market`, those of its life
cycle in `simulator.lifecycle`. No I/O, no clock: the caller passes the time in. Same seed and
same call sequence give the same output.
"""

from __future__ import annotations

import copy
import random
from typing import Final

import msgspec

from polymon.core.lasttrade import trade_values
from polymon.polymarket.simulator import lifecycle
from polymon.polymarket.simulator.book import (
    COARSE_TICK,
    FINE_TICK,
    TICK_TEXT,
    UNITS,
    SimBook,
    format_price,
    format_size,
)
from polymon.polymarket.simulator.market import (
    MIN_ORDER_SIZE,
    Message,
    SimMarket,
    book_message,
    digest,
    gamma_flags,
    gamma_market,
    price_change,
    token_id,
    yes_price,
)

__all__ = [
    "ARRAY_FRAME_RATIO", "MIN_ORDER_SIZE", "Exchange", "Message", "SimMarket", "encode_frame",
    "gamma_flags",
]  # fmt: skip

ARRAY_FRAME_RATIO: Final = 0.05
_ENCODER: Final = msgspec.json.Encoder()


def encode_frame(payload: Message | list[Message]) -> str:
    """One text frame: a message or an array of messages as compact JSON."""
    return _ENCODER.encode(payload).decode()


class Exchange:
    """N simulated binary markets that emit venue-format wire messages, one event per step."""

    def __init__(
        self,
        markets: int,
        seed: int,
        trade_ratio: float = 0.05,
        tick_change_ratio: float = 0.002,
        *,
        book_after_trade_ratio: float = 0.25,
        fine_tick_ratio: float = 0.2,
    ) -> None:
        self.trade_ratio = trade_ratio
        self.tick_change_ratio = tick_change_ratio
        self.book_after_trade_ratio = book_after_trade_ratio
        self._seed = seed
        self._fine_tick_ratio = fine_tick_ratio
        self._rng = random.Random(seed)
        self.markets = [self._new_market(seed, i, fine_tick_ratio) for i in range(markets)]
        self._tokens: dict[str, tuple[SimMarket, bool]] = {}
        self._conditions: dict[str, SimMarket] = {}
        for market in self.markets:
            self._index(market)
        # Open markets the CLOB knows, in creation order (events are drawn from these), and
        # created markets whose CLOB book is not there yet.
        self._live = list(self.markets)
        self._upcoming: list[SimMarket] = []
        self.trades_sent: list[Message] = []
        self.events = 0

    def _index(self, market: SimMarket) -> None:
        self._tokens[market.yes_id] = (market, True)
        self._tokens[market.no_id] = (market, False)
        self._conditions[market.condition_id] = market

    def _new_market(self, seed: int, index: int, fine_tick_ratio: float) -> SimMarket:
        tick = FINE_TICK if self._rng.random() < fine_tick_ratio else COARSE_TICK
        yes_id, no_id = token_id(seed, index, "yes"), token_id(seed, index, "no")
        return SimMarket(
            index=index,
            condition_id=f"0x{digest(seed, index, 'condition'):064x}",
            gamma_id=str(500_000 + 7 * index + seed % 1000),
            question_id=f"0x{digest(seed, index, 'question'):064x}",
            question=f"Will simulated event #{index} happen?",
            slug=f"sim-{seed}-event-{index}",
            yes_id=yes_id,
            no_id=no_id,
            end_date=f"2027-{1 + index % 12:02d}-{1 + index % 28:02d}T12:00:00Z",
            book=SimBook.generate(tick, self._rng),
            volume_cents=self._rng.randint(1_000, 100_000_000),
            last_trade="",
        )

    # ---- queries -------------------------------------------------------------------------

    def token_ids(self) -> list[str]:
        """Every token id, YES then NO for each market in order."""
        return list(self._tokens)

    def knows(self, asset_id: str) -> bool:
        """Whether `asset_id` is a token of this exchange (open, closed or not yet tradable)."""
        return asset_id in self._tokens

    def has_book(self, asset_id: str, now_ms: int) -> bool:
        """Whether the CLOB serves a book for `asset_id` at `now_ms`: the token is known, its
        market is open, and the market's book delay has passed (else the venue answers 404)."""
        entry = self._tokens.get(asset_id)
        if entry is None:
            return False
        market = entry[0]
        return market.closed_ms is None and now_ms >= market.book_from_ms

    def market_by_condition(self, condition_id: str) -> SimMarket | None:
        """The market with this condition id, or None."""
        return self._conditions.get(condition_id)

    def open_markets(self) -> list[SimMarket]:
        """Markets not resolved yet (tradable or waiting for their CLOB book), oldest first."""
        return [m for m in self.markets if m.closed_ms is None]

    def market_of(self, asset_id: str) -> SimMarket:
        """The market a token belongs to; KeyError for an unknown token."""
        return self._tokens[asset_id][0]

    def levels(self, asset_id: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(bids best-first, asks best-first) of a token as (price, size) venue strings."""
        market, yes = self._tokens[asset_id]
        bids, asks = market.book.wire_levels(yes)
        return bids[::-1], asks[::-1]

    def tick_size(self, asset_id: str) -> str:
        """The token's current tick size string ("0.01" or "0.001")."""
        return TICK_TEXT[self._tokens[asset_id][0].book.tick]

    def last_trade_price(self, asset_id: str) -> str:
        """The last trade price the token's book hashes (market-level, three decimals)."""
        return self._tokens[asset_id][0].last_trade

    def snapshot(self, asset_id: str, now_ms: int, *, initial: bool = True) -> Message:
        """A WS `book` message for a token; `initial` adds tick_size and last_trade_price."""
        market, yes = self._tokens[asset_id]
        return book_message(market, yes, str(now_ms), initial=initial)

    def rest_book(self, asset_id: str, now_ms: int) -> Message:
        """The CLOB `GET /book` body for a token (same level order and hash as the WS book)."""
        market, yes = self._tokens[asset_id]
        message = book_message(market, yes, str(now_ms), initial=True)
        del message["event_type"]
        message |= {"min_order_size": MIN_ORDER_SIZE, "neg_risk": False}
        return message

    def gamma_markets(self) -> list[Message]:
        """Every market in Gamma `/markets` shape, ordered by Gamma id."""
        return [self.gamma_market(m) for m in self.markets]

    def market_by_token(self, asset_id: str) -> SimMarket | None:
        """The market a token belongs to, or None."""
        entry = self._tokens.get(asset_id)
        return None if entry is None else entry[0]

    def clob_market(self, condition_id: str, now_ms: int) -> Message | None:
        """The CLOB `GET /markets/{condition_id}` body; None (a 404) for an unknown market or
        one the CLOB does not know yet."""
        market = self._conditions.get(condition_id)
        if market is None or now_ms < market.book_from_ms:
            return None
        return lifecycle.clob_market(market, yes_price(market))

    # ---- life cycle ----------------------------------------------------------------------

    def add_market(self, now_ms: int, *, book_delay_ms: int = 0) -> tuple[SimMarket, Message]:
        """Create a market now; returns it and its WS `new_market` message.

        Gamma lists it at once; the CLOB (REST books, WS snapshots, events) only from
        `now_ms + book_delay_ms`, as new venue markets 404 for a while.
        """
        market = self._new_market(self._seed, len(self.markets), self._fine_tick_ratio)
        market.book_from_ms = now_ms + book_delay_ms
        self.markets.append(market)
        self._index(market)
        (self._live if book_delay_ms <= 0 else self._upcoming).append(market)
        return market, lifecycle.new_market_message(market, now_ms)

    def resolve_market(
        self,
        condition_id: str,
        now_ms: int,
        *,
        yes_wins: bool | None = None,
        uma_status: str = "resolved",
    ) -> Message:
        """Close and resolve an open market; returns its WS `market_resolved` message.

        The winner defaults to a pick fixed by (seed, market). Gamma then shows it closed with
        outcomePrices 1/0 and `umaResolutionStatus` = `uma_status` ("" leaves the field out,
        so only the CLOB can tell; "proposed" is not final anywhere yet), the CLOB marks the
        winning token unless the status is "proposed", and its books are gone (404, no events).
        KeyError for an unknown market, ValueError for one already resolved.
        """
        market = self._conditions[condition_id]
        if market.closed_ms is not None:
            raise ValueError(f"market {condition_id} is already resolved")
        if yes_wins is None:
            yes_wins = digest(self._seed, market.index, "winner") % 2 == 0
        market.closed_ms = now_ms
        market.yes_won = yes_wins
        market.uma_status = uma_status
        for pool in (self._live, self._upcoming):
            if market in pool:
                pool.remove(market)
        return lifecycle.resolved_message(market, now_ms)

    def set_uma_status(self, condition_id: str, uma_status: str) -> None:
        """Change a resolved market's UMA status on Gamma (e.g. "proposed" -> "resolved")."""
        self._conditions[condition_id].uma_status = uma_status

    def _promote(self, now_ms: int) -> None:
        due = [m for m in self._upcoming if m.book_from_ms <= now_ms]
        for market in due:
            self._upcoming.remove(market)
            self._live.append(market)

    def gamma_market(self, market: SimMarket) -> Message:
        """One market in Gamma `/markets` shape (built on demand: O(levels) for its prices)."""
        return gamma_market(market)

    # ---- events --------------------------------------------------------------------------

    def step(self, now_ms: int) -> list[Message]:
        """Advance by one venue event and return the wire messages it produces, in order.

        Mostly a `price_change` (YES entry and mirrored NO entry); with `trade_ratio` a trade's
        `price_change` then its `last_trade_price` (sometimes followed by a `book` per token);
        with `tick_change_ratio` a `tick_size_change` per token, then a `book` per token.
        """
        self.events += 1
        if self._upcoming:
            self._promote(now_ms)
        if not self._live:
            return []
        market = self._rng.choice(self._live)
        timestamp = str(now_ms)
        roll = self._rng.random()
        if roll < self.tick_change_ratio:
            return self._tick_change(market, timestamp)
        if roll < self.tick_change_ratio + self.trade_ratio:
            trade = self._trade(market, timestamp)
            if trade is not None:
                return trade
        is_bid, price = market.book.random_change(self._rng)
        return [price_change(market, timestamp, is_bid, price)]

    def _trade(self, market: SimMarket, timestamp: str) -> list[Message] | None:
        book = market.book
        yes = self._rng.random() < 0.5
        taker_buys = self._rng.random() < 0.5
        # A YES buyer lifts YES asks; a NO buyer lifts NO asks, which are YES bids mirrored.
        consumes_bid = yes != taker_buys
        price = book.best(consumes_bid)
        resting = book.side(consumes_bid)[price]
        if book.can_remove(consumes_bid, price) and self._rng.random() < 0.3:
            quantity = resting
        elif resting >= 2:
            quantity = self._rng.randint(1, resting - 1)
        else:
            return None
        book.set_level(consumes_bid, price, resting - quantity)
        asset_id = market.yes_id if yes else market.no_id
        trade_price = format_price(price if yes else UNITS - price, book.tick)
        market.last_trade = trade_values(trade_price)[0]
        market.volume_cents += quantity
        trade: Message = {
            "event_type": "last_trade_price",
            "asset_id": asset_id,
            "market": market.condition_id,
            "price": trade_price,
            "size": format_size(quantity),
            "fee_rate_bps": "0",
            "side": "BUY" if taker_buys else "SELL",
            "timestamp": timestamp,
            "transaction_hash": f"0x{self._rng.getrandbits(256):064x}",
        }
        self.trades_sent.append(dict(trade))
        # As the venue: the trade's price_change (already hashing the new last trade price)
        # reaches the feed before the trade itself.
        messages = [price_change(market, timestamp, consumes_bid, price), trade]
        if self._rng.random() < self.book_after_trade_ratio:
            messages += [
                book_message(market, True, timestamp, initial=False),
                book_message(market, False, timestamp, initial=False),
            ]
        return messages

    def _tick_change(self, market: SimMarket, timestamp: str) -> list[Message]:
        old = market.book.tick
        new = FINE_TICK if old == COARSE_TICK else COARSE_TICK
        market.book.regrid(new, self._rng)
        changes: list[Message] = [
            {
                "event_type": "tick_size_change",
                "asset_id": asset_id,
                "market": market.condition_id,
                "old_tick_size": TICK_TEXT[old],
                "new_tick_size": TICK_TEXT[new],
                "timestamp": timestamp,
            }
            for asset_id in market.token_ids()
        ]
        return [
            *changes,
            book_message(market, True, timestamp, initial=False),
            book_message(market, False, timestamp, initial=False),
        ]

    # ---- framing -------------------------------------------------------------------------

    def next_frames(self, now_ms: int) -> list[Message | list[Message]]:
        """Advance by one event (5% of the time by several) and return its messages as frames.

        Usually each message is its own frame; about 5% of the time the events are bunched
        into one array of 2–5 messages, as the venue sometimes does. Nothing is held back, so
        after the call every change to the books has been framed.
        """
        messages = self.step(now_ms)
        if not messages:
            return []  # every market is resolved: nothing happens any more
        if self._rng.random() >= ARRAY_FRAME_RATIO:
            return list(messages)
        target = self._rng.randint(2, 5)
        while len(messages) < target:
            messages += self.step(now_ms)
        frames: list[Message | list[Message]] = [messages[:target]]
        return frames + messages[target:]

    def generate_frames(self, n: int, start_ms: int, *, advance: bool = False) -> list[str]:
        """Exactly `n` pre-encoded text frames of consecutive events, all markets (benchmarks).

        Event batch i carries timestamp `start_ms + i`. The last batch is packed into one
        array if it would overflow, so no generated message is left out. With `advance=False`
        this exchange is left unchanged, so a server built on it dumps exactly the state the
        frames start from; `advance=True` applies the events here, so `levels()` then shows
        the books after the last frame.
        """
        source = self if advance else copy.deepcopy(self)
        frames: list[str] = []
        clock = start_ms
        while len(frames) < n:
            batch = source.next_frames(clock)
            clock += 1
            room = n - len(frames)
            if len(batch) > room:
                tail = [m for frame in batch[room - 1 :] for m in _messages(frame)]
                batch = [*batch[: room - 1], tail]
            frames += [encode_frame(frame) for frame in batch]
        return frames


def _messages(frame: Message | list[Message]) -> list[Message]:
    return frame if isinstance(frame, list) else [frame]
