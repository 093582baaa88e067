"""Paced simulator for `polymon bench`'s alert latency, run as a subprocess (its own process).

Usage: python -m polymon.bench.paced MARKETS RATE QUEUE_FRAMES. Prints the bound port on
stdout, then generates RATE book events per second until terminated.

Unlike `polymon simulate`, each client's queue holds QUEUE_FRAMES frames: on a shared host
the simulator's own sender can fall behind its generator for a moment, and with the default
queue it would drop polymon as a slow consumer; the reconnect's dump of every book would then
be measured instead of the steady state. Whether polymon kept up shows in the frames/s it
received.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import trio

from polymon.config import SimulatorConfig
from polymon.polymarket.simulator.server import market_ws_url, run_simulator


async def _serve(markets: int, rate: float, queue_frames: int) -> None:
    cfg = SimulatorConfig(markets=markets, seed=1, rate_per_sec=rate)
    async with trio.open_nursery() as nursery:
        sim = await nursery.start(partial(run_simulator, cfg, queue_frames=queue_frames))
        print(sim.port, flush=True)


_QUEUE_FRAMES = 1 << 20


@contextmanager
def paced_simulator(rate: float, markets: int, cwd: str) -> Iterator[str]:
    """Run the paced simulator in its own process for the block; yields its base URL."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "polymon.bench.paced", str(markets), str(rate),
         str(_QUEUE_FRAMES)],
        cwd=cwd, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError("the simulator did not start")
        yield f"http://127.0.0.1:{line}"
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def polymarket_urls(sim_url: str) -> dict[str, str]:
    """The `polymarket` config overrides that point polymon at a simulator's base URL."""
    return {"ws_url": market_ws_url(sim_url), "clob_url": sim_url, "gamma_url": sim_url}


def main() -> None:
    """Entry point for the subprocess."""
    trio.run(_serve, int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))


if __name__ == "__main__":
    main()
