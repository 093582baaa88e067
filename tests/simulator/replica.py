"""A client-side replica of venue books built only from wire messages, checking every hash.

It is what a correct consumer does (apply `book`, `price_change`, `last_trade_price`,
`tick_size_change` in order) and nothing more, so when its recomputed v3 hashes match the
simulator's, the simulator's hashes are right and its messages are self-sufficient. As on the
venue, the last trade price is market-level with three decimals and moves with the trade's own
price_change, before the trade message: a miss is retried with the entry's price.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from polymon.core.bookhash import book_hash
from polymon.core.lasttrade import trade_values

Levels = list[tuple[str, str]]


@dataclass
class TokenBook:
    """One token as a consumer sees it."""

    market: str
    tick_size: str = ""
    last_trade_price: str = ""
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)

    def venue_order(self) -> tuple[Levels, Levels]:
        """(bids ascending, asks descending), as the venue hashes them."""
        bids = sorted(self.bids.items(), key=lambda level: Decimal(level[0]))
        asks = sorted(self.asks.items(), key=lambda level: Decimal(level[0]), reverse=True)
        return bids, asks

    def top(self) -> tuple[Decimal, Decimal]:
        """(best bid, best ask) as decimals, 0 / 1 for an empty side."""
        bid = max((Decimal(p) for p in self.bids), default=Decimal(0))
        ask = min((Decimal(p) for p in self.asks), default=Decimal(1))
        return bid, ask


@dataclass
class Replica:
    """Books of every token seen, plus the outcome of every hash check."""

    books: dict[str, TokenBook] = field(default_factory=dict)
    hashes_checked: int = 0
    mismatches: list[tuple[str, str]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)

    def apply_frame(self, text: str) -> None:
        """Apply one text frame (an object or an array)."""
        decoded = json.loads(text)
        for message in decoded if isinstance(decoded, list) else [decoded]:
            self.apply(message)

    def apply(self, message: dict[str, Any]) -> None:
        """Apply one message and check any hash it carries."""
        kind = message["event_type"]
        if kind == "book":
            self._book(message)
        elif kind == "price_change":
            for entry in message["price_changes"]:
                book = self.books[entry["asset_id"]]
                levels = book.bids if entry["side"] == "BUY" else book.asks
                if entry["size"] == "0":
                    del levels[entry["price"]]
                else:
                    levels[entry["price"]] = entry["size"]
                bid, ask = book.top()
                assert (Decimal(entry["best_bid"]), Decimal(entry["best_ask"])) == (bid, ask)
                self._check(entry["asset_id"], message["timestamp"], entry["hash"], entry["price"])
        elif kind == "last_trade_price":
            self._set_last_trade(message["asset_id"], trade_values(message["price"])[0])
            self.trades.append(message)
        elif kind == "tick_size_change":
            book = self.books[message["asset_id"]]
            assert book.tick_size == message["old_tick_size"]
            book.tick_size = message["new_tick_size"]
        else:
            raise AssertionError(f"unexpected event_type {kind!r}")
        for asset_id in _assets(message):
            bid, ask = self.books[asset_id].top()
            assert bid < ask, (asset_id, bid, ask)

    def _book(self, message: dict[str, Any]) -> None:
        old = self.books.get(message["asset_id"])
        book = TokenBook(
            market=message["market"],
            tick_size=message.get("tick_size", old.tick_size if old else ""),
            last_trade_price=message.get("last_trade_price", old.last_trade_price if old else ""),
        )
        book.bids = {level["price"]: level["size"] for level in message["bids"]}
        book.asks = {level["price"]: level["size"] for level in message["asks"]}
        self.books[message["asset_id"]] = book
        self._check(message["asset_id"], message["timestamp"], message["hash"])

    def expected_hash(self, asset_id: str, timestamp: str) -> str:
        """The v3 hash of the replica's book of `asset_id` at `timestamp`."""
        book = self.books[asset_id]
        bids, asks = book.venue_order()
        return book_hash(
            "v3",
            market=book.market,
            asset_id=asset_id,
            timestamp=timestamp,
            bids_ascending=bids,
            asks_descending=asks,
            min_order_size="5",
            tick_size=book.tick_size,
            neg_risk=False,
            last_trade_price=book.last_trade_price,
        )

    def _set_last_trade(self, asset_id: str, value: str) -> None:
        market = self.books[asset_id].market
        for book in self.books.values():
            if book.market == market:
                book.last_trade_price = value

    def _check(self, asset_id: str, timestamp: str, venue_hash: str, price: str = "") -> None:
        self.hashes_checked += 1
        if self.expected_hash(asset_id, timestamp) == venue_hash:
            return
        book = self.books[asset_id]
        before = book.last_trade_price
        for value in trade_values(price) if price else ():
            book.last_trade_price = value
            if self.expected_hash(asset_id, timestamp) == venue_hash:
                self._set_last_trade(asset_id, value)
                return
        book.last_trade_price = before
        self.mismatches.append((asset_id, timestamp))

    def levels(self, asset_id: str) -> tuple[Levels, Levels]:
        """(bids best-first, asks best-first), comparable with `Exchange.levels`."""
        bids, asks = self.books[asset_id].venue_order()
        return bids[::-1], asks[::-1]


def _assets(message: dict[str, Any]) -> list[str]:
    if "price_changes" in message:
        return [entry["asset_id"] for entry in message["price_changes"]]
    return [message["asset_id"]]
