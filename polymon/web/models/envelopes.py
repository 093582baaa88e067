"""Generic envelopes: a status report stamped with its time, and an admin action's result."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Report(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A status report (per-shard or per-job detail; see the route's description), stamped
    with when it was generated (epoch ms)."""

    generated_at_ms: int
    data: T


class Result(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """What an admin or lifecycle action did (counts, ids, durations)."""

    ok: bool
    result: T
