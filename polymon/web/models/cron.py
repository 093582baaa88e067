"""Scheduled jobs (/cron/health)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from polymon.web.models.common import Number
from polymon.web.models.envelopes import Report

# Jobs return different things (a count, a summary object); the type is listed so the docs
# page's document model accepts the schema (it rejects one without `type`).
JobResult = Annotated[
    Any,
    msgspec.Meta(
        description="what the job returned (any JSON value; null when it failed)",
        extra_json_schema={"type": ["object", "array", "string", "number", "boolean", "null"]},
    ),
]


class JobRun(msgspec.Struct, frozen=True, kw_only=True):
    """One run of a job: when (epoch ms), how long (ms), whether it succeeded, and what it
    returned (`result`) or why it failed (`error`)."""

    started_at_ms: int
    ended_at_ms: int
    duration_ms: Number
    ok: bool
    error: str
    result: JobResult


class JobError(msgspec.Struct, frozen=True, kw_only=True):
    """A failed run: when it started (epoch ms) and why."""

    at_ms: int
    error: str


class JobHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One job: its interval (0: disabled), whether it is running, runs and failures, the
    last run (None before the first), when it runs next (None when disabled), recent runs and
    recent errors."""

    interval_secs: Number
    enabled: bool
    running: bool
    runs: int
    failures: int
    last_run: JobRun | None
    next_run_in_secs: Number | None
    recent_runs: list[JobRun]
    recent_errors: list[JobError]


class CronHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Every scheduled job, by name."""

    jobs: dict[str, JobHealth]


class CronReport(Report[CronHealth], frozen=True, kw_only=True):
    """/cron/health: every scheduled job."""
