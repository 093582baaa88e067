"""Reading recordings: the records of a set of files, in recording order.

A file that is still being written (`.part`) or was torn by a crash is read as far as its
complete lines go; lines that do not decode are counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from polymon.polymarket.recording.files import GzipStream
from polymon.polymarket.recording.records import PART_SUFFIX, SUFFIX, Record, decode_record


class ReadStats:
    """What reading met: files read, records, undecodable lines, torn files."""

    def __init__(self) -> None:
        self.files = 0
        self.records = 0
        self.bad_lines = 0
        self.torn: list[str] = []

    def as_dict(self) -> dict[str, object]:
        """The counters as plain data."""
        return {"files": self.files, "records": self.records, "bad_lines": self.bad_lines,
                "torn_files": list(self.torn)}  # fmt: skip


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the recording files (closed and open) inside given directories."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(
                p for p in path.iterdir() if p.name.endswith((SUFFIX, PART_SUFFIX)) and p.is_file()
            )
        else:
            out.append(path)
    return out


def _lines(path: Path) -> Iterator[bytes | None]:
    """The complete lines of one file; None once for a torn end or a partial last line."""
    with path.open("rb") as f:
        stream = GzipStream(f)
        rest = b""
        for out, _ended in stream.chunks():
            lines = (rest + out).split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest.strip() or stream.torn:
            yield None


def read_file(path: Path, stats: ReadStats | None = None) -> Iterator[Record]:
    """The records of one recording file, in file order. O(file) time, O(chunk) memory."""
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    for line in _lines(path):
        if line is None:
            stats.torn.append(path.name)
            continue
        if not line:
            continue
        try:
            record = decode_record(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            stats.bad_lines += 1
            continue
        stats.records += 1
        yield record


def first_record(path: Path) -> Record | None:
    """The first decodable record of a file (None when it holds none)."""
    return next(read_file(path), None)


def in_order(paths: Iterable[Path]) -> list[Path]:
    """Recording files sorted by the time of their first record (files without any last)."""
    keyed = []
    for path in paths:
        first = first_record(path)
        keyed.append((first is None, first.t if first else 0, first.seq if first else 0, path))
    return [p for *_, p in sorted(keyed)]


def read_records(paths: Iterable[Path], stats: ReadStats | None = None) -> Iterator[Record]:
    """The records of several files, file after file in the order given."""
    for path in paths:
        yield from read_file(path, stats)
