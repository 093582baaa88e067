"""/health and the /test/* diagnostics."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from polymon.web.models.lifecycle import LifecycleStatus


class StorageHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The ClickHouse writers: whether storage is enabled (nothing else is listed when it is
    not), whether any writer is in an outage, rows the shards could not hand over, and each
    table writer's counters (rows in / written / journaled / replayed / dropped, backlog,
    journal size and damage)."""

    enabled: bool
    unavailable: bool | UnsetType = UNSET
    sink_rows_dropped: int | UnsetType = UNSET
    tables: dict[str, dict[str, Any]] | UnsetType = UNSET


class RecordingHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The feed recorder: whether it is enabled (nothing else is listed when it is not), its
    directory, run id and open file (None between files), records and bytes written, files,
    records waiting, dropped and write errors, and the files repaired at start."""

    enabled: bool
    dir: str | UnsetType = UNSET
    run_id: str | UnsetType = UNSET
    file: str | UnsetType | None = UNSET
    records: int | UnsetType = UNSET
    bytes: int | UnsetType = UNSET
    files: int | UnsetType = UNSET
    pending: int | UnsetType = UNSET
    dropped: int | UnsetType = UNSET
    write_errors: int | UnsetType = UNSET
    repaired: list[str] | UnsetType = UNSET


class HealthOut(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness and a summary: tracked assets, books by status (statuses with none are left
    out), connections, whether the first bootstrap finished (and its last error), storage,
    the market lifecycle follower and the feed recorder."""

    status: Literal["ok"]
    assets: int
    books: dict[str, int]
    connections: int
    connections_open: int
    bootstrapped: bool
    bootstrap_error: str
    storage: StorageHealth
    lifecycle: LifecycleStatus
    recording: RecordingHealth


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One diagnostic: what was checked, whether it passed, how long it took, what was seen."""

    name: str
    ok: bool
    duration_ms: float
    detail: dict[str, Any]


class ChecksOut(msgspec.Struct, frozen=True, kw_only=True):
    """The result of /test/*: ok when every check passed."""

    ok: bool
    checks: list[Check]
