"""The `polymon` command as a user runs it: a real subprocess, signals and exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def polymon(
    tmp_path: Path, *args: str, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = (
        os.environ
        | (env or {})
        | {
            "POLYMON_HTTP__PORT": str(port),
            "POLYMON_SERVICE__DATA_DIR": str(tmp_path / "data"),
            "POLYMON_SIMULATOR__MARKETS": "5",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "polymon", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def wait_healthy(port: int, proc: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            health = get_json(f"http://127.0.0.1:{port}/health")
        except OSError:
            time.sleep(0.2)
            continue
        if health["bootstrapped"] and health["books"].get("fresh") == health["assets"]:  # type: ignore[union-attr]
            return health
        time.sleep(0.2)
    raise AssertionError("service did not become healthy")


def test_run_simulate_serves_books_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = polymon(tmp_path, "run", "--simulate", port=port)
    try:
        health = wait_healthy(port, proc)
        assert health["assets"] == 10
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[http]\nprot = 1\n")
    proc = polymon(tmp_path, "run", "--config", "bad.toml", port=free_port())
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.count("\n") == 1
    assert "prot" in err


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = polymon(tmp_path, "run", "--simulate", port=busy.getsockname()[1])
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "in use" in err
    assert err.strip().count("\n") == 0


def test_migrate_creates_the_schema_once(tmp_path: Path) -> None:
    env = os.environ | {"POLYMON_SERVICE__DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "polymon", "migrate"]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "applied 001_ob_bbo" in first.stdout
    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout


def test_a_locked_embedded_store_is_a_one_line_error(tmp_path: Path) -> None:
    port = free_port()
    proc = polymon(tmp_path, "run", "--simulate", port=port)
    try:
        wait_healthy(port, proc)
        env = os.environ | {"POLYMON_SERVICE__DATA_DIR": str(tmp_path / "data")}
        other = subprocess.run([sys.executable, "-m", "polymon", "migrate"], cwd=tmp_path,
                               env=env, capture_output=True, text=True)  # fmt: skip
        assert other.returncode == 2
        assert other.stderr.startswith("polymon: the embedded store")
        assert other.stderr.count("\n") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
