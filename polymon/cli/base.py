"""What every `polymon` command shares: the command group, config loading, the one-line
failure exit and running a Trio task until SIGINT/SIGTERM.

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


def fail(message: str) -> None:
    click.echo(f"polymon: {message}", err=True)
    sys.exit(2)


def load(path: str | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    try:
        return load_config(path, overrides=overrides)
    except PolymonError as e:
        fail(str(e))
        raise  # unreachable: fail exits


async def until_signal(start: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
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


def run_trio(main: Callable[[], Awaitable[None]]) -> None:
    try:
        trio.run(main)
    except* OSError as group:
        error = first_error(group)
        if error.errno == errno.EADDRINUSE:
            fail(f"address already in use: {error.strerror}")
        fail(f"{type(error).__name__}: {error}")
    except* PolymonError as group:
        fail(str(first_error(group)))


@click.group()
def main() -> None:
    """polymon: live Polymarket L2 books, alerts and ClickHouse history in one process."""
    # Logs go to stdout (journald collects it); stderr is kept for the one-line failure reason.
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
