"""Opening a clickhouse-connect client (embedded chDB or a server) and classifying its errors.

`chdb:///dir` opens the embedded engine in this process (refused clearly when another process
holds the directory); `http(s)://user:pass@host:port/db` a server. Every error a client,
the engine or the transport raises maps to `StorageUnavailable` (transient: retry or journal)
or `StorageRejected` (the statement or the rows themselves are bad).
"""

from __future__ import annotations

import fcntl
import os
import struct
from decimal import DecimalException
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from polymon.core.redact import redact_url
from polymon.errors import StorageError, StorageRejected, StorageUnavailable

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


def connect(url: str, user: str, password: str, timeout_secs: float, compress: bool) -> Client:
    """A new client for the store at `url` (chdb:///dir or http(s)://host:port/db); the
    URL's own user and password, when it has them, win over `user` and `password`."""
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
