"""Prices and sizes land in ClickHouse exactly as the venue wrote them, through the fast
(numpy, integer-unit) conversion: a round trip through the real embedded engine."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext

from polymon.config import StorageConfig
from polymon.storage.column_types import column_type
from polymon.storage.rows import BBO, LEVELS, SNAPSHOTS, TRADES
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet
from tests.storage.helpers import ASSET, MARKET
from tests.storage.test_writer import base_ms

# Sizes the float path vouches for, sizes only the exact fallback gets right (huge, more
# than 15 significant digits), and the smallest unit.
SIZES = ["0.000001", "1200.5", "219.217767", "999999.999999", "1999999999.999999",
         "2000000000.000001", "9007199254.740993", "123456789012.345678", "0"]  # fmt: skip
PRICES = [1, 10_000, 480_000, 999_000, 999_999]  # 1e-6 units: 0.000001 ... 0.999999


def held(size: str) -> Decimal:
    """What a size the book holds as a float is stored as: exact below 2e9."""
    value = Decimal(size)
    return value if value < 2_000_000_000 else Decimal(repr(float(size)))


async def test_every_price_and_size_round_trips_exactly(store: Store, tmp_path: Path) -> None:
    t = base_ms()
    writers = WriterSet(store, StorageConfig(batch_max_age_secs=0.1), tmp_path, run_id="x")
    sized = [s for s in SIZES if s != "0"]
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        writers.put(BBO, [(ASSET, MARKET, t, t * 1000, PRICES[i % 5], size, PRICES[-1], "", i)
                          for i, size in enumerate(SIZES)])  # fmt: skip
        writers.put(LEVELS, [(ASSET, MARKET, t, t * 1000, 0, PRICES[i % 5], size, float(size),
                              float(SIZES[i - 1]), i) for i, size in enumerate(SIZES)])  # fmt: skip
        writers.put(TRADES, [(ASSET, MARKET, t, t * 1000, f"t{i}", PRICES[i % 5], size,
                              float(size), "BUY", "0", "0x", i)
                             for i, size in enumerate(sized)])  # fmt: skip
        floats = [float(s) for s in sized]
        writers.put(SNAPSHOTS, [(ASSET, MARKET, t, t * 1000, "keyframe", "fresh", "h", "0.01",
                                 PRICES, floats[:5], PRICES[::-1], floats[3:], 1),
                                (ASSET, MARKET, t, t * 1000, "final", "stale", "", "0.01",
                                 [], [], [7], [1.5], 2)])  # fmt: skip
        writers.close_intake()
    db = store.database

    async def column(sql: str) -> list[Decimal]:
        return [Decimal(r[0]) for r in await store.query(sql.format(db=db))]

    want = [Decimal(s) for s in SIZES]
    assert await column("SELECT toString(bid_size) FROM {db}.ob_bbo ORDER BY seq") == want
    assert await column("SELECT toString(best_bid) FROM {db}.ob_bbo ORDER BY seq") == [
        Decimal(PRICES[i % 5]) / 10**6 for i in range(len(SIZES))
    ]
    assert await column("SELECT toString(size) FROM {db}.ob_level_changes ORDER BY seq") == want
    # The previous size, and the sizes in snapshots, are the floats the book holds: exact
    # below 2e9 (every real size), past that to the float's 15-17 significant digits.
    assert await column("SELECT toString(prev_size) FROM {db}.ob_level_changes ORDER BY seq") == [
        held(SIZES[i - 1]) for i in range(len(SIZES))
    ]
    assert await column("SELECT toString(size) FROM {db}.trade_ticks ORDER BY seq") == [
        Decimal(s) for s in sized
    ]
    row, one_sided = await store.query(
        f"SELECT arrayMap(x -> toString(x), bid_prices), arrayMap(x -> toString(x), bid_sizes),"
        f" arrayMap(x -> toString(x), ask_prices), arrayMap(x -> toString(x), ask_sizes)"
        f" FROM {db}.ob_snapshots ORDER BY seq"
    )
    assert one_sided == ([], [], ["0.000007"], ["1.5"])
    assert [[Decimal(v) for v in values] for values in row] == [
        [Decimal(p) / 10**6 for p in PRICES], [held(s) for s in sized[:5]],
        [Decimal(p) / 10**6 for p in PRICES[::-1]], [held(s) for s in sized[3:]],
    ]  # fmt: skip
    stats = writers.stats()
    assert all(stats[t.name]["rows_dead_lettered"] == 0 for t in (BBO, LEVELS, TRADES, SNAPSHOTS))


def test_unit_arrays_encode_exactly_as_the_decimal_path_does() -> None:
    # The numpy writer (in pieces of rows) against clickhouse-connect's own Decimal writer:
    # the same Native bytes, for more rows than a piece holds, empty arrays included.
    rows = [[(i * 7919 + k) % 1_000_000 for k in range(i % 7)] for i in range(1_234)]
    ours, theirs = bytearray(), bytearray()
    ctx = InsertContext("t", ["a"], [column_type("Array(Units)")], [rows], column_oriented=True)
    ctx.start_column("a")
    column_type("Array(Units)").write_column(rows, ours, ctx)
    decimals = [[Decimal(v).scaleb(-6) for v in row] for row in rows]
    get_from_name("Array(Decimal(18, 6))").write_column(decimals, theirs, ctx)
    assert bytes(ours) == bytes(theirs)
