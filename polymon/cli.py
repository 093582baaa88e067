"""The `polymon` command line: run, simulate, migrate, keys, bench.

Exit status is 0 on a clean shutdown (SIGINT/SIGTERM) and non-zero with a one-line reason on
stderr for a bad config or a port in use.
"""

from __future__ import annotations

import errno
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import click
import trio

from polymon.config import Config, load_config
from polymon.errors import PolymonError, first_error


def _fail(message: str) -> None:
    click.echo(f"polymon: {message}", err=True)
    sys.exit(2)


def _load(path: str | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    try:
        return load_config(path, overrides=overrides)
    except PolymonError as e:
        _fail(str(e))
        raise  # unreachable: _fail exits


async def _until_signal(start: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
    """Run a service task until SIGINT/SIGTERM, then stop it cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(partial(start, *args, **kwargs))
            async for _ in signals:
                break
            handle.stop()


def _run_trio(main: Callable[[], Awaitable[None]]) -> None:
    try:
        trio.run(main)
    except* OSError as group:
        error = first_error(group)
        if error.errno == errno.EADDRINUSE:
            _fail(f"address already in use: {error.strerror}")
        _fail(f"{type(error).__name__}: {error}")
    except* PolymonError as group:
        _fail(str(first_error(group)))


@click.group()
def main() -> None:
    """polymon: live Polymarket L2 books, alerts and ClickHouse history in one process."""
    # Logs go to stdout (journald collects it); stderr is kept for the one-line failure reason.
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: ./config.toml if present, else built-in defaults).",
)
@click.option("--simulate", is_flag=True, help="Use a simulated exchange started in-process.")
def run(config_path: str | None, simulate: bool) -> None:
    """Run the service: ingest, books, HTTP API."""
    from polymon.runtime import tune_runtime
    from polymon.service.main import Running, run_service

    cfg = _load(config_path)
    logging.getLogger().setLevel(cfg.service.log_level.upper())

    async def started(task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED) -> None:
        tuner = trio.CancelScope()

        async def serve(task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await run_service(cfg, simulate=simulate, task_status=task_status)
            finally:
                tuner.cancel()  # stopped before bootstrapping: nothing left to tune

        async def tune(handle: Running) -> None:
            with tuner:
                await handle.service.bootstrapped.wait()
                tune_runtime()  # the start-up heap is built: freeze it out of the GC

        async with trio.open_nursery() as nursery:
            handle: Running = await nursery.start(serve)
            nursery.start_soon(tune, handle)
            task_status.started(handle)

    async def _main() -> None:
        await _until_signal(started)

    _run_trio(_main)


@main.group()
def keys() -> None:
    """API keys for the protected routes."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option("--tier", type=click.Choice(["free", "pro", "enterprise"]), default="pro")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def keys_create(name: str, tier: str, config_path: str | None) -> None:
    """Create an API key; the key is the last line printed (only its hash is stored)."""
    from pathlib import Path

    from polymon.web.keys import KeyStore

    cfg = _load(config_path)
    try:
        record, key = KeyStore(Path(cfg.service.data_dir)).create(name, tier)
    except PolymonError as e:
        _fail(str(e))
        return
    click.echo(f"created key {record.key_id} ({record.name}, tier {record.tier})")
    click.echo(key)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def migrate(config_path: str | None) -> None:
    """Create or upgrade the ClickHouse schema (idempotent; embedded store: while stopped)."""
    from polymon.storage.store import open_store

    cfg = _load(config_path)

    async def _main() -> None:
        store = open_store(cfg.storage_url, cfg.storage)
        try:
            applied = await store.migrate()
        finally:
            store.close()
        click.echo(f"{store.url} database {store.database}: "
                   + (f"applied {', '.join(applied)}" if applied else "up to date"))  # fmt: skip

    _run_trio(_main)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option("--port", type=int, default=None, help="Listen port (default 8788).")
@click.option("--markets", type=int, default=None, help="Number of binary markets.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same books).")
def simulate(
    config_path: str | None, port: int | None, markets: int | None, seed: int | None
) -> None:
    """Run only the simulated exchange (Gamma, CLOB REST and the market WebSocket on one port)."""
    from polymon.polymarket.simulator.server import run_simulator

    flags = {"port": 8788 if port is None else port, "markets": markets, "seed": seed}
    cfg = _load(config_path, {"simulator": {k: v for k, v in flags.items() if v is not None}})

    async def _main() -> None:
        await _until_signal(_serve_simulator, cfg)

    async def _serve_simulator(
        cfg: Config, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            sim = await nursery.start(run_simulator, cfg.simulator)
            click.echo(f"simulated exchange on {sim.http_url} (ws: {sim.ws_url})", err=True)
            stop = trio.Event()

            class _Handle:
                def stop(self) -> None:
                    stop.set()

            task_status.started(_Handle())
            await stop.wait()
            nursery.cancel_scope.cancel()

    _run_trio(_main)


@main.command()
@click.option(
    "--seconds", type=float, default=5.0,
    help="Duration of each timed phase (the HTTP loads run at least 10 s each, the --scale"
    " window at least 60 s).",
)  # fmt: skip
@click.option("--markets", type=int, default=200, help="Simulated markets in the generated load.")
@click.option(
    "--only",
    type=click.Choice(["all", "engine", "http"]),
    default="all",
    help="engine: hot path, storage, triggers, alerts, loopback; http: the API under load.",
)
@click.option(
    "--scale", is_flag=True,
    help="Only the whole-venue phase: a simulator with --tokens tokens in its own process.",
)  # fmt: skip
@click.option("--tokens", type=int, default=25_000, help="Tokens of the --scale venue.")
@click.option("--rate", type=float, default=1_000.0, help="--scale simulator events per second.")
@click.option(
    "--hash-mode", type=click.Choice(["off", "observe", "resync"]), default="observe",
    help="--scale: integrity.hash_mode of the measured polymon.",
)  # fmt: skip
def bench(
    seconds: float, markets: int, only: str, scale: bool, tokens: int, rate: float, hash_mode: str
) -> None:
    """Measure the hot path, storage, alerts, the loopback end-to-end path and the HTTP API
    on this host (or, with --scale, the whole venue in one process)."""
    if scale:
        from polymon.bench.scale import bench_scale

        print(bench_scale(tokens=tokens, rate=rate, hash_mode=hash_mode,
                          seconds=max(seconds, 60.0)), flush=True)  # fmt: skip
        return
    if only in ("all", "engine"):
        from polymon.bench.run import run_bench

        run_bench(seconds=seconds, markets=markets)
    if only in ("all", "http"):
        from polymon.bench.http import bench_http

        print(bench_http(seconds=max(seconds, 10.0)), flush=True)
