"""The REST resync scheduler: batching, the global budget, and failures retried later."""

from __future__ import annotations

import itertools
import json
from functools import partial

import httpx
import trio
import trio.testing

from polymon.config import load_config
from polymon.core.model import AssetMeta, Phase
from polymon.core.shard import Policy, ShardState
from polymon.service.resync import Resyncer

ASSETS = [str(10**20 + i) for i in range(100)]


def venue(calls: list[tuple[float, list[str]]], missing: set[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        tokens = [t["token_id"] for t in json.loads(request.content)]
        calls.append((trio.current_time(), tokens))
        books = [
            {"market": "0xm", "asset_id": t, "timestamp": "5", "hash": "",
             "bids": [{"price": "0.4", "size": "1"}], "asks": [{"price": "0.6", "size": "1"}]}
            for t in tokens if t not in missing
        ]  # fmt: skip
        return httpx.Response(200, json=books)

    return httpx.MockTransport(handle)


async def test_batches_within_the_budget_and_retries_what_failed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = load_config(
        None,
        environ={},
        overrides={"integrity": {"resync_budget_per_sec": 5.0, "resync_batch_size": 10}},
    )
    state = ShardState(Policy(resync_min_interval_secs=30.0))
    for asset in ASSETS:
        state.track(AssetMeta(asset_id=asset, market="0xm"))
        state.assets[asset].phase = Phase.RESYNCING  # as after a suspected gap
    calls: list[tuple[float, list[str]]] = []
    send, receive = trio.open_memory_channel[tuple[int, list[str]]](100)
    async with httpx.AsyncClient(transport=venue(calls, missing={ASSETS[0]})) as http:
        resyncer = Resyncer(cfg, http, lambda _asset: state, receive)
        async with trio.open_nursery() as nursery:
            await nursery.start(resyncer.run)
            send.send_nowait((0, ASSETS[:60]))
            send.send_nowait((0, ASSETS[40:]))  # overlapping requests are fetched once
            await trio.sleep(5)
            nursery.cancel_scope.cancel()
    assert [len(tokens) for _, tokens in calls] == [10] * 10
    assert sorted(t for _, tokens in calls for t in tokens) == sorted(ASSETS)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(calls)]
    assert all(abs(g - 0.2) < 1e-9 for g in gaps)  # 5 calls a second, never faster
    assert resyncer.fetched == 99
    assert resyncer.failed == 1
    assert state.assets[ASSETS[1]].phase == Phase.SYNCED
    # The token the venue did not return stays resyncing and is asked for again later.
    missing = state.assets[ASSETS[0]]
    assert missing.phase == Phase.RESYNCING
    assert missing.resync_due
    assert state.take_resyncs(trio.current_time() + 30.0) == [ASSETS[0]]


async def test_venue_errors_fail_the_batch(autojump_clock: trio.testing.MockClock) -> None:
    cfg = load_config(None, environ={})
    state = ShardState(Policy())
    state.track(AssetMeta(asset_id="1", market="0xm"))
    state.assets["1"].phase = Phase.RESYNCING
    transport = httpx.MockTransport(lambda _request: httpx.Response(503, text="busy"))
    send, receive = trio.open_memory_channel[tuple[int, list[str]]](10)
    async with httpx.AsyncClient(transport=transport) as http:
        resyncer = Resyncer(cfg, http, lambda _asset: state, receive)
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(resyncer.run))
            send.send_nowait((0, ["1"]))
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
    assert resyncer.failed == 1
    assert state.assets["1"].resync_due
