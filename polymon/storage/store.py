"""One ClickHouse store over clickhouse-connect: embedded chDB (`chdb:///dir`) or a server.

Only construction differs between the backends; every statement is sent one at a time and
names its database (`{db}.table`), so the same SQL serves both. The clients are synchronous,
so every call runs in `trio.to_thread.run_sync` under a capacity limiter: the event loop never
blocks on ClickHouse, and a cancelled call (a shutdown deadline) is abandoned rather than
waited for, so a hung server never holds the process: an insert that still lands later is
deduplicated by its token when the journaled batch is replayed. Errors come out as
`StorageUnavailable` (transient: retry or journal) or `StorageRejected` (the statement or the
rows themselves are bad).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from decimal import DecimalException
from functools import partial
from itertools import chain
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import clickhouse_connect
import numpy as np
import trio
from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.datatypes.container import Array
from clickhouse_connect.datatypes.numeric import Decimal as DecimalType
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.common import write_array
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from polymon.config import StorageConfig
from polymon.core.redact import redact_url
from polymon.errors import StorageError, StorageRejected, StorageUnavailable
from polymon.storage.rows import UNITS, UNITS_ARRAY, Columns, Table
from polymon.storage.schema import MIGRATIONS_TABLE, Migration, load_migrations, render

log = logging.getLogger("polymon.storage")
_R = TypeVar("_R")

# Server error codes that say "not now" rather than "never": the batch is retried or journaled.
# UNKNOWN_TABLE (60) and UNKNOWN_DATABASE (81) among them: a server's schema is applied while
# the writers already run, and rows must wait for it, not be dead-lettered.
_TRANSIENT_CODES = frozenset({
    3, 60, 81, 159, 164, 202, 203, 209, 210, 225, 236, 241, 242, 252, 285, 319, 394, 425, 439,
    999, 1000,
})  # fmt: skip
_CLIENT_SETTINGS = {"session_timezone": "UTC"}
# The embedded engine runs inside polymon, so its JIT would need memory that is first writable
# and then executable, which systemd's MemoryDenyWriteExecute=yes refuses (queries then fail
# with CANNOT_MPROTECT once an expression has been seen a few times). The JIT only pays off on
# large aggregations; polymon's queries are small, so the embedded engine runs without it.
CHDB_SETTINGS = _CLIENT_SETTINGS | {
    "compile_expressions": 0,
    "compile_aggregate_expressions": 0,
    "compile_sort_description": 0,
}
_OPEN_PATHS: set[str] = set()  # embedded engine paths this process has opened
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}
_ARRAY_ROWS_PER_PIECE = 500  # ~50k array values: well under a millisecond of numpy


class _UnitsDecimal(DecimalType, registered=False):
    """Decimal(P, S) written from integers already scaled by 10**S (no Decimal objects)."""

    def _write_column_binary(self, column: Sequence[Any], dest: bytearray, ctx: Any) -> None:
        write_array(self._array_type, column, dest, ctx.column_name)


class _UnitsArray(Array, registered=False):
    """Array(Decimal(18, 6)) written from lists of integers scaled by 10**6: the offsets and
    the values in one numpy pass each (the generic path builds a Decimal per value)."""

    def write_column_data(self, column: Sequence[Any], dest: bytearray, ctx: Any) -> None:
        lengths = np.fromiter(map(len, column), dtype=np.uint64, count=len(column))
        dest += np.cumsum(lengths, dtype=np.uint64).astype("<u8").tobytes()
        # In pieces: each is one C call holding the GIL, and this runs in a worker thread
        # while the event loop waits for it between pieces.
        for start in range(0, len(column), _ARRAY_ROWS_PER_PIECE):
            piece = column[start : start + _ARRAY_ROWS_PER_PIECE]
            count = int(lengths[start : start + _ARRAY_ROWS_PER_PIECE].sum())
            try:
                values = np.fromiter(chain.from_iterable(piece), dtype=np.int64, count=count)
            except (TypeError, ValueError, OverflowError) as e:
                raise DataError(f"column {ctx.column_name}: not integer units ({e})") from e
            dest += values.astype("<i8").tobytes()


def column_type(type_name: str) -> ClickHouseType:
    """The clickhouse-connect type a column is sent as.

    `UNITS` is Decimal(18, 6) from 1e-6 units, `UNITS_ARRAY` an Array of them.
    LowCardinality(String) goes as String: the server builds the dictionary in C++, much
    faster than the client does in Python.
    """
    if type_name == "LowCardinality(String)":
        type_name = "String"
    if type_name == UNITS:
        base = get_from_name("Decimal(18, 6)")
        assert isinstance(base, DecimalType)
        return _UnitsDecimal(base.type_def, base.prec, base.byte_size * 8, base.scale)
    if type_name == UNITS_ARRAY:
        return _UnitsArray(get_from_name("Array(Decimal(18, 6))").type_def)
    return get_from_name(type_name)


def classify(error: BaseException) -> StorageError:
    """Map a client, engine or transport error to StorageUnavailable or StorageRejected."""
    if isinstance(error, StorageError):
        return error
    text = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    if isinstance(error, OperationalError | OSError | TimeoutError):
        return StorageUnavailable(text)
    if isinstance(error, DatabaseError) and not isinstance(error, DataError):
        code = getattr(error, "code", None)
        if code is None or int(code) in _TRANSIENT_CODES:
            return StorageUnavailable(text)
        return StorageRejected(text)
    if isinstance(error, DataError | ValueError | TypeError | DecimalException | struct.error):
        return StorageRejected(text)
    return StorageUnavailable(text)


def _connect(url: str, user: str, password: str, timeout_secs: float, compress: bool) -> Client:
    if url.startswith("chdb://"):
        path = url.removeprefix("chdb://")
        if not path.startswith("/"):
            raise StorageError(
                f"storage url {redact_url(url)!r}: chdb needs an absolute path (chdb:///dir)"
            )
        _check_not_locked(path)
        client = clickhouse_connect.get_client(dsn=f"chdb://{path}", settings=CHDB_SETTINGS)
        _OPEN_PATHS.add(os.path.realpath(path))
        return client
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StorageError(
            f"storage url {redact_url(url)!r}: expected chdb:///dir or http(s)://host:port/db"
        )
    return clickhouse_connect.get_client(
        interface=parts.scheme,
        host=parts.hostname,
        port=parts.port or (8443 if parts.scheme == "https" else 8123),
        username=unquote(parts.username) if parts.username else user,
        password=unquote(parts.password) if parts.password else password,
        connect_timeout=min(timeout_secs, 10.0),
        send_receive_timeout=timeout_secs,
        autogenerate_session_id=False,
        compress=compress,
        settings=_CLIENT_SETTINGS,
    )


def _check_not_locked(path: str) -> None:
    """Fail clearly (before the engine prints its own error) if another process holds the
    embedded store: the engine keeps an exclusive flock on `<dir>/status`."""
    status = os.path.join(path, "status")
    if not os.path.exists(status):
        return
    with open(status, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if _held_by_this_process(path):
                return
            raise StorageError(
                f"the embedded store {path} is in use by another process "
                "(stop that polymon first, or point storage.url at a ClickHouse server)"
            ) from None
        fcntl.flock(f, fcntl.LOCK_UN)


def _held_by_this_process(path: str) -> bool:
    # Several clients of one process share the engine: its own lock is not a conflict.
    return os.path.realpath(path) in _OPEN_PATHS


def database_of(url: str, default: str) -> str:
    """The database an http(s) URL names in its path, else `default` (always for chdb)."""
    if url.startswith("chdb://"):
        return default
    path = urlsplit(url).path.strip("/")
    return path or default


class Store:
    """A ClickHouse database: migrations, inserts, queries; every call off the event loop.

    Writes share one client (inserts serialize on it); reads use a second client so a slow
    export never delays a flush.
    """

    def __init__(
        self,
        url: str,
        *,
        database: str,
        user: str = "default",
        password: str = "",
        timeout_secs: float = 30.0,
        query_timeout_secs: float = 30.0,
        compress: bool = True,
    ) -> None:
        self.url = url
        self.shown_url = redact_url(url)  # what logs, errors and the API may show
        self.database = database
        self._open = partial(_connect, url, user, password, timeout_secs, compress)
        self.query_timeout_secs = query_timeout_secs
        self._writer: Client | None = None
        self._reader: Client | None = None
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        self._types: dict[str, list[ClickHouseType]] = {}
        self._in_flight = 0  # calls running in worker threads (some perhaps abandoned)
        self._in_flight_lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------------------
    def _client(self, role: str) -> Client:
        client = self._writer if role == "write" else self._reader
        if client is None:
            try:
                client = self._open()
            except StorageError:
                raise
            except Exception as e:
                raise classify(e) from e
            if role == "write":
                self._writer = client
            else:
                self._reader = client
        return client

    async def _call(self, role: str, fn: Callable[[Client], _R]) -> _R:
        limiter = self._write_limiter if role == "write" else self._read_limiter

        def run() -> _R:
            with self._in_flight_lock:
                self._in_flight += 1
            try:
                client = self._client(role)
                try:
                    return fn(client)
                except Exception as e:
                    error = classify(e)
                    if isinstance(error, StorageUnavailable) and not self.url.startswith("chdb://"):
                        self._drop(role)  # a broken HTTP connection pool is rebuilt next time
                    raise error from e
            finally:
                with self._in_flight_lock:
                    self._in_flight -= 1

        return await trio.to_thread.run_sync(run, limiter=limiter, abandon_on_cancel=True)

    def _drop(self, role: str) -> None:
        client = self._writer if role == "write" else self._reader
        if role == "write":
            self._writer = None
        else:
            self._reader = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def close(self) -> None:
        """Close both clients (releases the embedded engine once no other client holds it).

        While an abandoned call still runs in a thread, an embedded engine's clients are left
        open for the process exit to release: closing them under the call is not safe."""
        if self._in_flight and self.url.startswith("chdb://"):
            log.warning("storage: %d calls still running at close; leaving them to the exit",
                        self._in_flight)  # fmt: skip
            return
        self._drop("write")
        self._drop("read")

    # -- schema ----------------------------------------------------------------------------
    async def migrate(self, migrations: list[Migration] | None = None) -> list[str]:
        """Apply every schema file not yet recorded; returns the names applied. Idempotent."""
        migrations = load_migrations() if migrations is None else migrations
        db = self.database
        await self.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        await self.command(render(MIGRATIONS_TABLE, db))
        rows = await self.query(f"SELECT version, checksum FROM {db}.schema_migrations FINAL")
        done = {int(v): str(c) for v, c in rows}
        applied = []
        for m in migrations:
            if m.version in done:
                if done[m.version] != m.checksum:
                    log.warning("schema %03d_%s changed since it was applied", m.version, m.name)
                continue
            for statement in m.rendered(db):
                await self.command(statement)
            await self.insert_rows(
                "schema_migrations", ["version", "name", "checksum"],
                [[m.version], [m.name], [m.checksum]],
            )  # fmt: skip
            applied.append(f"{m.version:03d}_{m.name}")
        return applied

    # -- calls -----------------------------------------------------------------------------
    async def command(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """Run one statement that returns no rows (DDL, OPTIMIZE, ...)."""
        return await self._call("write", lambda c: c.command(sql, parameters=params))

    async def insert(self, table: Table, columns: Columns, token: str = "") -> None:
        """Insert a column-oriented batch; `token` makes a retried batch land once."""
        types = self._types.get(table.name)
        if types is None:
            types = self._types[table.name] = [column_type(t) for _, t in table.columns]
        settings: dict[str, Any] = dict(INSERT_SETTINGS)
        if token:
            settings["insert_deduplication_token"] = token
        database = self.database

        def insert(c: Client) -> None:
            context = c.create_insert_context(
                table.name, table.names, database, types, column_oriented=True,
                settings=settings,
            )  # fmt: skip
            try:
                c.insert(data=columns, context=context)
            finally:
                # clickhouse-connect's context refers to itself (a bound method it keeps), and
                # so keeps the batch alive until a garbage collection: freeing 10k-row batches
                # inside GC passes held the event loop for tens of ms. Free them here, now.
                vars(context).clear()

        await self._call("write", insert)

    async def insert_rows(self, table: str, names: list[str], columns: Columns) -> None:
        """Insert a small column-oriented batch into any table (types looked up by the client)."""
        await self._call(
            "write",
            lambda c: c.insert(
                table, columns, database=self.database, column_names=names, column_oriented=True
            ),
        )

    async def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one SELECT (server-side `{name:Type}` parameters) and return its rows."""
        return (await self.query_columns(sql, params))[1]

    async def query_columns(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Like `query`, with the result's column names."""
        settings = {"max_execution_time": int(self.query_timeout_secs)}
        result = await self._call(
            "read", lambda c: c.query(sql, parameters=params, settings=settings)
        )
        return list(result.column_names), [tuple(r) for r in result.result_rows]

    async def ping(self) -> bool:
        """True when the server answers `SELECT 1`."""
        try:
            rows = await self._call("write", lambda c: c.query("SELECT 1").result_rows)
        except StorageError:
            return False
        return bool(rows)

    async def stream(
        self, sql: str, params: dict[str, Any] | None = None, *, block_rows: int = 10_000
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """Yield the rows of one SELECT block by block, so a large export never sits in memory.

        The stream gets a client of its own (an open stream locks its connection) and one
        thread call per block; leaving the loop early closes the stream.
        """
        client = await trio.to_thread.run_sync(self._open, limiter=self._read_limiter)
        settings = {
            "max_execution_time": int(self.query_timeout_secs),
            "max_block_size": block_rows,
        }
        try:
            try:
                context = await trio.to_thread.run_sync(
                    lambda: client.query_row_block_stream(sql, parameters=params, settings=settings)
                )
                blocks = await trio.to_thread.run_sync(context.__enter__)
            except Exception as e:
                raise classify(e) from e
            try:
                while True:
                    try:
                        block = await trio.to_thread.run_sync(next, blocks, None)
                    except Exception as e:
                        raise classify(e) from e
                    if block is None:
                        return
                    yield [tuple(r) for r in block]
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(context.__exit__, None, None, None)
        finally:
            client.close()


def open_store(url: str, cfg: StorageConfig) -> Store:
    """The store at `url` (the effective storage URL) with the [storage] settings; not yet
    connected."""
    return Store(
        url, database=database_of(url, cfg.database), user=cfg.user, password=cfg.password,
        timeout_secs=cfg.insert_timeout_secs, query_timeout_secs=cfg.query_timeout_secs,
        compress=cfg.compress,
    )  # fmt: skip


async def migrate_until_ready(store: Store) -> None:
    """Apply the schema, retrying while a server is unreachable (writers journal meanwhile).

    An embedded store that cannot be opened (another process holds its directory) is fatal.
    """
    delay = 1.0
    while True:
        try:
            applied = await store.migrate()
        except StorageUnavailable as e:
            if store.url.startswith("chdb://"):
                raise StorageError(
                    f"cannot open the embedded store at {store.shown_url}: {e}"
                ) from e
            log.warning("schema migration failed, retrying in %.0f s: %s", delay, e)
            await trio.sleep(delay)
            delay = min(delay * 2, 60.0)
        else:
            if applied:
                log.info("schema: applied %s", ", ".join(applied))
            return
