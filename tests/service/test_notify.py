"""sd_notify against a real AF_UNIX datagram socket: readiness, status, watchdog, extensions."""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from polymon.service.main import Running, run_service
from polymon.service.notify import Notifier, Pulse, extending, problem_of, status_line, supervise


class Listener:
    """The service manager's end: a datagram socket that keeps every message it receives."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)
        self.notifiers: list[Notifier] = []

    def notifier(self, watchdog_usec: int | None = None) -> Notifier:
        """A notifier that sends here (closed with the listener)."""
        notifier = Notifier(self.address, watchdog_usec=watchdog_usec)
        self.notifiers.append(notifier)
        return notifier

    def close(self) -> None:
        for notifier in self.notifiers:
            notifier.close()
        self.sock.close()

    def messages(self) -> list[dict[str, str]]:
        """Every message received so far, decoded (non-blocking)."""
        out: list[dict[str, str]] = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return out
            out.append(dict(line.split("=", 1) for line in data.decode().split("\n")))


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    listener = Listener(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


def pulse(**fields: object) -> Pulse:
    values: dict[str, object] = {"assets": 10, "fresh": 10, "rows_stored": 5, "bootstrapped": True}
    return Pulse(**(values | fields))  # type: ignore[arg-type]


def test_messages_reach_a_path_socket(listener: Listener) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": listener.address})
    listener.notifiers.append(notifier)
    assert notifier.enabled
    assert notifier.send({"READY": "1", "STATUS": "ready: two\nlines"})
    assert notifier.stopping()
    assert listener.messages() == [
        {"READY": "1", "STATUS": "ready: two lines"},
        {"STOPPING": "1", "STATUS": "stopping: flushing writers"},
    ]


def test_messages_reach_an_abstract_socket() -> None:
    listener = Listener(f"@polymon-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": listener.address})
        listener.notifiers.append(notifier)
        assert notifier.send({"STATUS": "hello"})
        assert listener.messages() == [{"STATUS": "hello"}]
    finally:
        listener.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.send({"READY": "1"})
    assert notifier.sent == notifier.failed == 0


def test_a_vanished_manager_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "nobody.sock")})
    assert not notifier.send({"READY": "1"})
    assert notifier.failed == 1
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "secs"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_comes_from_the_environment(
    environ: dict[str, str], secs: float | None
) -> None:
    assert Notifier.from_environ({"NOTIFY_SOCKET": "/x"} | environ).watchdog_secs == secs


async def test_ready_once_bootstrapped_with_a_fresh_book_then_status_and_watchdog(
    listener: Listener, autojump_clock: trio.testing.MockClock
) -> None:
    notifier = listener.notifier(4_000_000)  # ping every 2 s
    current = pulse(bootstrapped=False, fresh=0, rows_stored=0)

    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, notifier, lambda: current)
        await trio.sleep(1)
        starting = listener.messages()
        current = pulse(fresh=0, rows_stored=0)  # bootstrapped, no book yet
        await trio.sleep(1)
        waiting = listener.messages()
        current = pulse(fresh=3, rows_stored=0)
        await trio.sleep(0.3)
        became_ready = listener.messages()
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    after = listener.messages()
    assert (
        starting[0]["STATUS"]
        == "starting: bootstrapping from Gamma: 10 assets, 0 fresh, 0 rows stored"
    )
    assert all("READY" not in m for m in starting + waiting)
    assert waiting[0]["STATUS"].startswith("starting: waiting for the first book")
    assert [m for m in became_ready if "READY" in m] == [
        {"READY": "1", "STATUS": "ready: 10 assets, 3 fresh, 0 rows stored", "WATCHDOG": "1"}
    ]
    assert all("READY" not in m for m in after)
    assert 4 <= sum(m.get("WATCHDOG") == "1" for m in after) <= 6  # every 2 s for 10 s


async def test_status_follows_the_counts(
    listener: Listener, autojump_clock: trio.testing.MockClock
) -> None:
    rows = iter(range(0, 10_000_000, 1_234_567))
    notifier = listener.notifier()  # no watchdog: status every 5 s
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, notifier, lambda: pulse(rows_stored=next(rows)))
        await trio.sleep(11)
        nursery.cancel_scope.cancel()
    statuses = [m["STATUS"] for m in listener.messages()]
    assert statuses == [
        "ready: 10 assets, 10 fresh, 0 rows stored",
        "ready: 10 assets, 10 fresh, 1,234,567 rows stored",
        "ready: 10 assets, 10 fresh, 2,469,134 rows stored",
    ]


async def test_silent_open_connections_stop_the_watchdog(
    listener: Listener, autojump_clock: trio.testing.MockClock
) -> None:
    notifier = listener.notifier(2_000_000)
    current = pulse()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, notifier, lambda: current)
        await trio.sleep(3)
        healthy = listener.messages()
        current = pulse(silent_connections=2)
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    wedged = listener.messages()
    assert sum("WATCHDOG" in m for m in healthy) >= 3
    assert wedged
    assert all("WATCHDOG" not in m for m in wedged)
    assert wedged[0]["STATUS"].startswith(
        "unhealthy (2 open connections read nothing), watchdog not fed"
    )


def test_problem_and_status_lines() -> None:
    assert problem_of(pulse(), 0.01, 5.0) == ""
    assert problem_of(pulse(), 6.04, 5.0) == "event loop stalled 6.0 s"
    line = status_line(pulse(storage_outage=True, bootstrapped=False, bootstrap_error="HTTP 503"))
    assert line == (
        "starting: bootstrap failed, retrying (HTTP 503): 10 assets, 10 fresh, 0 rows stored"
        .replace("0 rows", "5 rows") + "; ClickHouse unavailable, journaling"
    )  # fmt: skip
    assert pulse(assets=0, fresh=0).ready
    assert not pulse(fresh=0).ready
    assert not pulse(bootstrapped=False).ready


def test_a_blocked_event_loop_stops_the_watchdog(listener: Listener) -> None:
    """Real time: a task that blocks the loop for 1.5 s (a synchronous call gone wrong) means no
    WATCHDOG=1 for that long, and the first tick after it reports the stall instead of pinging."""
    arrivals: list[tuple[float, dict[str, str]]] = []
    listener.sock.setblocking(True)
    listener.sock.settimeout(5)

    def receive() -> None:
        while True:
            try:
                data = listener.sock.recv(4096)
            except (TimeoutError, OSError):
                return
            message = dict(line.split("=", 1) for line in data.decode().split("\n"))
            arrivals.append((time.monotonic(), message))
            if "STOPPING" in message:
                return

    thread = threading.Thread(target=receive)
    thread.start()
    notifier = listener.notifier(200_000)  # ping every 0.1 s

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial_supervise, notifier)
            await trio.sleep(0.6)
            time.sleep(1.5)  # noqa: ASYNC251 (the point: the whole loop stops here)
            await trio.sleep(0.6)
            nursery.cancel_scope.cancel()
        notifier.stopping()

    trio.run(main)
    thread.join(10)
    pings = [t for t, m in arrivals if m.get("WATCHDOG") == "1"]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) >= 1.4  # nothing fed the watchdog while the loop was blocked
    assert sum(g >= 1.4 for g in gaps) == 1
    stalled = [m for _, m in arrivals if "stalled" in m.get("STATUS", "")]
    assert stalled
    assert all("WATCHDOG" not in m for m in stalled)
    after = [t for t in pings if t > max(t for t, m in arrivals if m in stalled)]
    assert len(after) >= 3  # and pings resume once the loop runs again


async def partial_supervise(
    notifier: Notifier, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    await supervise(notifier, pulse, max_lag_secs=1.0, task_status=task_status)


async def test_extending_asks_for_more_time_while_the_body_runs(
    listener: Listener, autojump_clock: trio.testing.MockClock
) -> None:
    notifier = listener.notifier()
    async with extending(notifier, "starting: applying schema migrations", period_secs=10):
        await trio.sleep(25)
    await trio.sleep(30)
    messages = listener.messages()
    assert (
        messages
        == [{"EXTEND_TIMEOUT_USEC": "30000000", "STATUS": "starting: applying schema migrations"}]
        * 3
    )


async def test_extending_without_systemd_does_nothing() -> None:
    async with extending(Notifier(None), "migrating"):
        await trio.lowlevel.checkpoint()


@pytest.mark.slow
async def test_the_service_reports_to_systemd(
    listener: Listener, tmp_path: Path, storage_url: str, database: str
) -> None:
    """In process, real time: migrations extend the start timeout, READY=1 comes once books are
    fresh (not before the bootstrap), the status counts them, and the stop says STOPPING=1."""
    from tests.service.test_simulated_service import service_config

    cfg = service_config(tmp_path, storage_url, database)
    notifier = listener.notifier(watchdog_usec=1_000_000)
    stopped = trio.Event()

    async def run(task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await run_service(cfg, simulate=True, notifier=notifier, task_status=task_status)
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        handle: Running = await nursery.start(run)
        seen: list[dict[str, str]] = []
        with trio.fail_after(30):
            while not any("READY" in m for m in seen):
                seen += listener.messages()
                await trio.sleep(0.05)
            handle.service.health()  # asks the census for a pass (counts can be a pass old)
            await trio.sleep(1.2)
            books = handle.service.health()["books"]
        handle.stop()
        with trio.fail_after(20):
            await stopped.wait()
    seen += listener.messages()
    kinds = [next(iter(m)) for m in seen]
    assert kinds[0] == "EXTEND_TIMEOUT_USEC"
    ready = next(i for i, m in enumerate(seen) if "READY" in m)
    assert all("READY" not in m for m in seen[ready + 1 :])
    counts = re.fullmatch(
        r"ready: 16 assets, (\d+) fresh, [\d,]+ rows stored", seen[ready]["STATUS"]
    )
    assert counts, seen[ready]
    assert int(counts[1]) >= 1
    assert books.get("fresh", 0) >= 1
    assert any(m.get("WATCHDOG") == "1" for m in seen[ready + 1 :])
    assert seen[-1] == {"STOPPING": "1", "STATUS": "stopping: flushing writers"}
