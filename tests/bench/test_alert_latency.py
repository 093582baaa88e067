"""The alert latency work: sliced batch conversion, runtime tuning, the bench's helpers.

Correctness only; how fast any of it is lives in `polymon bench`.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from polymon.bench.alerts import Window, _thresholds, summary_line
from polymon.polymarket.schemas import Level, RestBook
from polymon.runtime import tune_runtime
from polymon.storage.conversion import convert_in_slices, convert_items, slice_items
from polymon.storage.journal import Journal
from polymon.storage.rows import BBO, LEVELS, Columns, Item, bbo_columns, level_columns
from polymon.storage.table_writer import Writer
from tests.storage.helpers import ASSET, MARKET, bbo_row


def level_row(seq: int, side: int = 1, size: float = 12.5) -> tuple[Any, ...]:
    return (ASSET, MARKET, 1_700_000_000_000 + seq, 1_700_000_000_000_500 + seq, side,
            500_000 + seq, str(size), size, 10.0, seq)  # fmt: skip


def items_of(sizes: Sequence[int]) -> list[Item]:
    seq = iter(range(10**6))
    return [(shard, [bbo_row(next(seq), 1_700_000_000_000, 1, 2) for _ in range(n)])
            for shard, n in enumerate(sizes)]  # fmt: skip


@pytest.mark.parametrize(
    "sizes", [[], [0], [1], [999], [1000], [1001], [2500], [300, 300, 300, 300], [5, 2000, 7, 0, 1]]
)
@pytest.mark.parametrize("per_slice", [1, 7, 1000])
def test_slices_keep_every_row_in_order_with_its_shard(sizes: list[int], per_slice: int) -> None:
    items = items_of(sizes)
    slices = slice_items(items, per_slice)
    assert all(0 < sum(len(rows) for _, rows in piece) <= per_slice for piece in slices)
    flat = [(shard, row) for piece in slices for shard, rows in piece for row in rows]
    assert flat == [(shard, row) for shard, rows in items for row in rows]
    assert all(rows for piece in slices for _, rows in piece)  # no empty pieces


@pytest.mark.parametrize(("table", "convert"), [(BBO, bbo_columns), (LEVELS, level_columns)])
async def test_sliced_conversion_equals_converting_at_once(table: Any, convert: Any) -> None:
    make = bbo_row if table is BBO else level_row
    items: list[Item] = [(0, [make(i, 1_700_000_000_000, i, i + 1) if table is BBO else make(i)
                              for i in range(2300)]), (1, [])]  # fmt: skip
    assert await convert_in_slices(convert, items, "run", 1000) == convert_items(
        convert, items, "run"
    )


async def test_sliced_conversion_isolates_bad_rows_like_converting_at_once() -> None:
    rows = [level_row(i) for i in range(25)]
    rows[3] = (*rows[3][:4], 7, *rows[3][5:])  # side 7 is neither BID nor ASK
    rows[21] = rows[21][:5]  # a truncated row
    items: list[Item] = [(0, rows[:10]), (1, rows[10:])]
    sliced = await convert_in_slices(level_columns, items, "run", 4)
    assert sliced == convert_items(level_columns, items, "run")
    columns, bad = sliced
    assert columns is not None
    assert (len(columns[0]), len(bad)) == (23, 2)


async def test_sliced_conversion_of_only_bad_rows_has_no_columns() -> None:
    columns, bad = await convert_in_slices(level_columns, [(0, [("short",)] * 3)], "run", 2)
    assert columns is None
    assert len(bad) == 3


class _Inserter:
    def __init__(self) -> None:
        self.inserted: list[tuple[str, Columns]] = []

    async def insert(self, table: Any, columns: Columns, token: str = "") -> None:
        self.inserted.append((token, columns))

    async def ping(self) -> bool:
        return True


async def test_a_writer_cancelled_between_slices_journals_the_whole_batch(tmp_path: Path) -> None:
    send, receive = trio.open_memory_channel[Item](4)
    journal = Journal(tmp_path, BBO.name, max_bytes=1 << 24, fsync_interval_secs=1.0)
    inserter = _Inserter()
    writer = Writer(BBO, inserter, journal, receive, run_id="r", max_rows=10_000)
    calls = 0
    with trio.CancelScope() as scope:

        def cancelling_convert(items: Sequence[Item], run_id: str) -> Columns:
            nonlocal calls
            calls += 1
            if calls == 2:  # the second slice: the first one is converted already
                scope.cancel()
            return bbo_columns(items, run_id)

        writer._convert = cancelling_convert  # a converter that cancels mid-batch
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            send.send_nowait((0, [bbo_row(i, 1_700_000_000_000, 1, 2) for i in range(2500)]))
            await send.aclose()
    assert scope.cancelled_caught
    assert calls == 3  # two slices, then the whole batch again on its way to the journal
    assert not inserter.inserted
    reopened = Journal(tmp_path, BBO.name, max_bytes=1 << 24, fsync_interval_secs=1.0)
    token, columns = reopened.peek()
    assert (reopened.pending, token, len(columns[0])) == (1, "ob_bbo:r:1-1", 2500)
    assert columns == bbo_columns(
        [(0, [bbo_row(i, 1_700_000_000_000, 1, 2) for i in range(2500)])], "r"
    )
    reopened.close()


@pytest.fixture
def restore_runtime() -> Iterator[None]:
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restore_runtime")
def test_tune_runtime_freezes_the_heap_and_shortens_the_switch_interval() -> None:
    tune_runtime(switch_interval_secs=0.002)
    assert gc.get_freeze_count() > 0
    assert sys.getswitchinterval() == pytest.approx(0.002)
    tune_runtime(switch_interval_secs=0.002)  # idempotent
    assert sys.getswitchinterval() == pytest.approx(0.002)


def _book(bids: list[str], asks: list[str], tick: str = "0.01") -> RestBook:
    return RestBook(asset_id=ASSET, bids=[Level(p, "10") for p in bids],
                    asks=[Level(p, "10") for p in asks], tick_size=tick)  # fmt: skip


def test_thresholds_sit_a_quarter_tick_off_the_ten_ticks_around_the_mid() -> None:
    assert _thresholds(_book(["0.40", "0.49"], ["0.53", "0.51"]), "0.01") == [
        452_500,
        462_500,
        472_500,
        482_500,
        492_500,
        502_500,
        512_500,
        522_500,
        532_500,
        542_500,
    ]
    fine = _thresholds(_book(["0.5"], ["0.502"], tick=""), "0.001")
    assert fine == [496_250 + 1000 * k for k in range(10)]


def test_thresholds_stay_inside_the_valid_price_range() -> None:
    assert min(_thresholds(_book(["0.001"], ["0.002"]), "0.01")) == 1_000
    assert max(_thresholds(_book(["0.998"], ["0.999"]), "0.01")) == 999_000
    assert len(_thresholds(_book([], [], tick=""), "bad")) == 10


def test_the_summary_line_reports_percentiles_and_the_share_inside_polymon() -> None:
    events = [(1_000, 1_000 + 100, 1_000 + 500 + 10 * i) for i in range(100)]
    window = Window(events, frames=5000, seconds=1.0, reconnects=0, cpu_share=0.5,
                    stalls_us=[600] * 99 + [7_000])  # fmt: skip
    line = summary_line("alerts", window)
    assert "5,000 frames/s in, 100 events: p50 1.00 ms  p99 1.49 ms  max 1.49 ms" in line
    assert "receipt -> published p99 0.10 ms; loop stalls p99 7.00 max 7.00 ms" in line
    assert summary_line("alerts", Window([], 0, 1.0, 0, 0.0)).endswith("no events")
