"""The ClickHouse schema: numbered SQL files in `schema/`, applied once each, in order.

Each file `NNN_name.sql` is one migration. Its statements are separated by `;` at the end of
a line (a server takes one statement per request), `--` comments are dropped, and `{db}`
stands for the database name. Every statement is idempotent (`IF NOT EXISTS`), and applied
versions are recorded in `{db}.schema_migrations`, so migrating again is safe.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec

from polymon.errors import StorageError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(6, 'UTC') DEFAULT now64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version"""


class Migration(msgspec.Struct, frozen=True):
    """One schema file: its version, name, statements (with `{db}` unrendered) and checksum."""

    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str

    def rendered(self, database: str) -> list[str]:
        """The statements with `{db}` replaced by `database`."""
        return [render(s, database) for s in self.statements]


def render(sql: str, database: str) -> str:
    """Substitute the database name into a statement (names are validated by the config)."""
    return sql.replace("{db}", database)


def split_statements(text: str) -> list[str]:
    """Drop `--` comment lines and split on `;` at a line end; empty statements are skipped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    body = "\n".join(lines)
    return [s.strip() for s in _STATEMENT_END.split(body) if s.strip()]


def load_migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    """Every `NNN_name.sql` in `directory`, ordered by version.

    Raises StorageError for a missing directory, a duplicate version or a file with no
    statement.
    """
    if not directory.is_dir():
        raise StorageError(f"schema directory {directory} not found")
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE.match(path.name)
        if match is None:
            continue
        version = int(match.group(1))
        text = path.read_text(encoding="utf-8")
        statements = tuple(split_statements(text))
        if not statements:
            raise StorageError(f"schema file {path.name} has no statement")
        if version in found:
            raise StorageError(f"schema version {version} appears twice ({path.name})")
        checksum = hashlib.sha256(text.encode()).hexdigest()[:16]
        found[version] = Migration(version, match.group(2), statements, checksum)
    return [found[v] for v in sorted(found)]
