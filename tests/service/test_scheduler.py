"""The job scheduler on a mock clock: when jobs run, what each run records, and failures."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from polymon.errors import NotFound, VenueError
from polymon.service.scheduler import Scheduler

WALL0 = 1_790_000_000_000


def virtual_wall_ms() -> int:
    return WALL0 + round(trio.current_time() * 1000)


def scheduler() -> Scheduler:
    return Scheduler(history=5, max_errors=3, clock_ms=virtual_wall_ms)


def job_health(s: Scheduler, name: str) -> dict[str, Any]:
    jobs: dict[str, Any] = s.health()["jobs"]  # type: ignore[assignment]
    return jobs[name]  # type: ignore[no-any-return]


async def test_jobs_run_at_every_multiple_of_their_interval(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    s = scheduler()
    times: dict[str, list[float]] = {"fast": [], "slow": []}
    start = trio.current_time()

    async def record(name: str) -> int:
        times[name].append(trio.current_time() - start)
        await trio.sleep(0.5)  # a run takes time: the schedule does not drift by it
        return len(times[name])

    s.add("fast", 2.0, lambda: record("fast"))
    s.add("slow", 5.0, lambda: record("slow"))
    await nursery.start(s.run)
    await trio.sleep(10.7)
    assert times == {"fast": [2.0, 4.0, 6.0, 8.0, 10.0], "slow": [5.0, 10.0]}
    health = job_health(s, "fast")
    assert health["runs"] == 5
    assert health["failures"] == 0
    assert health["running"] is False
    assert health["last_run"] == {
        "started_at_ms": WALL0 + 10_000,
        "ended_at_ms": WALL0 + 10_500,
        "duration_ms": 500.0,
        "ok": True,
        "error": "",
        "result": 5,
    }
    assert health["next_run_in_secs"] == pytest.approx(1.3)
    assert len(health["recent_runs"]) == 5
    assert job_health(s, "slow")["next_run_in_secs"] == pytest.approx(4.3)


async def test_a_failing_job_is_recorded_keeps_its_schedule_and_errors_can_be_cleared(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    s = scheduler()
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) % 2:
            raise VenueError("Gamma answered 500")
        return "fine"

    async def buggy() -> None:
        raise KeyError("oops")

    s.add("flaky", 1.0, flaky)
    s.add("buggy", 3.0, buggy)
    await nursery.start(s.run)
    await trio.sleep(9.5)
    assert len(calls) == 9
    flaky_health = job_health(s, "flaky")
    assert (flaky_health["runs"], flaky_health["failures"]) == (9, 5)
    assert flaky_health["last_run"]["ok"] is False
    assert flaky_health["last_run"]["error"] == "VenueError: Gamma answered 500"
    # only the last `max_errors` failures are kept, oldest first
    errors = flaky_health["recent_errors"]
    assert [e["at_ms"] for e in errors] == [WALL0 + 5_000, WALL0 + 7_000, WALL0 + 9_000]
    assert job_health(s, "buggy")["failures"] == 3
    assert job_health(s, "buggy")["last_run"]["error"] == "KeyError: 'oops'"

    assert s.clear_errors() == 6
    assert s.clear_errors() == 0
    assert job_health(s, "flaky")["recent_errors"] == []
    assert job_health(s, "flaky")["failures"] == 5  # counters stay
    await trio.sleep(1.0)
    assert len(calls) == 10  # still on schedule
    assert job_health(s, "flaky")["last_run"]["result"] == "fine"


async def test_run_now_runs_at_once_and_leaves_the_schedule_alone(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    s = scheduler()
    runs: list[float] = []

    async def job() -> dict[str, int]:
        runs.append(trio.current_time())
        await trio.sleep(1.0)
        return {"new": 2}

    s.add("lifecycle_check", 10.0, job)
    await nursery.start(s.run)
    await trio.sleep(3.0)
    record = await s.run_now("lifecycle_check")
    assert record == {
        "job": "lifecycle_check",
        "started_at_ms": WALL0 + 3_000,
        "ended_at_ms": WALL0 + 4_000,
        "duration_ms": 1000.0,
        "ok": True,
        "error": "",
        "result": {"new": 2},
    }
    await trio.sleep(6.5)
    assert runs == [3.0, 10.0]
    with pytest.raises(NotFound):
        await s.run_now("nope")


async def test_run_now_waits_for_a_run_in_progress(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    s = scheduler()
    inside = 0
    most = 0

    async def job() -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await trio.sleep(2.0)
        inside -= 1

    s.add("slow", 1.0, job)
    await nursery.start(s.run)
    await trio.sleep(1.5)
    assert job_health(s, "slow")["running"] is True
    record = await s.run_now("slow")
    assert record["started_at_ms"] == WALL0 + 3_000
    assert most == 1


async def test_a_zero_interval_disables_the_schedule_but_not_run_now(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    s = scheduler()
    runs: list[float] = []

    async def job() -> None:
        runs.append(trio.current_time())

    s.add("snapshots", 0, job)
    await nursery.start(s.run)
    await trio.sleep(100)
    assert runs == []
    health = job_health(s, "snapshots")
    assert (health["enabled"], health["next_run_in_secs"], health["last_run"]) == (
        False,
        None,
        None,
    )
    assert (await s.run_now("snapshots"))["ok"] is True
    assert job_health(s, "snapshots")["runs"] == 1


async def test_jobs_added_while_running_are_scheduled_and_bad_jobs_are_refused(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    s = scheduler()
    await nursery.start(s.run)
    runs: list[float] = []

    async def job() -> None:
        runs.append(trio.current_time())

    s.add("late", 2.0, job)
    await trio.sleep(4.5)
    assert len(runs) == 2
    with pytest.raises(ValueError, match="already"):
        s.add("late", 1.0, job)
    with pytest.raises(ValueError, match="interval"):
        s.add("negative", -1.0, job)
    assert s.names == ["late"]


async def test_cancellation_is_never_recorded_as_a_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = scheduler()

    async def forever() -> None:
        await trio.sleep_forever()

    s.add("forever", 1.0, forever)
    async with trio.open_nursery() as nursery:
        await nursery.start(s.run)
        await trio.sleep(2.0)
        assert job_health(s, "forever")["running"] is True
        nursery.cancel_scope.cancel()
    health = job_health(s, "forever")
    assert (health["runs"], health["failures"], health["running"]) == (0, 0, False)
