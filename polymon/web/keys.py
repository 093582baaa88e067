"""API keys: `pm_<8-char id>_<43-char secret>`, stored only as a peppered SHA-256 hash.

The key file (`<data_dir>/keys.json`) maps key ids to name, tier and hash; the pepper lives in
`<data_dir>/pepper` (0600). An unreadable key file or pepper at start is a StateFileError
naming it (the service does not start without its keys); one that turns bad while running
(an editor, a half-copied file) keeps the keys last read, logged and counted, so requests
never fail on it. A 256-bit random secret needs no slow KDF. Lookups go by id and
the hash is compared with `hmac.compare_digest`, so a check takes the same time whether the id
or the secret is wrong. The full key is shown once, at creation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from typing import Literal

import msgspec

from polymon.clock import wall_ms
from polymon.errors import BadRequest, StateFileError
from polymon.files import write_atomic

log = logging.getLogger("polymon.web")

Tier = Literal["free", "pro", "enterprise"]
TIERS: tuple[Tier, ...] = ("free", "pro", "enterprise")
_PREFIX = "pm_"


class KeyRecord(msgspec.Struct, frozen=True):
    """What is stored about a key: never the secret itself."""

    key_id: str
    name: str
    tier: Tier
    hash: str
    created_at_ms: int


_RECORDS = msgspec.json.Decoder(dict[str, KeyRecord])


class KeyStore:
    """The API keys of one data directory (reloaded from disk on every change)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "keys.json"
        pepper_path = data_dir / "pepper"
        try:
            if not pepper_path.exists():
                write_atomic(pepper_path, secrets.token_bytes(32))
            self._pepper = pepper_path.read_bytes()
        except OSError as e:
            raise StateFileError(pepper_path, e) from e
        if len(self._pepper) < 16:
            raise StateFileError(pepper_path, f"{len(self._pepper)} bytes, expected 32")
        self.records: dict[str, KeyRecord] = {}
        self.reload_errors = 0
        self._mtime = -1.0
        self._load_or_fail()

    def _load_or_fail(self) -> None:
        try:
            self._load()
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
            raise StateFileError(self.path, e) from e

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            self.records = _RECORDS.decode(self.path.read_bytes())
            self._mtime = mtime

    def _reload(self) -> None:
        """Re-read the key file if it changed (keys are created by another process); a file
        that cannot be read keeps the keys last read (logged once per change, counted)."""
        try:
            self._load()
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
            self.reload_errors += 1
            with contextlib.suppress(OSError):
                self._mtime = self.path.stat().st_mtime  # report each bad version once
            log.error("key file %s is unreadable (%s): the %d keys read before stay in use",
                      self.path, " ".join(str(e).split())[:200], len(self.records))  # fmt: skip

    def _hash(self, secret: str) -> str:
        return hashlib.sha256(self._pepper + secret.encode()).hexdigest()

    def create(self, name: str, tier: str) -> tuple[KeyRecord, str]:
        """Create and persist a key; returns its record and the full key (shown once)."""
        if tier not in TIERS:
            raise BadRequest(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
        if not name or len(name) > 100:
            raise BadRequest("name must be 1-100 characters")
        self._load_or_fail()  # never rewrite a key file that could not be read
        key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        now_ms = wall_ms()
        record = KeyRecord(key_id, name, tier, self._hash(secret), now_ms)
        self.records[key_id] = record
        write_atomic(self.path, msgspec.json.encode(self.records))
        return record, f"{_PREFIX}{key_id}_{secret}"

    def verify(self, key: str) -> KeyRecord | None:
        """The record of a valid key, else None; constant-time in the secret."""
        if not key.startswith(_PREFIX):
            return None
        self._reload()
        key_id, _, secret = key[len(_PREFIX) :].partition("_")
        record = self.records.get(key_id)
        expected = record.hash if record is not None else self._hash("")
        valid = hmac.compare_digest(self._hash(secret), expected)
        return record if valid and record is not None else None

    def __len__(self) -> int:
        return len(self.records)
