"""The on-disk journal: order, cursor, crash tails, size cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymon.storage.journal import Journal, JournalFull


def open_journal(path: Path, max_bytes: int = 1 << 20) -> Journal:
    return Journal(path, "t", max_bytes=max_bytes, fsync_interval_secs=1.0)


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
    assert j.pending == 1
    assert j.peek()[0] == "whole"
    j.close()


def test_a_corrupt_record_ends_the_readable_part(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    j.append("a", [[1]], now=0.0)
    j.close()
    data = bytearray(j.path.read_bytes())
    data[-1] ^= 0xFF
    j.path.write_bytes(bytes(data))
    j = open_journal(tmp_path)
    assert j.pending == 0
    assert j.torn_records == 1
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
