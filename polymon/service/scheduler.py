"""Named periodic jobs on trio's clock, every run recorded for `/cron/health`.

A job is a name, an interval and an async callable. Each enabled job (interval > 0) runs at
start + k × interval on trio's clock; a run that overruns its slot skips the missed slots
rather than bursting. A job never runs twice at once: `run_now` waits for a scheduled run in
progress, and the other way round. Every run is recorded (wall-clock start and end in epoch
ms, duration measured on trio's clock, outcome, error text, the job's result); the last
`history` runs and the last `max_errors` failures are kept per job. A job that raises is
recorded and logged and keeps its schedule: only cancellation ends the scheduler.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
import trio

from polymon.clock import wall_ms
from polymon.errors import NotFound, PolymonError

log = logging.getLogger("polymon.scheduler")

JobFunc = Callable[[], Awaitable[object]]
# Failures the venue, storage or the network cause; anything else is a bug, logged in full.
_EXPECTED = (PolymonError, OSError, httpx.HTTPError)


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One run of a job: when (epoch ms), how long (ms), whether it succeeded, and what it
    returned (`result`, JSON-able) or why it failed (`error`)."""

    started_at_ms: int
    ended_at_ms: int
    duration_ms: float
    ok: bool
    error: str = ""
    result: Any = None


class _Job:
    def __init__(
        self, name: str, interval_secs: float, func: JobFunc, history: int, max_errors: int
    ) -> None:
        self.name = name
        self.interval_secs = interval_secs
        self.func = func
        self.history: deque[RunRecord] = deque(maxlen=history)
        self.errors: deque[RunRecord] = deque(maxlen=max_errors)
        self.runs = 0
        self.failures = 0
        self.next_at: float | None = None
        self.running = False
        self.lock = trio.Lock()


def _builtins(value: object) -> Any:
    try:
        return msgspec.to_builtins(value)
    except TypeError:
        return repr(value)[:200]


class Scheduler:
    """Periodic jobs, their run history and their health."""

    def __init__(
        self,
        *,
        history: int = 20,
        max_errors: int = 20,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self._history = history
        self._max_errors = max_errors
        self._clock_ms = clock_ms
        self._jobs: dict[str, _Job] = {}
        self._nursery: trio.Nursery | None = None

    def add(self, name: str, interval_secs: float, func: JobFunc) -> None:
        """Register a job; `interval_secs` = 0 keeps it for `run_now` but never schedules it.

        May be called before or after `run` started. ValueError for a duplicate name or a
        negative or non-finite interval.
        """
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already scheduled")
        if not (math.isfinite(interval_secs) and interval_secs >= 0):
            raise ValueError(f"job {name!r}: interval must be a finite number >= 0")
        job = _Job(name, interval_secs, func, self._history, self._max_errors)
        self._jobs[name] = job
        if self._nursery is not None:
            self._start(self._nursery, job)

    @property
    def names(self) -> list[str]:
        """Every job's name, in the order they were added."""
        return list(self._jobs)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every enabled job on its schedule until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                for job in self._jobs.values():
                    self._start(nursery, job)
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()  # jobs added later start here too
        finally:
            self._nursery = None

    def _start(self, nursery: trio.Nursery, job: _Job) -> None:
        if job.interval_secs > 0:
            nursery.start_soon(self._loop, job, name=f"cron-{job.name}")

    async def _loop(self, job: _Job) -> None:
        interval = job.interval_secs
        next_at = trio.current_time() + interval
        while True:
            job.next_at = next_at
            await trio.sleep_until(next_at)
            await self._run(job)
            now = trio.current_time()
            next_at += interval
            if next_at <= now:  # overran: skip the missed slots, keep the cadence
                next_at += math.ceil((now - next_at) / interval + 1e-9) * interval

    async def _run(self, job: _Job) -> RunRecord:
        async with job.lock:
            job.running = True
            started_ms = self._clock_ms()
            start = trio.current_time()
            result: object = None
            error = ""
            try:
                result = await job.func()
            except _EXPECTED as e:
                error = f"{type(e).__name__}: {e}"
                log.warning("job %s failed: %s", job.name, error)
            except Exception as e:  # a bug in a job is recorded, not fatal to the service
                error = f"{type(e).__name__}: {e}"
                log.exception("job %s failed", job.name)
            finally:
                job.running = False
            duration_ms = round((trio.current_time() - start) * 1000, 3)
            record = RunRecord(
                started_at_ms=started_ms,
                ended_at_ms=started_ms + round(duration_ms),
                duration_ms=duration_ms,
                ok=not error,
                error=error[:1000],
                result=_builtins(result) if not error else None,
            )
            job.runs += 1
            job.history.append(record)
            if error:
                job.failures += 1
                job.errors.append(record)
            return record

    async def run_now(self, name: str) -> dict[str, object]:
        """Run a job at once (after a run in progress, if any) and return its record; the
        schedule is unchanged. A failing run is returned with `ok` false, not raised.
        NotFound for an unknown job."""
        job = self._jobs.get(name)
        if job is None:
            raise NotFound(f"no scheduled job {name[:80]!r}; known: {', '.join(self._jobs)}")
        record = await self._run(job)
        return {"job": name, **msgspec.to_builtins(record)}

    def clear_errors(self) -> int:
        """Forget every job's recent errors (counters stay); returns how many were cleared."""
        cleared = 0
        for job in self._jobs.values():
            cleared += len(job.errors)
            job.errors.clear()
        return cleared

    def health(self) -> dict[str, object]:
        """Every job: its interval, last run, counts, recent runs and errors, and when it runs
        next (`next_run_in_secs`, None when disabled)."""
        now = trio.current_time()
        jobs: dict[str, object] = {}
        for job in self._jobs.values():
            enabled = job.interval_secs > 0
            last = job.history[-1] if job.history else None
            jobs[job.name] = {
                "interval_secs": job.interval_secs,
                "enabled": enabled,
                "running": job.running,
                "runs": job.runs,
                "failures": job.failures,
                "last_run": None if last is None else msgspec.to_builtins(last),
                "next_run_in_secs": (
                    max(0.0, round(job.next_at - now, 3))
                    if enabled and job.next_at is not None
                    else None
                ),
                "recent_runs": [msgspec.to_builtins(r) for r in job.history],
                "recent_errors": [{"at_ms": r.started_at_ms, "error": r.error} for r in job.errors],
            }
        return {"jobs": jobs}
