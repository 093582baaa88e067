"""`polymon bench` alert latency: frame receipt -> event read by an SSE client, under load.

A simulated exchange runs in its own process at `rate` book events per second. polymon runs
in this process (storage off, so only ingest and alerts are measured) with ten price
triggers on every token, and an SSE client reads `GET /api/v1/triggers/events/sse`. The
latency of each event is the client's arrival time minus `received_us`, the wall time at
which polymon received the frame that caused it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import aclosing
from functools import partial
from typing import Any

import httpx
import msgspec
import trio
from httpx_sse import aconnect_sse

from polymon.config import load_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _all_synced(handle: Any) -> bool:
    return all(st.timestamp_ms for s in handle.service.shards for st in s.state.assets.values())


async def _measure(sim_url: str, seconds: float, data_dir: str) -> tuple[list[int], int, float]:
    from polymon.service.main import Running, run_service

    ws = sim_url.replace("http://", "ws://") + "/ws/market"
    cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": data_dir}, "http": {"port": 0},
        "storage": {"enabled": False},
        "polymarket": {"ws_url": ws, "clob_url": sim_url, "gamma_url": sim_url, "shards": 2},
        "webhooks": {"event_buffer_size": 10_000, "sse_client_queue": 100_000},
    })  # fmt: skip
    latencies: list[int] = []
    async with trio.open_nursery() as nursery:
        handle: Running = await nursery.start(partial(run_service, cfg))
        with trio.fail_after(60):
            await handle.service.bootstrapped.wait()
            while not _all_synced(handle):  # noqa: ASYNC110 - the feed fills the books
                await trio.sleep(0.1)
        for shard in handle.service.shards:
            for asset_id in list(shard.state.assets):
                for k in range(10):
                    kind = "PRICE_ABOVE" if k % 2 else "PRICE_BELOW"
                    body = {"asset_id": asset_id, "cooldown_ms": 0, "condition":
                            {"type": kind, "threshold": round(0.3 + 0.04 * k, 2)}}  # fmt: skip
                    await handle.service.alerts.register(msgspec.json.encode(body))
        frames0 = sum(s.ingest.frames for s in handle.service.shards)
        started = time.perf_counter()
        path = "/api/v1/triggers/events/sse"
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=30) as client:
            with trio.move_on_after(seconds):
                async with aconnect_sse(client, "GET", path) as es, aclosing(es.aiter_sse()) as it:
                    async for sse in it:
                        if sse.data:
                            event = json.loads(sse.data)
                            latencies.append(time.time_ns() // 1000 - event["received_us"])
        elapsed = time.perf_counter() - started
        frames = sum(s.ingest.frames for s in handle.service.shards) - frames0
        handle.stop()
    return latencies, frames, elapsed


def bench_alert_latency(*, rate: float = 5000.0, seconds: float = 5.0, markets: int = 100) -> str:
    """One line: p50/p99 frame receipt -> SSE client, at `rate` book events per second."""
    port = _free_port()
    env = os.environ | {"POLYMON_SIMULATOR__RATE_PER_SEC": str(rate),
                        "POLYMON_SIMULATOR__MARKETS": str(markets)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="polymon-bench-") as tmp:
        sim = subprocess.Popen(
            [sys.executable, "-m", "polymon", "simulate", "--port", str(port)],
            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the simulator did not start") from None
                    time.sleep(0.1)
            lat, frames, elapsed = trio.run(_measure, f"http://127.0.0.1:{port}", seconds, tmp)
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    lat.sort()
    if not lat:
        return f"{'alerts: frame -> SSE client':<34} no events"
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return (f"{'alerts: frame -> SSE client':<34} {frames / elapsed:,.0f} frames/s in, "
            f"{len(lat):,} events: p50 {p50 / 1000:.2f} ms  p99 {p99 / 1000:.2f} ms "
            f"(target p99 < 5 ms at 5k frames/s)")  # fmt: skip
