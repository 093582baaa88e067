"""The pure exchange model: determinism, mirrored books, exact prices and correct v3 hashes."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from polymon.core.bookhash import book_hash
from polymon.core.lasttrade import trade_values
from polymon.polymarket.simulator.exchange import Exchange, encode_frame
from tests.simulator.replica import Replica

T0 = 1_790_000_000_000
PRICE = {"0.01": re.compile(r"0\.\d\d"), "0.001": re.compile(r"0\.\d\d\d")}
SIZE = re.compile(r"(0|[1-9]\d*)(\.\d?[1-9])?")


def replica_of(exchange: Exchange, now_ms: int = T0) -> Replica:
    """A replica seeded with the initial-dump snapshot of every token."""
    replica = Replica()
    for asset_id in exchange.token_ids():
        replica.apply(exchange.snapshot(asset_id, now_ms))
    return replica


def run(exchange: Exchange, steps: int, replica: Replica | None = None) -> list[dict[str, Any]]:
    """Step `steps` times (one ms apart), feeding a replica; returns every message."""
    messages: list[dict[str, Any]] = []
    for i in range(steps):
        batch = exchange.step(T0 + 1 + i)
        for message in batch:
            if replica is not None:
                replica.apply(message)
        messages += batch
    return messages


def test_same_seed_same_output_and_different_seed_differs() -> None:
    a, b, c = Exchange(10, 7), Exchange(10, 7), Exchange(10, 8)
    assert encode_frame(run(a, 500)) == encode_frame(run(b, 500))
    assert a.gamma_markets() == b.gamma_markets()
    assert a.token_ids() != c.token_ids()


def test_identifiers_have_the_venue_shapes() -> None:
    exchange = Exchange(30, 3)
    tokens = exchange.token_ids()
    assert len(tokens) == len(set(tokens)) == 60
    assert all(re.fullmatch(r"[1-9]\d{76}", token) for token in tokens)
    for market in exchange.markets:
        assert re.fullmatch(r"0x[0-9a-f]{64}", market.condition_id)
        assert market.gamma_id.isdigit()
    assert {exchange.tick_size(t) for t in tokens} == {"0.01", "0.001"}


def test_gamma_markets_use_json_strings_and_numbers_where_gamma_does() -> None:
    exchange = Exchange(5, 1)
    for market, sim in zip(exchange.gamma_markets(), exchange.markets, strict=True):
        assert json.loads(market["clobTokenIds"]) == [sim.yes_id, sim.no_id]
        assert json.loads(market["outcomes"]) == ["Yes", "No"]
        yes, no = (Decimal(p) for p in json.loads(market["outcomePrices"]))
        assert yes + no == 1
        assert market["conditionId"] == sim.condition_id
        assert market["orderPriceMinTickSize"] in (0.01, 0.001)
        assert market["orderMinSize"] == 5
        assert isinstance(market["volume"], str)
        assert (market["active"], market["closed"], market["archived"]) == (True, False, False)
        assert market["endDate"].endswith("Z")


def test_no_book_is_the_exact_mirror_of_yes() -> None:
    exchange = Exchange(8, 2, trade_ratio=0.2, tick_change_ratio=0.05)
    for _ in range(20):
        run(exchange, 100)
        for market in exchange.markets:
            yes_bids, yes_asks = exchange.levels(market.yes_id)
            no_bids, no_asks = exchange.levels(market.no_id)
            for no_side, yes_side in ((no_bids, yes_asks), (no_asks, yes_bids)):
                assert [(1 - Decimal(p), s) for p, s in no_side] == [
                    (Decimal(p), s) for p, s in yes_side
                ]


def test_every_hash_matches_a_replica_built_from_messages_only() -> None:
    exchange = Exchange(6, 4, trade_ratio=0.2, tick_change_ratio=0.02)
    replica = replica_of(exchange)
    messages = run(exchange, 4000, replica)
    kinds = {m["event_type"] for m in messages}
    assert kinds == {"price_change", "last_trade_price", "tick_size_change", "book"}
    assert replica.mismatches == []
    assert replica.hashes_checked > 8000
    for asset_id in exchange.token_ids():
        assert replica.levels(asset_id) == exchange.levels(asset_id)
        assert replica.books[asset_id].last_trade_price == exchange.last_trade_price(asset_id)


def test_price_change_has_yes_entry_then_mirrored_no_entry() -> None:
    exchange = Exchange(4, 5, trade_ratio=0, tick_change_ratio=0)
    for message in run(exchange, 300):
        market = exchange.market_of(message["price_changes"][0]["asset_id"])
        yes, no = message["price_changes"]
        assert (yes["asset_id"], no["asset_id"]) == (market.yes_id, market.no_id)
        assert message["market"] == market.condition_id
        assert Decimal(yes["price"]) + Decimal(no["price"]) == 1
        assert yes["size"] == no["size"]
        assert {yes["side"], no["side"]} == {"BUY", "SELL"}
        assert isinstance(message["timestamp"], str)


def test_prices_and_sizes_are_exact_strings_for_the_tick() -> None:
    exchange = Exchange(10, 6, trade_ratio=0.2, tick_change_ratio=0.05)
    replica = replica_of(exchange)
    run(exchange, 2000, replica)
    for asset_id, book in replica.books.items():
        assert book.tick_size == exchange.tick_size(asset_id)
        for price, size in [*book.bids.items(), *book.asks.items()]:
            assert PRICE[book.tick_size].fullmatch(price), price
            assert SIZE.fullmatch(size), size
            assert size != "0"


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    trade_ratio=st.floats(0, 0.6),
    tick_change_ratio=st.floats(0, 0.2),
)
def test_books_never_cross_and_keep_5_to_30_levels(
    seed: int, trade_ratio: float, tick_change_ratio: float
) -> None:
    exchange = Exchange(3, seed, trade_ratio=trade_ratio, tick_change_ratio=tick_change_ratio)
    for i in range(400):
        exchange.step(T0 + i)
        for market in exchange.markets:
            market.book.check()


def test_tick_size_change_regrids_and_is_followed_by_books() -> None:
    exchange = Exchange(1, 9, tick_change_ratio=1.0)
    replica = replica_of(exchange)
    for i in range(40):
        old = exchange.tick_size(exchange.token_ids()[0])
        messages = exchange.step(T0 + i)
        for message in messages:
            replica.apply(message)
        new = exchange.tick_size(exchange.token_ids()[0])
        assert {old, new} == {"0.01", "0.001"}
        assert [m["event_type"] for m in messages] == ["tick_size_change"] * 2 + ["book"] * 2
        assert all(m["old_tick_size"] == old and m["new_tick_size"] == new for m in messages[:2])
        for book in messages[2:]:
            assert "tick_size" not in book
            assert "last_trade_price" not in book
            assert all(PRICE[new].fullmatch(level["price"]) for level in book["bids"])
            assert all(PRICE[new].fullmatch(level["price"]) for level in book["asks"])
        exchange.markets[0].book.check()
    assert replica.mismatches == []


def test_trades_consume_the_top_of_the_opposite_side() -> None:
    exchange = Exchange(4, 11, trade_ratio=1.0, tick_change_ratio=0)
    seen = []
    for i in range(300):
        before = {asset_id: exchange.levels(asset_id) for asset_id in exchange.token_ids()}
        messages = exchange.step(T0 + i)
        if len(messages) < 2 or messages[1]["event_type"] != "last_trade_price":
            continue  # a 1-cent top level on a minimal side cannot trade; a book change happens
        change, trade = messages[:2]
        assert change["event_type"] == "price_change"  # the venue's order: change, then trade
        seen.append(trade)
        bids, asks = before[trade["asset_id"]]
        # The taker's side says which resting side it hit: a buyer lifts the best ask.
        price, size = asks[0] if trade["side"] == "BUY" else bids[0]
        assert trade["price"] == price
        assert Decimal(trade["size"]) <= Decimal(size)
        entry = next(e for e in change["price_changes"] if e["asset_id"] == trade["asset_id"])
        assert entry["price"] == price
        assert Decimal(entry["size"]) == Decimal(size) - Decimal(trade["size"])
        assert re.fullmatch(r"0x[0-9a-f]{64}", trade["transaction_hash"])
        assert trade["fee_rate_bps"] == "0"
        # Market-level, three decimals, in the traded token's terms: the same for both tokens.
        assert exchange.last_trade_price(trade["asset_id"]) == trade_values(trade["price"])[0]
        market = exchange.market_of(trade["asset_id"])
        assert exchange.last_trade_price(market.yes_id) == exchange.last_trade_price(market.no_id)
    assert exchange.trades_sent == seen
    assert len(seen) > 250


def test_rest_book_and_snapshot_hashes_are_self_consistent() -> None:
    exchange = Exchange(5, 12, trade_ratio=0.3)
    run(exchange, 500)
    for asset_id in exchange.token_ids():
        rest = exchange.rest_book(asset_id, T0)
        assert (
            book_hash(
                "v3",
                market=rest["market"],
                asset_id=asset_id,
                timestamp=rest["timestamp"],
                bids_ascending=[(level["price"], level["size"]) for level in rest["bids"]],
                asks_descending=[(level["price"], level["size"]) for level in rest["asks"]],
                min_order_size=rest["min_order_size"],
                tick_size=rest["tick_size"],
                neg_risk=rest["neg_risk"],
                last_trade_price=rest["last_trade_price"],
            )
            == rest["hash"]
        )
        snapshot = exchange.snapshot(asset_id, T0)
        assert snapshot["hash"] == rest["hash"]
        assert snapshot["tick_size"] == rest["tick_size"]
        assert snapshot["last_trade_price"] == rest["last_trade_price"]
        assert "tick_size" not in exchange.snapshot(asset_id, T0, initial=False)


def test_generate_frames_leaves_the_exchange_alone_unless_asked() -> None:
    exchange = Exchange(5, 13)
    start = {asset_id: exchange.levels(asset_id) for asset_id in exchange.token_ids()}
    frames = exchange.generate_frames(1000, T0)
    assert len(frames) == 1000
    assert frames == exchange.generate_frames(1000, T0)
    assert {a: exchange.levels(a) for a in exchange.token_ids()} == start
    arrays = [f for f in frames if f.startswith("[")]
    assert 0.01 < len(arrays) / len(frames) < 0.12
    assert all(len(json.loads(f)) >= 2 for f in arrays)

    replica = replica_of(exchange)
    assert exchange.generate_frames(1000, T0, advance=True) == frames
    assert exchange.events > 900
    for frame in frames:
        replica.apply_frame(frame)
    assert replica.mismatches == []
    for asset_id in exchange.token_ids():
        assert replica.levels(asset_id) == exchange.levels(asset_id)
