"""Serving the app with hypercorn under Trio, with a cheaper keep-alive idle timer.

hypercorn times out idle keep-alive connections with a task: after every response it starts a
new one (`TrioSingleTask.restart`, a `nursery.start`) and when the next request arrives it
cancels it. Under keep-alive load that churn is about a sixth of the event loop, more than
polymon's own orderbook path. `KeepAliveConnection` keeps hypercorn's behaviour exactly (an
idle connection closes `keep_alive_timeout` seconds after its last response; a request in
flight is never timed out; server shutdown closes idle connections and lets busy ones finish)
with one task per connection waiting under a cancel scope whose deadline moves, which costs a
few attribute writes per request. Exactly includes hypercorn's blind spot: a connection that
opens HTTP/2 with prior knowledge and never sends a request is never reported idle.

It also skips the empty write h11 produces for the end of a sized body, which would otherwise
take the send lock and a checkpoint for nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn.trio.run as worker
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Event, RawData
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import TrioSingleTask
from hypercorn.typing import Event as ServerEvent
from hypercorn.typing import TaskGroup

log = logging.getLogger(__name__)


class IdleTimer(TrioSingleTask):
    """Closes a connection that stays idle for `timeout_s`: a drop-in for hypercorn's idle task.

    `restart` (the connection turned idle) and `stop` (a request arrived) are O(1): they move the
    deadline of one cancel scope, waited on by the connection's one timer task (spawned by the
    first `restart`). As with hypercorn's: server shutdown closes an idle connection at once
    and leaves a busy one to finish its response. `end` (the connection is gone) ends the task.
    """

    def __init__(
        self, timeout_s: float, terminated: ServerEvent, close: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__()
        self._timeout_s = timeout_s
        self._terminated = terminated
        self._close = close
        self._scope: trio.CancelScope | None = None  # the waiting task's, while it waits
        self._idle = False
        self._ended = False

    async def restart(self, task_group: TaskGroup, action: Callable[..., Any]) -> None:
        """The connection is idle from now: close it `timeout_s` from now unless `stop` comes
        first. (`action`, hypercorn's own timeout task, is replaced by this timer.)"""
        if self._ended:
            return
        self._idle = True
        deadline = trio.current_time() + self._timeout_s
        if self._scope is None:
            self._scope = trio.CancelScope(deadline=deadline)
            task_group.spawn(self._wait, self._scope)
        else:
            self._scope.deadline = deadline

    async def stop(self) -> None:
        """A request is in flight: no timeout until the next `restart`."""
        self._idle = False
        if self._scope is not None:
            self._scope.deadline = math.inf

    def end(self) -> None:
        """The connection is gone: stop waiting, close nothing."""
        self._ended = True
        if self._scope is not None:
            self._scope.cancel()

    async def _wait(self, scope: trio.CancelScope) -> None:
        with scope:
            await self._terminated.wait()
        if self._scope is scope:
            self._scope = None  # a later `restart` waits anew
        # Not idle: shutdown came during a request (hypercorn closes the connection after the
        # response), or a request arrived as the deadline passed.
        if self._idle and not self._ended:
            with trio.CancelScope(shield=True):
                await self._close()


class KeepAliveConnection(TCPServer):
    """hypercorn's per-connection server with `IdleTimer` as its idle task."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.idle_timer = IdleTimer(
            self.config.keep_alive_timeout, self.context.terminated, self._initiate_server_close
        )
        self.idle_task = self.idle_timer

    async def protocol_send(self, event: Event) -> None:
        """As hypercorn's, minus empty writes."""
        if isinstance(event, RawData) and not event.data:
            return
        await super().protocol_send(event)

    async def _read_data(self) -> None:
        # Reading ends when the peer or the server closes the connection; the timer task must
        # end with it, or a connection dropped mid-request would wait for shutdown.
        try:
            await super()._read_data()
        finally:
            self.idle_timer.end()


_WORKER_CLASS = "TCPServer"  # the name hypercorn's Trio worker builds each connection with
_EXTENDED = ("protocol_send", "_read_data", "_initiate_server_close")  # what the subclass uses


def install() -> bool:
    """Make hypercorn's Trio worker serve connections with `KeepAliveConnection`; idempotent.

    Returns False, leaving hypercorn as it is, if its worker no longer uses the class this one
    extends or that class lacks a method it overrides or calls (a hypercorn release changed
    them): serving then works as stock hypercorn does.
    """
    current = getattr(worker, _WORKER_CLASS)
    if current is KeepAliveConnection:
        return True
    if current is not TCPServer or not all(hasattr(TCPServer, name) for name in _EXTENDED):
        log.warning("hypercorn's TCPServer is not the one extended here: stock idle timer kept")
        return False
    setattr(worker, _WORKER_CLASS, KeepAliveConnection)
    return True


async def serve(
    app: Any,
    config: HypercornConfig,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the ASGI `app` with hypercorn (`KeepAliveConnection` installed) until the
    shutdown trigger returns; reports the bound URLs when listening."""
    install()
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)
