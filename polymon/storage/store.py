"""One ClickHouse store over clickhouse-connect: embedded chDB (`chdb:///dir`) or a server.

Only construction differs between the backends (connect.py); every statement is sent one at
a time and names its database (`{db}.table`), so the same SQL serves both. The clients are
synchronous, so every call runs in `trio.to_thread.run_sync` under a capacity limiter: the
event loop never blocks on ClickHouse, and a cancelled call (a shutdown deadline) is abandoned
rather than waited for, so a hung server never holds the process: an insert that still lands
later is deduplicated by its token when the journaled batch is replayed. Errors come out as
`StorageUnavailable` (transient: retry or journal) or `StorageRejected` (the statement or the
rows themselves are bad).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import Any, TypeVar

import trio
from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.driver.client import Client

from polymon.config import StorageConfig
from polymon.core.redact import redact_url
from polymon.errors import StorageError, StorageUnavailable
from polymon.storage.column_types import column_type
from polymon.storage.connect import classify, connect, database_of
from polymon.storage.rows import Columns, Table
from polymon.storage.schema import MIGRATIONS_TABLE, Migration, load_migrations, render

log = logging.getLogger("polymon.storage")
_R = TypeVar("_R")

INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


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
        self._open = partial(connect, url, user, password, timeout_secs, compress)
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
