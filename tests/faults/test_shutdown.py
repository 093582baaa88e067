"""SIGTERM exits 0 within 10 s in every state (R3), and nothing in memory is lost: with
ClickHouse refusing connections (at once, whatever the grace), with ClickHouse hanging (the
default 8 s grace, then everything journaled), with a second SIGTERM cutting a 30 s grace
short, and while the bootstrap keeps failing. A last run with ClickHouse back replays the
journals: the runs that were stopped must be complete."""

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


async def stop_in(
    service: Polymon, proxy: FaultProxy, mode: str, *, second_after: float | None = None
) -> tuple[str, int, float]:
    """Start, let data flow, put ClickHouse in `mode`, SIGTERM (and again after
    `second_after` s); returns (run id, exit status, seconds from the first signal)."""
    proxy.set("pass")
    service.start()
    try:
        await service.wait_ready()
        run_id = run_of(service)
        await trio.sleep(1.0)
        proxy.set(mode)
        await trio.sleep(1.0)
        assert service.proc is not None
        started = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        if second_after is not None:
            await trio.sleep(second_after)
            service.proc.send_signal(signal.SIGTERM)
        status, _ = await _wait(service)
        return run_id, status, time.monotonic() - started
    finally:
        service.ensure_dead()


async def _wait(service: Polymon, limit: float = 40) -> tuple[int, float]:
    assert service.proc is not None
    started = time.monotonic()
    while service.proc.poll() is None:
        assert time.monotonic() - started < limit, "no exit"
        await trio.sleep(0.02)
    return service.proc.returncode, time.monotonic() - started


async def test_sigterm_exits_0_within_10_s_in_every_state_and_loses_nothing(
    tmp_path: Path, shim: Shim, simulator: Simulator, database: str, nursery: trio.Nursery
) -> None:
    proxy = FaultProxy(shim.port)
    await nursery.start(proxy.run)
    pm = sim_config(simulator) | {"shards": 1}

    def service(name: str, **service_cfg: Any) -> Polymon:
        config = {"polymarket": pm, "storage": storage_section(proxy.port, database),
                  "service": {"data_dir": str(tmp_path / "data"), **service_cfg}}  # fmt: skip
        return Polymon(tmp_path / name, config, data_dir=tmp_path / "data")

    timings: dict[str, float] = {}
    runs: list[str] = []
    states = [
        # (name, grace, ClickHouse, second SIGTERM after, limit)
        ("clickhouse down, grace 30 s", 30.0, "refuse", None, 5.0),  # journal at once
        ("clickhouse hung, grace 8 s (default)", 8.0, "blackhole", None, 10.0),
        ("clickhouse hung, grace 30 s, second SIGTERM at 1 s", 30.0, "blackhole", 1.0, 4.0),
    ]
    for name, grace, mode, second, limit in states:
        run_id, status, secs = await stop_in(
            service(mode + str(grace), shutdown_grace_secs=grace), proxy, mode,
            second_after=second,
        )  # fmt: skip
        assert status == 0, name
        assert secs < limit, (name, secs)
        timings[name] = secs
        runs.append(run_id)

    # Bootstrap failing (Gamma answers 500): the service keeps retrying, SIGTERM ends it.
    proxy.set("pass")
    starting = service("bootstrap")
    await simulator.control("gamma/fail")
    try:
        starting.start()
        await starting.wait_ready(fresh=False, bootstrapped=False)
        await trio.sleep(1.0)
        assert not (await starting.health())["bootstrapped"]
        code, secs = await starting.stop(signal.SIGTERM)
    finally:
        starting.ensure_dead()
        await simulator.control("gamma/recover")
    assert code == 0
    assert secs < 10
    timings["bootstrap failing"] = secs

    # ClickHouse back: the journals of the stopped runs are replayed; they are complete.
    last = service("replay")
    last.start()
    try:
        await last.wait_ready()
        deadline = time.monotonic() + 60
        while True:
            health = await last.health()
            tables = health["storage"]["tables"].values()
            if not health["storage"]["unavailable"] and not any(
                t["journal_batches"] for t in tables
            ):
                break
            assert time.monotonic() < deadline
            await trio.sleep(0.2)
        status, _ = await last.stop(signal.SIGTERM)
        assert status == 0
    finally:
        last.ensure_dead()
    store = shim.store(database)
    try:
        stored = await read_runs(store)
        duplicates = await duplicate_rows(store)
    finally:
        store.close()
    assert duplicates == dict.fromkeys(duplicates, 0)
    for run_id in runs:
        assert stored[run_id].max_seq > 0
        assert stored[run_id].missing == [], run_id  # journaled at the exit, replayed now
    print("SIGTERM:", {k: round(v, 2) for k, v in timings.items()})
