"""The book census: counts by status, markets and open gaps, made in slices when asked for,
at most once per max age."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from polymon.config import Config
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy
from polymon.polymarket.feed import FeedActivity
from polymon.service import census as census_module
from polymon.service.census import Census
from polymon.service.shards import Shard, Sinks

BIDS, ASKS = [("0.40", "10")], [("0.50", "10")]


def shard(index: int, books: int, awaiting: int) -> Shard:
    s = Shard(index, Config(), Policy(stale_after_secs=100.0), Sinks(), activity=FeedActivity())
    for i in range(books + awaiting):
        asset = f"{index}{i:04d}"
        s.state.track(AssetMeta(asset_id=asset, market=f"0x{index}{i // 2}"))  # two a market
        if i < books:
            s.state.on_book(asset, "", 1000, "", BIDS, ASKS, now=0.0, wall_us=0)
    return s


async def test_counts_come_from_passes_made_on_demand_at_most_once_per_max_age(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(census_module, "SLICE_ASSETS", 7)  # many slices for few books
    shards = [shard(0, 30, 10), shard(1, 5, 0)]
    shards[1].state.on_disconnect(["10000"], "disconnect", wall_us=0)  # a gap, book stale
    census = Census(shards, max_age_secs=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(census.run)
        assert census.totals() == {"fresh": 0, "stale": 0, "resyncing": 0}  # nothing yet
        await trio.testing.wait_all_tasks_blocked()
        assert census.passes == 1
        first, second = census.read()
        assert first.books == {"fresh": 30, "stale": 10, "resyncing": 0}
        assert (first.markets, first.gaps_open) == (20, {})
        assert second.books == {"fresh": 4, "stale": 1, "resyncing": 0}
        assert second.gaps_open == {"disconnect": 1}
        await trio.sleep(0.5)
        census.read()  # fresh enough: no new pass
        await trio.testing.wait_all_tasks_blocked()
        assert census.passes == 1
        await trio.sleep(100.0)  # every book idle past stale_after_secs
        assert census.read()[0].books["fresh"] == 30  # the old counts, a new pass asked for
        await trio.testing.wait_all_tasks_blocked()
        assert census.passes == 2
        assert census.totals() == {"fresh": 0, "stale": 45, "resyncing": 0}
        nursery.cancel_scope.cancel()
