"""The service feeds storage: rows, periodic snapshots, metadata refresh, health counters."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from msgspec.structs import replace

from polymon.storage.store import Store
from tests.service.test_simulated_service import service_config, start_service, stop_service

pytestmark = pytest.mark.slow


async def test_a_running_service_writes_every_table(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    cfg = service_config(tmp_path, storage_url, database, rate_per_sec=300.0)
    cfg = replace(
        cfg,
        storage=replace(cfg.storage, snapshot_interval_secs=0.5, batch_max_age_secs=0.2),
        polymarket=replace(cfg.polymarket, metadata_refresh_secs=0.5),
    )
    handle, stopped = await start_service(nursery, cfg)
    await trio.sleep(2.0)
    async with httpx.AsyncClient(base_url=handle.http_url) as client:
        health = (await client.get("/health")).json()
    tables = health["storage"]["tables"]
    assert health["storage"]["enabled"]
    assert not health["storage"]["unavailable"]
    assert tables["market_metadata"]["rows_in"] >= 2 * 8  # bootstrap and at least one refresh
    assert tables["ob_snapshots"]["rows_in"] > 0
    await stop_service(handle, stopped)
    store = Store(storage_url, database=database)
    try:
        counts = {
            table: (await store.query(f"SELECT count() FROM {database}.{table}"))[0][0]
            for table in ("ob_bbo", "ob_level_changes", "trade_ticks", "ob_snapshots")
        }
        markets = await store.query(f"SELECT count() FROM {database}.market_metadata FINAL")
    finally:
        store.close()
    assert all(n > 0 for n in counts.values()), counts
    assert markets == [(8,)]
