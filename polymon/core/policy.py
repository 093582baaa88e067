"""The integrity settings the core runs with (the service builds them from its config)."""

from __future__ import annotations

import msgspec

from polymon.core.bookhash import RecipeSetting


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """The integrity settings the core needs (built from IntegrityConfig by the service)."""

    mode: str = "resync"
    hash_mode: str = "observe"
    hash_recipe: RecipeSetting = "auto"
    hash_timestamp_slack_ms: int = 0
    resync_min_interval_secs: float = 30.0
    resync_buffer_messages: int = 1000
    stale_after_secs: float = 600.0
    epoch_grace_secs: float = 2.0
