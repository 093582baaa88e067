"""End to end: `polymon run --simulate` stores every trade the exchange sent, exactly once.

The service runs as a user runs it (a subprocess, its own embedded engine, a host timezone
far from UTC), is stopped with SIGTERM, and the store is then read by a fresh process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from polymon.core.asset import trade_id
from tests.test_cli import free_port, wait_healthy

pytestmark = pytest.mark.slow

READ_BACK = """
import json, sys, trio
from polymon.storage.store import Store
async def main():
    store = Store(sys.argv[1], database="polymon")
    trades = await store.query(
        "SELECT trade_id, count(), any(toUnixTimestamp64Milli(source_ts)) "
        "FROM polymon.trade_ticks GROUP BY trade_id")
    bbo = await store.query(
        "SELECT count(), countIf(toMinute(hour) != 0) FROM polymon.mv_ob_hourly_stats")
    snaps = await store.query("SELECT count() FROM polymon.ob_snapshots")
    meta = await store.query("SELECT count() FROM polymon.market_metadata FINAL")
    bars = await store.query(
        "SELECT countIf(toMinute(bucket) % 5 != 0 OR toSecond(bucket) != 0) "
        "FROM polymon.mv_ob_bbo_5m")
    store.close()
    print(json.dumps({"trades": trades, "bbo": bbo[0], "snapshots": snaps[0][0],
                      "markets": meta[0][0], "misaligned_bars": bars[0][0]}))
trio.run(main)
"""


def call(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def simulator_url(log: Path, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        match = re.search(r"simulated exchange on (http://\S+)", log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError("the simulator URL was not logged")


def test_every_simulated_trade_is_stored_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = os.environ | {
        "TZ": "Asia/Kolkata",  # UTC+5:30: stored times and bars must not move
        "POLYMON_HTTP__PORT": str(port),
        "POLYMON_SERVICE__DATA_DIR": str(data),
        "POLYMON_SIMULATOR__MARKETS": "6",
        "POLYMON_SIMULATOR__RATE_PER_SEC": "300",
        "POLYMON_SIMULATOR__TRADE_RATIO": "0.2",
        "POLYMON_STORAGE__SNAPSHOT_INTERVAL_SECS": "1",
        "POLYMON_STORAGE__BATCH_MAX_AGE_SECS": "0.5",
    }
    log = tmp_path / "polymon.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "polymon", "run", "--simulate"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        sim = simulator_url(log, proc)
        wait_healthy(port, proc)
        call(f"{sim}/simulator/trades", "DELETE")  # every book is live: a clean ledger
        time.sleep(4)
        call(f"{sim}/simulator/pause", "POST")
        time.sleep(1)  # frames already sent reach the service
        sent = call(f"{sim}/simulator/trades")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = subprocess.run(
        [sys.executable, "-c", READ_BACK, f"chdb://{data / 'clickhouse'}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=os.environ | {"TZ": "America/Los_Angeles"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stored = json.loads(result.stdout.strip().splitlines()[-1])
    counts = {tid: n for tid, n, _ in stored["trades"]}
    times = {tid: ms for tid, _, ms in stored["trades"]}
    assert len(sent) > 20
    expected = {
        trade_id(t["asset_id"], t["timestamp"], t["price"], t["size"], t["side"],
                 t.get("transaction_hash", "")): int(t["timestamp"])
        for t in sent
    }  # fmt: skip
    missing = expected - counts.keys()
    assert not missing, f"{len(missing)} of {len(expected)} trades not stored"
    assert all(n == 1 for n in counts.values()), "a trade was stored twice"
    assert all(times[tid] == ms for tid, ms in expected.items()), "venue times moved"
    hours, misaligned_hours = stored["bbo"]
    assert hours > 0
    assert misaligned_hours == 0
    assert stored["snapshots"] > 0
    assert stored["markets"] == 6
    assert stored["misaligned_bars"] == 0
