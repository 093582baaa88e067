"""`polymon bench` alert latency: frame receipt -> event parsed by an SSE client, under load.

Three processes, as in production: a simulated exchange at `rate` book events per second
(`polymon.bench.paced`), polymon (this process; storage off unless asked, so ingest and alerts
are what is measured), and the measuring SSE client (`polymon.bench.sse_client`), which reads
`GET /api/v1/triggers/events/sse` like any user. Every token gets ten price triggers with
thresholds a fraction of a tick apart around its price, so events keep coming while the
prices wander. The latency of an event is the client's wall time once it has parsed it minus
`received_us`, the wall time at which polymon's WebSocket reader received the frame that
caused it.

Only the steady state is measured: the triggers are registered before polymon subscribes
(registering thousands while the feed runs blocks its reader long enough for the simulator to
drop polymon as a slow consumer, and the reconnect's dump of every book would land in the
window), and the window opens once every connection has stayed up with every book synced for
a while. Reconnects during the window are reported on the result line.

    python -m polymon.bench.alerts [--seconds S] [--rate R] [--markets N] [--storage]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio

from polymon.bench.paced import paced_simulator, polymarket_urls
from polymon.bench.stalls import probe_stalls
from polymon.config import load_config
from polymon.polymarket.gamma import asset_metas, fetch_active_markets
from polymon.polymarket.rest import fetch_books
from polymon.polymarket.schemas import RestBook
from polymon.runtime import tune_runtime
from polymon.web.keys import KeyStore

_STEADY_SECS = 1.0  # connections up and books synced for this long before measuring
_TRIGGERS_PER_TOKEN = 10
_DEFAULT_TICK_UNITS = 10_000  # 0.01 in 1e-6 price units


def _all_synced(handle: Any) -> bool:
    return all(
        st.timestamp_ms and st.gap is None
        for s in handle.service.shards
        for st in s.state.assets.values()
    )


def _connects(handle: Any) -> int:
    return sum(c.connects for s in handle.service.shards for c in s.connections)


def _all_open(handle: Any) -> bool:
    return all(c.state == "open" for s in handle.service.shards for c in s.connections)


def _thresholds(book: RestBook, tick_size: str) -> list[int]:
    """Price thresholds (1e-6 units) a quarter tick off each of the ten ticks around the mid."""
    bids = [round(float(level.price) * 1e6) for level in book.bids]
    asks = [round(float(level.price) * 1e6) for level in book.asks]
    bid, ask = max(bids, default=0), min(asks, default=0)
    mid = (bid + ask) // 2 if bid and ask else bid or ask or 500_000
    try:
        tick = round(float(book.tick_size or tick_size) * 1e6) or _DEFAULT_TICK_UNITS
    except ValueError:
        tick = _DEFAULT_TICK_UNITS
    half = _TRIGGERS_PER_TOKEN // 2
    levels = (mid + (k - half) * tick + tick // 4 for k in range(_TRIGGERS_PER_TOKEN))
    return [min(max(level, 1_000), 999_000) for level in levels]


async def _trigger_bodies(sim_url: str) -> list[bytes]:
    """Registration bodies of every token's triggers, around the venue's current prices."""
    async with httpx.AsyncClient(timeout=30) as http:
        metas = asset_metas(await fetch_active_markets(http, sim_url))
        books = await fetch_books(http, sim_url, [m.asset_id for m in metas])
    by_asset = {book.asset_id: book for book in books}
    bodies = []
    for meta in metas:
        book = by_asset.get(meta.asset_id)
        if book is None:
            continue
        for k, units in enumerate(_thresholds(book, meta.tick_size)):
            kind = "PRICE_ABOVE" if k % 2 else "PRICE_BELOW"
            bodies.append(msgspec.json.encode(
                {"asset_id": meta.asset_id, "condition_id": meta.market, "cooldown_ms": 0,
                 "condition": {"type": kind, "threshold": f"{units / 1e6:.6f}"}}
            ))  # fmt: skip
    return bodies


async def _wait_steady(handle: Any) -> None:
    steady_since, connects = trio.current_time(), _connects(handle)
    while trio.current_time() - steady_since < _STEADY_SECS:
        await trio.sleep(0.1)
        now_connects = _connects(handle)
        if now_connects != connects or not _all_open(handle) or not _all_synced(handle):
            steady_since, connects = trio.current_time(), now_connects


async def _read_line(stream: trio.abc.ReceiveStream, buffer: bytearray) -> bytes:
    while b"\n" not in buffer:
        data = await stream.receive_some()
        if not data:
            raise RuntimeError("the SSE client process ended early")
        buffer += data
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


class Window(msgspec.Struct):
    """What one measurement window saw."""

    events: list[tuple[int, int, int]]
    """(received, published, parsed by the client) wall µs of every event."""
    frames: int
    seconds: float
    reconnects: int
    cpu_share: float
    stalls_us: list[int] = []
    """How late (µs) a task sleeping a few ms at a time woke up, each time (`probe_stalls`):
    how long the event loop was busy or blocked. Frames that arrive meanwhile wait in the
    socket, before `received_us`, so such stalls delay alerts without showing in their
    latency."""


async def _measure(sim_url: str, seconds: float, data_dir: str, storage: bool) -> Window:
    from polymon.service.main import Running, run_service

    cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": data_dir}, "http": {"port": 0},
        "storage": {"enabled": storage},
        "polymarket": polymarket_urls(sim_url) | {"shards": 2},
        "webhooks": {"event_buffer_size": 10_000, "sse_client_queue": 100_000},
    })  # fmt: skip
    bodies = await _trigger_bodies(sim_url)
    _record, api_key = KeyStore(Path(data_dir)).create("bench", "enterprise")
    async with trio.open_nursery() as nursery:
        # Triggers first, as persisted ones are loaded at start-up: registering thousands
        # (each rewrites and fsyncs the registry) while the feed runs would block its reader
        # for seconds, and the simulator would drop polymon as a slow consumer.
        handle: Running = await nursery.start(partial(run_service, cfg, bootstrap=False))
        for body in bodies:
            await handle.service.alerts.register(body)
        nursery.start_soon(handle.service.run_bootstrap, name="bootstrap")
        with trio.fail_after(60):
            await handle.service.bootstrapped.wait()
            while not _all_synced(handle):  # noqa: ASYNC110 - the feed fills the books
                await trio.sleep(0.1)
        tune_runtime()  # where the service calls it: once started, bootstrapped
        with trio.fail_after(60):
            await _wait_steady(handle)
        url = handle.http_url + "/api/v1/triggers/events/sse"
        client = await trio.lowlevel.open_process(
            [sys.executable, "-m", "polymon.bench.sse_client", url, str(seconds)],
            stdout=subprocess.PIPE,
            env=os.environ | {"POLYMON_BENCH_API_KEY": api_key},
        )
        assert client.stdout is not None
        buffer = bytearray()
        stalls: list[int] = []
        window_done = trio.Event()
        with trio.fail_after(seconds + 60):
            await _read_line(client.stdout, buffer)  # "ready": the stream is subscribed
            nursery.start_soon(probe_stalls, stalls, window_done, name="bench-loop-probe")
            frames0 = sum(s.ingest.frames for s in handle.service.shards)
            connects0 = _connects(handle)
            started, cpu0 = time.perf_counter(), time.process_time()
            line = await _read_line(client.stdout, buffer)
            events = [(r, f, c) for r, f, c in json.loads(line)]
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu0
            window_done.set()
            await client.wait()
        frames = sum(s.ingest.frames for s in handle.service.shards) - frames0
        reconnects = _connects(handle) - connects0
        handle.stop()
    return Window(events, frames, elapsed, reconnects, cpu / elapsed, stalls)


def measure_alert_latency(
    *, rate: float = 5000.0, seconds: float = 5.0, markets: int = 100, storage: bool = False
) -> Window:
    """One measurement window of frame receipt -> SSE client latency (see the module doc)."""
    with (
        tempfile.TemporaryDirectory(prefix="polymon-bench-") as tmp,
        paced_simulator(rate, markets, tmp) as sim_url,
    ):
        return trio.run(_measure, sim_url, seconds, tmp, storage)


def bench_alert_latency(
    *, rate: float = 5000.0, seconds: float = 5.0, markets: int = 100, storage: bool = False
) -> str:
    """One line: p50/p99 frame receipt -> SSE client, at `rate` book events per second."""
    w = measure_alert_latency(rate=rate, seconds=seconds, markets=markets, storage=storage)
    return summary_line("alerts: frame -> SSE client" + (", storage on" if storage else ""), w)


def summary_line(name: str, w: Window) -> str:
    """The bench line of one window: rate in, p50/p99/max end to end, p99 inside polymon."""
    if not w.events:
        return f"{name:<34} no events"
    lat = sorted(parsed - received for received, _, parsed in w.events)
    inside = sorted(published - received for received, published, _ in w.events)
    stalls = sorted(w.stalls_us)
    return (f"{name:<34} {w.frames / w.seconds:,.0f} frames/s in, {len(lat):,} events: "
            f"p50 {_p(lat, 0.5)} ms  p99 {_p(lat, 0.99)} ms  max {_p(lat, 1)} ms; "
            f"receipt -> published p99 {_p(inside, 0.99)} ms; "
            + (f"loop stalls p99 {_p(stalls, 0.99)} max {_p(stalls, 1)} ms " if stalls else "")
            + f"(polymon CPU {w.cpu_share:.0%}, {w.reconnects} reconnects; "
            f"target p99 < 5 ms at 5k frames/s)")  # fmt: skip


def _p(sorted_us: list[int], q: float) -> str:
    return f"{sorted_us[min(len(sorted_us) - 1, int(len(sorted_us) * q))] / 1000:.2f}"


def main(argv: list[str] | None = None) -> None:
    """`python -m polymon.bench.alerts`: only the alert latency phase."""
    parser = argparse.ArgumentParser(prog="python -m polymon.bench.alerts")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--markets", type=int, default=100)
    parser.add_argument("--storage", action="store_true", help="with the ClickHouse writers")
    args = parser.parse_args(argv)
    print(bench_alert_latency(rate=args.rate, seconds=args.seconds, markets=args.markets,
                              storage=args.storage))  # fmt: skip


if __name__ == "__main__":
    main()
