"""Ingest's counters and latency ring, and what ServiceCollector / shard_metrics make of a live
service: every value read back from the exposition text must equal the Service's own state.

Scraping is synchronous, so the state read right after a scrape (before any checkpoint) is the
state the scrape saw. Latencies are only checked for consistency, never for their size.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from polymon.config import load_config
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy, ShardState
from polymon.core.triggers import Trigger, decode_trigger_spec
from polymon.polymarket.ingest import Ingest
from polymon.service.main import Running, Service, run_service
from polymon.service.metrics import ServiceCollector, shard_metrics
from polymon.web.httpmetrics import HttpMetrics
from tests.service.test_simulated_service import service_config

ASSET = "111"


def book_frame(bid: str = "0.48", ask: str = "0.52") -> str:
    bids, asks = [{"price": bid, "size": "10"}], [{"price": ask, "size": "5"}]
    book = {"event_type": "book", "asset_id": ASSET, "market": "0xm", "timestamp": "1"}
    return json.dumps([{**book, "bids": bids, "asks": asks}])


def price_above(threshold: float) -> Trigger:
    condition = {"type": "PRICE_ABOVE", "threshold": threshold, "side": "BID"}
    body = {"asset_id": ASSET, "cooldown_ms": 0, "condition": condition}
    return Trigger(trigger_id="trig_1", spec=decode_trigger_spec(json.dumps(body)))


def test_ingest_counts_frames_messages_fires_and_times_data_frames_only() -> None:
    state = ShardState(Policy())
    state.track(AssetMeta(asset_id=ASSET, market="0xm"))
    state.add_trigger(price_above(0.4), 0.0)
    fired: list[object] = []
    ingest = Ingest(state, max_frame_bytes=2000, on_fired=fired.extend)

    assert ingest.handle(book_frame(), 1.0, 1_000)
    assert not ingest.handle("PONG", 1.0, 1_000)
    assert ingest.handle("x" * 3000, 1.0, 1_000)
    assert ingest.handle("{not json", 1.0, 1_000)

    assert (ingest.frames, ingest.keepalives, ingest.messages) == (4, 1, 1)
    assert dict(ingest.invalid) == {"too_large": 1, "json": 1}
    assert ingest.fired == len(fired) == 1
    assert ingest.latency.count == 3  # the keepalive is not a data frame
    assert all(ns >= 0 for ns in ingest.latency.window())
    ingest.latency._check()


def test_fires_found_off_the_feed_are_counted_with_the_feeds() -> None:
    # STALE_QUOTE fires from the shard's periodic check, not from a frame.
    state = ShardState(Policy())
    state.track(AssetMeta(asset_id=ASSET, market="0xm"))
    body = {"asset_id": ASSET, "cooldown_ms": 0,
            "condition": {"type": "STALE_QUOTE", "threshold_ms": 1000}}  # fmt: skip
    state.add_trigger(
        Trigger(trigger_id="trig_stale", spec=decode_trigger_spec(json.dumps(body))), 0.0
    )
    fired: list[object] = []
    ingest = Ingest(state, max_frame_bytes=2000, on_fired=fired.extend)
    ingest.handle(book_frame(), 0.0, 0)
    state.triggers.check_stale(5.0, 5_000_000)
    ingest.deliver_fired()
    assert ingest.fired == len(fired) == 1
    assert not state.triggers.fired


def samples(text: str) -> dict[str, list[Sample]]:
    """Samples by sample name (`x_total`, `x_count`, ...)."""
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def by_label(found: dict[str, list[Sample]], name: str, label: str) -> dict[str, float]:
    return {s.labels[label]: s.value for s in found[name]}


def scrape(metrics: HttpMetrics) -> dict[str, list[Sample]]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return samples(body.decode())


def quantiles(found: dict[str, list[Sample]], shard: str) -> dict[str, float]:
    return {
        s.labels["quantile"]: s.value
        for s in found["polymon_processing_latency_seconds"]
        if s.labels["shard"] == shard
    }


def check_shard_metrics(service: Service) -> None:
    """shard_metrics agrees with the shards, and its percentiles are ordered."""
    body = shard_metrics(service)
    rows = body["shards"]
    assert isinstance(rows, list)
    assert [r["shard"] for r in rows] == [s.index for s in service.shards]
    for row, shard in zip(rows, service.shards, strict=True):
        ring = shard.ingest.latency
        assert row["frames"] == shard.ingest.frames
        assert row["samples"] == min(ring.count, ring.capacity)
        assert row["triggers"] == len(shard.state.triggers)
        assert row["fired"] == shard.ingest.fired
        if row["samples"]:
            assert 0 <= row["p50_us"] <= row["p95_us"] <= row["p99_us"] <= row["max_us"]
    totals = body["totals"]
    assert isinstance(totals, dict)
    assert totals["frames"] == sum(r["frames"] for r in rows) > 0
    assert totals["samples"] == sum(r["samples"] for r in rows) > 0
    assert totals["fired"] == sum(r["fired"] for r in rows)
    assert totals["triggers"] == sum(r["triggers"] for r in rows)
    assert totals["p99_us"] <= totals["max_us"] == max(r["max_us"] or 0.0 for r in rows)


def check_against_service(found: dict[str, list[Sample]], service: Service) -> None:
    """Every per-shard figure in `found` equals the service's state (read without yielding)."""
    for shard in service.shards:
        sid = str(shard.index)
        ingest, ring = shard.ingest, shard.ingest.latency
        assert by_label(found, "polymon_ingest_frames_total", "shard")[sid] == ingest.frames
        assert by_label(found, "polymon_ingest_messages_total", "shard")[sid] == ingest.messages
        assert by_label(found, "polymon_triggers", "shard")[sid] == len(shard.state.triggers)
        assert by_label(found, "polymon_triggers_fired_total", "shard")[sid] == ingest.fired
        count = by_label(found, "polymon_processing_latency_seconds_count", "shard")[sid]
        total = by_label(found, "polymon_processing_latency_seconds_sum", "shard")[sid]
        assert count == ring.count
        assert total == pytest.approx(ring.total_ns / 1e9)
        summary = ring.summary()
        assert summary is not None
        assert quantiles(found, sid) == {
            "0.5": pytest.approx(summary.p50_ns / 1e9),
            "0.95": pytest.approx(summary.p95_ns / 1e9),
            "0.99": pytest.approx(summary.p99_ns / 1e9),
        }
        conns = [s for s in found["polymon_feed_connections"] if s.labels["shard"] == sid]
        assert sum(s.value for s in conns) == len(shard.connections)
        assert {s.labels["state"] for s in conns} == {"idle", "connecting", "open", "backoff"}
        connects = by_label(found, "polymon_feed_connects_total", "shard")[sid]
        assert connects == sum(c.connects for c in shard.connections)


@pytest.mark.slow
async def test_a_live_service_is_reported_as_it_is(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    handle: Running = await nursery.start(
        partial(run_service, service_config(tmp_path, storage_url, database), simulate=True)
    )
    service = handle.service
    metrics = HttpMetrics()
    metrics.register(ServiceCollector(service))
    with trio.fail_after(20):
        await service.bootstrapped.wait()
        while service.health()["books"].get("fresh", 0) < 16:  # noqa: ASYNC110 - fed by the venue
            await trio.sleep(0.05)
    await trio.sleep(0.5)  # let the venue move the books and the writers insert a batch
    # A trigger that fires after two BBO changes of a moving book: the counts must show it.
    asset = next(a for s in service.shards for a in s.state.assets)
    condition = {"type": "QUOTE_VELOCITY", "count": 2, "window_ms": 600_000}
    body = {"asset_id": asset, "cooldown_ms": 0, "condition": condition}
    trigger, _secret = await service.alerts.register(json.dumps(body).encode())
    with trio.fail_after(20):
        while not sum(s.ingest.fired for s in service.shards):  # noqa: ASYNC110
            await trio.sleep(0.05)
    async with httpx.AsyncClient(base_url=handle.http_url) as client:
        assert (await client.get("/health")).status_code == 200

    found = scrape(metrics)
    check_against_service(found, service)
    health = service.health()
    books: dict[str, float] = {}
    for sample in found["polymon_books"]:
        status = sample.labels["status"]
        books[status] = books.get(status, 0) + sample.value
    assert books.keys() == {"fresh", "stale", "resyncing"}
    assert books == {status: health["books"].get(status, 0) for status in books}
    assert sum(books.values()) == health["assets"] == 16
    assert sum(s.value for s in found["polymon_triggers"]) == 1
    assert sum(s.value for s in found["polymon_triggers_fired_total"]) > 0
    fired = by_label(found, "polymon_alerts_fired_total", "type")
    assert fired == {"QUOTE_VELOCITY": service.alerts.fired["QUOTE_VELOCITY"]}
    events = service.events.status()
    assert found["polymon_alerts_published_total"][0].value == events["published"] > 0
    assert found["polymon_sse_subscribers"][0].value == events["subscribers"] == 0
    assert found["polymon_webhook_pending"][0].value == len(service.webhooks.pending())
    assert service.writers is not None
    for table, stats in service.writers.stats().items():
        written = by_label(found, "polymon_writer_rows_written_total", "table")[table]
        received = by_label(found, "polymon_writer_rows_received_total", "table")[table]
        assert (written, received) == (stats["rows_written"], stats["rows_in"])
    assert by_label(found, "polymon_writer_rows_received_total", "table")["ob_bbo"] > 0
    assert by_label(found, "polymon_ingest_frames_total", "shard").keys() == {"0", "1", "2"}
    assert not any(name.endswith("_created") for name in found)
    check_shard_metrics(service)
    # Each shard reports the recipe it verifies with: v3, detected from the simulator's books.
    recipes = {
        (s.labels["shard"], s.labels["recipe"]): s.value for s in found["polymon_hash_recipe"]
    }
    for shard in service.shards:
        locked = shard.state.hashes.status().recipe or "detecting"
        assert locked == "v3"
        assert {r: recipes[(str(shard.index), r)] for r in ("v1", "v2", "v3", "detecting")} == {
            "v1": 0,
            "v2": 0,
            "v3": 1,
            "detecting": 0,
        }
    totals = shard_metrics(service)["totals"]
    assert isinstance(totals, dict)
    assert totals["triggers"] == 1
    assert service.alerts.remove(trigger.trigger_id)
    handle.stop()


async def test_a_service_that_saw_nothing_reports_zeros_and_no_percentiles(
    tmp_path: Path,
) -> None:
    cfg = load_config(None, environ={}, overrides={"service": {"data_dir": str(tmp_path)}})
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        metrics = HttpMetrics()
        metrics.register(ServiceCollector(service))
        found = scrape(metrics)
        body = shard_metrics(service)
        service.webhooks.close()
    shards = [str(i) for i in range(cfg.polymarket.shards)]
    assert by_label(found, "polymon_ingest_frames_total", "shard") == dict.fromkeys(shards, 0)
    assert by_label(found, "polymon_processing_latency_seconds_count", "shard") == dict.fromkeys(
        shards, 0
    )
    assert all(math.isnan(s.value) for s in found["polymon_processing_latency_seconds"])
    assert all(math.isnan(s.value) for s in found["polymon_processing_latency_max_seconds"])
    assert not any(name.startswith("polymon_writer_") for name in found)  # storage is off
    nothing = dict.fromkeys(("p50_us", "p95_us", "p99_us", "max_us"))
    assert body["totals"] == {"frames": 0, "samples": 0, **nothing, "triggers": 0, "fired": 0}
    rows = body["shards"]
    assert isinstance(rows, list)
    assert [r["shard"] for r in rows] == list(range(cfg.polymarket.shards))
    assert all(r["p50_us"] is None and r["samples"] == 0 for r in rows)
