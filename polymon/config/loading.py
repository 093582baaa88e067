"""Loading the configuration: TOML file, then environment overrides, then systemd credentials,
decoded into `Config` with errors that name the key and where it came from."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from polymon.config.sections import Config, Section
from polymon.errors import ConfigError

ENV_PREFIX = "POLYMON_"
CREDENTIALS: dict[str, tuple[str, str]] = {
    "storage_password": ("storage", "password"),
    "storage_url": ("storage", "url"),
}
"""Credential name (a file in `$CREDENTIALS_DIRECTORY`, systemd's `LoadCredential=`) -> the
(section, key) it sets. A credential wins over the file and the environment."""


_CONTAINERS = (
    msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.FrozenSetType,
    msgspec.inspect.TupleType, msgspec.inspect.VarTupleType, msgspec.inspect.DictType,
    msgspec.inspect.StructType,
)  # fmt: skip


def _takes_json(section: type[Section], key: str) -> bool:
    """Whether an environment value for `section.key` is JSON (lists and tables are)."""
    info = msgspec.inspect.type_info(section)
    assert isinstance(info, msgspec.inspect.StructType)
    field = next(f for f in info.fields if f.name == key)
    types = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
    return any(isinstance(t, _CONTAINERS) for t in types)


def _table(raw: dict[str, Any], section: str) -> dict[str, Any]:
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config section [{section}] must be a table")
    return table


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Set every `POLYMON_<SECTION>__<KEY>` into `raw`; returns (section, key) -> variable."""
    sections = {f.name: f.type for f in msgspec.structs.fields(Config)}
    applied = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, sep, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if not sep or not key:
            raise ConfigError(f"environment variable {name}: expected POLYMON_<SECTION>__<KEY>")
        if section not in sections:
            raise ConfigError(f"environment variable {name}: unknown section {section!r}")
        known = {f.name for f in msgspec.structs.fields(sections[section])}
        if key not in known:
            raise ConfigError(f"environment variable {name}: unknown key {section}.{key}")
        parsed: Any = value
        if _takes_json(sections[section], key):
            try:
                parsed = msgspec.json.decode(value)
            except msgspec.DecodeError as e:
                raise ConfigError(
                    f"environment variable {name}: expected JSON "
                    f'(a list is written like ["a", "b"] or [80, 443]): {e}'
                ) from None
        _table(raw, section)[key] = parsed
        applied[section, key] = name
    return applied


def _apply_credentials(raw: dict[str, Any], directory: str) -> dict[tuple[str, str], str]:
    """Set every credential file in `directory` (systemd's $CREDENTIALS_DIRECTORY) into `raw`;
    returns (section, key) -> credential name. An empty file counts as not given."""
    applied = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError as e:
        raise ConfigError(f"cannot read $CREDENTIALS_DIRECTORY {directory}: {e.strerror}") from e
    for name in names:
        if name not in CREDENTIALS:
            raise ConfigError(
                f"credential {name!r} in $CREDENTIALS_DIRECTORY is not one polymon reads "
                f"({', '.join(sorted(CREDENTIALS))})"
            )
        path = Path(directory) / name
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise ConfigError(f"cannot read credential {path}: {e.strerror}") from e
        except UnicodeDecodeError:
            raise ConfigError(f"credential {path} is not UTF-8 text") from None
        if value:
            section, key = CREDENTIALS[name]
            _table(raw, section)[key] = value
            applied[section, key] = name
    return applied


_ERROR_PATH = re.compile(r"at `\$\.(\w+)\.(\w+)")


def _source_of(error: str, sources: Mapping[tuple[str, str], str]) -> str:
    """`error` (a msgspec validation message) prefixed with the variable or credential that set
    the offending key, when one did."""
    match = _ERROR_PATH.search(error)
    source = sources.get((match[1], match[2])) if match else None
    return f"{source}: {error}" if source else error


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Load the config from `path` (or ./config.toml if present, else defaults) plus env overrides.

    `overrides` (section -> key -> value) is applied last; the CLI uses it for flags.
    Raises ConfigError naming the offending key or file.
    """
    raw: dict[str, Any] = {}
    if path is None and Path("config.toml").is_file():
        path = "config.toml"
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"config file {path} is not UTF-8: {e.reason}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    environ = os.environ if environ is None else environ
    origin = {k: f"environment variable {v}" for k, v in _apply_env(raw, environ).items()}
    if environ.get("CREDENTIALS_DIRECTORY"):
        applied = _apply_credentials(raw, environ["CREDENTIALS_DIRECTORY"])
        origin |= {k: f"credential {v}" for k, v in applied.items()}
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    try:
        return msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as e:
        sources = [str(path)] if path is not None else []
        if any(k.startswith(ENV_PREFIX) for k in environ):
            sources.append("POLYMON_* environment")
        where = f" (from {' and '.join(sources)})" if sources else ""
        raise ConfigError(f"invalid config{where}: {_source_of(str(e), origin)}") from e
