"""The server backend: the same Store, schema and writers over clickhouse-connect's HTTP client.

No ClickHouse server can be installed here (docs/clickhouse.md §1), so a shim process serves
the real 26.9 engine over ClickHouse's HTTP protocol on loopback.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from polymon.config import StorageConfig
from polymon.storage.connect import database_of
from polymon.storage.rows import BBO, TRADES
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet
from tests.storage.helpers import bbo_row, trade_row

pytestmark = pytest.mark.slow


@pytest.fixture
def shim_url(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shim = Path(__file__).with_name("chshim.py")
    proc = subprocess.Popen([sys.executable, str(shim), str(tmp_path / "engine"), str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "shim did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/remote"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_migrate_write_and_read_over_http(shim_url: str, tmp_path: Path) -> None:
    assert database_of(shim_url, "polymon") == "remote"
    store = Store(shim_url, database="remote", compress=False)
    try:
        applied = await store.migrate()
        assert len(applied) == 10
        assert await store.migrate() == []
        t = time.time_ns() // 1_000_000 - 60_000
        writers = WriterSet(store, StorageConfig(batch_max_age_secs=0.2), tmp_path)
        async with trio.open_nursery() as nursery:
            await nursery.start(writers.run)
            writers.put(BBO, [bbo_row(i, t + i, 480_000, 520_000) for i in range(100)])
            writers.put(TRADES, [trade_row(i, t + i, 500_000) for i in range(10)])
            writers.close_intake()
        rows = await store.query(
            "SELECT count(), toString(any(mid_price)) FROM remote.ob_bbo"
            " WHERE asset_id != {x:String}",
            {"x": ""},
        )
        assert rows == [(100, "0.5")]
        assert await store.query("SELECT sum(ticks) FROM remote.mv_ob_bbo_5m") == [(100,)]
        assert await store.query("SELECT count() FROM remote.trade_ticks") == [(10,)]
        assert await store.ping()
    finally:
        store.close()


async def test_an_unreachable_server_is_unavailable_not_fatal() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    store = Store(f"http://127.0.0.1:{port}/x", database="x", timeout_secs=2)
    try:
        assert not await store.ping()
    finally:
        store.close()
