"""Market metadata reads (list, search, by token) and the test-data cleanup, on the real engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from polymon.config import StorageConfig
from polymon.errors import BadRequest
from polymon.storage.cleanup import delete_test_data
from polymon.storage.markets import list_markets, market_of_asset, search_markets
from polymon.storage.rows import BBO, METADATA
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet
from tests.storage.helpers import bbo_row, now_us

T_MS = now_us() // 1000


def market(cid: str, question: str, volume: str, *, closed: bool = False,
           tokens: tuple[str, str] = ("", "")) -> tuple[Any, ...]:  # fmt: skip
    yes, no = tokens
    return (cid, cid[-3:], question, question.lower().replace(" ", "-"), "", ["Yes", "No"],
            [yes or f"{cid}-y", no or f"{cid}-n"], ["0.5", "0.5"], "0.01", "5", False,
            not closed, closed, False, True, T_MS, None, "", "", "", None, volume, "{}",
            T_MS * 1000)  # fmt: skip


async def write(store: Store, tmp_path: Path, table: Any, rows: list[Any]) -> None:
    writers = WriterSet(store, StorageConfig(), tmp_path, run_id="m")
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        writers.put(table, rows)
        writers.close_intake()


async def test_list_pages_filters_and_orders_by_volume(store: Store, tmp_path: Path) -> None:
    rows = [market(f"0xm{i:02d}", f"Will team {i} win", str(i * 10), closed=i % 3 == 0)
            for i in range(10)]  # fmt: skip
    await write(store, tmp_path, METADATA, rows)
    page = await list_markets(store, limit=4)
    assert [m.condition_id for m in page.items] == ["0xm09", "0xm08", "0xm07", "0xm06"]
    assert page.total == 10
    assert page.next_offset == 4
    tail = await list_markets(store, limit=4, offset=8)
    assert [m.condition_id for m in tail.items] == ["0xm01", "0xm00"]
    assert tail.next_offset is None
    closed = await list_markets(store, limit=100, closed=True)
    assert {m.condition_id for m in closed.items} == {"0xm00", "0xm03", "0xm06", "0xm09"}
    active = await list_markets(store, limit=100, active=True)
    assert active.total == 6
    assert all(m.active and not m.closed for m in active.items)
    first = page.items[0]
    assert first.outcomes == ["Yes", "No"]
    assert first.token_ids == ["0xm09-y", "0xm09-n"]
    assert first.end_date_ms == T_MS
    assert first.resolved_at_us is None
    with pytest.raises(BadRequest, match="limit"):
        await list_markets(store, limit=0)
    with pytest.raises(BadRequest, match="offset"):
        await list_markets(store, offset=-1)


async def test_search_and_lookup_by_token(store: Store, tmp_path: Path) -> None:
    await write(store, tmp_path, METADATA, [
        market("0xa", "Bitcoin above 100k", "5", tokens=("111", "222")),
        market("0xb", "Ethereum flips BITCOIN", "9"),
        market("0xc", "Rain in Paris", "1"),
    ])  # fmt: skip
    found = await search_markets(store, "bitcoin")
    assert [m.condition_id for m in found] == ["0xb", "0xa"]
    assert await search_markets(store, "paris-") == []
    assert [m.condition_id for m in await search_markets(store, "rain-in")] == ["0xc"]
    hit = await market_of_asset(store, "222")
    assert hit is not None
    assert hit.condition_id == "0xa"
    assert await market_of_asset(store, "333") is None
    with pytest.raises(BadRequest, match="q must"):
        await search_markets(store, "  ")


async def test_cleanup_counts_then_deletes_only_the_prefixed_rows(
    store: Store, tmp_path: Path
) -> None:
    ticks = [bbo_row(1, T_MS, 480_000, 520_000, asset="test-1"),
             bbo_row(2, T_MS, 480_000, 520_000, asset="real-1")]  # fmt: skip
    await write(store, tmp_path, BBO, ticks)
    await write(store, tmp_path, METADATA, [market("test-m", "T", "1"), market("0xreal", "R", "1")])
    dry = await delete_test_data(store, "test-", dry_run=True)
    assert dry["ob_bbo"] == 1
    assert dry["ob_bbo_ohlc_1m"] == 1
    assert dry["market_metadata"] == 1
    assert (await list_markets(store, limit=10)).total == 2
    done = await delete_test_data(store, "test-", dry_run=False)
    assert done == dry
    again = await delete_test_data(store, "test-", dry_run=True)
    assert set(again.values()) == {0}
    db = store.database
    assert await store.query(f"SELECT asset_id FROM {db}.ob_bbo") == [("real-1",)]
    assert [m.condition_id for m in (await list_markets(store, limit=10)).items] == ["0xreal"]
    with pytest.raises(BadRequest, match="prefix"):
        await delete_test_data(store, "te", dry_run=True)
