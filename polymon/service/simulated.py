"""`--simulate`: the simulated exchange started in-process, and the config pointed at it."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import trio

from polymon.config import Config

log = logging.getLogger("polymon")


async def start_simulator(nursery: trio.Nursery, cfg: Config) -> tuple[Any, Config]:
    """Start the simulated exchange of `cfg.simulator` under `nursery`; returns its handle and
    `cfg` with the venue's WebSocket, CLOB and Gamma URLs pointed at it."""
    from polymon.polymarket.simulator.server import run_simulator

    simulator = await nursery.start(run_simulator, cfg.simulator, name="simulator")
    log.info("simulated exchange on %s", simulator.http_url)
    venue = msgspec.structs.replace(
        cfg.polymarket,
        ws_url=simulator.ws_url,
        clob_url=simulator.http_url,
        gamma_url=simulator.http_url,
    )
    return simulator, msgspec.structs.replace(cfg, polymarket=venue)
