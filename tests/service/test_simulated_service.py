"""The whole service against the simulated exchange over loopback: books equal the venue's.

These run in real time (sockets on 127.0.0.1, port 0); every wait is bounded by `fail_after`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from polymon.config import Config, load_config
from polymon.core.model import BookStatus
from polymon.service.main import Running, run_service

pytestmark = pytest.mark.slow


def service_config(tmp_path: Path, storage_url: str, database: str, **simulator: Any) -> Config:
    return load_config(
        None,
        environ={},
        overrides={
            "service": {"data_dir": str(tmp_path)},
            "storage": {"url": storage_url, "database": database},
            "http": {"port": 0},
            "polymarket": {
                "shards": 3,
                "max_assets_per_connection": 4,  # several connections per shard
                "connection_stagger_secs": 0.01,
                "reconnect_min_secs": 0.05,
                "reconnect_max_secs": 0.2,
            },
            "integrity": {"hash_mode": "resync", "resync_min_interval_secs": 0.2},
            "simulator": {"markets": 8, "seed": 3, "rate_per_sec": 400.0} | simulator,
        },
    )


async def start_service(nursery: trio.Nursery, cfg: Config) -> tuple[Running, trio.Event]:
    """Start the simulated service under `nursery` and wait for its bootstrap.

    Returns its handle and an event set once `run_service` has returned (see `stop_service`).
    """
    stopped = trio.Event()

    async def run(task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await run_service(cfg, simulate=True, task_status=task_status)
        finally:
            stopped.set()

    handle: Running = await nursery.start(run)
    with trio.fail_after(20):
        await handle.service.bootstrapped.wait()
    return handle, stopped


async def stop_service(handle: Running, stopped: trio.Event) -> None:
    """Stop a service from `start_service` and wait until it has shut down (writers flushed)."""
    handle.stop()
    with trio.fail_after(20):
        await stopped.wait()


@pytest.fixture
async def running(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> AsyncIterator[Running]:
    handle: Running = await nursery.start(
        partial(run_service, service_config(tmp_path, storage_url, database), simulate=True)
    )
    yield handle
    handle.stop()


def mismatches(handle: Running) -> list[str]:
    """Assets whose served book differs from the exchange's (or is not fresh)."""
    exchange = handle.simulator.exchange
    bad = []
    for asset_id in exchange.token_ids():
        view = handle.service.book_view(asset_id, None)
        bids, asks = exchange.levels(asset_id)
        if (
            view is None
            or view.status != BookStatus.FRESH
            or [(lv.price, lv.size) for lv in view.bids] != bids
            or [(lv.price, lv.size) for lv in view.asks] != asks
        ):
            bad.append(asset_id)
    return bad


async def settle(handle: Running) -> None:
    """Pause the venue and wait (at most 15 s) until every book equals the exchange's exactly."""
    handle.simulator.pause()
    with trio.fail_after(15):
        while mismatches(handle):  # noqa: ASYNC110 - polling state another process-half owns
            await trio.sleep(0.05)


async def stored_gaps(handle: Running, done: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """Every asset's gap history as served over HTTP (from ob_gap_events), polled until
    `done(gaps)` (at most 15 s: the shards flush and the writers insert within a second or two)."""
    async with httpx.AsyncClient(base_url=handle.http_url) as client:
        with trio.fail_after(15):
            while True:
                gaps = []
                for asset_id in handle.simulator.exchange.token_ids():
                    response = await client.get(f"/api/v1/markets/{asset_id}/gaps")
                    assert response.status_code == 200
                    gaps.extend(response.json()["items"])
                if done(gaps):
                    return gaps
                await trio.sleep(0.2)


async def test_books_equal_the_exchange_across_a_forced_disconnect(running: Running) -> None:
    sim = running.simulator
    with trio.fail_after(15):
        await running.service.bootstrapped.wait()
    assert running.service.health()["assets"] == 16
    await trio.sleep(1.0)  # let the venue move the books
    await settle(running)
    assert sim.exchange.events > 100

    # Drop every connection while the venue keeps moving; books must come back equal.
    sim.resume()
    conns = [c for s in running.service.shards for c in s.connections]
    assert len(conns) > len(running.service.shards)  # at most 4 tokens a connection
    assert sim.drop_connections() == len(conns)
    await trio.sleep(1.0)
    await settle(running)

    gaps = await stored_gaps(
        running,
        lambda gaps: any(g["reason"] == "disconnect" and g["resolved_at_us"] for g in gaps),
    )
    assert any(g["reason"] == "disconnect" for g in gaps)
    assert all(
        g["resolution"] == "ws_snapshot"
        for g in gaps
        if g["reason"] == "disconnect" and g["resolved_at_us"] is not None
    )
    assert all(c.connects >= 2 for c in conns)

    # Every level of every book, as served over HTTP.
    async with httpx.AsyncClient(base_url=running.http_url) as client:
        for asset_id in sim.exchange.token_ids():
            response = await client.get(f"/api/v1/markets/{asset_id}/orderbook")
            assert response.status_code == 200
            body = response.json()
            bids, asks = sim.exchange.levels(asset_id)
            assert [(lv["price"], lv["size"]) for lv in body["bids"]] == bids
            assert [(lv["price"], lv["size"]) for lv in body["asks"]] == asks
            assert body["status"] == "fresh"
            assert body["best_bid"] == (bids[0][0] if bids else None)


async def test_wrong_hashes_are_resynced_from_rest(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    cfg = service_config(
        tmp_path,
        storage_url,
        database,
        markets=4,
        seed=5,
        rate_per_sec=300.0,
        wrong_hash_ratio=0.05,
    )
    handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
    with trio.fail_after(15):
        await handle.service.bootstrapped.wait()
    await trio.sleep(2.0)
    counts: Counter[str] = Counter()
    for shard in handle.service.shards:
        counts.update(shard.state.counts)
    assert counts["hash_mismatch"] > 0
    assert handle.service.resyncer.fetched > 0
    rest = await stored_gaps(
        handle, lambda gaps: any(g["resolution"] == "rest_snapshot" for g in gaps)
    )
    assert any(g["resolution"] == "rest_snapshot" for g in rest)
    await settle(handle)
    handle.stop()


async def test_http_errors_are_json(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.http_url) as client:
        missing = await client.get("/api/v1/markets/123/orderbook")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
        bad_depth = await client.get("/api/v1/markets/123/orderbook?depth=x")
        assert bad_depth.status_code == 400
        unknown = await client.get("/nope")
        assert unknown.status_code == 404
        assert "error" in unknown.json()
        health = await client.get("/health")
        assert health.json()["status"] == "ok"


async def test_both_tokens_of_a_market_share_a_shard(running: Running) -> None:
    with trio.fail_after(15):
        await running.service.bootstrapped.wait()
    by_market: dict[str, set[int]] = {}
    for shard in running.service.shards:
        for state in shard.state.assets.values():
            by_market.setdefault(state.market, set()).add(shard.index)
    assert len(by_market) == 8
    assert all(len(shards) == 1 for shards in by_market.values())
    assert len({i for shards in by_market.values() for i in shards}) > 1  # still spread out
