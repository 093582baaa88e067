"""The fault suite's shared processes: one ClickHouse HTTP endpoint (the chDB shim) and one
simulated exchange for the whole session; every test runs its own `polymon run` against them
with a database of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Child, Shim, Simulator


def _wait_listening(child: Child, port: int, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        assert child.running, child.log()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"not listening within {limit} s"
            time.sleep(0.1)


@pytest.fixture(scope="session")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    child = Shim(tmp_path_factory.mktemp("shim"))
    child.start()
    try:
        _wait_listening(child, child.port)
        yield child
    finally:
        child.ensure_dead()


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    child = Simulator(
        tmp_path_factory.mktemp("simulator"), markets=10, seed=7, rate_per_sec=300.0,
        trade_ratio=0.1,
    )  # fmt: skip
    child.start()
    try:
        _wait_listening(child, child.port)
        yield child
    finally:
        child.ensure_dead()


@pytest.fixture
def database() -> str:
    return f"faults_{uuid.uuid4().hex[:10]}"


def storage_section(port: int, database: str, **more: object) -> dict[str, object]:
    """[storage] for a ClickHouse HTTP endpoint on `port` (the shim takes no compression)."""
    return {
        "url": f"http://127.0.0.1:{port}/{database}", "compress": False,
        "probe_interval_secs": 0.5, "snapshot_interval_secs": 5.0, **more,
    }  # fmt: skip


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


SMALL_DISK_BYTES = 256 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, int | None]]:
    """A directory on a 256 KiB tmpfs, mounted for the test (root only), and None; else a
    plain directory and the per-file size limit (RLIMIT_FSIZE) that stands in for a full
    disk: writes past it fail with EFBIG, as they fail with ENOSPC on a full disk."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:  # POLYMON_TEST_NO_TMPFS=1: the RLIMIT_FSIZE stand-in, as on a CI host without mount
        mounted = not os.environ.get("POLYMON_TEST_NO_TMPFS") and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES}", "tmpfs", str(mount)],
            capture_output=True, check=False,
        ).returncode == 0  # fmt: skip
    except OSError:  # no mount(8)
        mounted = False
    if not mounted:
        yield mount, SMALL_DISK_BYTES
        return
    try:
        yield mount, None
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
