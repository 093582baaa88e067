"""Polymarket book hash recipes, checked against real captures and a hand-built JSON body."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from polymon.core.bookhash import EMPTY_BOOK_HASH, RECIPES, book_hash
from tests.fixtures import DATA, read_lines

HEAD = "polypy/head/messages_hash.txt"  # Oct 2025: 9-field recipe (v2)
DEC = "polypy/initial_2025-02/messages_hash.txt"  # Dec 2024: 6-field recipe (v1)
DEC_STREAM = "polypy/initial_2025-02/test_server_messages.txt"
DEC_MULTI = "polypy/initial_2025-02/test_server_multi_book.txt"


def books(path: str) -> list[dict[str, Any]]:
    return [m for m in read_lines(path) if "bids" in m]


def levels(book: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(lv["price"], lv["size"]) for lv in book[side]]


def hash_of(book: dict[str, Any], recipe: str, **meta: Any) -> str:
    return book_hash(
        recipe,  # type: ignore[arg-type]
        market=book["market"],
        asset_id=book["asset_id"],
        timestamp=str(book["timestamp"]),
        bids_ascending=levels(book, "bids"),
        asks_descending=levels(book, "asks"),
        **meta,
    )


def by_hand(book: dict[str, Any], extra: list[tuple[str, Any]]) -> str:
    """The venue recipe spelled out: compact JSON of an ordered dict, hash "" while hashing."""
    body: dict[str, Any] = {
        "market": book["market"],
        "asset_id": book["asset_id"],
        "timestamp": str(book["timestamp"]),
        "hash": "",
        "bids": [{"price": p, "size": s} for p, s in levels(book, "bids")],
        "asks": [{"price": p, "size": s} for p, s in levels(book, "asks")],
    }
    body.update(extra)
    # As the official py-clob-client recipe: the Go server writes UTF-8, not \u escapes.
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


V2_META = {"min_order_size": "5", "tick_size": "0.01", "neg_risk": False}


def test_oct_2025_ws_book_is_v2() -> None:
    ws_book = read_lines(HEAD)[0]
    assert ws_book["event_type"] == "book"
    assert "tick_size" not in ws_book  # the metadata comes from the market, not the message
    assert isinstance(ws_book["timestamp"], int)
    assert hash_of(ws_book, "v2", **V2_META) == ws_book["hash"]
    assert by_hand(ws_book, list(V2_META.items())) == ws_book["hash"]
    assert hash_of(ws_book, "v1") != ws_book["hash"]
    assert hash_of(ws_book, "v3", **V2_META, last_trade_price="") != ws_book["hash"]


def test_oct_2025_rest_books_are_v2_with_their_own_metadata() -> None:
    rest_books = [b for b in books(HEAD) if "event_type" not in b]
    assert len(rest_books) == 2
    for book in rest_books:
        meta = {k: book[k] for k in ("min_order_size", "tick_size", "neg_risk")}
        assert meta == V2_META
        assert hash_of(book, "v2", **meta) == book["hash"]
        # The metadata is part of the hash: a different tick size gives a different hash.
        assert hash_of(book, "v2", **{**meta, "tick_size": "0.001"}) != book["hash"]
        assert hash_of(book, "v2", **{**meta, "neg_risk": True}) != book["hash"]


@pytest.mark.parametrize("path", [DEC, DEC_STREAM, DEC_MULTI])
def test_dec_2024_books_are_v1(path: str) -> None:
    found = books(path)
    assert found
    for book in found:
        assert hash_of(book, "v1") == book["hash"]
        assert by_hand(book, []) == book["hash"]
        # v1 ignores the metadata arguments.
        assert hash_of(book, "v1", **V2_META, last_trade_price="0.5") == book["hash"]
        assert hash_of(book, "v2", **V2_META) != book["hash"]


def test_nov_2024_book_is_v1() -> None:
    book = json.loads((DATA / "polypy/initial_2025-02/ws_msg_book_yes.json").read_text())
    assert hash_of(book, "v1") == book["hash"] == "c298a90870afa056768fc82bf5217c9aa8665284"


def test_v3_appends_last_trade_price_after_neg_risk() -> None:
    book = read_lines(HEAD)[0]
    meta = {**V2_META, "last_trade_price": "0.34"}
    v3 = hash_of(book, "v3", **meta)
    field_order = [
        ("min_order_size", "5"),
        ("tick_size", "0.01"),
        ("neg_risk", False),
        ("last_trade_price", "0.34"),
    ]
    assert v3 == by_hand(book, field_order)
    # The order matters: any other placement of last_trade_price gives another hash.
    for i in range(3):
        moved = [*field_order[:i], field_order[3], *field_order[i:3]]
        assert by_hand(book, moved) != v3
    # v3 differs from v2 only by the trailing field.
    assert hash_of(book, "v2", **meta) == book["hash"] != v3
    assert hash_of(book, "v3", **{**meta, "last_trade_price": "0.35"}) != v3


def test_hash_is_sensitive_to_level_strings_and_order() -> None:
    book = read_lines(DEC)[0]
    assert hash_of(book, "v1") == book["hash"]
    first_price, first_size = levels(book, "bids")[0]
    respelled = {
        **book,
        "bids": [{"price": first_price + "0", "size": first_size}, *book["bids"][1:]],
    }
    assert hash_of(respelled, "v1") != book["hash"]
    reordered = {**book, "bids": list(reversed(book["bids"]))}
    assert hash_of(reordered, "v1") != book["hash"]
    later = {**book, "timestamp": str(int(book["timestamp"]) + 1)}
    assert hash_of(later, "v1") != book["hash"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_empty_book_and_escaping_match_json_dumps(recipe: str) -> None:
    book = {"market": 'm"\\é', "asset_id": "1", "timestamp": "0", "bids": [], "asks": []}
    extra: list[tuple[str, Any]] = []
    if recipe != "v1":
        extra = [("min_order_size", ""), ("tick_size", ""), ("neg_risk", True)]
    if recipe == "v3":
        extra.append(("last_trade_price", ""))
    assert hash_of(book, recipe, neg_risk=True) == by_hand(book, extra)
    assert len(EMPTY_BOOK_HASH) == 40
    assert set(EMPTY_BOOK_HASH) == {"0"}
