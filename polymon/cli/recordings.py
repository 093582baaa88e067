"""The recording commands: replay (or serve) a feed recording, backtest triggers on one."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from polymon.cli.base import fail, main, run_trio, until_signal
from polymon.errors import PolymonError


def _time_ns(text: str | None, name: str) -> int | None:
    """A --from/--to value (Unix seconds or ISO 8601, UTC unless an offset) as epoch ns."""
    from polymon.web.http import parse_time_us

    if text is None:
        return None
    try:
        return parse_time_us(text, name) * 1000
    except PolymonError as e:
        fail(str(e))
        raise  # unreachable: fail exits


def _trigger_specs(path: str) -> list[Any]:
    """The trigger registration bodies in a JSON file (one object, or a list of them)."""
    from pathlib import Path

    import msgspec

    from polymon.core.triggers import decode_trigger_spec

    try:
        raw = msgspec.json.decode(Path(path).read_bytes())
    except (OSError, msgspec.DecodeError) as e:
        fail(f"cannot read triggers from {path}: {e}")
    bodies = raw if isinstance(raw, list) else [raw]
    try:
        return [decode_trigger_spec(msgspec.json.encode(body)) for body in bodies]
    except PolymonError as e:
        fail(f"{path}: {e}")
        raise  # unreachable: fail exits


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

        run_trio(_main)


def _serve_recording(
    paths: list[Any], host: str, port: int, speed: float, from_ns: int | None, to_ns: int | None
) -> None:
    from polymon.polymarket.recording.serve import run_replay_server
    from polymon.service.replay import recording_paths

    files = recording_paths(paths)

    async def _main() -> None:
        await until_signal(
            run_replay_server,
            files,
            host=host,
            port=port,
            speed=speed,
            from_ns=from_ns,
            to_ns=to_ns,
        )  # fmt: skip  (the server logs its address)

    run_trio(_main)


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
        fail(f"{trigger_path}: give exactly one trigger, not {len(specs)}")
    from_ns, to_ns = _time_ns(from_, "--from"), _time_ns(to, "--to")

    async def _main() -> None:
        from polymon.service.backtest import backtest_recordings

        result = await backtest_recordings(
            [Path(p) for p in recordings], specs[0], max_events=max_events,
            start_us=None if from_ns is None else from_ns // 1000,
            end_us=None if to_ns is None else to_ns // 1000,
        )  # fmt: skip
        click.echo(msgspec.json.format(msgspec.json.encode(result)).decode())

    run_trio(_main)
