"""Flood-mode simulator for `polymon bench`, run as a subprocess so it has its own core.

Usage: python -m polymon.bench.flood MARKETS FRAMES. Prints the bound port on stdout, then
serves until terminated: each client gets the initial dump, then FRAMES pre-generated frames as
fast as the socket takes them.
"""

from __future__ import annotations

import sys
import time
from functools import partial

import trio

from polymon.config import SimulatorConfig
from polymon.polymarket.simulator.server import build_exchange, run_simulator


async def _serve(markets: int, frames: int) -> None:
    cfg = SimulatorConfig(markets=markets, seed=1)
    flood = build_exchange(cfg).generate_frames(frames, int(time.time() * 1000))
    async with trio.open_nursery() as nursery:
        sim = await nursery.start(partial(run_simulator, cfg, flood_frames=flood))
        print(sim.port, flush=True)


def main() -> None:
    """Entry point for the subprocess."""
    trio.run(_serve, int(sys.argv[1]), int(sys.argv[2]))


if __name__ == "__main__":
    main()
