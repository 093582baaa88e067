"""An append-only, crash-safe journal of batches that ClickHouse could not take yet.

One file per table under `<data_dir>/journal/`. Each record is

    u32 length | u32 crc32(payload) | payload = msgpack [token, columns]

and keeps the batch's deduplication token, so a replay after an ambiguous failure or a crash
lands once. A cursor file (`<table>.cursor`, replaced atomically) records how far replay has
got; when every record is replayed the file is truncated. A torn record at the end (a crash
mid-write) is cut off and counted on open. Writes are flushed to the OS at once and fsynced
at most every `fsync_interval_secs` (the writer calls `sync()` for the tail).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("polymon.storage")
_HEADER = struct.Struct("<II")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[str, list[list[Any]]])


class JournalFull(Exception):
    """The journal has reached its size cap; the caller counts the batch as dropped."""


class Journal:
    """Batches waiting for ClickHouse, oldest first, on disk. Not thread-safe: one owner."""

    def __init__(self, directory: Path, name: str, *, max_bytes: int, fsync_interval_secs: float):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.log"
        self._cursor_path = directory / f"{name}.cursor"
        self.max_bytes = max_bytes
        self.fsync_interval_secs = fsync_interval_secs
        self.torn_records = 0
        self._records: deque[tuple[int, int]] = deque()  # (offset, total length) after cursor
        self._last_sync = float("-inf")
        self._dirty = False
        self._file = open(self.path, "a+b")  # noqa: SIM115 - lives as long as the journal
        self._cursor = self._read_cursor()
        self._scan()

    # -- state -----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Records not yet replayed."""
        return len(self._records)

    @property
    def pending_bytes(self) -> int:
        """Bytes of records not yet replayed."""
        return sum(length for _, length in self._records)

    def _read_cursor(self) -> int:
        try:
            return int(self._cursor_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            log.warning("journal %s: unreadable cursor, replaying from the start", self.path)
            return 0

    def _write_cursor(self, offset: int) -> None:
        tmp = self._cursor_path.with_suffix(".cursor.tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self._cursor_path)
        self._cursor = offset

    def _scan(self) -> None:
        size = self.path.stat().st_size
        offset = self._cursor if self._cursor <= size else 0
        self._file.seek(offset)
        while offset < size:
            header = self._file.read(_HEADER.size)
            if len(header) < _HEADER.size:
                break
            length, crc = _HEADER.unpack(header)
            payload = self._file.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            total = _HEADER.size + length
            self._records.append((offset, total))
            offset += total
        if offset < size:
            self.torn_records += 1
            log.warning("journal %s: cut a torn record at byte %d", self.path, offset)
            self._file.truncate(offset)
        if not self._records:
            self._reset()

    def _reset(self) -> None:
        self._file.truncate(0)
        self._write_cursor(0)

    # -- operations ------------------------------------------------------------------------
    def append(self, token: str, columns: list[list[Any]], now: float) -> int:
        """Add a batch at the end; returns its size in bytes. Raises JournalFull at the cap."""
        payload = _encoder.encode((token, columns))
        total = _HEADER.size + len(payload)
        if self.pending_bytes + total > self.max_bytes:
            raise JournalFull(f"journal {self.path} would exceed {self.max_bytes} bytes")
        self._file.seek(0, os.SEEK_END)
        offset = self._file.tell()
        self._file.write(_HEADER.pack(len(payload), zlib.crc32(payload)))
        self._file.write(payload)
        self._file.flush()
        self._records.append((offset, total))
        self._dirty = True
        if now - self._last_sync >= self.fsync_interval_secs:
            self.sync(now)
        return total

    def sync(self, now: float) -> None:
        """fsync what was appended since the last sync (cheap when nothing was)."""
        if self._dirty:
            os.fsync(self._file.fileno())
            self._dirty = False
        self._last_sync = now

    @property
    def dirty(self) -> bool:
        """True when appended records are not yet fsynced."""
        return self._dirty

    def peek(self) -> tuple[str, list[list[Any]]]:
        """The oldest pending batch as (token, columns). Raises IndexError when empty."""
        offset, total = self._records[0]
        self._file.seek(offset + _HEADER.size)
        return _decoder.decode(self._file.read(total - _HEADER.size))

    def pop(self) -> None:
        """Mark the oldest pending batch as stored; truncates the file once all are."""
        offset, total = self._records.popleft()
        if self._records:
            self._write_cursor(offset + total)
        else:
            self._reset()

    def close(self) -> None:
        """fsync and close the file."""
        if not self._file.closed:
            if self._dirty:
                os.fsync(self._file.fileno())
            self._file.close()
