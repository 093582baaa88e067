"""ClickHouse goes away and comes back (R1, R2): not one row lost or stored twice.

The outage is time-compressed (seconds for the 30 minutes of the promise): first the server
refuses connections, then it takes inserts but every reply is lost on the way back (the
ambiguous failure: committed, yet the client saw an error and retries), then it is back.
The ledger of the run must be exact: every seq 1..max stored once.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.faults.conftest import storage_section
from tests.faults.harness import Polymon, Shim, Simulator, run_of, sim_config
from tests.faults.ledger import duplicate_rows, read_runs
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.slow


def journaled(health: dict[str, Any]) -> int:
    return sum(t["journal_batches"] for t in health["storage"]["tables"].values())


async def test_an_outage_loses_and_duplicates_nothing(
    tmp_path: Path, shim: Shim, simulator: Simulator, database: str, nursery: trio.Nursery
) -> None:
    proxy = FaultProxy(shim.port)
    await nursery.start(proxy.run)
    storage = storage_section(proxy.port, database, insert_timeout_secs=5.0)
    pm = sim_config(simulator) | {"shards": 1}
    service = Polymon(tmp_path, {"polymarket": pm, "storage": storage})
    service.start()
    try:
        await service.wait_ready()
        run_id = run_of(service)
        await trio.sleep(1.0)
        proxy.set("refuse")
        await trio.sleep(6.0)
        down = await service.health()
        assert down["storage"]["unavailable"]
        assert journaled(down) > 0
        proxy.set("drop_replies")
        await trio.sleep(3.0)
        proxy.set("pass")
        back = time.monotonic()
        while True:
            health = await service.health()
            if not health["storage"]["unavailable"] and journaled(health) == 0:
                break
            assert time.monotonic() - back < 60, health["storage"]
            await trio.sleep(0.2)
        drained_secs = time.monotonic() - back
        await trio.sleep(1.0)
        status, stop_secs = await service.stop(signal.SIGTERM)
    finally:
        service.ensure_dead()
    assert status == 0
    assert stop_secs < 10
    tables = health["storage"]["tables"]
    assert sum(t["rows_dropped"] for t in tables.values()) == 0
    assert health["storage"]["sink_rows_dropped"] == 0
    assert sum(t["rows_replayed"] for t in tables.values()) > 0
    assert proxy.replies_dropped > 0  # the ambiguous phase did happen
    store = shim.store(database)
    try:
        runs = await read_runs(store)
        duplicates = await duplicate_rows(store)
    finally:
        store.close()
    run = runs[run_id]
    assert run.max_seq > 1000
    assert run.missing == []  # not one row lost
    assert run.duplicates == {}
    assert duplicates == dict.fromkeys(duplicates, 0)  # nor stored twice
    print(f"outage: {run.max_seq} rows, journal drained {drained_secs:.1f} s after recovery,"
          f" SIGTERM {stop_secs:.2f} s, {proxy.replies_dropped} replies dropped")  # fmt: skip
