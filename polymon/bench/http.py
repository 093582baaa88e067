"""HTTP bench: orderbook-endpoint throughput and latency under concurrent load while polymon
ingests, with embedded storage on and rate limits off (so the load is not throttled).

Three processes, as in production, where the venue is another host: the paced simulator
(`polymon.bench.paced`), polymon (this process), and the load (`polymon.bench.http_client`,
keep-alive connections), so neither the venue nor the client shares polymon's event loop.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial

import trio

from polymon.bench.paced import paced_simulator, polymarket_urls
from polymon.config import load_config
from polymon.core.latency import percentile
from polymon.runtime import tune_runtime
from polymon.service.main import Running, run_service


def _host_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole host from /proc/stat; (0, 0) where unavailable."""
    try:
        with open("/proc/stat") as f:
            values = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return sum(values) - idle, sum(values)


async def _bench(
    sim_url: str, data_dir: str, seconds: float, concurrencies: Sequence[int], warmup_secs: float
) -> list[str]:
    cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": data_dir}, "http": {"port": 0, "rate_limit_enabled": False},
        "polymarket": polymarket_urls(sim_url),
    })  # fmt: skip
    lines = []
    async with trio.open_nursery() as nursery:
        handle: Running = await nursery.start(partial(run_service, cfg))
        service = handle.service
        with trio.fail_after(60):
            await service.bootstrapped.wait()  # every token subscribed
        await trio.sleep(1.0)  # their snapshots arrive
        tune_runtime()  # where `polymon run` calls it: once started, bootstrapped
        paths = [f"/api/v1/markets/{a}/orderbook" for s in service.shards for a in s.state.assets]
        # Unmeasured: the writers are still storing the bootstrap's snapshots, and the first
        # requests pay for imports and caches; the figures are for the steady state.
        await _load(handle, paths, warmup_secs, concurrencies[0])
        for concurrency in concurrencies:
            lines.append(await _load(handle, paths, seconds, concurrency))
        handle.stop()
    return lines


async def _load(handle: Running, paths: list[str], seconds: float, concurrency: int) -> str:
    shards = handle.service.shards
    frames_before = sum(s.ingest.frames for s in shards)
    cpu_before, host_before = time.process_time(), _host_busy()
    command = [sys.executable, "-m", "polymon.bench.http_client", handle.http_url,
               str(seconds), str(concurrency), *paths]  # fmt: skip
    result = await trio.run_process(command, capture_stdout=True)
    frames = sum(s.ingest.frames for s in shards) - frames_before
    cpu = time.process_time() - cpu_before
    busy, total = (a - b for a, b in zip(_host_busy(), host_before, strict=True))
    out = json.loads(result.stdout)
    latencies: list[int] = out["latency_us"]
    ordered = sorted(latencies)
    elapsed = out["seconds"]
    return (
        f"orderbook endpoint ({concurrency} connections, {len(paths)} books, ingesting "
        f"{frames / elapsed:,.0f} frames/s): {out['requests'] / elapsed:,.0f} req/s  "
        f"p50 {percentile(ordered, 50) / 1000 if ordered else 0:.2f} ms  "
        f"p99 {percentile(ordered, 99) / 1000 if ordered else 0:.2f} ms  "
        f"mean {statistics.fmean(latencies) / 1000 if latencies else 0:.2f} ms  "
        f"non-200: {out['errors']} {out['statuses'] or ''} reconnects: {out['reconnects']}\n"
        f"  CPU: polymon {cpu / elapsed:.0%}, load client {out['cpu_seconds'] / elapsed:.0%},"
        f" whole host {busy / total if total else 0:.0%} of {os.cpu_count() or 1} cores"
    )


def bench_http(
    seconds: float = 10.0,
    concurrencies: Sequence[int] = (8, 32),
    markets: int = 50,
    rate: float = 1000.0,
    warmup_secs: float = 2.0,
) -> str:
    """Run the HTTP bench, one load per concurrency against one running polymon (after an
    unmeasured warm-up load); returns the summary, two lines per load."""
    with (
        tempfile.TemporaryDirectory(prefix="polymon-bench-http-") as data_dir,
        paced_simulator(rate, markets, data_dir) as sim_url,
    ):
        return "\n".join(trio.run(_bench, sim_url, data_dir, seconds, concurrencies, warmup_secs))


if __name__ == "__main__":
    print(bench_http())
