"""The `polymon` command line: run, simulate, migrate, keys, bench, replay, backtest.

Exit status is 0 on a clean shutdown (SIGINT/SIGTERM) and non-zero with a one-line reason on
stderr for a bad config or a port in use.
"""

from __future__ import annotations

import contextlib
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
from polymon.logs import configure as configure_logs


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

    from polymon.files import adopt_owner
    from polymon.web.keys import KeyStore

    cfg = _load(config_path)
    data_dir = Path(cfg.service.data_dir)
    try:
        store = KeyStore(data_dir)
        record, key = store.create(name, tier)
    except PolymonError as e:
        _fail(str(e))
        return
    adopt_owner(data_dir, [store.path, data_dir / "pepper"])  # readable by the service's user
    click.echo(f"created key {record.key_id} ({record.name}, tier {record.tier})")
    click.echo(key)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def migrate(config_path: str | None) -> None:
    """Create or upgrade the ClickHouse schema (idempotent; embedded store: while stopped)."""
    from polymon.storage.store import open_store

    cfg = _load(config_path)
    configure_logs(cfg)

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
        _fail(str(e))
        return
    for warning in unit.warnings_for(options):
        click.echo(f"polymon systemd-unit: warning: {warning}", err=True)
    click.echo(unit.render_unit(options), nl=False)


def _time_ns(text: str | None, name: str) -> int | None:
    """A --from/--to value (Unix seconds or ISO 8601, UTC unless an offset) as epoch ns."""
    from polymon.web.http import parse_time_us

    if text is None:
        return None
    try:
        return parse_time_us(text, name) * 1000
    except PolymonError as e:
        _fail(str(e))
        raise  # unreachable: _fail exits


def _trigger_specs(path: str) -> list[Any]:
    """The trigger registration bodies in a JSON file (one object, or a list of them)."""
    from pathlib import Path

    import msgspec

    from polymon.core.triggers import decode_trigger_spec

    try:
        raw = msgspec.json.decode(Path(path).read_bytes())
    except (OSError, msgspec.DecodeError) as e:
        _fail(f"cannot read triggers from {path}: {e}")
    bodies = raw if isinstance(raw, list) else [raw]
    try:
        return [decode_trigger_spec(msgspec.json.encode(body)) for body in bodies]
    except PolymonError as e:
        _fail(f"{path}: {e}")
        raise  # unreachable: _fail exits


_RECORDINGS = click.argument("recordings", nargs=-1, required=True, type=click.Path(exists=True))
_FROM = click.option(
    "--from", "from_", default=None,
    help="Count from this time (Unix s or ISO 8601); earlier records only rebuild the books.",
)  # fmt: skip
_TO = click.option("--to", default=None, help="Stop at this time (Unix s or ISO 8601).")


@main.command()
@_RECORDINGS
@click.option("--speed", type=click.FloatRange(min=0), default=0.0,
              help="0: as fast as possible; 1: the recorded pace; N: N times faster.")  # fmt: skip
@_FROM
@_TO
@click.option("--events", "events_path", type=click.Path(dir_okay=False), default="-",
              help="Where fired events go, one JSON object a line (default stdout).")  # fmt: skip
@click.option("--books", "books_path", type=click.Path(dir_okay=False), default=None,
              help="Write the final books here, one JSON object a line.")  # fmt: skip
@click.option(
    "--triggers",
    "triggers_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="More triggers to evaluate: a JSON registration body or a list.",
)
@click.option("--no-recorded-triggers", is_flag=True, help="Leave out the recorded triggers.")
@click.option("--serve", is_flag=True, help="Serve the recording as a market WebSocket instead.")
@click.option("--host", default="127.0.0.1", help="Listen address with --serve.")
@click.option("--port", type=int, default=8790, help="Listen port with --serve (0: any).")
def replay(
    recordings: tuple[str, ...], speed: float, from_: str | None, to: str | None,
    events_path: str, books_path: str | None, triggers_path: str | None,
    no_recorded_triggers: bool, serve: bool, host: str, port: int,
) -> None:  # fmt: skip
    """Replay recorded feed files (or directories of them) through the live path: fired
    events as NDJSON, a summary (counts, digests of rows and books) on stderr; or, with
    --serve, serve them as the venue's market WebSocket (and Gamma) for any client."""
    import json
    from pathlib import Path

    from polymon.core.triggers import Trigger

    from_ns, to_ns = _time_ns(from_, "--from"), _time_ns(to, "--to")
    paths = [Path(p) for p in recordings]
    if serve:
        _serve_recording(paths, host, port, speed, from_ns, to_ns)
        return
    specs = _trigger_specs(triggers_path) if triggers_path else []
    triggers = [Trigger(trigger_id=f"trig_replay{i}", spec=s) for i, s in enumerate(specs)]

    with contextlib.ExitStack() as stack:
        out = (sys.stdout.buffer if events_path == "-"
               else stack.enter_context(open(events_path, "wb")))  # fmt: skip
        books = stack.enter_context(open(books_path, "wb")) if books_path else None

        async def _main() -> None:
            from polymon.service.replay import replay_files

            summary = await replay_files(
                paths, events=out, books=books, speed=speed, from_ns=from_ns, to_ns=to_ns,
                triggers=triggers, recorded_triggers=not no_recorded_triggers,
            )  # fmt: skip
            click.echo(json.dumps(summary), err=True)

        _run_trio(_main)


def _serve_recording(
    paths: list[Any], host: str, port: int, speed: float, from_ns: int | None, to_ns: int | None
) -> None:
    from polymon.polymarket.recording.serve import run_replay_server
    from polymon.service.replay import recording_paths

    files = recording_paths(paths)

    async def _main() -> None:
        await _until_signal(
            run_replay_server,
            files,
            host=host,
            port=port,
            speed=speed,
            from_ns=from_ns,
            to_ns=to_ns,
        )  # fmt: skip  (the server logs its address)

    _run_trio(_main)


@main.command()
@click.option("--trigger", "trigger_path", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="The trigger: a JSON registration body, as for POST /triggers.")  # fmt: skip
@_RECORDINGS
@_FROM
@_TO
@click.option("--max-events", type=click.IntRange(min=0), default=1000,
              help="Events listed in the result at most (all are counted).")  # fmt: skip
def backtest(
    trigger_path: str, recordings: tuple[str, ...], from_: str | None, to: str | None,
    max_events: int,
) -> None:  # fmt: skip
    """Run one trigger over recordings: what it would have fired, with counts (fired,
    suppressed by its cooldown, per UTC day), as one JSON document on stdout."""
    from pathlib import Path

    import msgspec

    specs = _trigger_specs(trigger_path)
    if len(specs) != 1:
        _fail(f"{trigger_path}: give exactly one trigger, not {len(specs)}")
    from_ns, to_ns = _time_ns(from_, "--from"), _time_ns(to, "--to")

    async def _main() -> None:
        from polymon.service.backtest import backtest_recordings

        result = await backtest_recordings(
            [Path(p) for p in recordings], specs[0], max_events=max_events,
            start_us=None if from_ns is None else from_ns // 1000,
            end_us=None if to_ns is None else to_ns // 1000,
        )  # fmt: skip
        click.echo(msgspec.json.format(msgspec.json.encode(result)).decode())

    _run_trio(_main)
