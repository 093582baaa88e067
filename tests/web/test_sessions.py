"""Browser sessions: hashed ids, expiry, revocation, bounds, the cookie and the origin check."""

from __future__ import annotations

import hashlib

import pytest

from polymon.errors import ConfigError
from polymon.web.sessions import (
    COOKIE_NAME,
    SessionInfo,
    Sessions,
    cookie_header,
    origin_allowed,
)

T0 = 500.0


def test_create_and_lookup() -> None:
    sessions = Sessions(ttl_secs=3600)
    sid = sessions.create("abcd1234", "pro", T0)
    assert len(sid) == 43
    assert sessions.lookup(sid, T0 + 10) == SessionInfo("abcd1234", "pro", T0 + 3600)
    assert sessions.lookup(sid + "x", T0) is None
    assert sessions.lookup("", T0) is None
    other = sessions.create("abcd1234", "pro", T0)
    assert other != sid
    assert len(sessions) == 2


def test_expired_sessions_are_removed_on_lookup() -> None:
    sessions = Sessions(ttl_secs=60)
    sid = sessions.create("k1", "free", T0)
    assert sessions.lookup(sid, T0 + 59.999) is not None
    assert sessions.lookup(sid, T0 + 60) is None
    assert len(sessions) == 0
    assert sessions.lookup(sid, T0) is None  # gone, even if the clock were earlier


def test_expired_sessions_are_purged_on_create() -> None:
    sessions = Sessions(ttl_secs=60)
    for i in range(5):
        sessions.create(f"k{i}", "free", T0 + i)
    live = sessions.create("k9", "free", T0 + 62.5)  # k0..k2 expired by now
    assert len(sessions) == 3
    assert sessions.lookup(live, T0 + 62.5) is not None


def test_revoke() -> None:
    sessions = Sessions(ttl_secs=60)
    sid = sessions.create("k1", "enterprise", T0)
    keep = sessions.create("k1", "enterprise", T0)
    assert sessions.revoke(sid) is True
    assert sessions.revoke(sid) is False
    assert sessions.revoke("never-issued") is False
    assert sessions.lookup(sid, T0) is None
    assert sessions.lookup(keep, T0) is not None


def test_bounded_oldest_evicted() -> None:
    sessions = Sessions(ttl_secs=3600, max_sessions=3)
    ids = [sessions.create(f"k{i}", "free", T0 + i) for i in range(5)]
    assert len(sessions) == 3
    assert sessions.lookup(ids[0], T0 + 5) is None
    assert sessions.lookup(ids[1], T0 + 5) is None
    assert [sessions.lookup(s, T0 + 5) is not None for s in ids[2:]] == [True] * 3


def test_only_the_hash_of_the_id_is_stored() -> None:
    sessions = Sessions(ttl_secs=60)
    sid = sessions.create("k1", "free", T0)
    stored = sessions._by_hash
    assert sid not in stored
    assert hashlib.sha256(sid.encode()).hexdigest() in stored
    assert all(sid not in key and sid not in repr(info) for key, info in stored.items())


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError):
        Sessions(ttl_secs=0)
    with pytest.raises(ConfigError):
        Sessions(ttl_secs=1, max_sessions=0)


def test_cookie_header_attributes() -> None:
    plain = cookie_header("abc_-123", 43200.0, secure=False)
    attrs = plain.split("; ")
    assert attrs[0] == f"{COOKIE_NAME}=abc_-123"
    assert COOKIE_NAME == "polymon_session"
    assert set(attrs[1:]) == {"Max-Age=43200", "Path=/", "HttpOnly", "SameSite=Strict"}
    secure = cookie_header("abc_-123", 90.9, secure=True)
    assert set(secure.split("; ")[1:]) == {
        "Max-Age=90",
        "Path=/",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
    }
    assert "Max-Age=0" in cookie_header("", 0, secure=False).split("; ")


HOST = "polymon.example:8787"
SELF = "http://polymon.example:8787"


@pytest.mark.parametrize(
    ("method", "origin", "referer", "allowed", "expected"),
    [
        # Safe methods always pass.
        ("GET", None, None, (), True),
        ("HEAD", "https://evil.example", None, (), True),
        ("OPTIONS", None, None, (), True),
        ("get", "https://evil.example", None, (), True),
        # Same origin.
        ("POST", SELF, None, (), True),
        ("POST", SELF.upper(), None, (), True),
        ("DELETE", SELF, "https://evil.example/x", (), True),
        ("POST", "https://evil.example", SELF + "/dashboard", (), False),
        # Referer only when Origin is missing.
        ("POST", None, SELF + "/dashboard?x=1", (), True),
        ("POST", "", SELF + "/", (), True),
        ("POST", None, "https://evil.example/" + SELF, (), False),
        ("POST", None, "/relative/path", (), False),
        # Neither header, or an opaque origin.
        ("POST", None, None, (), False),
        ("PUT", "", "", (), False),
        ("POST", "null", SELF + "/", (), False),
        ("POST", "null", None, ("null",), False),
        # Other scheme, host or port.
        ("POST", "https://polymon.example:8787", None, (), False),
        ("POST", "http://polymon.example", None, (), False),
        ("POST", "http://polymon.example.evil:8787", None, (), False),
        # Configured origins.
        ("POST", "https://dash.example", None, ("https://dash.example",), True),
        (
            "PATCH",
            "https://dash.example",
            None,
            ("https://other.example", "https://dash.example/"),
            True,
        ),
        ("POST", None, "https://dash.example/page", ("https://dash.example",), True),
        ("POST", "https://dash.example:8443", None, ("https://dash.example",), False),
        ("POST", "https://sub.dash.example", None, ("https://dash.example",), False),
    ],
)
def test_origin_allowed(
    method: str, origin: str | None, referer: str | None, allowed: tuple[str, ...], expected: bool
) -> None:
    assert origin_allowed(method, origin, referer, HOST, "http", allowed) is expected


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "expected"),
    [
        ("https://polymon.example", "polymon.example:443", "https", True),
        ("https://polymon.example:443", "polymon.example", "https", True),
        ("http://Polymon.Example", "polymon.example:80", "http", True),
        ("https://polymon.example", "polymon.example:80", "https", False),
    ],
)
def test_origin_default_ports_are_equivalent(
    origin: str, host: str, scheme: str, expected: bool
) -> None:
    assert origin_allowed("POST", origin, None, host, scheme, ()) is expected
