"""The whole service follows the simulated exchange's market set: a market created on the venue
is tracked (at once through the WS event, or by one poll), a resolved one is dropped and
recorded in ClickHouse, and lifecycle webhooks arrive signed at a loopback receiver.

Real time over loopback (port 0); every wait is bounded by `fail_after`, nothing is timed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from msgspec.structs import replace
from standardwebhooks.webhooks import Webhook

from polymon.service.main import Service
from polymon.storage.store import Store
from tests.service.test_alerts_e2e import start_receiver
from tests.service.test_simulated_service import service_config, start_service, stop_service

pytestmark = pytest.mark.slow


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 20 s) until `condition()` holds."""
    with trio.fail_after(20):
        while not condition():  # noqa: ASYNC110 - state filled by the service's tasks
            await trio.sleep(0.02)
    assert condition(), what


def tracked(service: Service, tokens: tuple[str, str]) -> bool:
    return all(service.router.tracks(t) for t in tokens)


def synced(service: Service, tokens: tuple[str, str]) -> bool:
    return all(service.router.has_book(t) for t in tokens)


async def test_markets_come_and_go_with_signed_webhooks_and_metadata_rows(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    receiver_url, received = await start_receiver(nursery)
    cfg = service_config(tmp_path, storage_url, database, rate_per_sec=200.0)
    cfg = replace(
        cfg,
        webhooks=replace(cfg.webhooks, allow_private=True, allowed_ports=[]),
        lifecycle=replace(cfg.lifecycle, poll_interval_secs=0, new_market_retry_secs=0.2),
        storage=replace(cfg.storage, batch_max_age_secs=0.2),
    )
    handle, stopped = await start_service(nursery, cfg)
    service, sim = handle.service, handle.simulator
    _hook, secret = await service.lifecycle.register_webhook(
        json.dumps({"url": f"{receiver_url}/hook"}).encode()
    )
    assert [h["url"] for h in service.lifecycle.list_webhooks()] == [f"{receiver_url}/hook"]

    every = [t for m in sim.exchange.markets for t in m.token_ids()]
    # events reach open connections only (a missed one is what the poll is for)
    await until(lambda: all(map(service.router.has_book, every)), "bootstrapped books synced")

    # 1. the WS event: tracked and synced with no poll at all (the poll is off)
    by_ws = sim.create_market()
    await until(lambda: synced(service, by_ws.token_ids()), "new market synced from the WS")

    # 2. no event: one lifecycle check (the poll) finds it on Gamma
    by_poll = sim.create_market(announce=False)
    record = await service.scheduler.run_now("lifecycle_check")
    assert record["ok"] is True, record
    assert record["result"]["new"] == 1  # type: ignore[index]
    assert tracked(service, by_poll.token_ids())
    await until(lambda: synced(service, by_poll.token_ids()), "polled market synced")

    # 3. the WS resolution: dropped from memory at once
    resolved = sim.resolve_market(by_ws.condition_id, yes_wins=True)
    assert resolved is not None
    await until(lambda: not any(map(service.router.tracks, by_ws.token_ids())), "resolved dropped")
    assert all(service.book_view(t, None) is None for t in by_ws.token_ids())

    await until(lambda: len(received) >= 3, "three webhooks")
    verifier = Webhook(secret)
    events = [verifier.verify(d["body"], d["headers"]) for d in received]
    kinds = sorted((e["type"], e["condition_id"], e["detected_via"]) for e in events)
    assert kinds == sorted([
        ("market.created", by_ws.condition_id, "ws"),
        ("market.created", by_poll.condition_id, "gamma"),
        ("market.resolved", by_ws.condition_id, "ws"),
    ])  # fmt: skip
    (resolution,) = [e for e in events if e["type"] == "market.resolved"]
    assert (resolution["winner"], resolution["winning_asset_id"]) == ("Yes", by_ws.yes_id)

    # health views count what is tracked
    subs = service.subscriptions()
    assert subs["totals"]["assets"] == 2 * (8 + 1)
    assert sum(s["assets"] for s in subs["shards"]) == subs["totals"]["assets"]
    status = service.shards_status()
    assert sum(s["frames"] for s in status["shards"]) > 0
    jobs: dict[str, Any] = service.scheduler.health()["jobs"]  # type: ignore[assignment]
    assert set(jobs) == {"metadata_refresh", "snapshots", "lifecycle_check"}
    assert jobs["lifecycle_check"]["runs"] == 1
    assert jobs["lifecycle_check"]["next_run_in_secs"] is None  # poll_interval_secs = 0

    await stop_service(handle, stopped)
    store = Store(storage_url, database=database)
    try:
        rows = await store.query(
            "SELECT winning_outcome, winning_asset_id, resolved_at IS NOT NULL, closed "
            f"FROM {database}.market_metadata FINAL WHERE condition_id = {{cid:String}}",
            {"cid": by_ws.condition_id},
        )
        finals = await store.query(
            f"SELECT count() FROM {database}.ob_snapshots "
            "WHERE reason = 'final' AND condition_id = {cid:String}",
            {"cid": by_ws.condition_id},
        )
        polled = await store.query(
            f"SELECT count() FROM {database}.market_metadata FINAL "
            "WHERE condition_id = {cid:String}",
            {"cid": by_poll.condition_id},
        )
    finally:
        store.close()
    assert rows == [("Yes", by_ws.yes_id, True, True)]
    assert finals == [(2,)]  # both books, snapshotted once more as they were dropped
    assert polled == [(1,)]
