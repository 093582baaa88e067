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
    """Run a service task until SIGINT/SIGTERM, then stop it cleanly.

    Signals are watched from the start: one that comes while the task is still starting
    cancels the start (whatever began flushes on its way out); after the start, the first
    asks the task to stop and every further one calls `stop()` again (the service then cuts
    its shutdown grace short).
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handles: list[Any] = []

            async def watch() -> None:
                async for _ in signals:
                    if not handles:
                        nursery.cancel_scope.cancel()
                        return
                    handles[0].stop()

            async def serve(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
                try:
                    await start(*args, task_status=task_status, **kwargs)
                finally:
                    nursery.cancel_scope.cancel()  # the task is over: stop watching signals

            nursery.start_soon(watch)
            handles.append(await nursery.start(serve))


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
        click.echo(f"{store.shown_url} database {store.database}: "
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
    help="Duration of each timed phase (the HTTP loads run at least 10 s each).",
)  # fmt: skip
@click.option("--markets", type=int, default=200, help="Simulated markets in the generated load.")
@click.option(
    "--only",
    type=click.Choice(["all", "engine", "http"]),
    default="all",
    help="engine: hot path, storage, triggers, alerts, loopback; http: the API under load.",
)
def bench(seconds: float, markets: int, only: str) -> None:
    """Measure the hot path, storage, alerts, the loopback end-to-end path and the HTTP API
    on this host."""
    if only in ("all", "engine"):
        from polymon.bench.run import run_bench

        run_bench(seconds=seconds, markets=markets)
    if only in ("all", "http"):
        from polymon.bench.http import bench_http

        print(bench_http(seconds=max(seconds, 10.0)), flush=True)
