"""systemd's notify protocol without libsystemd: readiness, status, watchdog, start-up extensions.

A message is one datagram of `KEY=value` lines sent to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (a leading `@` names an abstract socket). Outside systemd the variable is unset
and every call is a no-op.

`supervise` is the Trio task that speaks for the service: `READY=1` once storage is up, the
bootstrap is done and the first book is fresh; `STATUS=` with assets, fresh books and stored rows;
`WATCHDOG=1` every half `$WATCHDOG_USEC`, but only while the process is healthy: the task itself
woke on time (event-loop lag under `max_lag_secs`, 5 s) and no open venue connection has gone
without a frame for `stall_secs` (60 s; its own 30 s silence timeout should have reconnected it).
A stalled loop runs no task, so it stops feeding the watchdog and systemd restarts the service.
`extending` sends `EXTEND_TIMEOUT_USEC=` while a long start-up step (schema migrations) runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import msgspec
import trio

from polymon.core.model import BookStatus
from polymon.polymarket.feed import ConnState
from polymon.service.shards import Shard
from polymon.storage.writer_set import WriterSet

MAX_LAG_SECS = 5.0
STALL_SECS = 60.0
STATUS_SECS = 5.0
STARTING_SECS = 0.25  # how often readiness is checked before READY=1
EXTEND_PERIOD_SECS = 10.0


class Notifier:
    """Sends sd_notify messages to one socket; never raises (a lost datagram is counted)."""

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_secs = watchdog_usec / 1e6 if watchdog_usec else None
        self.sent = 0
        self.failed = 0
        self._socket: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for ($NOTIFY_SOCKET; $WATCHDOG_USEC when $WATCHDOG_PID is
        unset or this process)."""
        environ = os.environ if environ is None else environ
        watchdog = None
        pid = environ.get("WATCHDOG_PID", "")
        if environ.get("WATCHDOG_USEC", "").isdigit() and pid in ("", str(os.getpid())):
            watchdog = int(environ["WATCHDOG_USEC"]) or None
        return cls(environ.get("NOTIFY_SOCKET") or None, watchdog_usec=watchdog)

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self.address is not None

    def send(self, fields: Mapping[str, str]) -> bool:
        """Send one message (`{"READY": "1", "STATUS": "..."}`); False if not delivered."""
        if self.address is None or not fields:
            return False
        message = "\n".join(f"{k}={v.replace(chr(10), ' ')}" for k, v in fields.items())
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)
                self._socket = sock
            self._socket.sendto(message.encode(), address)
        except OSError:
            self.failed += 1
            return False
        self.sent += 1
        return True

    def stopping(self, status: str = "stopping: flushing writers") -> bool:
        """Tell systemd the shutdown has begun."""
        return self.send({"STOPPING": "1", "STATUS": status})

    def close(self) -> None:
        """Close the socket (a later send opens a new one)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Pulse(msgspec.Struct, frozen=True, kw_only=True):
    """What the service's status line and health checks read, taken at one instant."""

    assets: int
    fresh: int
    rows_stored: int
    bootstrapped: bool
    bootstrap_error: str = ""
    storage_outage: bool = False
    silent_connections: int = 0  # open connections without a frame for stall_secs

    @property
    def ready(self) -> bool:
        """Bootstrapped with the first book fresh (or nothing to track)."""
        return self.bootstrapped and (self.fresh > 0 or self.assets == 0)


def service_pulse(
    shards: Sequence[Shard],
    books: Callable[[], Mapping[str, int]],
    writers: WriterSet | None,
    bootstrapped: trio.Event,
    bootstrap_error: Callable[[], str],
    stall_secs: float = STALL_SECS,
) -> Callable[[], Pulse]:
    """A function that takes the service's pulse now: books by status from `books` (the
    census, so no walk over every asset), the rest O(shards + connections) per call."""

    def pulse() -> Pulse:
        now = trio.current_time()
        assets = silent = 0
        for shard in shards:
            assets += len(shard.state.assets)
            silent += sum(
                c.state == ConnState.OPEN and now - c.last_frame > stall_secs
                for c in shard.connections
            )
        rows = 0 if writers is None else sum(w.stats.rows_written for w in writers.writers.values())
        return Pulse(
            assets=assets, fresh=books().get(BookStatus.FRESH, 0), rows_stored=rows,
            bootstrapped=bootstrapped.is_set(), bootstrap_error=bootstrap_error(),
            silent_connections=silent, storage_outage=writers is not None and writers.unavailable,
        )  # fmt: skip

    return pulse


def status_line(pulse: Pulse, problem: str = "") -> str:
    """One line for `systemctl status`: the state, assets, fresh books and stored rows."""
    counts = f"{pulse.assets:,} assets, {pulse.fresh:,} fresh, {pulse.rows_stored:,} rows stored"
    if problem:
        state = f"unhealthy ({problem}), watchdog not fed"
    elif pulse.ready:
        state = "ready"
    elif pulse.bootstrap_error:
        state = f"starting: bootstrap failed, retrying ({pulse.bootstrap_error[:200]})"
    elif not pulse.bootstrapped:
        state = "starting: bootstrapping from Gamma"
    else:
        state = "starting: waiting for the first book"
    storage = "; ClickHouse unavailable, journaling" if pulse.storage_outage else ""
    return f"{state}: {counts}{storage}"


def problem_of(pulse: Pulse, lag_secs: float, max_lag_secs: float) -> str:
    """Why the watchdog must not be fed now, or "" when healthy."""
    if lag_secs > max_lag_secs:
        return f"event loop stalled {lag_secs:.1f} s"
    if pulse.silent_connections:
        return f"{pulse.silent_connections} open connections read nothing"
    return ""


async def supervise(
    notifier: Notifier,
    pulse: Callable[[], Pulse],
    *,
    max_lag_secs: float = MAX_LAG_SECS,
    status_secs: float = STATUS_SECS,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Report readiness, status and watchdog pings to systemd until cancelled."""
    task_status.started()
    if not notifier.enabled:
        return
    period = status_secs
    if notifier.watchdog_secs is not None:
        period = min(period, notifier.watchdog_secs / 2)
    ready = False
    last_status = ""
    tick = 0.0
    woke = trio.current_time()
    while True:
        await trio.sleep(tick)
        now = trio.current_time()
        lag, woke = now - woke - tick, now
        current = pulse()
        problem = problem_of(current, lag, max_lag_secs)
        fields: dict[str, str] = {}
        if not ready and current.ready:
            ready = True
            fields["READY"] = "1"
        status = status_line(current, problem)
        if status != last_status:
            fields["STATUS"] = last_status = status
        if notifier.watchdog_secs is not None and not problem:
            fields["WATCHDOG"] = "1"
        notifier.send(fields)
        tick = period if ready else min(period, STARTING_SECS)


@contextlib.asynccontextmanager
async def extending(
    notifier: Notifier, what: str, *, period_secs: float = EXTEND_PERIOD_SECS
) -> AsyncIterator[None]:
    """While the body runs, ask systemd every `period_secs` for 3 × that much more start-up (or
    shutdown) time, with `STATUS=<what>`; nothing outside systemd."""
    if not notifier.enabled:
        yield
        return
    usec = str(math.ceil(3 * period_secs * 1e6))

    async def keep_extending() -> None:
        while True:
            notifier.send({"EXTEND_TIMEOUT_USEC": usec, "STATUS": what})
            await trio.sleep(period_secs)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_extending, name="systemd-extend")
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()
