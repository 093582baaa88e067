"""Trigger specs (decoding, validation errors, exact units), events and stamping, the registry.

The helpers here are shared by test_triggers_book.py and test_triggers_windows.py.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.core.book import OrderBook
from polymon.core.prices import parse_price
from polymon.core.triggers import (
    TRIGGER_TYPES,
    Trigger,
    TriggerEvent,
    TriggerTable,
    decode_trigger_spec,
    make_trigger_id,
    stamp,
)
from polymon.core.triggers.spec import PriceAbove, PriceBelow
from polymon.core.triggers.units import check_range, size_units, to_units
from polymon.errors import BadRequest

A = "1001"
B = "2002"
VENUE_MS = 1_700_000_000_000  # venue timestamp at now = 0
RECV_US = 1_700_000_000_000_000 + 5_000  # receipt at now = 0, 5 ms after the venue stamp
_ids = itertools.count(1)


def trig(
    kind: str, *, asset: str = A, cooldown_ms: int = 0, tid: str = "", **params: Any
) -> Trigger:
    """A trigger decoded from a JSON body like a client's."""
    body = {
        "asset_id": asset,
        "condition_id": "0xcond",
        "condition": {"type": kind, **params},
        "cooldown_ms": cooldown_ms,
    }
    spec = decode_trigger_spec(msgspec.json.encode(body))
    return Trigger(trigger_id=tid or f"trig_{next(_ids)}", spec=spec)


def table_of(*triggers: Trigger, now: float = 0.0) -> TriggerTable:
    table = TriggerTable()
    for t in triggers:
        table.add(t, now)
    table._check()
    return table


def units(price: str) -> int:
    return parse_price(price) if price else 0


def bbo(
    table: TriggerTable,
    now: float,
    bid: str = "",
    ask: str = "",
    *,
    bid_size: float = 100.0,
    ask_size: float = 100.0,
    asset: str = A,
    book: OrderBook | None = None,
) -> None:
    table.on_bbo(
        asset,
        units(bid),
        bid_size,
        units(ask),
        ask_size,
        VENUE_MS + round(now * 1000),
        RECV_US + round(now * 1_000_000),
        now,
        book,
    )


def fired(table: TriggerTable) -> list[tuple[str, float]]:
    """(trigger id, actual value) of each event fired since the last call."""
    return [(e.trigger_id, e.actual_value) for e in table.drain()]


# -- decoding -------------------------------------------------------------------------------
SEED_BODY = b"""{
    "asset_id": "12345", "condition_id": "0xabc",
    "condition": {"type": "PRICE_ABOVE", "threshold": 0.90, "side": "BID"},
    "webhook_url": "https://example.com/webhook", "webhook_secret": "s3cret",
    "cooldown_ms": 10000
}"""


def test_decode_seed_example() -> None:
    spec = decode_trigger_spec(SEED_BODY)
    assert spec.asset_id == "12345"
    assert spec.condition_id == "0xabc"
    assert spec.condition == PriceAbove(threshold=Decimal("0.90"), side="BID")
    assert spec.condition.type == "PRICE_ABOVE"
    assert spec.webhook_url == "https://example.com/webhook"
    assert spec.webhook_secret == "s3cret"
    assert spec.cooldown_ms == 10_000
    assert "s3cret" not in repr(spec)
    assert "s3cret" not in repr(Trigger(trigger_id="trig_ab12", spec=spec))


def test_decode_defaults_and_string_thresholds() -> None:
    body = b'{"asset_id": "1", "condition": {"type": "PRICE_BELOW", "threshold": "0.3"}}'
    spec = decode_trigger_spec(body)
    assert spec.condition == PriceBelow(threshold=Decimal("0.3"), side="MID")
    assert spec.cooldown_ms == 0
    assert spec.webhook_url == spec.webhook_secret == spec.condition_id == ""
    assert to_units(Decimal("0.3")) == 300_000  # exact, unlike 0.1 + 0.2


MINIMAL_PARAMS: dict[str, dict[str, Any]] = {
    "PRICE_ABOVE": {"threshold": 0.9},
    "PRICE_BELOW": {"threshold": 0.1},
    "SPREAD_NARROW": {"threshold": 0.01},
    "SPREAD_WIDE": {"threshold": 0.05},
    "IMBALANCE_BID": {"threshold": 0.6},
    "IMBALANCE_ASK": {"threshold": 0.6},
    "IMBALANCE_SHIFT": {"delta": 0.5, "window_ms": 1000},
    "SIZE_SPIKE": {"multiplier": 3},
    "PRICE_MOVE": {"pct": 5, "window_ms": 60000},
    "LARGE_FILL": {"min_size": 1000},
    "QUOTE_VELOCITY": {"count": 10, "window_ms": 1000},
    "STALE_QUOTE": {"threshold_ms": 30000},
    "ARBITRAGE_BUY": {"threshold": 0.99, "paired_asset_id": B},
    "ARBITRAGE_SELL": {"threshold": 1.01, "paired_asset_id": B},
    "LARGE_TRADE": {"min_notional": 5000},
    "VOLUME_SPIKE": {"window_ms": 60000, "multiplier": 5},
}


def test_every_type_has_minimal_params() -> None:
    assert set(MINIMAL_PARAMS) == set(TRIGGER_TYPES)
    assert len(TRIGGER_TYPES) == 16


@pytest.mark.parametrize("kind", TRIGGER_TYPES)
def test_every_type_decodes_registers_and_unregisters(kind: str) -> None:
    trigger = trig(kind, **MINIMAL_PARAMS[kind])
    assert trigger.spec.condition.type == kind
    table = table_of(trigger)
    assert table.triggers() == [trigger]
    assert table.remove(trigger.trigger_id)
    table._check()
    assert not table.watching(A)
    assert not table.watching(B)


def _body(condition: dict[str, Any], **top: Any) -> bytes:
    return msgspec.json.encode({"asset_id": A, "condition": condition, **top})


BAD_BODIES = [
    (b"{not json", "not JSON"),
    (b"[]", "Expected `object`"),
    (b'{"condition": {"type": "PRICE_ABOVE", "threshold": 0.5}}', "`asset_id`"),
    (_body({"type": "PRICE_ABOVE", "threshold": 0.5}, extra=1), "`extra`"),
    (_body({"type": "PRICE_ABOVE", "threshold": 0.5, "foo": 1}), "`foo` - at `$.condition`"),
    (_body({"type": "PRICE_SIDEWAYS", "threshold": 0.5}), "$.condition.type"),
    (_body({"threshold": 0.5}), "`type` - at `$.condition`"),
    (_body({"type": "PRICE_ABOVE", "threshold": True}), "$.condition.threshold"),
    (_body({"type": "PRICE_ABOVE"}), "`threshold`"),
    (_body({"type": "PRICE_ABOVE", "threshold": 1.0}), "`threshold` must be a number in [0, 1)"),
    (_body({"type": "PRICE_BELOW", "threshold": 0}), "`threshold` must be a number in (0, 1]"),
    (_body({"type": "PRICE_ABOVE", "threshold": 0.1234567}), "`threshold` has more than 6"),
    (_body({"type": "PRICE_ABOVE", "threshold": "NaN"}), "`threshold` must be a number"),
    (_body({"type": "PRICE_ABOVE", "threshold": "1e999999"}), "`threshold` must be a number"),
    (_body({"type": "PRICE_ABOVE", "threshold": 0.5, "side": "LAST"}), "$.condition.side"),
    (_body({"type": "SPREAD_WIDE", "threshold": -0.01}), "`threshold`"),
    (_body({"type": "IMBALANCE_BID", "threshold": 1.5}), "`threshold`"),
    (_body({"type": "IMBALANCE_BID", "threshold": 0.5, "levels": 0}), "$.condition.levels"),
    (_body({"type": "IMBALANCE_SHIFT", "delta": 0.5, "window_ms": 0}), "$.condition.window_ms"),
    (_body({"type": "IMBALANCE_SHIFT", "delta": 0.5}), "`window_ms`"),
    (_body({"type": "SIZE_SPIKE"}), "`multiplier`, `min_size`"),
    (_body({"type": "SIZE_SPIKE", "multiplier": 1}), "`multiplier` must be a number in (1,"),
    (_body({"type": "SIZE_SPIKE", "min_size": 0}), "`min_size`"),
    (_body({"type": "PRICE_MOVE", "pct": 0, "window_ms": 10}), "`pct`"),
    (_body({"type": "PRICE_MOVE", "pct": 5, "window_ms": 1.5}), "$.condition.window_ms"),
    (_body({"type": "LARGE_FILL", "min_size": "lots"}), "$.condition.min_size"),
    (_body({"type": "QUOTE_VELOCITY", "count": 0, "window_ms": 10}), "$.condition.count"),
    (_body({"type": "STALE_QUOTE", "threshold_ms": -1}), "$.condition.threshold_ms"),
    (_body({"type": "ARBITRAGE_BUY", "threshold": 0.99}), "`paired_asset_id`"),
    (_body({"type": "ARBITRAGE_BUY", "threshold": 2, "paired_asset_id": B}), "`threshold`"),
    (
        _body({"type": "ARBITRAGE_SELL", "threshold": 1.01, "paired_asset_id": A}),
        "`condition.paired_asset_id` must differ from `asset_id`",
    ),
    (_body({"type": "LARGE_TRADE", "side": "BUY"}), "`min_size`, `min_notional`"),
    (_body({"type": "VOLUME_SPIKE", "window_ms": 1000}), "`min_volume`, `multiplier`"),
    (_body({"type": "PRICE_ABOVE", "threshold": 0.5}, cooldown_ms=-1), "$.cooldown_ms"),
    (_body({"type": "PRICE_ABOVE", "threshold": 0.5}, webhook_url=5), "$.webhook_url"),
    (msgspec.json.encode({"asset_id": "", "condition": {}}), "$.asset_id"),
]


@pytest.mark.parametrize(("body", "detail"), BAD_BODIES)
def test_bad_specs_are_bad_requests_naming_the_field(body: bytes, detail: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_trigger_spec(body)
    assert detail in info.value.detail
    assert info.value.status == 400


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=6))
def test_to_units_is_exact(n: int, places: int) -> None:
    value = Decimal(n).scaleb(-places)
    check_range(value, "x", "0", "1000000000000000000")
    assert to_units(value) == n * 10 ** (6 - places)
    padded = Decimal(f"{value:f}" + ("0" * 5 if "." in f"{value:f}" else ".00000"))
    assert to_units(padded) == to_units(value)


def test_units_edge_cases() -> None:
    assert to_units(Decimal("0E-30")) == 0
    assert to_units(Decimal("1E+5")) == 100_000_000_000
    assert to_units(Decimal("0.900000000")) == 900_000
    with pytest.raises(ValueError, match="more than 6"):
        check_range(Decimal("0.5000000000000000000000000000001"), "t", "0", "1")
    assert size_units(1200.5) == 1_200_500_000
    assert size_units(0.000001) == 1


def test_trigger_ids() -> None:
    assert make_trigger_id(bytes.fromhex("00ff10")) == "trig_00ff10"
    spec = decode_trigger_spec(SEED_BODY)
    for bad in ("abc", "trig_", "trig_a-b", "trig_" + "a" * 65, "trig_é"):
        with pytest.raises(ValueError, match="trig_"):
            Trigger(trigger_id=bad, spec=spec)
    with pytest.raises(ValueError, match="entropy"):
        make_trigger_id(b"")


# -- events -----------------------------------------------------------------------------------
def test_event_payload_and_stamp() -> None:
    table = table_of(trig("PRICE_ABOVE", threshold="0.48", side="MID", tid="trig_abc123"))
    bbo(table, 2.0, "0.48", "0.49")
    [event] = table.drain()
    assert event.fired_at == event.total_latency_us == event.processing_latency_us == 0
    assert event.venue_ts_ms == VENUE_MS + 2000
    assert event.received_us == RECV_US + 2_000_000
    stamp([event], RECV_US + 2_000_000 + 300)
    assert event.fired_at == RECV_US + 2_000_300
    assert event.processing_latency_us == 300
    assert event.total_latency_us == 5_300
    wire = msgspec.json.decode(msgspec.json.encode(event))
    assert wire == {
        "trigger_id": "trig_abc123",
        "trigger_type": "PRICE_ABOVE",
        "asset_id": A,
        "condition_id": "0xcond",
        "fired_at": RECV_US + 2_000_300,
        "total_latency_us": 5_300,
        "processing_latency_us": 300,
        "best_bid": 0.48,
        "best_ask": 0.49,
        "mid_price": 0.485,
        "spread_bps": 206,
        "threshold": 0.48,
        "actual_value": 0.485,
        "venue_ts_ms": VENUE_MS + 2000,
        "received_us": RECV_US + 2_000_000,
    }
    assert b'"mid_price":0.485,' in msgspec.json.encode(event)


def test_stamp_without_venue_time() -> None:
    event = TriggerEvent(
        trigger_id="trig_1", trigger_type="STALE_QUOTE", asset_id=A, condition_id="",
        fired_at=0, total_latency_us=0, processing_latency_us=0, best_bid=None, best_ask=None,
        mid_price=None, spread_bps=None, threshold=1.0, actual_value=1.0, venue_ts_ms=0,
        received_us=0,
    )  # fmt: skip
    assert stamp([event], 99) == [event]
    assert (event.fired_at, event.total_latency_us, event.processing_latency_us) == (99, 0, 0)


# -- registry -----------------------------------------------------------------------------------
def test_add_remove_get_and_listing() -> None:
    t1 = trig("PRICE_ABOVE", threshold=0.5)
    t2 = trig("PRICE_ABOVE", threshold=0.5, asset=B)
    t3 = trig("ARBITRAGE_BUY", threshold=0.99, paired_asset_id=B)
    table = table_of(t1, t2, t3)
    assert len(table) == 3
    assert table.triggers() == [t1, t2, t3]
    assert table.get(t2.trigger_id) is t2
    assert table.get("trig_nope") is None
    with pytest.raises(BadRequest, match="already registered"):
        table.add(t1, 0.0)
    assert table.remove(t2.trigger_id)
    table._check()
    assert table.watching(B)  # still read by the arbitrage trigger
    assert not table.remove(t2.trigger_id)
    assert table.remove(t3.trigger_id)
    table._check()
    assert not table.watching(B)
    assert table.triggers() == [t1]


def test_removed_trigger_no_longer_fires() -> None:
    t1 = trig("PRICE_ABOVE", threshold=0.5)
    t2 = trig("PRICE_ABOVE", threshold=0.5)
    table = table_of(t1, t2)
    assert table.remove(t1.trigger_id)
    bbo(table, 0.0, "0.51", "0.52")
    assert fired(table) == [(t2.trigger_id, 0.515)]  # side MID by default


def test_asset_without_triggers_produces_nothing() -> None:
    table = table_of(*(trig(k, **p) for k, p in MINIMAL_PARAMS.items()))
    book = OrderBook()
    other = "9999"
    for now in (0.0, 1.0, 100.0):
        bbo(table, now, "0.01", "0.99", asset=other, book=book)
        table.on_level(other, 0, 10_000, 0.0, 1e9, VENUE_MS, RECV_US, now, book)
        table.on_trade(other, 500_000, 1e9, "BUY", VENUE_MS, RECV_US, now)
    assert table.drain() == []
    assert not table.watching(other)


def test_drain_takes_everything_once() -> None:
    table = table_of(trig("PRICE_ABOVE", threshold=0.5))
    bbo(table, 0.0, "0.6", "0.7")
    first = table.fired
    assert table.drain() is first
    assert len(first) == 1
    assert table.drain() == []
