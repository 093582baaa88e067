"""The schema files: parsing, idempotent migration, and the writers' column lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymon.errors import StorageError
from polymon.storage.rows import TABLES, UNITS, UNITS_ARRAY
from polymon.storage.schema import load_migrations, split_statements
from polymon.storage.store import Store


def test_split_statements_drops_comments_and_splits_at_line_ends() -> None:
    text = "-- a comment; with a semicolon\nCREATE TABLE a (x String DEFAULT ';');\n\nSELECT 1;\n"
    assert split_statements(text) == ["CREATE TABLE a (x String DEFAULT ';')", "SELECT 1"]


def test_every_schema_file_loads_in_order() -> None:
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions) == list(range(1, len(versions) + 1))
    assert all("{db}." in s for m in migrations for s in m.statements)


def test_duplicate_versions_and_missing_dir_are_errors(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 2;")
    with pytest.raises(StorageError, match="appears twice"):
        load_migrations(tmp_path)
    with pytest.raises(StorageError, match="not found"):
        load_migrations(tmp_path / "nope")


async def test_migrate_is_idempotent(store: Store) -> None:
    assert await store.migrate() == []
    rows = await store.query(f"SELECT count() FROM {store.database}.schema_migrations FINAL")
    assert rows == [(len(load_migrations()),)]


async def test_seed_tables_and_views_exist(store: Store) -> None:
    names = {r[0] for r in await store.query(f"SHOW TABLES FROM {store.database}")}
    assert {
        "ob_bbo", "ob_snapshots", "trade_ticks", "ob_level_changes", "market_metadata",
        "ob_gap_events", "ob_dead_letters", "mv_ob_bbo_1m", "mv_ob_bbo_5m",
        "mv_ob_hourly_stats",
    } <= names  # fmt: skip


async def test_writer_columns_match_the_live_tables(store: Store) -> None:
    for table in TABLES:
        live = await store.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} "
            "AND table = {t:String} AND default_kind != 'MATERIALIZED' ORDER BY position",
            {"db": store.database, "t": table.name},
        )
        sent_as = {UNITS: "Decimal(18, 6)", UNITS_ARRAY: "Array(Decimal(18, 6))"}
        expected = [(n, sent_as.get(t, t)) for n, t in table.columns]
        assert [(n, t) for n, t in live] == expected, table.name


async def test_retention_matches_the_seed(store: Store) -> None:
    ttl = {}
    for name in ("ob_bbo", "ob_snapshots", "trade_ticks", "ob_level_changes", "market_metadata"):
        rows = await store.query(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} "
            "AND name = {t:String}",
            {"db": store.database, "t": name},
        )
        ddl = rows[0][0]
        ttl[name] = ddl.split("toIntervalDay(")[1].split(")")[0] if " TTL " in ddl else None
    assert ttl == {
        "ob_bbo": "90", "ob_snapshots": "90", "trade_ticks": "90", "ob_level_changes": "30",
        "market_metadata": None,
    }  # fmt: skip
