"""Shared pieces of the read queries (`queries`, `export`): units, SQL fragments, and the
checks on caller arguments, each raising BadRequest with a detail naming the parameter."""

from __future__ import annotations

import math
from typing import Any, Final

from polymon.core.timeunits import DAY_US, HOUR_US, SECOND_US
from polymon.errors import BadRequest

__all__ = ["DAY_US", "HOUR_US", "SECOND_US"]  # re-exported for the queries

INTERVALS: Final = {"1m": 60, "5m": 300}
"""OHLC intervals and their length in seconds."""
OHLC_VIEWS: Final = {"1m": "mv_ob_bbo_1m", "5m": "mv_ob_bbo_5m"}

MIN_HOURS: Final = 0.001
"""Shortest window (hours, 3.6 s) any query accepts: shorter ones hold no useful data."""
MAX_HOURS: Final = 24 * 90
"""Longest window (hours) any query here accepts: the raw tables keep 90 days."""
MAX_EXPORT_ROWS: Final = 1_000_000
"""Largest `limit` of one backtest export."""
DEFAULT_EXPORT_ROWS: Final = 100_000
MAX_ASSETS: Final = 10_000
"""Largest `limit` of `assets_with_ticks`."""
GRANULARITIES: Final = ("tick", "trades", "ohlc")

TWO_SIDED: Final = "best_bid > 0 AND best_ask > 0"


def ts(name: str) -> str:
    """SQL for a DateTime64(6, 'UTC') built from the Int64 µs parameter `name`."""
    return f"fromUnixTimestamp64Micro({{{name}:Int64}}, 'UTC')"


IN_WINDOW: Final = (
    f"asset_id = {{asset:String}} AND source_ts >= {ts('start')} AND source_ts < {ts('end')}"
)
"""One asset's rows with venue time in [start, end) (parameters asset, start, end)."""


def window(hours: float, now_us: int) -> tuple[int, int]:
    """[now - hours, now) in µs; raises BadRequest naming `hours` unless
    MIN_HOURS <= hours <= MAX_HOURS."""
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise BadRequest("hours must be a number")
    if not math.isfinite(hours) or hours < MIN_HOURS or hours > MAX_HOURS:
        raise BadRequest(f"hours must be in {MIN_HOURS}..{MAX_HOURS}, got {hours}")
    return now_us - round(hours * HOUR_US), now_us


def interval_secs(interval: str) -> int:
    step = INTERVALS.get(interval)
    if step is None:
        raise BadRequest(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    return step


def check_limit(limit: int, maximum: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= maximum:
        raise BadRequest(f"limit must be an integer from 1 to {maximum}, got {limit!r}")
    return limit


def bar_bounds(start_us: int, end_us: int, step: int) -> tuple[int, int]:
    """Unix-second bounds [lo, hi) on bucket starts for bars overlapping [start_us, end_us)."""
    lo = start_us // SECOND_US // step * step
    hi = -(-end_us // SECOND_US)  # a bar starting at or after end (rounded up to a second) is out
    return lo, hi


def opt_str(value: str, present: bool) -> str | None:
    return value if present else None


def opt_float(value: Any) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
