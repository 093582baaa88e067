"""Server-side browser sessions for the cookie set by `POST /api/v1/auth`, pure.

A session id is 256 random bits (`secrets.token_urlsafe(32)`). The store keeps only its
SHA-256, so a memory dump holds no live cookie; a lookup hashes the presented id and finds it
by dict key (no string comparison that could leak timing about a stored id). Time is passed in
as monotonic seconds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from urllib.parse import urlsplit

import msgspec

from polymon.errors import ConfigError
from polymon.web.keys import Tier

__all__ = ["COOKIE_NAME", "SessionInfo", "Sessions", "cookie_header", "origin_allowed"]

COOKIE_NAME = "polymon_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class SessionInfo(msgspec.Struct, frozen=True):
    """Who a session belongs to: the API key it was opened with, its tier, and its expiry
    (monotonic seconds)."""

    key_id: str
    tier: Tier
    expires_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Live sessions, keyed by the SHA-256 of their id, at most `max_sessions` of them.

    Every session lives `ttl_secs`; beyond `max_sessions` the oldest one is evicted. Because
    all sessions share one ttl and are inserted in creation order, the oldest is also the first
    to expire, so expired sessions are purged from the front as new ones are created.

    Runtime complexity: O(1) per `lookup` and `revoke`, amortized O(1) per `create`;
    memory O(max_sessions).
    """

    def __init__(self, ttl_secs: float, max_sessions: int = 10_000) -> None:
        if not ttl_secs > 0:
            raise ConfigError(f"session ttl must be positive, got {ttl_secs}")
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be at least 1, got {max_sessions}")
        self.ttl_secs = ttl_secs
        self.max_sessions = max_sessions
        # sha256(session id) -> info, oldest first.
        self._by_hash: OrderedDict[str, SessionInfo] = OrderedDict()

    def __len__(self) -> int:
        """Number of stored sessions (expired ones may linger until purged). O(1)."""
        return len(self._by_hash)

    def create(self, key_id: str, tier: Tier, now: float) -> str:
        """Open a session for `key_id` at monotonic `now`; returns its id (the cookie value).

        Runtime complexity: amortized O(1).
        """
        while self._by_hash:
            oldest = next(iter(self._by_hash.values()))
            if oldest.expires_at > now and len(self._by_hash) < self.max_sessions:
                break
            self._by_hash.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        self._by_hash[_digest(session_id)] = SessionInfo(key_id, tier, now + self.ttl_secs)
        return session_id

    def lookup(self, session_id: str, now: float) -> SessionInfo | None:
        """The live session with this id at monotonic `now`, or None.

        An expired session is removed and gives None. Runtime complexity: O(1).
        """
        digest = _digest(session_id)
        info = self._by_hash.get(digest)
        if info is None:
            return None
        if info.expires_at <= now:
            del self._by_hash[digest]
            return None
        return info

    def revoke(self, session_id: str) -> bool:
        """End a session (logout); True if it existed. Runtime complexity: O(1)."""
        return self._by_hash.pop(_digest(session_id), None) is not None


def cookie_header(session_id: str, ttl_secs: float, secure: bool) -> str:
    """The `Set-Cookie` value carrying `session_id`.

    HttpOnly, SameSite=Strict, Path=/, Max-Age of `ttl_secs` rounded down (0 or less clears
    the cookie, for logout), and Secure only when `secure` (the request came over HTTPS).
    `session_id` must be one returned by `Sessions.create` (or empty, to clear).
    """
    parts = [
        f"{COOKIE_NAME}={session_id}",
        f"Max-Age={max(0, int(ttl_secs))}",
        "Path=/",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def _normalize(origin: str) -> str | None:
    # Origin omits default ports and is lowercase; Host headers and configured origins
    # may not be, and a Referer is a full URL.
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.netloc.rpartition("@")[2].lower()
    if not scheme or not host:
        return None
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return f"{scheme}://{host}"


def origin_allowed(
    method: str,
    origin: str | None,
    referer: str | None,
    host: str,
    scheme: str,
    allowed: Sequence[str],
) -> bool:
    """CSRF check for a cookie-authenticated request: may it come from where it says it does?

    Safe methods (GET/HEAD/OPTIONS) always pass. For any other method the request's Origin
    (or, when Origin is missing, the origin of its Referer) must be this server,
    `f"{scheme}://{host}"`, or one of `allowed`; with neither header, or with the opaque
    Origin `null`, it fails. Comparison ignores case and default ports.

    The caller applies this only to requests authenticated by the session cookie: a request
    with an `X-API-Key` header cannot be forged by another site, so it needs no origin check.
    """
    if method.upper() in _SAFE_METHODS:
        return True
    source = origin if origin else referer
    if not source or source.strip() == "null":
        return False
    claimed = _normalize(source)
    if claimed is None:
        return False
    if claimed == _normalize(f"{scheme}://{host}"):
        return True
    return any(claimed == _normalize(entry) for entry in allowed)
