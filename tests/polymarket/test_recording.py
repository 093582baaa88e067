"""The feed recorder: the file format, rotation by hour and size, `.part` files renamed when
closed, repair after a crash, retention, explicit drops, and reading torn files."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import msgspec
import pytest
import trio
import trio.lowlevel

from polymon.config import RecordConfig
from polymon.errors import BadRequest, NotFound
from polymon.polymarket.recording import records as r
from polymon.polymarket.recording.files import (
    enforce_retention,
    gzip_member,
    list_recordings,
    resolve,
)
from polymon.polymarket.recording.reader import ReadStats, read_file, read_records
from polymon.polymarket.recording.records import Record, RunInfo
from polymon.polymarket.recording.writer import Recorder

HOUR_NS = 3600 * 10**9
T0 = 1_767_272_399 * 10**9  # 2026-01-01 12:59:59 UTC
BOOK = '[{"event_type":"book","asset_id":"1","bids":[],"asks":[]}]'


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def recorder(tmp_path: Path, clock: Clock, **cfg: object) -> Recorder:
    settings = msgspec.convert({"flush_interval_secs": 1.0} | cfg, RecordConfig)
    return Recorder(settings, tmp_path, RunInfo(run_id="abcd1234", started_ns=clock.t),
                    clock_ns=clock)  # fmt: skip


def lines(path: Path) -> list[Record]:
    return list(read_file(path))


async def test_frames_are_written_exactly_and_files_rotate_on_the_hour(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    clock = Clock(T0)
    rec = recorder(tmp_path, clock)
    await nursery.start(rec.run)
    tap = rec.tap("shard-0-conn-0", 0)
    tap.opened()
    tap.sent(b'{"assets_ids":["1"],"type":"market"}')
    tap.frame(BOOK, 10.0, T0 + 1)
    tap.frame("PONG", 10.5, T0 + 2)
    tap.frame('{"garbage', 10.6, T0 + 3)  # what the venue sent, even when it is not JSON
    tap.frame(b"\x00\xffbin", 10.7, T0 + 4)
    await rec.flush()
    tap.frame(BOOK, 11.0, T0 + HOUR_NS)  # 14:59:59: the next hour
    clock.t = T0 + HOUR_NS
    await rec.flush()
    files = list_recordings(tmp_path)
    assert [f.open for f in files] == [False, True]
    first = lines(tmp_path / files[0].name)
    assert first[0].k == r.FILE
    assert r.decode_run_info(first[0].d).run_id == "abcd1234"
    assert [x.k for x in first[:4]] == [r.FILE, r.RUN, r.OPEN, r.SENT]
    assert first[3].d == '{"assets_ids":["1"],"type":"market"}'
    assert [(x.k, x.d) for x in first[4:]] == [
        (r.FRAME, BOOK), (r.FRAME, "PONG"), (r.FRAME, '{"garbage'), (r.FRAME_B64, "AP9iaW4=")
    ]  # fmt: skip
    assert (first[4].t, first[4].m, first[4].c, first[4].s) == (T0 + 1, 10.0, "shard-0-conn-0", 0)
    assert [x.k for x in lines(tmp_path / files[1].name)] == [r.FILE, r.FRAME]
    nursery.cancel_scope.cancel()
    await trio.lowlevel.checkpoint()


async def test_sequence_runs_across_files_and_shutdown_closes_the_last(tmp_path: Path) -> None:
    clock = Clock(T0)
    rec = recorder(tmp_path, clock, max_file_bytes=200)
    async with trio.open_nursery() as nursery:
        await nursery.start(rec.run)
        tap = rec.tap("c", 1)
        for i in range(30):
            tap.frame(BOOK, float(i), T0 + i)
            if i % 5 == 4:
                await rec.flush()
        tap.frame(BOOK, 99.0, T0 + 99)  # buffered only: the shutdown writes it
        nursery.cancel_scope.cancel()
    files = list_recordings(tmp_path)
    assert len(files) > 3
    assert not any(f.open for f in files)
    all_records = list(read_records(tmp_path / f.name for f in files))
    assert [x.seq for x in all_records] == list(range(1, len(all_records) + 1))
    assert [x.m for x in all_records if x.k == r.FRAME] == [*map(float, range(30)), 99.0]
    assert rec.status()["records"] == len(all_records)


async def test_overflow_is_dropped_and_marked(tmp_path: Path, nursery: trio.Nursery) -> None:
    rec = recorder(tmp_path, Clock(T0), max_pending_records=3)
    await nursery.start(rec.run)  # the `run` record takes one place
    tap = rec.tap("c", 0)
    for i in range(5):
        tap.frame(BOOK, 1.0, T0 + i)
    await rec.flush()
    await rec.close_file()
    got = list(read_records(tmp_path / f.name for f in list_recordings(tmp_path)))
    assert [x.k for x in got].count(r.FRAME) == 2
    assert got[-1].k == r.DROPPED
    assert msgspec.json.decode(got[-1].d) == {"records": 3}
    nursery.cancel_scope.cancel()


def torn_part(tmp_path: Path) -> Path:
    part = tmp_path / ("polymon-20260101T120000Z-abcd1234-00001" + r.PART_SUFFIX)
    one = msgspec.json.encode(Record(1, T0, 1.0, r.FRAME, "c", 0, "A")) + b"\n"
    two = msgspec.json.encode(Record(2, T0, 2.0, r.FRAME, "c", 0, "B")) + b"\n"
    three = msgspec.json.encode(Record(3, T0, 3.0, r.FRAME, "c", 0, "C")) + b"\n"
    deflater = zlib.compressobj(1, zlib.DEFLATED, 31)
    torn = deflater.compress(two + three + b'{"seq":4,"t"') + deflater.flush(zlib.Z_SYNC_FLUSH)
    part.write_bytes(gzip_member(one, 1) + torn)  # the crash came before the member's end
    return part


def test_a_torn_part_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    stats = ReadStats()
    got = list(read_file(torn_part(tmp_path), stats))
    assert [x.d for x in got] == ["A", "B", "C"]
    assert stats.torn


async def test_start_repairs_what_a_crash_left(tmp_path: Path, nursery: trio.Nursery) -> None:
    part = torn_part(tmp_path)
    empty = tmp_path / ("polymon-20260101T110000Z-abcd1234-00001" + r.PART_SUFFIX)
    empty.write_bytes(b"\x1f\x8b\x08garbage")
    rec = recorder(tmp_path, Clock(T0))
    await nursery.start(rec.run)
    final = part.with_name(part.name.removesuffix(".part"))
    assert rec.repaired == [final.name]
    assert not part.exists()
    assert not empty.exists()
    stats = ReadStats()
    assert [x.d for x in read_file(final, stats)] == ["A", "B", "C"]
    assert stats.torn == []
    nursery.cancel_scope.cancel()


def test_retention_deletes_by_age_then_by_total_size(tmp_path: Path) -> None:
    now = T0
    for i, age_hours in enumerate([50, 30, 20, 10]):
        path = tmp_path / f"polymon-2026010{i}T000000Z-r-00001{r.SUFFIX}"
        path.write_bytes(b"x" * 100)
        when = (now - age_hours * HOUR_NS) / 1e9
        os.utime(path, (when, when))
    (tmp_path / "open.ndjson.gz.part").write_bytes(b"y" * 100)
    deleted = enforce_retention(tmp_path, max_age_secs=40 * 3600, max_total_bytes=300, now_ns=now)
    assert deleted == ["polymon-20260100T000000Z-r-00001.ndjson.gz",
                       "polymon-20260101T000000Z-r-00001.ndjson.gz"]  # fmt: skip
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["open.ndjson.gz.part", "polymon-20260102T000000Z-r-00001.ndjson.gz",
                    "polymon-20260103T000000Z-r-00001.ndjson.gz"]  # fmt: skip


BAD_NAMES = ["../etc/passwd.ndjson.gz", "a/b.ndjson.gz", ".x.ndjson.gz", "x.ndjson",
             "x.ndjson.gz.part", "/abs.ndjson.gz", ""]  # fmt: skip


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_cannot_leave_the_recording_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadRequest):
        resolve(tmp_path, [name])


def test_resolve_finds_closed_recordings_only(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson.gz").write_bytes(b"")
    assert resolve(tmp_path, ["a.ndjson.gz"]) == [(tmp_path / "a.ndjson.gz").resolve()]
    with pytest.raises(NotFound):
        resolve(tmp_path, ["b.ndjson.gz"])


async def test_a_large_flush_lets_the_event_loop_run_between_slices(tmp_path: Path) -> None:
    rec = recorder(tmp_path, Clock(T0))
    tap = rec.tap("c", 0)
    for i in range(5000):
        tap.frame(BOOK, 1.0, T0 + i)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.lowlevel.checkpoint()
        before = ticks
        await rec.flush()
        during = ticks - before
        nursery.cancel_scope.cancel()
    await rec.close_file()
    assert during >= 5000 // 512  # a turn for everyone else after every slice of records
    assert rec.records == 5001


async def test_a_directory_that_cannot_be_written_loses_records_visibly(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    rec = recorder(tmp_path, Clock(T0))
    await nursery.start(rec.run)
    tap = rec.tap("c", 0)
    tap.frame(BOOK, 1.0, T0)
    rec.directory = tmp_path / "recordings"  # not a directory, so no file opens there
    await trio.to_thread.run_sync(rec.directory.write_bytes, b"")
    await rec.flush()  # counted, never raised
    assert rec.write_errors == 1
    rec.directory = tmp_path
    tap.frame(BOOK, 2.0, T0 + 1)
    await rec.flush()
    await rec.close_file()
    got = list(read_records(tmp_path / f.name for f in list_recordings(tmp_path)))
    assert [x.k for x in got] == [r.FILE, r.FRAME, r.DROPPED]
    assert got[1].m == 2.0
    assert msgspec.json.decode(got[-1].d) == {"records": 2}  # the run record and the frame
    nursery.cancel_scope.cancel()
