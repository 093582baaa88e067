"""Processes for the fault suite: the real `polymon run`, the simulated exchange and a
ClickHouse HTTP endpoint (the chDB shim), each its own subprocess on loopback.

Waiting is async (trio sleeps), so a test can drive a `FaultProxy` in its own event loop while
these processes run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import trio

from polymon.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "storage" / "chshim.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml(config: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document of sections of scalars and lists (enough for polymon's config)."""
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


def _env() -> dict[str, str]:
    # This checkout wins over an installed polymon, in every subprocess.
    path = os.environ.get("PYTHONPATH", "")
    return {k: v for k, v in os.environ.items() if not k.startswith("POLYMON_")} | {
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
    }


async def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not listen within {limit} s"
            await trio.sleep(0.1)


async def raw_http(
    port: int, request: bytes, *, until: bytes = b"\r\n\r\n", limit: float = 5.0
) -> bytes:
    """Send raw bytes to 127.0.0.1:`port` and read until `until` is seen (or the peer closes,
    or `limit` seconds pass); returns what was read."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    data = b""
    async with stream:
        await stream.send_all(request)
        with trio.move_on_after(limit):
            while until not in data:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    break
                if not chunk:
                    break
                data += chunk
    return data


class Child:
    """A subprocess with its output in a log file."""

    def __init__(self, argv: list[str], log: Path, cwd: Path) -> None:
        self.argv = argv
        self.log_path = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **popen: Any) -> None:
        assert self.proc is None or self.proc.poll() is not None
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT, **popen
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    async def stop(self, sig: int = signal.SIGTERM, limit: float = 30) -> tuple[int, float]:
        """Send `sig`, wait for the exit; returns (exit status, seconds taken)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        while self.proc.poll() is None:
            if time.monotonic() - started > limit:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.argv[2:4]} did not exit within {limit} s")
            await trio.sleep(0.02)
        return self.proc.returncode, time.monotonic() - started

    def ensure_dead(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()


class Shim(Child):
    """ClickHouse over HTTP: the chDB shim, its engine in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(
            [sys.executable, str(SHIM), str(directory / "engine"), str(self.port)],
            directory / "shim.log", directory,
        )  # fmt: skip

    def store(self, database: str) -> Store:
        return Store(f"http://127.0.0.1:{self.port}/{database}", database=database, compress=False)


class Simulator(Child):
    """`polymon simulate` on its own port."""

    def __init__(self, directory: Path, **simulator: Any) -> None:
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "simulator.toml"
        config.write_text(toml({"simulator": simulator}))
        super().__init__(
            [sys.executable, "-m", "polymon", "simulate", "--config", str(config),
             "--port", str(self.port)],
            directory / "simulator.log", directory,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def control(self, action: str) -> None:
        """POST /simulator/<action> (pause, resume)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            assert (await client.post(f"/simulator/{action}")).status_code == 200

    async def tokens(self) -> list[str]:
        """Every token id the exchange lists (Gamma's JSON-in-a-string field)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            markets = (await client.get("/markets", params={"limit": 100})).json()
        return [t for m in markets for t in json.loads(m["clobTokenIds"])]


class Polymon(Child):
    """`polymon run --config` with a config of sections (`polymarket` URLs point at `sim`)."""

    def __init__(
        self,
        directory: Path,
        config: Mapping[str, Mapping[str, Any]],
        *,
        data_dir: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.directory = directory
        self.data_dir = data_dir or directory / "data"
        directory.mkdir(parents=True, exist_ok=True)
        sections: dict[str, dict[str, Any]] = {k: dict(v) for k, v in config.items()}
        sections.setdefault("service", {})["data_dir"] = str(self.data_dir)
        sections.setdefault("http", {}).update(port=self.port)
        self.config_path = directory / "polymon.toml"
        self.config_path.write_text(toml(sections))
        super().__init__(
            [sys.executable, "-m", "polymon", "run", "--config", str(self.config_path)],
            directory / "polymon.log", directory,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            return await client.get(path, **kwargs)

    async def health(self) -> dict[str, Any]:
        response = await self.get("/health")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_ready(
        self, *, fresh: bool = True, bootstrapped: bool = True, limit: float = 60
    ) -> dict[str, Any]:
        """Wait until /health answers, bootstrapped (unless not asked) and, with `fresh`,
        every book fresh."""
        deadline = time.monotonic() + limit
        while True:
            assert self.running, f"polymon exited:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"polymon not ready:\n{self.log()[-3000:]}"
            try:
                health = await self.health()
            except (httpx.HTTPError, OSError):
                await trio.sleep(0.1)
                continue
            books = health["books"]
            if not bootstrapped:
                return health
            if (
                health["bootstrapped"]
                and health["assets"]
                and (not fresh or books.get("fresh") == health["assets"])
            ):
                return health
            await trio.sleep(0.1)


def run_of(service: Polymon) -> str:
    """The id of the run now (or last) using `service`'s data directory (its run marker)."""
    return str(json.loads((service.data_dir / "run.json").read_bytes())["run_id"])


def sim_config(sim: Simulator) -> dict[str, Any]:
    """The [polymarket] section pointing at the simulator, with quick reconnects."""
    return {
        "ws_url": f"ws://127.0.0.1:{sim.port}/ws/market",
        "clob_url": sim.url,
        "gamma_url": sim.url,
        "shards": 2,
        "connection_stagger_secs": 0.0,
        "reconnect_min_secs": 0.1,
        "reconnect_max_secs": 0.5,
    }
