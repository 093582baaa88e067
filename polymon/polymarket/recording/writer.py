"""The Recorder: every frame the market channel delivers (and what the feed sent, opened and
closed), buffered on the hot path and written as rotated gzip NDJSON off it.

Cost on the hot path is one tuple appended to a list (`Tap.frame`). Every
`flush_interval_secs` the run task takes the buffer, encodes it in slices of `_SLICE` records
with a checkpoint between them (each slice well under a millisecond of the event loop), and
hands the encoded bytes to a worker thread that compresses them into one gzip member and
appends it to the open `.part` file (zlib and file writes release the GIL, so the readers keep
running). A file is closed, renamed and subjected to retention at each UTC-aligned
`rotate_interval_secs` boundary or once it holds `max_file_bytes`.

When writing falls behind, at most `max_pending_records` wait; later ones are dropped, counted
and marked in the file with a `dropped` record at the place they went missing.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec
import trio

from polymon.config import RecordConfig
from polymon.core.model import AssetMeta
from polymon.core.triggers import Trigger
from polymon.polymarket.recording import records as r
from polymon.polymarket.recording.files import enforce_retention, gzip_member, repair_all
from polymon.polymarket.recording.records import Record, RunInfo, encode_json

Row = tuple[int, float, int, "str | bytes"]
"""(wall ns, monotonic s, code of (kind, connection, shard), payload): a record to encode."""
_SLICE: Final = 512
_CLOSE_GRACE_SECS: Final = 10.0
_encode_lines = msgspec.json.Encoder().encode_lines
log = logging.getLogger(__name__)


class Buffer:
    """Records waiting to be written, column by column: appending one stores four references
    to objects that exist already (the clock readings, a small int, the frame) and allocates
    nothing the garbage collector tracks, so a full buffer adds no GC work to the hot path."""

    __slots__ = ("code", "data", "m", "t")

    def __init__(self) -> None:
        self.t: list[int] = []
        self.m: list[float] = []
        self.code: list[int] = []
        self.data: list[str | bytes] = []

    def add(self, t_ns: int, now: float, code: int, data: str | bytes) -> None:
        """Append one record; O(1) amortized."""
        self.data.append(data)
        self.t.append(t_ns)
        self.m.append(now)
        self.code.append(code)

    def rows(self, start: int, stop: int) -> list[Row]:
        """Records start..stop-1 as rows."""
        return list(zip(self.t[start:stop], self.m[start:stop], self.code[start:stop],
                        self.data[start:stop], strict=True))  # fmt: skip

    def __len__(self) -> int:
        return len(self.data)


class Tap:
    """One connection's end of the Recorder (what `polymarket.feed.Connection` calls)."""

    __slots__ = ("frame_code", "name", "recorder", "shard")

    def __init__(self, recorder: Recorder, name: str, shard: int) -> None:
        self.recorder = recorder
        self.name = name
        self.shard = shard
        self.frame_code = recorder.code(r.FRAME, name, shard)

    def frame(self, frame: str | bytes, now: float, t_ns: int) -> None:
        """Record one frame as received at (`now`, `t_ns`): the hot path, O(1)."""
        rec = self.recorder
        buf = rec.buffer
        data = buf.data
        if len(data) < rec.max_pending:
            data.append(frame)
            buf.t.append(t_ns)
            buf.m.append(now)
            buf.code.append(self.frame_code)
        else:
            rec.dropped += 1

    def sent(self, message: str | bytes) -> None:
        """Record a subscription message about to be sent."""
        self.recorder.note(r.SENT, message, conn=self.name, shard=self.shard)

    def opened(self) -> None:
        """Record that a session opened (the upgrade succeeded)."""
        self.recorder.note(r.OPEN, "", conn=self.name, shard=self.shard)

    def closed(self, reason: str, assets: list[str]) -> None:
        """Record that a session ended, why, and the tokens it carried."""
        info = encode_json(r.CloseInfo(reason, assets))
        self.recorder.note(r.CLOSE, info, conn=self.name, shard=self.shard)


class _File:
    """The open `.part` file (used from the worker thread only)."""

    def __init__(self, directory: Path, stem: str, period_end_ns: int) -> None:
        self.part = directory / (stem + r.PART_SUFFIX)
        self.final = directory / (stem + r.SUFFIX)
        self.period_end_ns = period_end_ns
        self.fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.bytes = 0

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.bytes += len(data)

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)
        os.replace(self.part, self.final)


class Recorder:
    """Records the feed into `directory` (see the module docstring).

    Counters: `records` and `bytes` written, `files` closed, `dropped` (now) and
    `dropped_total`, `write_errors`.
    """

    def __init__(
        self,
        cfg: RecordConfig,
        directory: Path,
        info: RunInfo,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.cfg = cfg
        self.directory = directory
        self.info = info
        self.clock_ns = clock_ns
        self.max_pending = cfg.max_pending_records
        self.buffer = Buffer()
        self._codes: dict[tuple[str, str, int], int] = {}
        self._decoded: list[tuple[str, str, int]] = []
        self.dropped = 0
        self.dropped_total = 0
        self.seq = 0
        self.records = 0
        self.bytes = 0
        self.files = 0
        self.write_errors = 0
        self.repaired: list[str] = []
        self._period_ns = max(1, round(cfg.rotate_interval_secs * 1e9))
        self._file: _File | None = None
        self._numbered = 0
        self._lock = trio.Lock()
        self._info_json = encode_json(info).decode()

    # -- what the service and the feed call ---------------------------------------------------
    def tap(self, name: str, shard: int) -> Tap:
        """The tap of one connection."""
        return Tap(self, name, shard)

    def code(self, kind: str, conn: str, shard: int) -> int:
        """The small integer a buffered record carries for its (kind, connection, shard)."""
        key = (kind, conn, shard)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._decoded)
            self._decoded.append(key)
        return code

    def note(
        self,
        kind: str,
        data: str | bytes,
        *,
        conn: str = "",
        shard: int = -1,
        now: float | None = None,
        t_ns: int | None = None,
    ) -> None:
        """Record an event of `kind` now (or at the given clock readings); O(1)."""
        if len(self.buffer) >= self.max_pending:
            self.dropped += 1
            return
        t = self.clock_ns() if t_ns is None else t_ns
        m = trio.current_time() if now is None else now
        self.buffer.add(t, m, self.code(kind, conn, shard), data)

    def track(self, shard: int, metas: list[AssetMeta]) -> None:
        """Record that `shard` starts tracking these tokens."""
        if metas:
            self.note(r.TRACK, encode_json(metas), shard=shard)

    def untrack(self, shard: int, asset_ids: list[str], now: float, wall_us: int) -> None:
        """Record that `shard` drops these tokens (with the clock readings it used)."""
        if asset_ids:
            self.note(r.UNTRACK, encode_json(asset_ids), shard=shard, now=now,
                      t_ns=wall_us * 1000)  # fmt: skip

    def rest_book(self, book: bytes, now: float, wall_us: int) -> None:
        """Record a REST resync book (its JSON) right before it is applied."""
        self.note(r.REST, book, now=now, t_ns=wall_us * 1000)

    def rest_failed(self, asset_ids: list[str], now: float) -> None:
        """Record the tokens a REST resync did not deliver."""
        if asset_ids:
            self.note(r.REST_FAILED, encode_json(asset_ids), now=now)

    def trigger_added(self, shard: int, trigger: Trigger, now: float) -> None:
        """Record a trigger placed on `shard` (without its webhook URL and secret)."""
        spec = msgspec.structs.replace(trigger.spec, webhook_url="", webhook_secret="")
        body = encode_json(msgspec.structs.replace(trigger, spec=spec))
        self.note(r.TRIGGER_ADD, body, shard=shard, now=now)

    def trigger_removed(self, shard: int, trigger_id: str) -> None:
        """Record a trigger taken off `shard`."""
        self.note(r.TRIGGER_REMOVE, trigger_id, shard=shard)

    def status(self) -> dict[str, object]:
        """Counters and the open file, for /health."""
        return {
            "enabled": True, "dir": str(self.directory), "run_id": self.info.run_id,
            "file": self._file.part.name if self._file else None, "records": self.records,
            "bytes": self.bytes, "files": self.files, "pending": len(self.buffer),
            "dropped": self.dropped_total + self.dropped, "write_errors": self.write_errors,
            "repaired": self.repaired,
        }  # fmt: skip

    # -- the writer task -----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Repair what a crash left, then write every `flush_interval_secs` until cancelled;
        on cancellation write what is buffered and close the file (within a grace period)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.repaired = await trio.to_thread.run_sync(
            repair_all, self.directory, self.cfg.compress_level
        )
        if self.repaired:
            log.warning("recordings repaired after a crash: %s", ", ".join(self.repaired))
        await self._retention()
        self.note(r.RUN, self._info_json)
        task_status.started()
        try:
            while True:
                await trio.sleep(self.cfg.flush_interval_secs)
                with trio.CancelScope(shield=True):  # a batch is never half written
                    await self.flush()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_GRACE_SECS):
                await self.flush()
                await self.close_file()

    async def flush(self) -> None:
        """Encode and write everything buffered so far (rotating files as due)."""
        async with self._lock:
            batch, self.buffer = self.buffer, Buffer()
            if self.dropped:
                batch.add(self.clock_ns(), trio.current_time(), self.code(r.DROPPED, "", -1),
                          encode_json(r.Dropped(self.dropped)))  # fmt: skip
                self.dropped_total += self.dropped
                self.dropped = 0
            times = batch.t
            start, n = 0, len(batch)
            while start < n:
                first_t = times[start]
                if self._file is not None and first_t >= self._file.period_end_ns:
                    await self._close()
                head: list[Row] = []
                if self._file is None:
                    head = [(first_t, batch.m[start], self.code(r.FILE, "", -1), self._info_json)]
                    try:
                        await self._open(first_t)
                    except OSError as e:  # the next flush marks the loss with `dropped`
                        self.write_errors += 1
                        self.dropped += n - start
                        log.error("recording: cannot open a file in %s, %d records lost: %s",
                                  self.directory, n - start, e)  # fmt: skip
                        return
                assert self._file is not None
                end_ns = self._file.period_end_ns
                stop = start
                while stop < n and times[stop] < end_ns:
                    stop += 1
                data = await self.encode(head + batch.rows(start, stop))
                await self._write(data, stop - start + len(head))
                start = stop
                if self._file is not None and self._file.bytes >= self.cfg.max_file_bytes:
                    await self._close()

    async def close_file(self) -> None:
        """Close and rename the open file, if any."""
        async with self._lock:
            await self._close()

    # -- internals -------------------------------------------------------------------------------
    async def encode(self, batch: list[Row]) -> bytes:
        """NDJSON of `batch`, numbered on from the last record, in slices of `_SLICE` records
        with a checkpoint between them."""
        parts = []
        seq = self.seq
        decoded = self._decoded
        for at in range(0, len(batch), _SLICE):
            lines = []
            for t, m, code, data in batch[at : at + _SLICE]:
                seq += 1
                kind, conn, shard = decoded[code]
                if isinstance(data, bytes):
                    if kind == r.FRAME:
                        kind, data = r.FRAME_B64, base64.b64encode(data).decode()
                    else:
                        data = data.decode("utf-8", "replace")
                lines.append(Record(seq, t, m, kind, conn, shard, data))
            parts.append(_encode_lines(lines))
            await trio.lowlevel.checkpoint()
        self.seq = seq
        return b"".join(parts)

    async def _write(self, data: bytes, records: int) -> None:
        file = self._file
        assert file is not None
        level = self.cfg.compress_level
        try:
            written = await trio.to_thread.run_sync(_append_member, file, data, level)
        except OSError as e:
            self.write_errors += 1
            self.dropped += records
            log.error("recording %s: write failed, %d records lost: %s", file.part, records, e)
            return
        self.records += records
        self.bytes += written

    async def _open(self, t_ns: int) -> None:
        self._numbered += 1
        stem = r.file_stem(t_ns, self.info.run_id, self._numbered)
        period_end = (t_ns // self._period_ns + 1) * self._period_ns
        self._file = await trio.to_thread.run_sync(_File, self.directory, stem, period_end)

    async def _close(self) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            await trio.to_thread.run_sync(file.close)
        except OSError as e:
            self.write_errors += 1
            log.error("recording %s: close failed: %s", file.part, e)
        else:
            self.files += 1
        await self._retention()

    async def _retention(self) -> None:
        cfg = self.cfg
        deleted = await trio.to_thread.run_sync(
            lambda: enforce_retention(
                self.directory, max_age_secs=cfg.max_age_hours * 3600,
                max_total_bytes=cfg.max_total_bytes, now_ns=self.clock_ns(),
            )
        )  # fmt: skip
        if deleted:
            log.info("recordings deleted by retention: %s", ", ".join(deleted))


def _append_member(file: _File, data: bytes, level: int) -> int:
    member = gzip_member(data, level)
    file.append(member)
    return len(member)
