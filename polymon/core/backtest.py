"""Backtest results: what one trigger would have fired on history, counted per UTC day.

Pure: the shell runs the trigger's table over recorded frames or stored BBO ticks, hands the
fired events and the fires the cooldown suppressed (with the wall time of their cause) to a
`BacktestTally`, and asks it for the `BacktestResult`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from polymon.core.timeunits import DAY_US
from polymon.core.triggers import TriggerEvent

BACKTEST_TRIGGER_ID = "trig_backtest"
"""The id a backtested trigger runs under (its events carry it)."""
RECORDING_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,110}\.ndjson\.gz$"
"""A closed recording's file name: no path separators, no leading dot (what the API takes)."""


class RecordingFile(msgspec.Struct, frozen=True, kw_only=True):
    """A recording file: `open` is True for the one being written (`.part`)."""

    name: str
    bytes: int
    modified_ns: int
    open: bool


class DayCount(msgspec.Struct, frozen=True, kw_only=True):
    """Fires and cooldown-suppressed fires of one UTC day (`day` as YYYY-MM-DD)."""

    day: str
    fired: int
    suppressed: int


class BacktestResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a trigger would have done over [start_us, end_us) of `source`.

    evaluated: frames (recordings) or BBO ticks (bbo) run through the trigger.
    fired: events the trigger would have delivered; suppressed: fires its cooldown dropped.
    per_day: both by UTC day of their cause, ascending; days without either are left out.
    events: the first `max_events` would-have-fired events (`events_truncated` when more).
    """

    trigger_type: str
    asset_id: str
    source: str
    start_us: int | None
    end_us: int | None
    evaluated: int
    fired: int
    suppressed: int
    per_day: list[DayCount]
    events: list[TriggerEvent]
    events_truncated: bool


def utc_day(wall_us: int) -> str:
    """The UTC date (YYYY-MM-DD) of a wall time in µs since the epoch."""
    return datetime.fromtimestamp((wall_us // DAY_US) * 86_400, UTC).strftime("%Y-%m-%d")


class BacktestTally:
    """Counts fires and suppressed fires per day and keeps the first `max_events` events.

    Runtime complexity: O(1) per event or suppression (amortized), O(days) for the result.
    """

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.events: list[TriggerEvent] = []
        self.fired = 0
        self.suppressed = 0
        self.evaluated = 0
        self._days: dict[int, list[int]] = {}  # day number -> [fired, suppressed]

    def add_fired(self, events: list[TriggerEvent]) -> None:
        """Count events (by the day of their cause, `received_us`) and keep the first ones."""
        for event in events:
            self._day(event.received_us)[0] += 1
        self.fired += len(events)
        room = self.max_events - len(self.events)
        if room > 0:
            self.events.extend(events[:room])

    def add_suppressed(self, count: int, wall_us: int) -> None:
        """Count `count` fires the cooldown dropped at `wall_us`."""
        if count > 0:
            self._day(wall_us)[1] += count
            self.suppressed += count

    def result(
        self, trigger_type: str, asset_id: str, source: str, start_us: int | None,
        end_us: int | None,
    ) -> BacktestResult:  # fmt: skip
        """The counts so far as a result."""
        per_day = [
            DayCount(day=utc_day(day * DAY_US), fired=f, suppressed=s)
            for day, (f, s) in sorted(self._days.items())
        ]
        return BacktestResult(
            trigger_type=trigger_type, asset_id=asset_id, source=source, start_us=start_us,
            end_us=end_us, evaluated=self.evaluated, fired=self.fired, suppressed=self.suppressed,
            per_day=per_day, events=self.events, events_truncated=self.fired > len(self.events),
        )  # fmt: skip

    def _day(self, wall_us: int) -> list[int]:
        day = wall_us // DAY_US
        counts = self._days.get(day)
        if counts is None:
            counts = self._days[day] = [0, 0]
        return counts
