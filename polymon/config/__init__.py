"""Configuration: frozen msgspec Structs decoded from TOML, with environment overrides.

Every key lives in a section (`[polymarket]`, `[storage]`, …). Any key can be overridden by an
environment variable `POLYMON_<SECTION>__<KEY>` (upper case, double underscore), for example
`POLYMON_STORAGE__URL=http://ch:8123/polymon`; list keys take a JSON array, for example
`POLYMON_HTTP__CORS_ALLOW_ORIGINS='["https://a.example"]'`. Under systemd, secrets come from
`$CREDENTIALS_DIRECTORY` (see `CREDENTIALS`), never from the unit file. Unknown keys, in the file,
the environment or the credentials, are an error that names the key. Durations and sizes carry
their unit in the field name.
"""

from __future__ import annotations

from polymon.config.loading import CREDENTIALS, ENV_PREFIX, load_config
from polymon.config.sections import *  # noqa: F403  (every section and type, re-exported)
from polymon.config.sections import __all__ as _sections

__all__ = ["CREDENTIALS", "ENV_PREFIX", "load_config", *_sections]
