"""HTTP bench: orderbook-endpoint throughput and latency under concurrent load while polymon
ingests (simulated exchange in the process, embedded storage on, rate limits off so the load is
not throttled). The load comes from a separate process (`polymon.bench.http_client`) with
keep-alive connections, so the client does not share polymon's event loop.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from functools import partial

import trio

from polymon.config import load_config
from polymon.service.main import Running, run_service


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(len(ordered) * q))]) if ordered else 0.0


async def _bench(seconds: float, concurrency: int, markets: int, rate: float) -> str:
    with tempfile.TemporaryDirectory(prefix="polymon-bench-http-") as data_dir:
        cfg = load_config(
            None,
            environ={},
            overrides={
                "service": {"data_dir": data_dir},
                "http": {"port": 0, "rate_limit_enabled": False},
                "simulator": {"markets": markets, "rate_per_sec": rate},
            },
        )
        async with trio.open_nursery() as nursery:
            handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
            service = handle.service
            with trio.fail_after(60):
                await service.bootstrapped.wait()  # every token subscribed
            await trio.sleep(1.0)  # their snapshots arrive
            assets = [a for s in service.shards for a in s.state.assets]
            paths = [f"/api/v1/markets/{a}/orderbook" for a in assets]
            frames_before = sum(s.ingest.frames for s in service.shards)
            command = [sys.executable, "-m", "polymon.bench.http_client", handle.http_url,
                       str(seconds), str(concurrency), *paths]  # fmt: skip
            result = await trio.run_process(command, capture_stdout=True)
            frames = sum(s.ingest.frames for s in service.shards) - frames_before
            handle.stop()
    out = json.loads(result.stdout)
    latencies: list[int] = out["latency_us"]
    rps = out["requests"] / out["seconds"]
    return (
        f"orderbook endpoint ({concurrency} connections, {len(paths)} books, ingesting "
        f"{frames / out['seconds']:,.0f} frames/s): {rps:,.0f} req/s  "
        f"p50 {_percentile(latencies, 0.5) / 1000:.2f} ms  "
        f"p99 {_percentile(latencies, 0.99) / 1000:.2f} ms  "
        f"mean {statistics.fmean(latencies) / 1000 if latencies else 0:.2f} ms  "
        f"non-200: {out['errors']} {out['statuses'] or ''}"
    )


def bench_http(
    seconds: float = 10.0, concurrency: int = 32, markets: int = 50, rate: float = 1000.0
) -> str:
    """Run the HTTP bench and return its one-line summary."""
    return trio.run(_bench, seconds, concurrency, markets, rate)


if __name__ == "__main__":
    print(bench_http())
