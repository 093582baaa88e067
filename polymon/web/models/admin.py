"""Admin actions (bootstrap, migrate, test-data cleanup, clearing job errors) and browser
sessions."""

from __future__ import annotations

import msgspec

from polymon.web.models.common import Prefix
from polymon.web.models.envelopes import Result


class Bootstrapped(msgspec.Struct, frozen=True, kw_only=True):
    """A bootstrap: tokens newly subscribed, assets and shards after it, and how long it took."""

    tokens_added: int
    assets: int
    shards: int
    duration_ms: float


class Migrated(msgspec.Struct, frozen=True, kw_only=True):
    """The schema migrations applied (none when the schema was current)."""

    applied: list[str]


class CleanupBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which test data to delete: assets and markets whose id starts with `prefix` (a letter
    first, so it cannot match a real token or condition id).

    dry_run counts what would go without deleting anything.
    """

    prefix: Prefix = "test"
    dry_run: bool = False


class CleanedUp(msgspec.Struct, frozen=True, kw_only=True):
    """A test-data cleanup: tracked assets dropped and rows per table (as counted before
    deleting; none without storage)."""

    prefix: str
    dry_run: bool
    untracked: int
    rows: dict[str, int]


class Cleared(msgspec.Struct, frozen=True, kw_only=True):
    """How many recorded job errors were forgotten."""

    cleared: int


class AuthOut(msgspec.Struct, frozen=True, kw_only=True):
    """The browser session the cookie now carries."""

    authenticated: bool
    key_id: str
    tier: str
    expires_in_secs: int


class BootstrapResult(Result[Bootstrapped], frozen=True, kw_only=True):
    """POST /admin/bootstrap-markets: what the bootstrap subscribed."""


class MigrateResult(Result[Migrated], frozen=True, kw_only=True):
    """POST /admin/migrate: the migrations applied."""


class CleanupResult(Result[CleanedUp], frozen=True, kw_only=True):
    """POST /admin/cleanup-test-data: what was (or would be) deleted."""


class ClearedResult(Result[Cleared], frozen=True, kw_only=True):
    """POST /cron/clear-errors: how many job errors were forgotten."""
