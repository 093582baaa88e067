"""The durable state of webhook delivery: endpoints, pending deliveries and dead letters.

On disk it is one append-only JSON-lines journal, `outbox.jsonl`, in the directory given (mode
0600: it holds secrets). Each line is one change, tagged by `op`:

    {"op":"endpoint","endpoint":{...}}            an endpoint was added or changed
    {"op":"endpoint_removed","id":"..."}
    {"op":"pending","delivery":{...}}             a delivery was queued (body base64)
    {"op":"attempted","webhook_id":"...","attempts":2,"due_at":...,"last_status":500,...}
    {"op":"done","webhook_id":"..."}              delivered, given up or discarded
    {"op":"dead","letter":{...}}                  a dead letter (body base64)
    {"op":"dead_removed","webhook_id":"..."}      replayed, discarded or evicted

Lines are written at once (a crash of the process loses nothing) and fsynced periodically by
`sync()` (a crash of the host loses at most that interval). At every start, the journal is
compacted: the live state is written to a temporary file, fsynced and renamed over it. When the
journal holds many more lines than live records, the next `sync()` compacts it the same way with
the writing and fsync in a worker thread, copying over the lines appended meanwhile, so the
event loop never waits for the disk. A torn or unreadable line is skipped and counted. Times
are unix seconds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Final, TypeAlias

import msgspec
import trio

from polymon.webhooks.model import DeadLetter, DeliveryCounters, Endpoint, PendingDelivery

JOURNAL_NAME: Final = "outbox.jsonl"
# Compact when the journal is this much longer than the live state (amortised O(1) per line).
_COMPACT_MIN_LINES: Final = 1000
_COMPACT_FACTOR: Final = 4
_log = logging.getLogger(__name__)

# Runs a blocking call off the event loop (trio.to_thread.run_sync; tests gate it).
ThreadRunner: TypeAlias = Callable[[Callable[[], None]], Awaitable[None]]


class _Record(msgspec.Struct, frozen=True, tag_field="op"):
    pass


class _EndpointPut(_Record, frozen=True, tag="endpoint"):
    endpoint: Endpoint


class _EndpointRemoved(_Record, frozen=True, tag="endpoint_removed"):
    id: str


class _PendingPut(_Record, frozen=True, tag="pending"):
    delivery: PendingDelivery


class _Attempted(_Record, frozen=True, tag="attempted"):
    webhook_id: str
    attempts: int
    due_at: float
    last_status: int | None
    last_error: str


class _Done(_Record, frozen=True, tag="done"):
    webhook_id: str


class _DeadPut(_Record, frozen=True, tag="dead"):
    letter: DeadLetter


class _DeadRemoved(_Record, frozen=True, tag="dead_removed"):
    webhook_id: str


_AnyRecord = (
    _EndpointPut | _EndpointRemoved | _PendingPut | _Attempted | _Done | _DeadPut | _DeadRemoved
)
_DECODER: Final = msgspec.json.Decoder(_AnyRecord)
_ENCODER: Final = msgspec.json.Encoder()


class Outbox:
    """Endpoints, pending deliveries and dead letters, kept in memory and journaled to disk.

    The dicts are the live state; change them only through the methods, which journal each
    change. `batch()` groups the changes of one operation into a single write.
    """

    def __init__(
        self,
        directory: Path,
        counters: DeliveryCounters,
        *,
        run_in_thread: ThreadRunner = trio.to_thread.run_sync,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / JOURNAL_NAME
        self.endpoints: dict[str, Endpoint] = {}
        self.pending: dict[str, PendingDelivery] = {}
        self.dead: dict[str, DeadLetter] = {}
        self._counters = counters
        self._run_in_thread = run_in_thread
        self._fd = -1
        self._generation = 0  # bumped whenever the journal file is replaced
        self._lines = 0
        self._batch: list[bytes] | None = None
        self._unsynced = False
        self._written = trio.Event()
        self._must_compact = False
        self._compaction_due = False
        self._dir_unsynced = False
        # Lines appended while a background compaction runs (None when none runs).
        self._capture: list[bytes] | None = None
        self._load()
        # Also cuts off a torn last line, which the next append would otherwise extend.
        self._compact()
        # Left over if a background compaction was cut short by a shutdown.
        self.path.with_name(self.path.name + ".compacting").unlink(missing_ok=True)
        if self._fd < 0:
            raise OSError(f"cannot open the webhook outbox {self.path}")

    # -- changes ----------------------------------------------------------------------------

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Add or replace an endpoint."""
        self.endpoints[endpoint.id] = endpoint
        self._emit(_EndpointPut(endpoint))

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Forget an endpoint (its pending deliveries are the caller's business)."""
        if self.endpoints.pop(endpoint_id, None) is not None:
            self._emit(_EndpointRemoved(endpoint_id))

    def add_pending(self, delivery: PendingDelivery) -> None:
        """Queue a delivery."""
        self.pending[delivery.webhook_id] = delivery
        self._emit(_PendingPut(delivery))

    def update_pending(self, delivery: PendingDelivery) -> None:
        """Record a failed attempt: attempts, next due time, last status and error."""
        self.pending[delivery.webhook_id] = delivery
        self._emit(
            _Attempted(
                delivery.webhook_id,
                delivery.attempts,
                delivery.due_at,
                delivery.last_status,
                delivery.last_error,
            )
        )

    def finish(self, webhook_id: str) -> None:
        """Remove a pending delivery (delivered, given up or discarded)."""
        if self.pending.pop(webhook_id, None) is not None:
            self._emit(_Done(webhook_id))

    def add_dead(self, letter: DeadLetter) -> None:
        """Keep a dead letter (replacing, and moving to the newest end, one with the same id)."""
        self.dead.pop(letter.webhook_id, None)
        self.dead[letter.webhook_id] = letter
        self._emit(_DeadPut(letter))

    def remove_dead(self, webhook_id: str) -> None:
        """Drop a dead letter."""
        if self.dead.pop(webhook_id, None) is not None:
            self._emit(_DeadRemoved(webhook_id))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Write every change made inside the block with one system call, at its end."""
        if self._batch is not None:
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            lines, self._batch = self._batch, None
            if lines:
                self._write(lines)

    # -- durability -------------------------------------------------------------------------

    async def wait_written(self) -> None:
        """Return once something was written that is not fsynced yet."""
        if not self._unsynced:
            await self._written.wait()

    async def sync(self) -> None:
        """Make what was written durable, off the event loop: compact if due, then fsync."""
        if self._fd < 0:
            return
        if self._compaction_due:
            await self._compact_in_background()
        if not self._unsynced:
            return
        self._unsynced = False
        if self._written.is_set():
            self._written = trio.Event()
        # A duplicate keeps the file open even if the journal is swapped meanwhile.
        fd = os.dup(self._fd)
        try:
            await self._run_in_thread(partial(os.fsync, fd))
            if self._dir_unsynced:
                self._dir_unsynced = False
                await self._run_in_thread(partial(_fsync_dir, self.path.parent))
        except OSError as exc:
            self._failed("fsync", exc)
        finally:
            os.close(fd)

    def close(self) -> None:
        """fsync and close the journal; the object is unusable afterwards."""
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
                if self._dir_unsynced:
                    _fsync_dir(self.path.parent)
            except OSError as exc:
                self._failed("fsync", exc)
            os.close(self._fd)
            self._fd = -1

    # -- internals --------------------------------------------------------------------------

    def _emit(self, record: _Record) -> None:
        line = _ENCODER.encode(record) + b"\n"
        if self._batch is not None:
            self._batch.append(line)
        else:
            self._write([line])

    def _write(self, lines: Sequence[bytes]) -> None:
        if self._fd < 0:
            raise RuntimeError("the webhook outbox is closed")
        if self._must_compact:
            self._compact()  # the state in memory already includes these lines
            return
        data = b"".join(lines)
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            # A partial line may be on disk now: rewrite the whole state before appending again.
            self._failed("write", exc)
            self._must_compact = True
            return
        if self._capture is not None:
            self._capture.append(data)
        self._lines += len(lines)
        self._unsynced = True
        self._written.set()
        live = len(self.endpoints) + len(self.pending) + len(self.dead)
        if self._lines > _COMPACT_MIN_LINES + _COMPACT_FACTOR * live:
            self._compaction_due = True

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = _DECODER.decode(line)
            except msgspec.DecodeError:
                self._counters.journal_skipped_lines += 1
                continue
            self._apply(record)
        if self._counters.journal_skipped_lines:
            _log.warning(
                "webhook outbox %s: skipped %d unreadable lines",
                self.path,
                self._counters.journal_skipped_lines,
            )

    def _apply(self, record: _AnyRecord) -> None:
        if isinstance(record, _EndpointPut):
            self.endpoints[record.endpoint.id] = record.endpoint
        elif isinstance(record, _EndpointRemoved):
            self.endpoints.pop(record.id, None)
        elif isinstance(record, _PendingPut):
            self.pending[record.delivery.webhook_id] = record.delivery
        elif isinstance(record, _Attempted):
            old = self.pending.get(record.webhook_id)
            if old is not None:
                self.pending[record.webhook_id] = msgspec.structs.replace(
                    old,
                    attempts=record.attempts,
                    due_at=record.due_at,
                    last_status=record.last_status,
                    last_error=record.last_error,
                )
        elif isinstance(record, _Done):
            self.pending.pop(record.webhook_id, None)
        elif isinstance(record, _DeadPut):
            self.dead.pop(record.letter.webhook_id, None)
            self.dead[record.letter.webhook_id] = record.letter
        else:
            self.dead.pop(record.webhook_id, None)

    def _snapshot(self) -> tuple[bytes, int]:
        records: list[_Record] = [_EndpointPut(e) for e in self.endpoints.values()]
        records += [_PendingPut(p) for p in self.pending.values()]
        records += [_DeadPut(d) for d in self.dead.values()]
        return b"".join(_ENCODER.encode(r) + b"\n" for r in records), len(records)

    def _compact(self) -> None:
        data, count = self._snapshot()
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            _write_file(tmp, data)
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            new_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            self._failed("compaction", exc)
            self._must_compact = True
            return
        self._swap(new_fd, count)
        self._unsynced = False
        if self._written.is_set():
            self._written = trio.Event()  # nobody waits on a set event, so none is stranded
        self._must_compact = False

    async def _compact_in_background(self) -> None:
        self._compaction_due = False
        data, count = self._snapshot()
        generation = self._generation
        tmp = self.path.with_name(self.path.name + ".compacting")
        self._capture = []
        try:
            await self._run_in_thread(partial(_write_file, tmp, data))
            captured = b"".join(self._capture)
        except OSError as exc:
            self._failed("compaction", exc)
            return
        finally:
            self._capture = None
        if generation != self._generation or self._fd < 0:
            return  # the journal was rewritten or closed meanwhile: this snapshot is stale
        try:
            new_fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
            try:
                _write_all(new_fd, captured)
                os.replace(tmp, self.path)
            except OSError:
                os.close(new_fd)
                raise
        except OSError as exc:
            self._failed("compaction", exc)
            return
        self._swap(new_fd, count + captured.count(b"\n"))
        # The copied lines and the rename become durable with the next fsync.
        self._unsynced = self._dir_unsynced = True
        self._written.set()

    def _swap(self, new_fd: int, lines: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = new_fd
        self._generation += 1
        self._lines = lines

    def _failed(self, what: str, exc: OSError) -> None:
        self._counters.journal_errors += 1
        _log.error("webhook outbox %s: %s failed: %s", self.path, what, exc)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
