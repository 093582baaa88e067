"""The on-disk journal: order, cursor, crash tails, damage that costs only the damaged record,
failed writes truncated back, size cap."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymon.storage.journal import HEADER_SIZE, Journal, JournalFull, Loss

ROWS = 3  # rows in each record written by `fill`


def open_journal(path: Path, max_bytes: int = 1 << 20) -> Journal:
    return Journal(path, "t", max_bytes=max_bytes, fsync_interval_secs=1.0)


def fill(path: Path, records: int) -> list[tuple[int, int]]:
    """Write `records` batches of ROWS rows (record k spans [1000k, 1000k + 999] µs); returns
    each record's (offset, length)."""
    j = open_journal(path)
    extents = []
    offset = 0
    for k in range(records):
        size = j.append(f"tok{k}", [[k] * ROWS, [f"r{k}"] * ROWS], 0.0,
                        span=(1000 * k, 1000 * k + 999))  # fmt: skip
        extents.append((offset, size))
        offset += size
    j.close()
    return extents


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x5A
    path.write_bytes(bytes(data))


def tokens(j: Journal) -> list[str]:
    out = []
    while j.pending:
        out.append(j.peek()[0])
        j.pop()
    return out


def test_batches_come_back_oldest_first_across_reopen(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    for i in range(3):
        j.append(f"tok{i}", [[i, i + 1], ["a", "b"]], now=0.0)
    assert j.peek() == ("tok0", [[0, 1], ["a", "b"]])
    j.pop()
    j.close()
    j = open_journal(tmp_path)  # a restart resumes at the cursor
    assert j.pending == 2
    assert j.peek()[0] == "tok1"
    j.pop()
    j.pop()
    assert j.pending == 0
    assert j.path.stat().st_size == 0
    j.close()


def test_a_torn_tail_is_cut_and_counted(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    j.append("whole", [[1]], now=0.0)
    j.append("torn", [[2] * 100], now=0.0)
    j.close()
    size = j.path.stat().st_size
    with open(j.path, "r+b") as f:
        f.truncate(size - 10)  # the process died mid-write
    j = open_journal(tmp_path)
    assert j.torn_records == 1
    assert j.counters.corrupt_records == 0
    assert j.pending == 1
    assert j.peek()[0] == "whole"
    j.close()
    assert j.path.stat().st_size < size - 10  # the torn bytes are gone: appends start clean


def test_a_flipped_payload_byte_costs_only_its_record_which_is_counted(tmp_path: Path) -> None:
    extents = fill(tmp_path, 9)
    offset, length = extents[1]
    flip(tmp_path / "t.log", offset + (HEADER_SIZE + length) // 2)  # inside record 2's payload
    j = open_journal(tmp_path)
    assert tokens(j) == [f"tok{k}" for k in range(9) if k != 1]
    assert j.counters.corrupt_records == 1
    assert j.counters.lost_rows == ROWS
    assert j.take_losses() == [Loss("t", 1000, 1999, ROWS, "journal record corrupt")]
    assert j.take_losses() == []
    j.close()


def test_a_flipped_header_byte_costs_only_its_record_and_its_span_is_bounded(
    tmp_path: Path,
) -> None:
    extents = fill(tmp_path, 9)
    flip(tmp_path / "t.log", extents[4][0] + 6)  # record 5's length field
    j = open_journal(tmp_path)
    assert tokens(j) == [f"tok{k}" for k in range(9) if k != 4]
    assert j.counters.corrupt_records == 1
    # The rows are unknown; the time span lies between the neighbours'.
    assert j.take_losses() == [Loss("t", 3999, 5000, 0, "journal header damaged")]
    j.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_single_flipped_byte_loses_at_most_the_record_holding_it(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("flip")
    extents = fill(path, 6)
    size = sum(length for _, length in extents)
    at = data.draw(st.integers(0, size - 1))
    flip(path / "t.log", at)
    hit = next(k for k, (offset, length) in enumerate(extents) if offset <= at < offset + length)
    j = open_journal(path)
    recovered = tokens(j)
    expected = [f"tok{k}" for k in range(6) if k != hit]
    if hit == 5 and at < extents[5][0] + HEADER_SIZE:
        # The last record's header: nothing sound follows, so it reads as a torn tail.
        assert j.torn_records + j.counters.corrupt_records == 1
    else:
        assert j.counters.corrupt_records == 1
    assert recovered == expected
    j.close()


def test_damage_between_records_is_reported_once_across_restarts(tmp_path: Path) -> None:
    extents = fill(tmp_path, 3)
    flip(tmp_path / "t.log", extents[1][0] + HEADER_SIZE + 1)
    j = open_journal(tmp_path)
    assert len(j.take_losses()) == 1
    assert j.peek()[0] == "tok0"
    j.pop()  # the cursor moves past the damaged record to tok2
    j.close()
    j = open_journal(tmp_path)
    assert j.take_losses() == []
    assert tokens(j) == ["tok2"]
    j.close()


def test_a_failed_write_is_truncated_back_and_replay_sees_only_whole_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = open_journal(tmp_path)
    j.append("before", [[1] * 10], 0.0)
    good_size = j.path.stat().st_size
    real_pwrite = os.pwrite

    def half_then_enospc(fd: int, data: bytes, offset: int) -> int:
        if len(data) > 8:
            return real_pwrite(fd, bytes(data)[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", half_then_enospc)
    with pytest.raises(OSError, match="No space left"):
        j.append("refused", [[2] * 1000], 0.0)
    monkeypatch.undo()
    assert j.path.stat().st_size == good_size
    assert j.counters.write_failures == 1
    assert j.pending == 1
    j.append("after", [[3] * 10], 0.0)  # the disk has room again
    j.close()
    j = open_journal(tmp_path)
    assert j.torn_records == 0
    assert j.counters.corrupt_records == 0
    assert tokens(j) == ["before", "after"]
    j.close()


def test_the_size_cap_refuses_new_batches(tmp_path: Path) -> None:
    j = open_journal(tmp_path, max_bytes=200)
    j.append("a", [["x" * 50]], now=0.0)
    with pytest.raises(JournalFull):
        j.append("b", [["x" * 200]], now=0.0)
    assert j.pending == 1
    j.close()


def test_fsync_at_most_once_per_interval(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    j.append("a", [[1]], now=10.0)
    assert not j.dirty  # first append syncs
    j.append("b", [[2]], now=10.5)
    assert j.dirty  # within the interval: left for the writer's sync
    j.sync(now=11.0)
    assert not j.dirty
    j.close()


def test_a_journal_of_the_first_format_is_replayed_after_an_upgrade(tmp_path: Path) -> None:
    import struct
    import zlib

    import msgspec

    old = b""
    for k in range(3):
        payload = msgspec.msgpack.encode((f"tok{k}", [[k, k + 1]]))
        old += struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
    (tmp_path / "t.log").write_bytes(old + b"\x07\x00")  # and a torn tail
    (tmp_path / "t.cursor").write_text("0")
    j = open_journal(tmp_path)
    assert j.counters.corrupt_records == 0
    assert tokens(j) == ["tok0", "tok1", "tok2"]
    j.close()
