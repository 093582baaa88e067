"""The run marker: an unclean stop leaves a `restart` gap on every asset, from the last durable
moment; event ids never repeat across runs (SSE and webhooks)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import trio
from msgspec.structs import replace

from polymon.config import WebhooksConfig
from polymon.core.triggers import Trigger, TriggerEvent
from polymon.service.alerts import Alerts, delivery_params
from polymon.service.runstate import MARKER_NAME, RunState
from polymon.storage.store import Store
from polymon.web.events import EventBuffer
from polymon.web.sse import sse_stream
from polymon.webhooks.delivery import WebhookDelivery
from tests.service.test_simulated_service import service_config, start_service, stop_service

NOW = 1_790_000_000_000_000  # µs


class Routing:
    """Trigger placement that keeps nothing: every asset is in market "C"."""

    def place_trigger(self, trigger: Trigger) -> None:
        pass

    def unplace_trigger(self, trigger: Trigger) -> None:
        pass

    def market_of(self, asset_id: str) -> str | None:
        return "C"

    def binary_markets(self) -> dict[str, tuple[str, str]]:
        return {}


def test_a_first_start_and_a_clean_stop_leave_no_gap(tmp_path: Path) -> None:
    first = RunState(tmp_path, "a", NOW)
    assert first.previous is None
    assert first.restart_gap() is None
    first.finish(NOW + 5_000_000)
    second = RunState(tmp_path, "b", NOW + 9_000_000)
    assert second.previous is not None
    assert second.previous.clean
    assert second.restart_gap() is None


def test_an_unclean_stop_is_a_gap_from_the_last_durable_moment(tmp_path: Path) -> None:
    first = RunState(tmp_path, "a", NOW)
    first.beat(NOW + 2_000_000, durable_us=NOW + 1_500_000, last_event_id=7)
    # kill -9: no finish()
    second = RunState(tmp_path, "b", NOW + 60_000_000)
    gap = second.restart_gap()
    assert gap is not None
    assert gap.since_us == NOW + 1_500_000
    assert "unclean stop of run a" in gap.detail
    assert not json.loads((tmp_path / MARKER_NAME).read_bytes())["clean"]  # b runs now


def test_an_unreadable_marker_is_an_unclean_stop_at_its_mtime(tmp_path: Path) -> None:
    (tmp_path / MARKER_NAME).write_bytes(b'{"run_id": "a", "star')
    os.utime(tmp_path / MARKER_NAME, (1_700_000_000, 1_700_000_000))
    gap = RunState(tmp_path, "b", NOW).restart_gap()
    assert gap is not None
    assert gap.since_us == 1_700_000_000_000_000


def test_event_ids_continue_above_every_previous_run(tmp_path: Path) -> None:
    first = RunState(tmp_path, "a", NOW)
    first_id = first.first_event_id(NOW)
    assert first_id == NOW
    first.beat(NOW + 1_000, NOW, last_event_id=first_id + 500)
    # A restart within the same second, or after the clock stepped back: still above.
    again = RunState(tmp_path, "b", NOW + 100)
    assert again.first_event_id(NOW + 100) > first_id + 500
    later = RunState(tmp_path, "c", NOW + 3_600_000_000)
    assert later.first_event_id(NOW + 3_600_000_000) == NOW + 3_600_000_000


async def read_stream(buffer: EventBuffer, last_id: int, publish: int) -> list[bytes]:
    stream = sse_stream(buffer, last_id, heartbeat_secs=60)
    chunks = [await stream.__anext__(), await stream.__anext__()]  # retry, then reset/replay
    buffer.publish([("T", b"{}")] * publish, 0)
    chunks.append(await stream.__anext__())
    await stream.aclose()
    return chunks


async def test_a_last_event_id_of_another_run_gets_reset_then_every_new_event(
    tmp_path: Path,
) -> None:
    run1 = RunState(tmp_path, "a", NOW)
    old = EventBuffer(100, first_id=run1.first_event_id(NOW))
    old.publish([("T", b"{}")] * 7345, 0)
    last_of_run1 = old.next_id - 1
    run1.beat(NOW + 1, NOW, last_of_run1)
    run2 = RunState(tmp_path, "b", NOW + 30_000_000)
    new = EventBuffer(100, first_id=run2.first_event_id(NOW + 30_000_000))
    assert new.first_id > last_of_run1
    chunks = await read_stream(new, last_of_run1, 3)  # nothing published yet, ring empty
    assert chunks[1].startswith(b"event: reset")
    assert chunks[2].count(b"id: ") == 3
    # A made-up id above this run's (another host's, a clock that stepped back): the same.
    chunks = await read_stream(new, new.next_id + 10**9, 2)
    assert chunks[1].startswith(b"event: reset")
    assert chunks[2].count(b"id: ") == 2


async def test_webhook_events_of_a_new_run_are_never_duplicates_of_an_old_runs(
    tmp_path: Path,
) -> None:
    cfg = WebhooksConfig(allow_private=True, allowed_ports=[])
    body = json.dumps({"asset_id": "A", "condition_id": "C", "cooldown_ms": 0,
                       "condition": {"type": "PRICE_ABOVE", "threshold": 0.5, "side": "BID"},
                       "webhook_url": "http://127.0.0.1:9/hook"}).encode()  # fmt: skip

    def event(trigger_id: str) -> TriggerEvent:
        return TriggerEvent(
            trigger_id=trigger_id, trigger_type="PRICE_ABOVE", asset_id="A", condition_id="C",
            fired_at=0, total_latency_us=0, processing_latency_us=0, best_bid=0.6,
            best_ask=None, mid_price=None, spread_bps=None, threshold=0.5, actual_value=0.6,
            venue_ts_ms=0, received_us=0,
        )  # fmt: skip

    def alerts(run: str, now_us: int) -> Alerts:
        state = RunState(tmp_path, run, now_us)
        hooks = WebhookDelivery(delivery_params(cfg), tmp_path / "webhooks")
        buffer = EventBuffer(100, first_id=state.first_event_id(now_us))
        state.beat(now_us, now_us, buffer.next_id + 56)  # it hands out 57 ids below
        return Alerts(tmp_path, cfg, Routing(), events=buffer, webhooks=hooks)

    first = alerts("a", NOW)
    trigger, _ = await first.register(body)
    first.deliver([event(trigger.trigger_id) for _ in range(57)])
    old_ids = {d.webhook_id for d in first.webhooks.pending()}
    assert len(old_ids) == 57
    first.webhooks.close()  # the receiver is down: all 57 still pending at the restart

    second = alerts("b", NOW + 5_000_000)
    second.load()
    second.deliver([event(trigger.trigger_id) for _ in range(56)])
    hooks = second.webhooks
    assert hooks.counters.duplicates == 0
    new_ids = {d.webhook_id for d in hooks.pending()} - old_ids
    assert len(new_ids) == 56
    hooks.close()


@pytest.mark.slow
async def test_after_an_unclean_stop_every_asset_gets_a_restart_gap(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    cfg = service_config(tmp_path, storage_url, database, rate_per_sec=200.0)
    cfg = replace(cfg, storage=replace(cfg.storage, batch_max_age_secs=0.2))
    handle, stopped = await start_service(nursery, cfg)
    await trio.sleep(1.5)  # a few heartbeats
    marker = tmp_path / MARKER_NAME
    crashed = json.loads(marker.read_bytes())  # what a kill -9 now would leave behind
    assert not crashed["clean"]
    assert crashed["durable_us"] > crashed["started_us"]
    await stop_service(handle, stopped)
    assert json.loads(marker.read_bytes())["clean"]
    marker.write_bytes(json.dumps(crashed).encode())  # as if the process had been killed

    handle, stopped = await start_service(nursery, cfg)
    assets = {a for s in handle.service.shards for a in s.state.assets}
    with trio.fail_after(20):
        while handle.service.health()["books"].get("fresh", 0) < len(assets):  # noqa: ASYNC110
            await trio.sleep(0.05)
    async with httpx.AsyncClient(base_url=handle.http_url) as client:
        assert (await client.get("/health")).status_code == 200
    await stop_service(handle, stopped)
    store = Store(storage_url, database=database)
    try:
        rows = await store.query(
            f"SELECT asset_id, toUnixTimestamp64Micro(detected_at), resolution, detail"
            f" FROM {database}.ob_gap_events FINAL WHERE reason = 'restart'"
        )
    finally:
        store.close()
    assert {r[0] for r in rows} == assets
    assert len(rows) == len(assets)  # one per asset
    assert {r[1] for r in rows} == {crashed["durable_us"]}
    assert {r[2] for r in rows} == {"ws_snapshot"}  # closed by each book's first snapshot
    assert all(f"run {crashed['run_id']}" in r[3] for r in rows)


def test_restart_gaps_not_yet_durable_are_carried_by_the_next_crash(tmp_path: Path) -> None:
    first = RunState(tmp_path, "a", NOW)
    first.beat(NOW + 1_000_000, durable_us=NOW + 900_000, last_event_id=0)
    # b starts, is killed before its restart gap rows are durable
    second = RunState(tmp_path, "b", NOW + 5_000_000)
    second.handed_over(NOW + 6_000_000)
    second.beat(NOW + 6_100_000, durable_us=NOW + 5_900_000, last_event_id=0)  # not past it
    third = RunState(tmp_path, "c", NOW + 9_000_000)
    gap = third.restart_gap()
    assert gap is not None
    assert gap.since_us == NOW + 900_000  # from a's crash, not only b's
    assert "run a" in gap.detail
    assert "run b" in gap.detail
    third.handed_over(NOW + 10_000_000)
    third.beat(NOW + 11_000_000, durable_us=NOW + 10_500_000, last_event_id=0)  # now durable
    assert third.record.carried == []
    third.finish(NOW + 12_000_000)
    assert RunState(tmp_path, "d", NOW + 20_000_000).restart_gap() is None


def test_a_crash_loop_carries_one_gap_from_the_first_crash(tmp_path: Path) -> None:
    for k in range(15):
        state = RunState(tmp_path, f"r{k}", NOW + k * 1_000_000)
    gap = state.restart_gap()
    assert gap is not None
    assert gap.since_us == NOW
    assert len(state.record.carried) <= 10
