"""polymon as a systemd service: the generated unit (systemd-analyze security and verify), the
embedded engine under MemoryDenyWriteExecute, and `polymon run` speaking sd_notify, reading its
credentials and logging JSON, all as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from polymon.config import CREDENTIALS, Config, load_config
from polymon.systemd_unit import STATE_DIR, UnitOptions, options_for, render_unit, warnings_for
from polymon.web.keys import KeyStore
from tests import sandbox

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = Path(sandbox.__file__)
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (Debian: apt-get install systemd)"
)
SENTINEL = "Sentinel-Cred-Pa55-91c4"


def unit_text(**options: object) -> str:
    base: dict[str, object] = {"python": sys.executable}
    return render_unit(UnitOptions(**(base | options)))  # type: ignore[arg-type]


def directives(text: str) -> list[tuple[str, str]]:
    """(key, value) of every setting line, in order."""
    settings = [line.partition("=") for line in text.splitlines() if line[:1] not in "#[" and line]
    return [(key, value) for key, _, value in settings]


# -- the unit -------------------------------------------------------------------------------


def test_the_unit_has_notify_watchdog_state_credentials_and_the_sandbox() -> None:
    found = directives(unit_text())
    settings = dict(found)
    for key, value in {
        "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30",
        "Restart": "on-failure", "DynamicUser": "yes", "StateDirectory": "polymon",
        "ConfigurationDirectory": "polymon", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "NoNewPrivileges": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "", "UMask": "0077",
        "Environment": f"POLYMON_SERVICE__DATA_DIR=%S/{Path(STATE_DIR).name}",
    }.items():  # fmt: skip
        assert settings.get(key) == value, key
    assert ("SystemCallFilter", "@system-service") in found
    assert (
        settings["ExecStart"]
        == f"{sys.executable} -m polymon run --config /etc/polymon/config.toml"
    )
    loaded = sorted(v for k, v in found if k == "LoadCredential")
    assert loaded == [f"{name}:polymon.{name}" for name in sorted(CREDENTIALS)]


def test_a_named_user_and_a_config_path() -> None:
    settings = dict(directives(unit_text(user="polymon", config_path="/srv/polymon.toml")))
    assert settings["User"] == settings["Group"] == "polymon"
    assert "DynamicUser" not in settings
    assert settings["ExecStart"].endswith("run --config /srv/polymon.toml")


def test_options_follow_the_config() -> None:
    overrides = {"http": {"port": 443}, "storage": {"url": "chdb:///srv/ch"}}
    low = load_config(None, environ={}, overrides=overrides)
    options = options_for(low, python="/opt/polymon/bin/python", config_path="/x", user=None)
    settings = dict(directives(render_unit(options)))
    assert settings["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert settings["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert "PrivateUsers" not in settings  # would void the capability
    assert settings["ReadWritePaths"] == "/srv/ch"
    inside = load_config(None, environ={}, overrides={"storage": {"url": f"chdb://{STATE_DIR}/ch"}})
    assert options_for(inside, python="/p", config_path="/x", user=None).storage_dirs == ()
    with pytest.raises(ValueError, match="root"):
        options_for(Config(), python="/p", config_path="/x", user="root")
    with pytest.raises(ValueError, match="user"):
        options_for(Config(), python="/p", config_path="/x", user="bad name;")


def test_an_interpreter_under_home_is_warned_about() -> None:
    assert warnings_for(UnitOptions(python="/opt/polymon/bin/python")) == []
    [warning] = warnings_for(UnitOptions(python="/root/.venv/bin/python"))
    assert "ProtectHome" in warning


@needs_analyze
@pytest.mark.parametrize(
    ("options", "limit"),
    [({}, 1.5), ({"user": "polymon"}, 1.5), ({"http_port": 80}, 2.0)],
    ids=["dynamic-user", "named-user", "port-80"],
)
def test_systemd_analyze_security_rates_the_unit_ok(
    tmp_path: Path, options: dict[str, object], limit: float
) -> None:
    unit = tmp_path / "polymon.service"
    unit.write_text(unit_text(**options))
    threshold = f"--threshold={int(limit * 10)}"
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", threshold, "--no-pager", str(unit)],  # type: ignore[list-item]
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for polymon\.service: ([\d.]+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= limit
    assert match[2] == "OK"
    assert result.returncode == 0, result.stderr


@needs_analyze
@pytest.mark.parametrize("options", [{}, {"user": "polymon"}, {"http_port": 80}])
def test_systemd_analyze_verify_has_nothing_to_say(
    tmp_path: Path, options: dict[str, object]
) -> None:
    unit = tmp_path / "polymon.service"
    unit.write_text(unit_text(**options))
    result = subprocess.run(
        [ANALYZE, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,  # type: ignore[list-item]
    )
    assert result.returncode == 0
    assert result.stderr == ""


def test_polymon_systemd_unit_prints_it(tmp_path: Path) -> None:
    config = tmp_path / "polymon.toml"
    config.write_text(f'[storage]\npassword = "{SENTINEL}"\n')
    env = os.environ | {"POLYMON_STORAGE__PASSWORD": SENTINEL}
    result = subprocess.run(
        [sys.executable, "-m", "polymon", "systemd-unit", "--user", "svc", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"--config {config}\n" in result.stdout
    assert "User=svc\n" in result.stdout
    assert SENTINEL not in result.stdout  # secrets travel as credentials, never in the unit
    bad = subprocess.run(
        [sys.executable, "-m", "polymon", "systemd-unit", "--user", "root"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1


# -- MemoryDenyWriteExecute -----------------------------------------------------------------

MDWE_MODES = [
    pytest.param(
        "mdwe-prctl",
        marks=pytest.mark.skipif(not sandbox.mdwe_prctl_supported(), reason="no PR_SET_MDWE"),
    ),
    pytest.param(
        "mdwe-seccomp",
        marks=pytest.mark.skipif(not sandbox.seccomp_supported(), reason="x86-64 filter only"),
    ),
]
PROBE = """
import sys, trio
from polymon.storage.store import Store

JIT = " SETTINGS compile_expressions=1, compile_aggregate_expressions=1, compile_sort_description=1"

async def main() -> None:
    store = Store("chdb://" + sys.argv[1], database="probe")
    await store.migrate()
    await store.command(
        "CREATE TABLE probe.t (a UInt64, b Float64, s String) ENGINE = MergeTree ORDER BY a")
    await store.command(
        "INSERT INTO probe.t SELECT number, number * 1.5, toString(number % 7) FROM numbers(1e5)")
    sql = ("SELECT s, sum(a * 2 + b * 3 - 1), avg(b + a * a) FROM probe.t WHERE a * 3 + 1 > b"
           " GROUP BY s ORDER BY s" + (JIT if "--engine-defaults" in sys.argv else ""))
    for _ in range(6):  # the engine compiles an expression once it has seen it 3 times
        rows = await store.query(sql)
    print("rows", len(rows))
    store.close()

trio.run(main)
"""


def probe(tmp_path: Path, mode: str, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SANDBOX), mode, sys.executable, "-c", PROBE]
    return subprocess.run(
        [*command, str(tmp_path / "ch"), *flags], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", MDWE_MODES)
def test_the_embedded_engine_runs_under_memory_deny_write_execute(
    tmp_path: Path, mode: str
) -> None:
    """polymon's sessions turn the JIT off, so repeated queries work under W^X; with the engine's
    defaults the same queries fail, which shows the rule is in force and what the settings fix."""
    ours = probe(tmp_path, mode)
    assert ours.returncode == 0, ours.stderr[-2000:]
    assert ours.stdout.strip() == "rows 7"
    defaults = probe(tmp_path / "defaults", mode, "--engine-defaults")
    assert defaults.returncode != 0
    assert "CANNOT_MPROTECT" in defaults.stderr


# -- polymon run as systemd starts it -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, body: bytes | None = None, key: str = "") -> tuple[int, bytes]:
    """GET (or POST `body`) with an optional API key; (status, body)."""
    request = urllib.request.Request(url, data=body, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def sandbox_modes() -> list[str]:
    """What the unit's MemoryDenyWriteExecute= and ~@resources do, as far as this host allows."""
    modes = []
    if sandbox.seccomp_supported():
        modes += ["mdwe-seccomp", "no-resources"]
    elif sandbox.mdwe_prctl_supported():
        modes.append("mdwe-prctl")
    return modes


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def receive(sock: socket.socket, into: list[dict[str, str]]) -> None:
    """Append every waiting message to `into`."""
    while True:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            return
        into.append(dict(line.split("=", 1) for line in data.decode().split("\n")))


@pytest.mark.slow
def test_polymon_run_under_systemd_conditions(tmp_path: Path, notify_socket: socket.socket) -> None:
    """`polymon run --simulate` with a notify socket, a watchdog, a credentials directory and
    JSON logs, under the unit's W^X and @resources rules: READY=1 after books are fresh, status
    and watchdog while it runs, stored history served, no watchdog while frozen, STOPPING=1 and
    exit 0 on SIGTERM; every stdout line is JSON and the credential's secret is in none of them."""
    port = free_port()
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "storage_password").write_text(SENTINEL + "\n")
    env = os.environ | {
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "2000000",
        "CREDENTIALS_DIRECTORY": str(credentials),
        "POLYMON_LOG__FORMAT": "json",
        "POLYMON_HTTP__PORT": str(port),
        "POLYMON_SERVICE__DATA_DIR": str(tmp_path / "data"),
        "POLYMON_SIMULATOR__MARKETS": "5",
        "POLYMON_STORAGE__SNAPSHOT_INTERVAL_SECS": "2",
    }
    _record, api_key = KeyStore(tmp_path / "data").create("ops", "pro")
    modes = sandbox_modes()
    prefix = [sys.executable, str(SANDBOX), ",".join(modes)] if modes else []
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "polymon", "run", "--simulate"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    messages: list[dict[str, str]] = []
    try:
        deadline = time.monotonic() + 60
        while not any("READY" in m for m in messages):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, messages
            receive(notify_socket, messages)
        status, body = get(f"http://127.0.0.1:{port}/health")
        assert status == 200
        health = json.loads(body)
        assert health["books"].get("fresh", 0) >= 1
        time.sleep(3)  # metadata, a few batches and one snapshot stored
        market = json.loads(get(f"http://127.0.0.1:{port}/api/v1/markets?limit=1")[1])["items"][0]
        asset = market["token_ids"][0]
        for _ in range(4):  # the same queries again and again: what the JIT would compile
            assert get(f"http://127.0.0.1:{port}/api/v1/ohlc/{asset}?interval=1m&hours=1")[0] == 200
            assert get(f"http://127.0.0.1:{port}/api/v1/markets/{asset}")[0] == 200
        trigger = {"asset_id": asset, "condition": {"type": "SPREAD_WIDE", "threshold": 0.5}}
        status, body = get(
            f"http://127.0.0.1:{port}/triggers", json.dumps(trigger).encode(), key=api_key
        )
        assert status == 201, body
        trigger_id = json.loads(body)["trigger_id"]
        receive(notify_socket, messages)
        # A frozen process (SIGSTOP standing in for a blocked event loop) sends nothing; once it
        # runs again its first tick reports the stall instead of feeding the watchdog.
        before_stop = len(messages)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(7)  # > 5 s of lag however far the 1 s tick had got
        receive(notify_socket, messages)
        assert len(messages) == before_stop
        proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while sum("WATCHDOG" in m for m in messages[before_stop:]) < 2:
            assert time.monotonic() < deadline, messages[before_stop:]
            receive(notify_socket, messages)
        resumed = messages[before_stop:]
        assert resumed[0]["STATUS"].startswith("unhealthy (event loop stalled ")
        assert "WATCHDOG" not in resumed[0]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        receive(notify_socket, messages)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err[-3000:]
    ready = next(i for i, m in enumerate(messages) if "READY" in m)
    assert messages[ready]["STATUS"].startswith("ready: 10 assets, ")
    assert any(m.get("WATCHDOG") == "1" for m in messages[ready:])
    assert any(re.search(r" [1-9][\d,]* rows stored", m.get("STATUS", "")) for m in messages)
    assert messages[-1] == {"STOPPING": "1", "STATUS": "stopping: flushing writers"}
    lines = out.splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"timestamp", "level", "logger", "message"} <= set(record)
    registered = [r for r in map(json.loads, lines) if r.get("trigger_id") == trigger_id]
    assert registered[0]["asset"] == asset
    assert registered[0]["logger"] == "polymon.triggers"
    assert SENTINEL not in out + err
    assert api_key.rpartition("_")[2] not in out + err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (as an admin creating keys for a unit)")
def test_keys_created_by_root_belong_to_the_state_directory_owner(tmp_path: Path) -> None:
    """`sudo polymon keys create` in /var/lib/polymon must leave files the service can read."""
    data = tmp_path / "state"
    data.mkdir()
    os.chown(data, 65534, 65534)
    env = os.environ | {"POLYMON_SERVICE__DATA_DIR": str(data)}
    result = subprocess.run(
        [sys.executable, "-m", "polymon", "keys", "create", "--name", "ops"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("keys.json", "pepper"):
        stat = (data / name).stat()
        assert (stat.st_uid, stat.st_gid) == (65534, 65534), name
        assert stat.st_mode & 0o077 == 0
