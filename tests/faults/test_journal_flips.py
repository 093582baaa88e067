"""Bytes flipped in the journal between two runs: only the damaged records are lost, each is
counted in /health and /metrics and recorded as a gap row; everything else is replayed.

Run 1 journals while ClickHouse refuses connections and stops (SIGTERM: journal, exit 0).
Then a payload byte of two records and a header byte of a third are flipped. Run 2, with
ClickHouse back, replays the journals; run 1's ledger must miss exactly the damaged records'
rows.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import trio

from polymon.storage.journal import HEADER_SIZE
from tests.faults.conftest import storage_section
from tests.faults.harness import Polymon, Shim, Simulator, run_of, sim_config
from tests.faults.ledger import gap_rows, read_runs
from tests.faults.proxy import FaultProxy
from tests.storage.helpers import journal_records

pytestmark = pytest.mark.slow


def records(path: Path) -> list[tuple[int, int, int]]:
    """(offset, total length, rows) of each record of a journal file."""
    return [(offset, length, rows) for offset, length, rows, _, _ in journal_records(path)]


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


async def test_flipped_journal_bytes_cost_only_the_damaged_records(
    tmp_path: Path, shim: Shim, simulator: Simulator, database: str, nursery: trio.Nursery
) -> None:
    proxy = FaultProxy(shim.port)
    await nursery.start(proxy.run)
    storage = storage_section(proxy.port, database)
    pm = sim_config(simulator) | {"shards": 1}
    service = Polymon(tmp_path, {"polymarket": pm, "storage": storage})
    service.start()
    try:
        await service.wait_ready()
        first_run = run_of(service)
        proxy.set("refuse")
        await trio.sleep(4.0)
        status, secs = await service.stop(signal.SIGTERM)
        assert status == 0
        assert secs < 10
    finally:
        service.ensure_dead()
    journal = service.data_dir / "journal"
    levels, bbo = journal / "ob_level_changes.log", journal / "ob_bbo.log"
    level_records, bbo_records = records(levels), records(bbo)
    assert len(level_records) >= 5
    assert len(bbo_records) >= 3
    # Records in the middle: the run's last rows (its highest seqs) stay readable, so every
    # lost row shows as a seq missing below the highest one stored.
    damaged = {
        "ob_level_changes": [level_records[1][2], level_records[3][2]],
        "ob_bbo": [bbo_records[-2][2]],
    }
    offset, length, _ = level_records[1]
    flip(levels, offset + HEADER_SIZE + (length - HEADER_SIZE) // 2)  # payload
    flip(levels, level_records[3][0] + 5)  # header: the length field
    offset, length, _ = bbo_records[-2]
    flip(bbo, offset + length - 1)  # the record's last payload byte

    proxy.set("pass")
    service.start()
    try:
        await service.wait_ready(fresh=False)
        started = time.monotonic()
        while True:
            health = await service.health()
            tables = health["storage"]["tables"]
            if not health["storage"]["unavailable"] and not any(
                t["journal_batches"] for t in tables.values()
            ):
                break
            assert time.monotonic() - started < 60
            await trio.sleep(0.2)
        assert tables["ob_level_changes"]["journal_corrupt_records"] == 2
        assert tables["ob_level_changes"]["journal_lost_rows"] == damaged["ob_level_changes"][0]
        assert tables["ob_bbo"]["journal_corrupt_records"] == 1
        assert tables["ob_bbo"]["journal_lost_rows"] == damaged["ob_bbo"][0]
        assert tables["trade_ticks"]["journal_corrupt_records"] == 0
        metrics = (await service.get("/metrics")).text
        assert 'polymon_journal_corrupt_records_total{table="ob_level_changes"} 2.0' in metrics
        assert 'polymon_journal_lost_rows_total{table="ob_bbo"} ' in metrics
        await trio.sleep(1.0)  # the gap rows reach ClickHouse
        status, _ = await service.stop(signal.SIGTERM)
        assert status == 0
    finally:
        service.ensure_dead()
    store = shim.store(database)
    try:
        run = (await read_runs(store))[first_run]
        gaps = await gap_rows(store, "corrupt:%")
    finally:
        store.close()
    lost = sum(sum(rows) for rows in damaged.values())
    assert len(run.missing) == lost  # exactly the damaged records' rows, nothing else
    assert run.duplicates == {}
    by_table = {t: sorted(json.loads(g["detail"])["rows"] for g in gaps if g["reason"] ==
                          f"corrupt:{t}") for t in damaged}  # fmt: skip
    # The payload-damaged records with their row counts; the header-damaged one's rows are
    # unknown to the journal (0), its time span bounded by its neighbours.
    assert by_table["ob_level_changes"] == sorted([0, damaged["ob_level_changes"][0]])
    assert by_table["ob_bbo"] == [damaged["ob_bbo"][0]]
    assert all(g["resolution"] == "lost" and g["detected"] <= g["resolved"] for g in gaps)
    print(f"journal flips: {lost} rows in 3 damaged records lost of {run.max_seq},"
          " the rest replayed")  # fmt: skip
