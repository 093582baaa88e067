"""`polymon replay`: recordings through the live path (see `replayer`), paced or flat out.

`drive` feeds records to a Replayer: with speed 0 as fast as the CPU goes, in slices of a few
milliseconds with a checkpoint between them (a replay inside the running service never holds
the event loop long); with speed N > 0 at N times the recorded pace (1 = real time).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Final

import msgspec
import trio
import trio.lowlevel

from polymon.core.shard import Policy
from polymon.core.triggers import Trigger, TriggerEvent
from polymon.polymarket.recording.reader import ReadStats, expand, in_order, read_records
from polymon.polymarket.recording.records import Record
from polymon.service.replayer import Replayer

_SLICE_SECS: Final = 0.002
_CHECK_EVERY: Final = 256
_encode = msgspec.json.Encoder().encode


def recording_paths(paths: Iterable[Path]) -> list[Path]:
    """The recording files of `paths` (directories expanded), in recording order."""
    return in_order(expand(paths))


async def drive(
    replayer: Replayer,
    records: Iterable[Record],
    *,
    speed: float = 0.0,
    from_ns: int | None = None,
    to_ns: int | None = None,
) -> int:
    """Apply `records` to `replayer` until the first one at or after `to_ns`, then finish it;
    returns how many were applied. With `speed` > 0, records from `from_ns` on are paced at
    `speed` × the recorded pace (earlier ones only build state, at full speed)."""
    applied = 0
    base: tuple[int, float] | None = None
    slice_start = time.perf_counter()
    for record in records:
        if to_ns is not None and record.t >= to_ns:
            break
        if speed > 0 and (from_ns is None or record.t >= from_ns):
            if base is None:
                base = (record.t, trio.current_time())
            due = base[1] + (record.t - base[0]) / 1e9 / speed
            if due > trio.current_time():
                await trio.sleep_until(due)
                slice_start = time.perf_counter()
        replayer.apply(record)
        applied += 1
        if applied % _CHECK_EVERY == 0 and time.perf_counter() - slice_start > _SLICE_SECS:
            await trio.lowlevel.checkpoint()
            slice_start = time.perf_counter()
    replayer.finish()
    return applied


async def replay_files(
    paths: list[Path],
    *,
    events: BinaryIO,
    books: BinaryIO | None = None,
    speed: float = 0.0,
    from_ns: int | None = None,
    to_ns: int | None = None,
    triggers: Iterable[Trigger] = (),
    recorded_triggers: bool = True,
    policy: Policy | None = None,
) -> dict[str, object]:
    """Replay recording files: fired events as NDJSON to `events` (as they fire), the final
    books as NDJSON to `books`; returns the summary (counts and digests)."""

    def write(fired: list[TriggerEvent]) -> None:
        events.write(b"".join(_encode(e) + b"\n" for e in fired))
        if speed > 0:
            events.flush()

    replayer = Replayer(write, policy=policy, recorded_triggers=recorded_triggers,
                        triggers=triggers, emit_from_ns=from_ns)  # fmt: skip
    stats = ReadStats()
    files = recording_paths(paths)
    await drive(replayer, read_records(files, stats), speed=speed, from_ns=from_ns, to_ns=to_ns)
    events.flush()
    if books is not None:
        books.write(b"".join(_encode(b) + b"\n" for b in replayer.books()))
        books.flush()
    return {"files": [p.name for p in files], "read": stats.as_dict(), **replayer.summary()}
