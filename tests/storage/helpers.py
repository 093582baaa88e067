"""Test helpers for storage: a fault-injecting wrapper around the real store, row builders."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

from polymon.errors import StorageUnavailable
from polymon.storage.journal import HEADER_SIZE, MAGIC
from polymon.storage.rows import Columns, Table
from polymon.storage.store import Store

ASSET = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"


def now_us() -> int:
    return time.time_ns() // 1000


def bbo_row(seq: int, ts_ms: int, bid: int, ask: int, asset: str = ASSET) -> tuple[Any, ...]:
    """A BboRow as the core emits it (prices in 1e-6 units, sizes as venue strings)."""
    return (asset, MARKET, ts_ms, ts_ms * 1000 + 500, bid, "100", ask, "250.5", seq)


def trade_row(
    seq: int, ts_ms: int, price: int, size: str = "10", side: str = "BUY"
) -> tuple[Any, ...]:
    return (ASSET, MARKET, ts_ms, ts_ms * 1000 + 7, f"t{seq}", price, size, float(size), side,
            "0", "0xabc", seq)  # fmt: skip


class FaultyStore:
    """The real store, with failures injected into the client calls.

    down: every insert and ping fails before reaching ClickHouse.
    commit_then_fail: the next N inserts reach ClickHouse and then report a failure (an
    ambiguous timeout: the rows are in, the client does not know).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.commit_then_fail = 0
        self.inserts = 0
        self.tokens: list[str] = []

    async def insert(self, table: Table, columns: Columns, token: str = "") -> None:
        self.inserts += 1
        self.tokens.append(token)
        if self.down:
            raise StorageUnavailable("injected: connection refused")
        await self.store.insert(table, columns, token)
        if self.commit_then_fail:
            self.commit_then_fail -= 1
            raise StorageUnavailable("injected: timed out after commit")

    async def ping(self) -> bool:
        return not self.down and await self.store.ping()


_HEAD = struct.Struct("<4sIIqqI")


def journal_records(path: Path) -> list[tuple[int, int, int, int, int]]:
    """(offset, total length, rows, first µs, last µs) of each record of a journal file."""
    data = path.read_bytes()
    out, offset = [], 0
    while offset < len(data):
        magic, length, rows, first_us, last_us, _crc = _HEAD.unpack_from(data, offset)
        assert magic == MAGIC
        out.append((offset, HEADER_SIZE + length, rows, first_us, last_us))
        offset += HEADER_SIZE + length
    return out
