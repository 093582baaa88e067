"""Log lines on stdout: readable text or one JSON object per line, with known secrets masked.

`configure(cfg)` installs one stdout handler on the root logger. JSON lines carry `timestamp`
(UTC, ISO 8601), `level`, `logger`, `message`, the fields bound to the running task with
`bind(shard=3)` or passed as `extra={"table": ...}` (asset, shard, table, trigger_id, ...), and
`exception` for a traceback, so `journalctl -u polymon -o cat | jq` reads them. Under systemd
(stdout is the journal stream named by `$JOURNAL_STREAM`) each line starts with a `<N>` syslog
priority, which journald strips and records, so `journalctl -p warning` works.

Every line goes through a `Redactor` last: the configured secrets (storage password, URL
credentials) and anything shaped like a secret (`user:pass@` in URLs, `pm_` API keys, `whsec_`
signing secrets, `password=...`, `Authorization: ...`) are replaced by `***`.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from polymon.config import Config

MASK = "***"
Field = str | int | float | bool | None

_bound: contextvars.ContextVar[Mapping[str, Field]] = contextvars.ContextVar("polymon_log_fields")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName",
}  # fmt: skip
_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}
_SHAPES = (
    # scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), rf"\g<1>{MASK}@"),
    # API keys (pm_<id>_<secret>) keep their id, which is not secret
    (re.compile(r"\b(pm_[0-9a-f]{8}_)[A-Za-z0-9_-]{16,}"), rf"\g<1>{MASK}"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{8,}"), f"whsec_{MASK}"),
    # Authorization: Bearer <token>, Cookie: <...>, X-API-Key: <...>
    (re.compile(r"(?i)\b((?:proxy-)?authorization|cookie|x-api-key)(['\"]?\s*[:=]\s*['\"]?)"
                r"(?:(?:bearer|basic|token)\s+)?[^\s'\",;]+"), rf"\g<1>\g<2>{MASK}"),
    # password=..., "secret": "...", api_key: ...
    (re.compile(r"(?i)\b([a-z_]*(?:password|passwd|secret|api_?key|access_?token))"
                r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&]+"), rf"\g<1>\g<2>{MASK}"),
)  # fmt: skip
_MIN_SECRET = 4  # shorter "secrets" would mask ordinary words


def bind(**fields: Field) -> None:
    """Add structured fields to every line the current task (and tasks it starts later) logs."""
    _bound.set({**_bound.get({}), **fields})


def secrets_of(cfg: Config) -> list[str]:
    """The secret values a config holds: the storage password and URL credentials."""
    found = [cfg.storage.password]
    try:
        password = urlsplit(cfg.storage.url).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    return [s for s in found if s]


class Redactor:
    """Masks known secret values and secret-shaped text in a string; O(len(text)) per shape."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        """`text` with every secret replaced by `***`."""
        if self._values is not None:
            text = self._values.sub(MASK, text)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text


def fields_of(record: logging.LogRecord) -> dict[str, Field]:
    """The structured fields of a record: those bound to its task, then its `extra=` ones."""
    out: dict[str, Field] = dict(_bound.get({}))
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value if isinstance(value, Field) else str(value)
    return out


class _Formatter(logging.Formatter):
    def __init__(self, redact: Redactor, priority_prefix: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact
        self.priority_prefix = priority_prefix

    def prefix(self, record: logging.LogRecord) -> str:
        if not self.priority_prefix:
            return ""
        return f"<{_PRIORITY.get(record.levelname, 6)}>"


class TextFormatter(_Formatter):
    """`2026-01-02 03:04:05,678 WARNING polymon.storage: message  table=ob_bbo`."""

    def format(self, record: logging.LogRecord) -> str:
        """One line (a traceback continues on the following lines), secrets masked."""
        text = super().format(record)
        fields = fields_of(record)
        if fields:
            head, sep, rest = text.partition("\n")
            pairs = " ".join(f"{k}={v}" for k, v in fields.items())
            text = f"{head}  {pairs}{sep}{rest}"
        return self.prefix(record) + self.redact(text)


class JsonFormatter(_Formatter):
    """`{"timestamp": "...Z", "level": "warning", "logger": "...", "message": "...", ...}`."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object on one line, every string in it masked."""
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, Field] = {
            "timestamp": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        masked = {k: self.redact(v) if isinstance(v, str) else v for k, v in line.items()}
        return self.prefix(record) + msgspec.json.encode(masked).decode()


def writes_to_journal(stream: IO[str], environ: Mapping[str, str]) -> bool:
    """Whether `stream` is the journald stream systemd connected ($JOURNAL_STREAM=dev:inode)."""
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return environ.get("JOURNAL_STREAM", "") == f"{stat.st_dev}:{stat.st_ino}"


def configure(
    cfg: Config,
    *,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
    format: Literal["text", "json"] | None = None,
) -> logging.Handler:
    """Send every log line to `stream` (stdout) in the configured format and level, secrets
    masked; replaces the root logger's handlers. Returns the installed handler."""
    stream = sys.stdout if stream is None else stream
    environ = os.environ if environ is None else environ
    kind = format or cfg.log.format
    redact = Redactor(secrets_of(cfg))
    prefix = writes_to_journal(stream, environ)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(redact, prefix) if kind == "json" else TextFormatter(redact, prefix)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((cfg.log.level or cfg.service.log_level).upper())
    if kind == "json":
        sys.excepthook = _log_uncaught
    return handler


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    # In JSON mode a crash's traceback is one JSON line too (jq keeps reading the journal).
    logging.getLogger("polymon").critical("uncaught exception", exc_info=(kind, error, tb))
