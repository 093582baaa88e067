"""A recorded session of the whole service against the simulated exchange, for the replay,
serve and backtest tests: what was recorded, the books the simulator had at the end, and the
trigger events the live service fired."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import trio

from polymon.config import Config, load_config
from tests.service.test_simulated_service import settle, start_service

TRIGGERS: list[dict[str, Any]] = [
    {"condition": {"type": "QUOTE_VELOCITY", "count": 4, "window_ms": 300}, "cooldown_ms": 150},
    {"condition": {"type": "PRICE_MOVE", "pct": "2", "window_ms": 1000, "side": "BID"}},
    {"condition": {"type": "SPREAD_WIDE", "threshold": "0.02"}, "cooldown_ms": 100},
    {"condition": {"type": "LARGE_TRADE", "min_size": "1"}},
    {"condition": {"type": "IMBALANCE_BID", "threshold": "0.2", "levels": 3}},
]
LATENCY_FIELDS = ("fired_at", "total_latency_us", "processing_latency_us")


@dataclass
class Session:
    directory: Path
    books: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]]
    live_events: list[dict[str, Any]]
    assets: list[str]
    suppressed: int = 0


def record_config(
    tmp_path: Path, storage: dict[str, Any] | None = None, **simulator: Any
) -> Config:
    """Recording on, storage off (or `storage`), a small faulty-or-not simulated venue."""
    return load_config(
        None,
        environ={},
        overrides={
            "service": {"data_dir": str(tmp_path)},
            "storage": storage or {"enabled": False},
            "http": {"port": 0},
            "polymarket": {"shards": 2, "max_assets_per_connection": 4,
                           "connection_stagger_secs": 0.01, "reconnect_min_secs": 0.05,
                           "reconnect_max_secs": 0.2},
            "integrity": {"hash_mode": "resync", "resync_min_interval_secs": 0.2},
            "webhooks": {"event_buffer_size": 100_000},
            "record": {"enabled": True, "flush_interval_secs": 0.2},
            "simulator": {"markets": 4, "seed": 11, "rate_per_sec": 300.0} | simulator,
        },
    )  # fmt: skip


async def record_session(
    nursery: trio.Nursery,
    cfg: Config,
    seconds: float = 1.5,
    triggers: bool = True,
    only: dict[str, Any] | None = None,
) -> Session:
    """Run the service on the simulator with recording on; triggers on the first tokens; let
    the venue move, then pause it and wait until every book equals the exchange's; stop."""
    handle, stopped = await start_service(nursery, cfg)
    exchange = handle.simulator.exchange
    assets = sorted(exchange.token_ids())
    if only is not None:
        await handle.service.alerts.register(msgspec.json.encode(only))
    elif triggers:
        for asset_id in assets:
            for body in TRIGGERS:
                await handle.service.alerts.register(
                    msgspec.json.encode({"asset_id": asset_id, **body})
                )
    await trio.sleep(seconds)
    await settle(handle)
    books = {a: exchange.levels(a) for a in assets}
    live = [msgspec.json.decode(e.data) for e in handle.service.events.recent(100_000)]
    suppressed = sum(shard.state.triggers.suppressed for shard in handle.service.shards)
    handle.stop()
    with trio.fail_after(20):
        await stopped.wait()
    return Session(cfg.recording_dir, books, live, assets, suppressed)


def without_latencies(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in LATENCY_FIELDS}
