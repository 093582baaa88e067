"""The service commands: run, keys, migrate, simulate, bench, systemd-unit."""

from __future__ import annotations

from typing import Any

import click
import trio

from polymon.cli.base import fail, load, main, run_trio, until_signal
from polymon.config import Config, load_config
from polymon.errors import PolymonError
from polymon.logs import configure as configure_logs


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

    cfg = load(config_path)
    configure_logs(cfg)

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
        await until_signal(started)

    run_trio(_main)


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

    from polymon.files import adopt_owner
    from polymon.web.keys import KeyStore

    cfg = load(config_path)
    data_dir = Path(cfg.service.data_dir)
    try:
        store = KeyStore(data_dir)
        record, key = store.create(name, tier)
    except PolymonError as e:
        fail(str(e))
        return
    adopt_owner(data_dir, [store.path, data_dir / "pepper"])  # readable by the service's user
    click.echo(f"created key {record.key_id} ({record.name}, tier {record.tier})")
    click.echo(key)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def migrate(config_path: str | None) -> None:
    """Create or upgrade the ClickHouse schema (idempotent; embedded store: while stopped)."""
    from polymon.storage.store import open_store

    cfg = load(config_path)
    configure_logs(cfg)

    async def _main() -> None:
        store = open_store(cfg.storage_url, cfg.storage)
        try:
            applied = await store.migrate()
        finally:
            store.close()
        click.echo(f"{store.shown_url} database {store.database}: "
                   + (f"applied {', '.join(applied)}" if applied else "up to date"))  # fmt: skip

    run_trio(_main)


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
    cfg = load(config_path, {"simulator": {k: v for k, v in flags.items() if v is not None}})

    async def _main() -> None:
        await until_signal(_serve_simulator, cfg)

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

    run_trio(_main)


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


@main.command("systemd-unit")
@click.option(
    "--user", default=None,
    help="Run as this existing system user (default: DynamicUser=yes, a user made per start).",
)  # fmt: skip
@click.option(
    "--config", "config_path", default=None,
    help="The config file the service reads (default: /etc/polymon/config.toml).",
)  # fmt: skip
def systemd_unit(user: str | None, config_path: str | None) -> None:
    """Print a systemd unit for this installation (README: Deploy shows how to install it)."""
    from pathlib import Path

    from polymon import systemd_unit as unit

    path = config_path or unit.CONFIG_PATH
    try:
        # The unit's own settings, not this shell's: POLYMON_* here would not reach the service.
        cfg = load_config(path if Path(path).is_file() else None, environ={})
        options = unit.options_for(
            cfg, python=unit.current_python(), config_path=str(Path(path).absolute()), user=user
        )
    except (PolymonError, ValueError) as e:
        fail(str(e))
        return
    for warning in unit.warnings_for(options):
        click.echo(f"polymon systemd-unit: warning: {warning}", err=True)
    click.echo(unit.render_unit(options), nl=False)
