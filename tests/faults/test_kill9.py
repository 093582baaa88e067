"""kill -9 under load, again and again: no row stored twice, every crash an explicit
`restart` gap on every asset, and at most the last second before each kill lost.

`polymon run` (its own process) ingests from the simulated exchange (another process) and
writes to ClickHouse over HTTP (the chDB shim, a third). It is killed with SIGKILL at a
random moment 1-2.5 s after each start, KILLS times, then run once more and stopped cleanly.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
import trio

from tests.faults.conftest import storage_section
from tests.faults.harness import Polymon, Shim, Simulator, run_of, sim_config
from tests.faults.ledger import duplicate_rows, gap_rows, read_runs

pytestmark = pytest.mark.slow

KILLS = 5
LOSS_LIMIT_SECS = 1.0


async def test_kill_9_loses_at_most_a_second_never_duplicates_and_leaves_a_gap(
    tmp_path: Path, shim: Shim, simulator: Simulator, database: str
) -> None:
    rng = random.Random(15)
    pm = sim_config(simulator) | {"shards": 1}
    service = Polymon(tmp_path, {"polymarket": pm, "storage": storage_section(shim.port, database)})
    kills: list[dict[str, float | str | int]] = []
    try:
        for _ in range(KILLS):
            service.start()
            await service.wait_ready()
            run_id = run_of(service)
            await trio.sleep(rng.uniform(1.0, 2.5))
            killed_at = time.time()
            service.kill9()
            kills.append({"run": run_id, "at_us": int(killed_at * 1e6)})
        service.start()
        await service.wait_ready()
        await trio.sleep(1.5)
        final = run_of(service)
        status, secs = await service.stop(signal.SIGTERM)
        assert status == 0
        assert secs < 10
    finally:
        service.ensure_dead()
    store = shim.store(database)
    try:
        runs = await read_runs(store)
        duplicates = await duplicate_rows(store)
        restarts = await gap_rows(store, "restart")
        markers = {}
    finally:
        store.close()
    assert duplicates == dict.fromkeys(duplicates, 0), duplicates  # every stored row is unique
    assert runs[final].missing == []  # the clean run: complete
    assert runs[final].max_seq > 0
    assets = {g["asset_id"] for g in restarts}
    assert len(assets) == 20
    for kill in kills:
        run = runs.get(str(kill["run"]))
        assert run is not None, f"a killed run stored nothing: {kill}"
        assert not run.duplicates
        first = run.first_missing()
        assert first > 1, f"a killed run stored nothing: {kill}"
        last_whole_us = run.ingest[first - 1]  # every row up to it is stored
        loss = (int(kill["at_us"]) - last_whole_us) / 1e6
        kill["loss_secs"] = round(loss, 3)
        kill["holes_below_last_stored"] = len(run.missing)
        assert loss <= LOSS_LIMIT_SECS, kill
        # Its crash is on record: a restart gap on every asset, from the run's last durable
        # moment (at 300 events/s consecutive rows are milliseconds apart, so the gap starts
        # no later than just after the last row before the first one lost).
        mine = [g for g in restarts if f"run {kill['run']}" in g["detail"]]
        assert {g["asset_id"] for g in mine} == assets, kill
        since = {g["detected"] for g in mine}
        assert len(since) == 1
        assert since.pop() <= last_whole_us + 100_000, kill
        assert all(not g["open"] and g["resolved"] > int(kill["at_us"]) for g in mine)
        markers[kill["run"]] = kill
    print("kill -9 loop:", json.dumps(list(markers.values())))
