"""Wire schemas: every recorded frame decodes; bad frames are counted, never raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.polymarket.schemas import (
    REST_BOOK_DECODER,
    REST_BOOKS_DECODER,
    BestBidAsk,
    Book,
    LastTradePrice,
    MarketResolved,
    NewMarket,
    PriceChange,
    RestBook,
    TickSizeChange,
    decode_frame,
)
from tests.fixtures import DATA, as_frame, read_lines

WS_DIR = DATA / "nautilus_trader" / "integration_ws_messages"
CRATES_DIR = DATA / "nautilus_trader" / "crates_test_data"
POLYPY_CAPTURES = [
    "polypy/head/messages_hash.txt",
    "polypy/initial_2025-02/messages_hash.txt",
    "polypy/initial_2025-02/test_server_messages.txt",
    "polypy/initial_2025-02/test_server_multi_book.txt",
]
TYPES = {
    "book": Book,
    "price_change": PriceChange,
    "last_trade_price": LastTradePrice,
    "tick_size_change": TickSizeChange,
    "best_bid_ask": BestBidAsk,
    "new_market": NewMarket,
    "market_resolved": MarketResolved,
}
REASONS = {"json", "schema", "unknown_event"}

WS_FILES = sorted(WS_DIR.glob("*.json")) + sorted(CRATES_DIR.glob("ws_*.json"))


def one(frame: bytes | str) -> Any:
    messages, skipped = decode_frame(frame)
    assert skipped == []
    assert len(messages) == 1
    return messages[0]


def levels(raw: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(lv["price"], lv["size"]) for lv in raw]


def check_book(msg: Book | RestBook, raw: dict[str, Any]) -> None:
    assert msg.asset_id == raw["asset_id"]
    assert msg.market == raw.get("market", "")
    assert msg.timestamp == raw["timestamp"]
    assert msg.hash == raw.get("hash", "")
    assert [(lv.price, lv.size) for lv in msg.bids] == levels(raw["bids"])
    assert [(lv.price, lv.size) for lv in msg.asks] == levels(raw["asks"])
    for key in ("tick_size", "min_order_size", "last_trade_price"):
        assert getattr(msg, key) == raw.get(key, "")
    if "neg_risk" in raw:
        assert msg.neg_risk == raw["neg_risk"]


def check_message(msg: Any, raw: dict[str, Any]) -> None:
    """Key fields of a decoded message equal the raw JSON object's."""
    assert type(msg) is TYPES[raw["event_type"]]
    if "timestamp" in raw:
        assert msg.timestamp == raw["timestamp"]
    if type(msg) is Book:
        check_book(msg, raw)
    elif type(msg) is PriceChange:
        assert msg.market == raw.get("market", "")
        if "price_changes" in raw:
            assert msg.changes is None
            assert [(e.asset_id, e.side, e.price, e.size, e.hash) for e in msg.price_changes] == [
                (e["asset_id"], e["side"], e["price"], e["size"], e["hash"])
                for e in raw["price_changes"]
            ]
            assert [(e.best_bid, e.best_ask) for e in msg.price_changes] == [
                (e["best_bid"], e["best_ask"]) for e in raw["price_changes"]
            ]
        elif "changes" in raw:
            assert msg.price_changes is None
            assert (msg.asset_id, msg.hash) == (raw["asset_id"], raw["hash"])
            assert [(c.side, c.price, c.size) for c in msg.changes] == [
                (c["side"], c["price"], c["size"]) for c in raw["changes"]
            ]
        else:
            assert msg.price_changes is None
            assert msg.changes is None
            assert (msg.asset_id, msg.side, msg.price, msg.size, msg.hash) == (
                raw["asset_id"],
                raw["side"],
                raw["price"],
                raw["size"],
                raw["hash"],
            )
    elif type(msg) is LastTradePrice:
        assert (msg.asset_id, msg.price, msg.size, msg.side) == (
            raw["asset_id"],
            raw["price"],
            raw["size"],
            raw["side"],
        )
        assert msg.fee_rate_bps == raw.get("fee_rate_bps", "0")
        assert msg.transaction_hash == raw.get("transaction_hash", "")
    elif type(msg) is TickSizeChange:
        assert (msg.asset_id, msg.old_tick_size, msg.new_tick_size) == (
            raw["asset_id"],
            raw["old_tick_size"],
            raw["new_tick_size"],
        )
    elif type(msg) is BestBidAsk:
        assert (msg.asset_id, msg.best_bid, msg.best_ask, msg.spread) == (
            raw["asset_id"],
            raw["best_bid"],
            raw["best_ask"],
            raw["spread"],
        )
    elif type(msg) is NewMarket:
        assert (msg.market, msg.id, msg.slug) == (raw["market"], raw["id"], raw["slug"])
        assert msg.assets_ids == raw["assets_ids"]
        assert msg.outcomes == raw["outcomes"]
        assert msg.active is raw.get("active", True)
    elif type(msg) is MarketResolved:
        assert (msg.market, msg.winning_asset_id, msg.winning_outcome) == (
            raw["market"],
            raw["winning_asset_id"],
            raw["winning_outcome"],
        )
        assert msg.assets_ids == raw["assets_ids"]


# -- recorded WS frames -------------------------------------------------------------------


def test_every_ws_fixture_file_is_covered() -> None:
    names = {p.name for p in WS_FILES}
    assert names == {
        "book.json",
        "last_trade_price.json",
        "price_change.json",
        "price_change_v2.json",
        "tick_size_change.json",
        "ws_market_best_bid_ask_msg.json",
        "ws_market_new_market_msg.json",
        "ws_market_resolved_msg.json",
    }


@pytest.mark.parametrize("path", WS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ws_fixture_files_decode(path: Path) -> None:
    raw = json.loads(path.read_text())
    msg = one(path.read_bytes())
    check_message(msg, raw)
    assert one(path.read_text()) == msg  # str frames decode the same as bytes


def test_ws_fixture_key_fields() -> None:
    book = one((WS_DIR / "book.json").read_bytes())
    assert type(book) is Book
    assert (len(book.bids), len(book.asks)) == (76, 86)
    assert book.asset_id.startswith("4833104")
    assert book.hash == "655a38d4977427b086c25b985993691b753ed166"
    flat = one((WS_DIR / "price_change.json").read_bytes())
    assert (flat.price, flat.side, flat.size) == ("0.514", "SELL", "21574.08")
    current = one((WS_DIR / "price_change_v2.json").read_bytes())
    assert current.price_changes is not None
    assert len(current.price_changes) == 3
    assert current.timestamp == "1729084877448"
    trade = one((WS_DIR / "last_trade_price.json").read_bytes())
    assert (trade.price, trade.size, trade.side, trade.fee_rate_bps) == (
        "0.491",
        "85.36",
        "SELL",
        "0",
    )
    tick = one((WS_DIR / "tick_size_change.json").read_bytes())
    assert (tick.old_tick_size, tick.new_tick_size) == ("0.01", "0.001")
    bba = one((CRATES_DIR / "ws_market_best_bid_ask_msg.json").read_bytes())
    assert (bba.best_bid, bba.best_ask, bba.spread) == ("0.73", "0.77", "0.04")
    new = one((CRATES_DIR / "ws_market_new_market_msg.json").read_bytes())
    assert (new.outcomes, new.active, new.order_price_min_tick_size) == (
        ["Yes", "No"],
        True,
        "0.01",
    )
    resolved = one((CRATES_DIR / "ws_market_resolved_msg.json").read_bytes())
    assert resolved.winning_outcome == "Yes"
    assert resolved.winning_asset_id == resolved.assets_ids[0]


@pytest.mark.parametrize("path", POLYPY_CAPTURES)
def test_every_polypy_capture_line_decodes(path: str) -> None:
    lines = read_lines(path)
    assert lines
    for raw in lines:
        frame = as_frame(raw)
        msg = one(frame)
        check_message(msg, json.loads(frame))


def test_polypy_capture_types() -> None:
    def kinds(path: str) -> list[str]:
        return [type(one(as_frame(raw))).__name__ for raw in read_lines(path)]

    head = kinds("polypy/head/messages_hash.txt")
    assert head == ["Book", "PriceChange", "Book", "PriceChange", "Book"]
    stream = kinds("polypy/initial_2025-02/test_server_messages.txt")
    assert stream.count("Book") == 2
    assert stream.count("PriceChange") == 6
    assert stream.count("LastTradePrice") == 1
    assert stream[-1] == "TickSizeChange"
    multi = kinds("polypy/initial_2025-02/test_server_multi_book.txt")
    assert (multi.count("Book"), multi.count("PriceChange"), multi.count("LastTradePrice")) == (
        4,
        7,
        1,
    )


def test_integer_timestamps_are_kept() -> None:
    ws_book, change = read_lines("polypy/head/messages_hash.txt")[:2]
    book = one(as_frame(ws_book))
    assert book.timestamp == 1761179883493
    assert int(book.timestamp) == 1761179883493
    msg = one(as_frame(change))
    assert msg.timestamp == 1761179949036
    assert msg.price_changes is not None
    assert len(msg.price_changes) == 2
    # Integer fee and timestamp in a trade.
    trade = one(
        b'{"event_type":"last_trade_price","asset_id":"1","price":"0.5","size":"1",'
        b'"fee_rate_bps":0,"timestamp":1750428146322}'
    )
    assert (trade.fee_rate_bps, trade.timestamp) == (0, 1750428146322)


def test_three_price_change_shapes() -> None:
    current = one(
        '{"event_type":"price_change","market":"0xm","timestamp":"5","price_changes":['
        '{"asset_id":"1","price":"0.08","size":"0","side":"BUY","hash":"h1",'
        '"best_bid":"0.66","best_ask":"0.67"},'
        '{"asset_id":"2","price":"0.92","size":"3","side":"SELL"}]}'
    )
    assert current.changes is None
    first, second = current.price_changes
    assert (first.asset_id, first.hash, first.best_bid, first.best_ask) == (
        "1",
        "h1",
        "0.66",
        "0.67",
    )
    assert (second.asset_id, second.hash, second.best_bid) == ("2", "", "")
    legacy = one(
        '{"event_type":"price_change","market":"0xm","asset_id":"1","hash":"h","timestamp":"5",'
        '"changes":[{"price":"0.53","side":"BUY","size":"1608.18"}]}'
    )
    assert legacy.price_changes is None
    assert (legacy.asset_id, legacy.hash, legacy.changes[0].size) == ("1", "h", "1608.18")
    flat = one(
        '{"event_type":"price_change","asset_id":"1","price":"0.5","side":"SELL","size":"2",'
        '"hash":"h","timestamp":"5"}'
    )
    assert (flat.price_changes, flat.changes) == (None, None)
    assert (flat.asset_id, flat.price, flat.side, flat.size) == ("1", "0.5", "SELL", "2")


# -- REST books ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relpath",
    [
        "nautilus_trader/integration_http_responses/book.json",
        "polypy/initial_2025-02/ws_msg_book_yes.json",
    ],
)
def test_rest_book_files_decode(relpath: str) -> None:
    data = (DATA / relpath).read_bytes()
    raw = json.loads(data)
    book = REST_BOOK_DECODER.decode(data)
    assert type(book) is RestBook
    check_book(book, raw)
    assert book.neg_risk is False  # absent in the 2024 era: default
    assert REST_BOOKS_DECODER.decode(b"[" + data + b"]") == [book]


def test_rest_book_files_sizes() -> None:
    http = REST_BOOK_DECODER.decode(
        (DATA / "nautilus_trader/integration_http_responses/book.json").read_bytes()
    )
    assert (len(http.bids), len(http.asks)) == (5, 7)
    assert (http.bids[-1].price, http.asks[-1].price) == ("0.1", "0.14")  # best last
    yes = REST_BOOK_DECODER.decode(
        (DATA / "polypy/initial_2025-02/ws_msg_book_yes.json").read_bytes()
    )
    assert (len(yes.bids), len(yes.asks)) == (14, 4)


@pytest.mark.parametrize(
    "path", ["polypy/head/messages_hash.txt", "polypy/initial_2025-02/messages_hash.txt"]
)
def test_rest_lines_of_the_polypy_captures(path: str) -> None:
    rest = [raw for raw in read_lines(path) if "bids" in raw and "event_type" not in raw]
    assert len(rest) == 2
    for raw in rest:
        book = REST_BOOK_DECODER.decode(json.dumps(raw))
        check_book(book, raw)
    if path.startswith("polypy/head"):
        book = REST_BOOK_DECODER.decode(json.dumps(rest[0]))
        assert (book.min_order_size, book.tick_size, book.neg_risk) == ("5", "0.01", False)
    books = REST_BOOKS_DECODER.decode(json.dumps(rest))
    assert [b.hash for b in books] == [raw["hash"] for raw in rest]


# -- frames: arrays, keepalives -----------------------------------------------------------


def test_initial_dump_array() -> None:
    first = read_lines("polypy/head/messages_hash.txt")[0]
    second = {**first, "asset_id": "3329", "bids": [], "asks": [{"price": "0.99", "size": "1"}]}
    dump = [
        {
            **first,
            "timestamp": str(first["timestamp"]),
            "tick_size": "0.01",
            "last_trade_price": "0.140",
        },
        {**second, "timestamp": "1761179883493", "tick_size": "0.001", "last_trade_price": ""},
    ]
    messages, skipped = decode_frame(json.dumps(dump))
    assert skipped == []
    assert [type(m) for m in messages] == [Book, Book]
    assert (messages[0].tick_size, messages[0].last_trade_price) == ("0.01", "0.140")
    assert (messages[1].asset_id, messages[1].tick_size, messages[1].bids) == ("3329", "0.001", [])
    assert len(messages[0].bids) == len(first["bids"])


def test_mixed_event_array() -> None:
    frames = [json.loads(p.read_text()) for p in WS_FILES]
    messages, skipped = decode_frame(json.dumps(frames).encode())
    assert skipped == []
    assert [type(m) for m in messages] == [TYPES[f["event_type"]] for f in frames]


@pytest.mark.parametrize(
    "frame", ["[]", b"[]", " [ ] ", "PONG", b"PONG", "PONG\n", "NO NEW ASSETS", b" NO NEW ASSETS "]
)
def test_keepalives_and_empty_arrays(frame: str | bytes) -> None:
    assert decode_frame(frame) == ([], [])


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reasons"),
    [
        ("", ["json"]),
        ("   ", ["json"]),
        ("PING", ["json"]),
        ("pong", ["json"]),
        ("hello world", ["json"]),
        (b"\xff\xfe\x00", ["json"]),
        ('{"event_type":"book","asset_id":"1"', ["json"]),  # truncated
        ('[{"event_type":"book","asset_id":"1"},', ["json"]),  # truncated array
        ('{"event_type":"book","asset_id":"1"}}', ["json"]),  # trailing garbage
        ('{"event_type":"book","asset_id":1}', ["schema"]),  # wrong type
        ('{"event_type":"book"}', ["schema"]),  # missing required field
        ('{"event_type":"book","asset_id":"1","bids":{"price":"1"}}', ["schema"]),
        ('{"event_type":"book","asset_id":"1","timestamp":1.5}', ["schema"]),
        ('{"event_type":"last_trade_price","asset_id":"1","price":0.5,"size":"1"}', ["schema"]),
        ('{"event_type":"price_change","price_changes":[{"asset_id":"1"}]}', ["schema"]),
        ('{"event_type":"tick_size_change","asset_id":"1"}', ["schema"]),
        ('{"event_type":5}', ["schema"]),
        ('{"event_type":"order","id":"1"}', ["unknown_event"]),  # user channel
        ('{"event_type":"trade","id":"1"}', ["unknown_event"]),
        ('{"asset_id":"1"}', ["unknown_event"]),  # no event_type at all
        ("null", ["schema"]),
        ("7", ["schema"]),
        ('"PONG"', ["schema"]),
        ("[[]]", ["schema"]),
    ],
)
def test_malformed_frames_are_counted(frame: str | bytes, reasons: list[str]) -> None:
    assert decode_frame(frame) == ([], reasons)


def test_array_mixing_good_and_bad_elements() -> None:
    good_book = json.loads((WS_DIR / "book.json").read_text())
    good_trade = json.loads((WS_DIR / "last_trade_price.json").read_text())
    frame = json.dumps(
        [
            good_book,
            {"event_type": "book", "asset_id": 5},
            {"event_type": "order", "id": "x"},
            7,
            good_trade,
            {"event_type": "price_change", "changes": "nope"},
            {"no_event_type": True},
            None,
        ]
    )
    messages, skipped = decode_frame(frame)
    assert [type(m) for m in messages] == [Book, LastTradePrice]
    check_message(messages[0], good_book)
    check_message(messages[1], good_trade)
    assert skipped == ["schema", "unknown_event", "schema", "schema", "unknown_event", "schema"]


DEEP_FRAMES = {
    "closed arrays": lambda d: "[" * d + "]" * d,
    "truncated arrays": lambda d: "[" * d,
    "nested objects": lambda d: '{"a":' * d + "1" + "}" * d,
    "deep ignored field": lambda d: '[{"event_type":"new_market","x":' + "[" * d + "]" * d + "}]",
    "deep element after a bad one": lambda d: "[7," + "[" * d + "]" * d + "]",
}


@pytest.mark.parametrize("depth", [500, 1000, 100_000])
@pytest.mark.parametrize("shape", list(DEEP_FRAMES))
def test_deeply_nested_frames_are_counted_not_raised(shape: str, depth: int) -> None:
    # A 100 kB frame of brackets is far below max_frame_bytes; it must not kill the feed task.
    messages, skipped = decode_frame(DEEP_FRAMES[shape](depth))
    assert all(reason in REASONS for reason in skipped)
    assert skipped or messages


def test_messages_are_frozen() -> None:
    msg = one((WS_DIR / "tick_size_change.json").read_bytes())
    with pytest.raises(AttributeError):
        msg.new_tick_size = "0.1"  # type: ignore[misc]


# -- never raises -------------------------------------------------------------------------


def check_result(result: tuple[list[Any], list[str]]) -> None:
    messages, skipped = result
    assert isinstance(messages, list)
    assert isinstance(skipped, list)
    assert all(type(m) in TYPES.values() for m in messages)
    assert all(reason in REASONS for reason in skipped)


@given(st.binary(max_size=300))
def test_decode_frame_never_raises_for_bytes(frame: bytes) -> None:
    check_result(decode_frame(frame))


@given(st.text(max_size=300))
def test_decode_frame_never_raises_for_text(frame: str) -> None:
    check_result(decode_frame(frame))


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
FIELD_NAMES = st.sampled_from(
    [
        "event_type",
        "asset_id",
        "market",
        "timestamp",
        "hash",
        "bids",
        "asks",
        "price",
        "size",
        "side",
        "changes",
        "price_changes",
        "assets_ids",
        "new_tick_size",
    ]
)
EVENT_TYPES = st.sampled_from([*TYPES, "order", "trade", ""])
JSON_VALUES = st.recursive(
    JSON_SCALARS | EVENT_TYPES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FIELD_NAMES, inner, max_size=5),
    max_leaves=20,
)
MESSAGE_LIKE = st.builds(
    lambda event_type, fields: {"event_type": event_type, **fields},
    EVENT_TYPES,
    st.dictionaries(FIELD_NAMES.filter(lambda k: k != "event_type"), JSON_VALUES, max_size=6),
)


@given(MESSAGE_LIKE | JSON_VALUES | st.lists(MESSAGE_LIKE | JSON_VALUES, max_size=5))
def test_decode_frame_never_raises_for_json_shaped_input(value: Any) -> None:
    frame = json.dumps(value)
    result = decode_frame(frame)
    check_result(result)
    if isinstance(value, list):
        messages, skipped = result
        assert len(messages) + len(skipped) == len(value)
    # Truncating any valid frame never raises either.
    check_result(decode_frame(frame[: len(frame) // 2]))


@given(st.lists(MESSAGE_LIKE, min_size=1, max_size=4))
def test_good_elements_survive_bad_neighbours(elements: list[dict[str, Any]]) -> None:
    good = {"event_type": "tick_size_change", "asset_id": "1", "new_tick_size": "0.01"}
    messages, skipped = decode_frame(json.dumps([good, *elements, good]))
    assert messages[0] == messages[-1] == TickSizeChange(asset_id="1", new_tick_size="0.01")
    assert len(messages) + len(skipped) == len(elements) + 2


def test_rest_book_decoder_rejects_garbage() -> None:
    with pytest.raises(msgspec.ValidationError):
        REST_BOOK_DECODER.decode(b'{"asset_id":5}')
    with pytest.raises(msgspec.DecodeError):
        REST_BOOK_DECODER.decode(b"{")
