"""Shared fixtures: one embedded ClickHouse engine per test process, a fresh database per test.

chDB allows one engine path per process, so every test that stores anything (storage tests
and in-process service tests) uses the session's engine directory with its own database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polymon.storage.store import Store


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def storage_url(chdb_dir: Path) -> str:
    return f"chdb://{chdb_dir}"


@pytest.fixture
def database() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(storage_url: str, database: str) -> AsyncIterator[Store]:
    """A migrated, empty database on the session engine."""
    s = Store(storage_url, database=database)
    await s.migrate()
    yield s
    await s.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    s.close()
