"""A full disk while ClickHouse is down: the journal refuses batches, writes are truncated
back, batches wait in memory up to their bound and are then dropped, each drop counted,
logged with its table, time span and rows, and recorded as a gap row; SIGTERM still exits 0;
the next run replays every journaled row.

The data directory is a 256 KiB tmpfs (mounted when the tests run as root; otherwise a per-file
size limit, RLIMIT_FSIZE, stands in: writes past it fail with EFBIG as they fail with ENOSPC).
The ledger of the run must then miss exactly the rows reported dropped.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.faults.conftest import storage_section
from tests.faults.harness import Polymon, Shim, Simulator, run_of, sim_config
from tests.faults.ledger import TABLES, gap_rows, read_runs
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.slow
DROPPED = re.compile(r" (\w+): (\d+) rows dropped \(times")


def dropped(health: dict[str, Any]) -> dict[str, int]:
    return {t: health["storage"]["tables"][t]["rows_dropped"] for t in TABLES}


async def until(service: Polymon, check: Any, limit: float = 60) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        health = await service.health()
        if check(health):
            return health
        assert time.monotonic() - started < limit, health["storage"]
        await trio.sleep(0.2)


def drained(health: dict[str, Any]) -> bool:
    tables = health["storage"]["tables"].values()
    return not health["storage"]["unavailable"] and not any(
        t["journal_batches"] or t["rows_held"] for t in tables
    )


async def test_a_full_disk_drops_only_what_it_must_and_records_it(
    tmp_path: Path,
    shim: Shim,
    simulator: Simulator,
    database: str,
    nursery: trio.Nursery,
    small_disk: tuple[Path, int | None],
) -> None:
    disk, fsize_limit = small_disk
    proxy = FaultProxy(shim.port)
    await nursery.start(proxy.run)
    storage = storage_section(proxy.port, database, max_pending_rows=1000)
    pm = sim_config(simulator) | {"shards": 1}
    service = Polymon(tmp_path, {"polymarket": pm, "storage": storage}, data_dir=disk / "data")
    popen: dict[str, Any] = {}
    if fsize_limit is not None:
        limit = (fsize_limit, fsize_limit)
        popen["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    service.start(**popen)
    try:
        await service.wait_ready()
        run_id = run_of(service)
        # Phase 1: ClickHouse down until the disk is full and memory too: batches dropped.
        proxy.set("refuse")
        full = await until(service, lambda h: sum(dropped(h).values()) > 0)
        assert any(t["journal_write_failures"] for t in full["storage"]["tables"].values())
        # ClickHouse back: the journal, the held batches and the gap rows all go in.
        proxy.set("pass")
        phase1 = await until(service, drained)
        # Phase 2: down again, disk full again, and SIGTERM in that state.
        proxy.set("refuse")
        await until(service, lambda h: sum(dropped(h).values()) > sum(dropped(phase1).values()))
        await simulator.control("pause")  # the venue stops: what was produced is countable
        await trio.sleep(1.0)
        tables = (await service.health())["storage"]["tables"]
        produced = sum(tables[t]["rows_in"] for t in TABLES)
        log_start = len(service.log())
        status, secs = await service.stop(signal.SIGTERM)
        exit_log = service.log()[log_start:]
    finally:
        service.ensure_dead()
        await simulator.control("resume")
    assert status == 0, exit_log[-3000:]  # it was 2
    assert secs < 10
    # Run 2: the disk has room (the journal is replayed and truncated), ClickHouse is up.
    proxy.set("pass")
    run1_log = service.log()
    service.start(**popen)
    try:
        await service.wait_ready(fresh=False)
        await until(service, drained)
        await trio.sleep(1.0)
        status, _ = await service.stop(signal.SIGTERM)
        assert status == 0
    finally:
        service.ensure_dead()
    logged: dict[str, int] = dict.fromkeys(TABLES, 0)
    for table, rows in DROPPED.findall(run1_log):
        if table in logged:
            logged[table] += int(rows)
    store = shim.store(database)
    try:
        run = (await read_runs(store))[run_id]
        gaps = await gap_rows(store, "dropped:%")
    finally:
        store.close()
    assert sum(logged.values()) >= sum(dropped(phase1).values()) > 0
    # Every lost row is one reported dropped, and every row reported dropped is lost:
    # nothing journaled was lost, nothing was dropped silently.
    assert run.max_seq <= produced
    missing = run.missing_up_to(produced)
    assert len(missing) == sum(logged.values()), (logged, len(missing))
    assert run.duplicates == {}
    recorded = {t: sum(json.loads(g["detail"])["rows"] for g in gaps
                       if g["reason"] == f"dropped:{t}") for t in TABLES}  # fmt: skip
    for table in TABLES:  # phase 1's drops all became gap rows (phase 2's could not: disk full)
        assert dropped(phase1)[table] <= recorded[table] <= logged[table], (table, recorded)
    assert all(g["resolution"] == "lost" and g["asset_id"] == "" for g in gaps)
    how = "tmpfs" if fsize_limit is None else "RLIMIT_FSIZE"
    print(f"disk full ({how}): {sum(logged.values())} of {produced} rows dropped, all "
          f"reported; {sum(recorded.values())} of them in {len(gaps)} gap rows; SIGTERM"
          f" {secs:.2f} s")  # fmt: skip
