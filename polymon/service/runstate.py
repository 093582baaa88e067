"""The run marker: what the previous run of a data directory left behind, so that an unclean
stop (kill -9, power loss, the OOM killer) is recorded as data rather than silence.

`<data_dir>/run.json` holds the running service's id, when it started, when it was last alive,
`durable_us` (the storage watermark: every row produced before that wall time is in
ClickHouse or in the journal), the last alert event id it handed out, and `clean`. The service
rewrites it every `HEARTBEAT_SECS`; a clean stop writes `clean: true` last, fsynced.

At start, a marker with `clean: false` means the previous run stopped without flushing: rows
after its `durable_us` may be missing. The new run then opens one `restart` gap per asset it
subscribes at bootstrap, from that moment until the asset's first snapshot (`ob_gap_events`).
A marker that cannot be read counts as an unclean stop at the file's modification time.
Until the gap rows are durable (the writers' watermark has passed the moment they were
handed over), the marker carries them (`carried`): a run killed before that hands them on,
and the next one opens a single gap per asset from the earliest of them.

Alert event ids continue above the previous run's (see `first_event_id`), so an id is never
handed out twice across restarts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import trio

from polymon.clock import wall_us
from polymon.files import write_atomic

log = logging.getLogger("polymon")
HEARTBEAT_SECS = 0.5
HANDOFF_MARGIN_US = 250_000
"""Rows wait in a shard up to its flush interval (50 ms) before a writer sees them; the
watermark is moved back by this much to cover that and event-loop lag."""
MARKER_NAME = "run.json"
_ONE_SEC_US = 1_000_000
_CLOCK_JUMP_IDS = 1_000_000_000  # ids skipped when the clock gives no safe base
_MAX_CARRIED = 10


class RestartGap(msgspec.Struct, frozen=True):
    """The downtime an unclean stop left: from `since_us` until each asset's next snapshot."""

    since_us: int
    detail: str


class RunRecord(msgspec.Struct, kw_only=True):
    """One run as the marker stores it (times are wall-clock µs since the epoch)."""

    run_id: str
    started_us: int
    alive_us: int
    durable_us: int
    last_event_id: int = 0
    clean: bool = False
    carried: list[RestartGap] = msgspec.field(default_factory=list)


_DECODER = msgspec.json.Decoder(RunRecord)
_encode = msgspec.json.Encoder().encode


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="milliseconds")


def read_marker(path: Path) -> RunRecord | None:
    """The previous run's record; None when there was none. An unreadable marker reads as an
    unclean stop at its modification time (logged)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("run marker %s cannot be read (%s): taken as an unclean stop", path, e)
        data = b""
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        try:
            mtime_us = int(path.stat().st_mtime * 1e6)
        except OSError:
            mtime_us = 0
        if data:
            log.warning("run marker %s is unreadable (%s): taken as an unclean stop at %s",
                        path, e, _iso(mtime_us))  # fmt: skip
        return RunRecord(run_id="unknown", started_us=mtime_us, alive_us=mtime_us,
                         durable_us=mtime_us)  # fmt: skip


class RunState:
    """This run's marker, and what the previous one said."""

    def __init__(self, data_dir: Path, run_id: str, now_us: int) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / MARKER_NAME
        self.previous = read_marker(self.path)
        last_id = self.previous.last_event_id if self.previous is not None else 0
        self.record = RunRecord(
            run_id=run_id, started_us=now_us, alive_us=now_us, durable_us=now_us,
            last_event_id=last_id, carried=self._unrecorded(),
        )  # fmt: skip
        self._handed_over_us: int | None = None
        self._failing = False
        self._last_event_id: Callable[[], int] = lambda: self.record.last_event_id
        gap = self.restart_gap()
        if gap is not None:
            log.warning("the previous run stopped uncleanly: %s", gap.detail)
        self._write(durable=True)

    def _unrecorded(self) -> list[RestartGap]:
        prev = self.previous
        if prev is None:
            return []
        gaps = list(prev.carried)
        if not prev.clean:
            detail = (
                f"unclean stop of run {prev.run_id}: rows after {_iso(prev.durable_us)} may be"
                f" missing (last alive {_iso(prev.alive_us)})"
            )
            gaps.append(RestartGap(prev.durable_us, detail))
        if len(gaps) > _MAX_CARRIED:  # a crash loop: one gap from the first of them
            since = min(g.since_us for g in gaps)
            gaps = [RestartGap(since, f"{len(gaps)} unclean stops since {_iso(since)}")]
        return gaps

    def restart_gap(self) -> RestartGap | None:
        """The gap unclean stops left (the previous run's, and any it could not record), None
        after a clean one (or a first start)."""
        gaps = self.record.carried
        if not gaps:
            return None
        return RestartGap(min(g.since_us for g in gaps), "; ".join(g.detail for g in gaps))

    def handed_over(self, now_us: int) -> None:
        """The restart gaps are in the writers' hands from `now_us`: once the watermark
        passes it, the marker stops carrying them."""
        self._handed_over_us = now_us

    def first_event_id(self, now_us: int) -> int:
        """The first alert event id of this run: the wall clock in µs, above every id the
        previous run can have handed out (it persisted its last one at most a heartbeat
        before it stopped); when the clock is not safely ahead of that, far above it."""
        last = self.previous.last_event_id if self.previous is not None else 0
        if now_us > last + _ONE_SEC_US:
            return now_us
        return last + _CLOCK_JUMP_IDS

    def beat(self, now_us: int, durable_us: int, last_event_id: int) -> None:
        """Record that the run is alive and how far its data is durable (not fsynced)."""
        record = self.record
        record.alive_us, record.durable_us = now_us, durable_us
        record.last_event_id = max(record.last_event_id, last_event_id)
        handed = self._handed_over_us
        if record.carried and handed is not None and durable_us > handed:
            record.carried = []  # the gap rows are stored or journaled
        self._write(durable=False)

    def finish(self, now_us: int) -> None:
        """Mark a clean stop: every row is stored or journaled (fsynced)."""
        self.record.clean = True
        if self._handed_over_us is not None:
            self.record.carried = []  # stored or journaled with everything else
        self.record.alive_us = self.record.durable_us = now_us
        self.record.last_event_id = max(self.record.last_event_id, self._last_event_id())
        self._write(durable=True)

    async def keep(
        self,
        durable_us: Callable[[int], int],
        last_event_id: Callable[[], int],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Beat every HEARTBEAT_SECS until cancelled, with the watermark `durable_us(now)`
        (less HANDOFF_MARGIN_US) and the last event id handed out."""
        self._last_event_id = last_event_id
        task_status.started()
        while True:
            await trio.sleep(HEARTBEAT_SECS)
            now = wall_us()
            self.beat(now, durable_us(now) - HANDOFF_MARGIN_US, last_event_id())

    def _write(self, *, durable: bool) -> None:
        data = _encode(self.record)
        try:
            if durable:
                write_atomic(self.path, data)
            else:
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, self.path)
        except OSError as e:
            if not self._failing:  # a full disk: the marker keeps its older, safer values
                log.error("run marker %s cannot be written: %s", self.path, e)
            self._failing = True
        else:
            self._failing = False
