"""An append-only, crash-safe journal of batches that ClickHouse could not take yet.

One file per table under `<data_dir>/journal/`. Each record is a 36-byte header and a payload:

    magic "PMJ2" | u32 payload length | u32 rows | i64 first µs | i64 last µs
    | u32 crc32(payload) | u32 crc32(the 32 header bytes before it) | payload

The payload is msgpack `[token, columns]` and keeps the batch's deduplication token, so a
replay after an ambiguous failure or a crash lands once. The header says what the record
holds (row count and time span), protected by its own checksum, so damage costs exactly the
damaged record:

- a payload that fails its checksum under a sound header is skipped by its length; its rows
  and time span are known and reported as a loss (`losses`, `lost_rows`);
- a damaged header is skipped by scanning for the next sound header (the magic plus a header
  checksum that matches); what lay between is counted as one corrupt record of unknown size;
- an incomplete record at the end (a crash mid-write) is cut off and counted as torn.

A write that fails (disk full, file too large) is truncated back to where the record began,
so the file never holds a partial record while the process runs. A cursor file
(`<table>.cursor`, replaced atomically) records the offset replay has reached; when every
record is replayed the file is truncated. Writes reach the OS at once (a killed process loses
nothing written) and are fsynced at most every `fsync_interval_secs` (the writer calls
`sync()` for the tail). Every disk error is caught, counted and logged; none escapes but the
append's own failure, which the caller handles.
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
MAGIC = b"PMJ2"
_HEAD = struct.Struct("<4sIIqqI")  # what the header checksum covers
_CRC = struct.Struct("<I")
_V1_HEADER = struct.Struct("<II")  # the first format: length, crc32(payload)
HEADER_SIZE = _HEAD.size + _CRC.size
_SCAN_CHUNK = 1 << 20
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[str, list[list[Any]]])


class JournalFull(Exception):
    """The journal has reached its size cap; the caller keeps or drops the batch."""


class Loss(msgspec.Struct, frozen=True):
    """Rows that will never reach ClickHouse: which table, the span of their times (µs), how
    many (0 when unknown), and why."""

    table: str
    first_us: int
    last_us: int
    rows: int
    reason: str


class JournalCounters(msgspec.Struct, kw_only=True):
    """What went wrong with one journal file since the process started."""

    torn_records: int = 0
    corrupt_records: int = 0
    lost_rows: int = 0
    write_failures: int = 0
    sync_failures: int = 0


def encode_record(token: str, columns: list[list[Any]], first_us: int, last_us: int) -> bytes:
    """One journal record (header and payload) for a batch; O(batch size)."""
    payload = _encoder.encode((token, columns))
    rows = len(columns[0]) if columns else 0
    head = _HEAD.pack(MAGIC, len(payload), rows, first_us, last_us, zlib.crc32(payload))
    return head + _CRC.pack(zlib.crc32(head)) + payload


def _header(data: bytes | memoryview) -> tuple[int, int, int, int, int] | None:
    """(payload length, rows, first µs, last µs, payload crc) of a sound header, else None."""
    if len(data) < HEADER_SIZE or bytes(data[:4]) != MAGIC:
        return None
    head = bytes(data[: _HEAD.size])
    (crc,) = _CRC.unpack_from(data, _HEAD.size)
    if zlib.crc32(head) != crc:
        return None
    _, length, rows, first_us, last_us, payload_crc = _HEAD.unpack(head)
    return length, rows, first_us, last_us, payload_crc


class Journal:
    """Batches waiting for ClickHouse, oldest first, on disk. Not thread-safe: one owner."""

    def __init__(self, directory: Path, name: str, *, max_bytes: int, fsync_interval_secs: float):
        directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.path = directory / f"{name}.log"
        self._cursor_path = directory / f"{name}.cursor"
        self.max_bytes = max_bytes
        self.fsync_interval_secs = fsync_interval_secs
        self.counters = JournalCounters()
        self.losses: list[Loss] = []  # found by the scan; the owner takes them
        self._records: deque[tuple[int, int]] = deque()  # (offset, total length) after cursor
        self._pending_bytes = 0
        self._last_sync = float("-inf")
        self._dirty = False
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._cursor = self._read_cursor()
        self._upgrade_v1()
        self._scan()

    # -- state -----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Records not yet replayed."""
        return len(self._records)

    @property
    def pending_bytes(self) -> int:
        """Bytes of records not yet replayed."""
        return self._pending_bytes

    @property
    def torn_records(self) -> int:
        """Incomplete records cut off the end (a crash mid-write)."""
        return self.counters.torn_records

    @property
    def dirty(self) -> bool:
        """True when appended records are not yet fsynced."""
        return self._dirty

    def _read_cursor(self) -> int:
        try:
            return int(self._cursor_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except (ValueError, OSError) as e:
            log.warning(
                "journal %s: unreadable cursor (%s), replaying from the start", self.path, e
            )
            return 0

    def _write_cursor(self, offset: int) -> None:
        """Persist the replay offset; a failure only means records replayed again after a
        restart (their tokens make that harmless), so it is logged, not raised."""
        self._cursor = offset
        tmp = self._cursor_path.with_suffix(".cursor.tmp")
        try:
            tmp.write_text(str(offset))
            os.replace(tmp, self._cursor_path)
        except OSError as e:
            self.counters.write_failures += 1
            log.warning("journal %s: cannot save the replay cursor: %s", self.path, e)

    # -- scan ------------------------------------------------------------------------------
    def _scan(self) -> None:
        """Index every sound record after the cursor; count, report and skip damaged ones."""
        size = self._size
        offset = self._cursor if self._cursor <= size else 0
        previous_last_us = 0  # the time span a record with a damaged header lay within
        damaged_header = False
        while offset < size:
            fields = _header(os.pread(self._fd, HEADER_SIZE, offset))
            if fields is None:
                following = self._next_header(offset + 1, size)
                if following is None:
                    break  # nothing sound follows: a torn (or damaged) tail, cut below
                self.counters.corrupt_records += 1
                damaged_header = True
                log.error("journal %s: %d damaged bytes at offset %d skipped (one record lost)",
                          self.path, following - offset, offset)  # fmt: skip
                offset = following
                continue
            length, rows, first_us, last_us, payload_crc = fields
            if damaged_header:
                damaged_header = False
                self._lost(previous_last_us or first_us, first_us, 0, "journal header damaged")
            total = HEADER_SIZE + length
            if offset + total > size:
                break  # the last record was cut short: torn
            payload = os.pread(self._fd, length, offset + HEADER_SIZE)
            if zlib.crc32(payload) != payload_crc:
                self.counters.corrupt_records += 1
                self._lost(first_us, last_us, rows, "journal record corrupt")
                log.error("journal %s: record at offset %d is corrupt: %d rows lost",
                          self.path, offset, rows)  # fmt: skip
            else:
                self._records.append((offset, total))
                self._pending_bytes += total
            previous_last_us = last_us
            offset += total
        if offset < size:
            self.counters.torn_records += 1
            log.warning("journal %s: cut %d bytes of a torn record at byte %d",
                        self.path, size - offset, offset)  # fmt: skip
            self._truncate(offset)
        if not self._records:
            self._reset()
        elif self._records[0][0] != self._cursor:
            self._write_cursor(self._records[0][0])  # damage before the first record: done

    def _upgrade_v1(self) -> None:
        """Rewrite a journal of the first format (`u32 length | u32 crc32 | payload`, no
        header) in this one, so batches journaled before an upgrade are replayed, not read
        as damage. Its readable records after the cursor are kept; a torn tail is dropped."""
        if not self._size or os.pread(self._fd, 4, 0) == MAGIC:
            return
        offset = self._cursor if self._cursor <= self._size else 0
        records: list[bytes] = []
        while offset + _V1_HEADER.size <= self._size:
            length, crc = _V1_HEADER.unpack(os.pread(self._fd, _V1_HEADER.size, offset))
            payload = os.pread(self._fd, length, offset + _V1_HEADER.size)
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            try:
                token, columns = _decoder.decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                break
            records.append(encode_record(token, columns, 0, 0))
            offset += _V1_HEADER.size + length
        if not records:
            return  # not the old format: the scan reports what it is
        tmp = self.path.with_suffix(".log.v2")
        tmp.write_bytes(b"".join(records))
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._write_cursor(0)
        log.info("journal %s: %d batches of the first format rewritten", self.path, len(records))

    def _lost(self, first_us: int, last_us: int, rows: int, reason: str) -> None:
        self.counters.lost_rows += rows
        self.losses.append(Loss(self.name, first_us, last_us, rows, reason))

    def _next_header(self, start: int, size: int) -> int | None:
        """Offset of the next sound header at or after `start`, None if there is none.

        Reads chunks that overlap by a header, so a header across a chunk border is seen whole.
        """
        position = start
        while position < size:
            chunk = os.pread(self._fd, _SCAN_CHUNK + HEADER_SIZE, position)
            at = chunk.find(MAGIC)
            while at != -1 and at < _SCAN_CHUNK:
                if _header(memoryview(chunk)[at:]) is not None:
                    return position + at
                at = chunk.find(MAGIC, at + 1)
            position += _SCAN_CHUNK
        return None

    def take_losses(self) -> list[Loss]:
        """The losses found so far, once each."""
        losses, self.losses = self.losses, []
        return losses

    # -- operations ------------------------------------------------------------------------
    def append(
        self, token: str, columns: list[list[Any]], now: float, *, span: tuple[int, int] = (0, 0)
    ) -> int:
        """Add a batch at the end (`span`: the first and last time its rows carry, µs); returns
        its size in bytes. Raises JournalFull at the cap, OSError when the disk refuses it
        (the file is then truncated back to where the record began)."""
        record = encode_record(token, columns, *span)
        total = len(record)
        if self._pending_bytes + total > self.max_bytes:
            raise JournalFull(f"journal {self.path} would exceed {self.max_bytes} bytes")
        offset = self._size
        try:
            view = memoryview(record)
            while view:
                view = view[os.pwrite(self._fd, view, offset + total - len(view)) :]
        except OSError as e:
            self.counters.write_failures += 1
            self._truncate(offset)
            raise OSError(e.errno, f"journal {self.path}: {e.strerror}") from e
        self._size = offset + total
        self._records.append((offset, total))
        self._pending_bytes += total
        self._dirty = True
        if now - self._last_sync >= self.fsync_interval_secs:
            self.sync(now)
        return total

    def sync(self, now: float) -> None:
        """fsync what was appended since the last sync (cheap when nothing was); a failure is
        counted and logged, and the data stays dirty for the next try."""
        if self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as e:
                self.counters.sync_failures += 1
                log.error("journal %s: fsync failed: %s", self.path, e)
                return
            self._dirty = False
        self._last_sync = now

    def peek(self) -> tuple[str, list[list[Any]]]:
        """The oldest pending batch as (token, columns). Raises IndexError when empty."""
        offset, total = self._records[0]
        return _decoder.decode(os.pread(self._fd, total - HEADER_SIZE, offset + HEADER_SIZE))

    def pop(self) -> None:
        """Mark the oldest pending batch as stored; truncates the file once all are."""
        _, total = self._records.popleft()
        self._pending_bytes -= total
        if self._records:
            self._write_cursor(self._records[0][0])  # skips any damage in between, once
        else:
            self._reset()

    def _truncate(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)
        except OSError as e:
            log.error("journal %s: cannot truncate to %d bytes: %s", self.path, size, e)
            return
        self._size = size

    def _reset(self) -> None:
        self._truncate(0)
        self._write_cursor(0)

    def close(self) -> None:
        """fsync and close the file (errors are counted and logged)."""
        if self._fd < 0:
            return
        if self._dirty:
            self.sync(float("inf"))
        os.close(self._fd)
        self._fd = -1
