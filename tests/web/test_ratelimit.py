"""The tiered GCRA rate limiter: exact limits per tier and class, headers, bounded memory."""

from __future__ import annotations

import math

import pytest

from polymon.errors import ConfigError
from polymon.web.ratelimit import (
    LIMITS,
    TIERS,
    Decision,
    RateLimiter,
    RouteClass,
    Tier,
    classify,
    headers,
)

T0 = 1000.0  # monotonic seconds
W0 = 1_700_000_000.0  # epoch seconds at T0


def burst(
    limiter: RateLimiter, key: str, tier: Tier, route_class: RouteClass, n: int, now: float = T0
) -> list[Decision]:
    wall = W0 + (now - T0)
    return [limiter.check(key, tier, route_class, now, wall) for _ in range(n)]


def test_seed_table() -> None:
    assert LIMITS == {
        "free": {"data": 60, "admin": 15},
        "pro": {"data": 120, "admin": 30},
        "enterprise": {"data": 600, "admin": 120},
    }
    assert TIERS == ("free", "pro", "enterprise")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("route_class", ["data", "admin"])
def test_full_burst_then_one_per_interval(tier: Tier, route_class: RouteClass) -> None:
    limit = LIMITS[tier][route_class]
    interval = 60 / limit
    limiter = RateLimiter(max_clients=10)
    decisions = burst(limiter, "key:a", tier, route_class, limit)
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == list(range(limit - 1, -1, -1))
    assert {d.limit for d in decisions} == {limit}
    assert {d.tier for d in decisions} == {tier}
    assert {d.retry_after_secs for d in decisions} == {0}
    # The bucket is full again one minute after the burst.
    assert decisions[-1].reset_epoch == int(W0) + 60

    denied = burst(limiter, "key:a", tier, route_class, 1)[0]
    assert not denied.allowed
    assert denied.remaining == 0
    assert denied.limit == limit
    assert denied.retry_after_secs >= 1
    assert denied.reset_epoch == int(W0) + 60

    # One interval later exactly one more request passes.
    later = T0 + interval
    again = burst(limiter, "key:a", tier, route_class, 2, now=later)
    assert [d.allowed for d in again] == [True, False]
    assert again[0].remaining == 0


def test_free_data_61st_request_denied_then_one_per_second() -> None:
    limiter = RateLimiter(max_clients=10)
    decisions = burst(limiter, "ip:1.2.3.4", "free", "data", 61)
    assert sum(d.allowed for d in decisions) == 60
    assert not decisions[60].allowed
    assert decisions[60].retry_after_secs == 1
    # Half a second later: still denied, and Retry-After rounds up to 1.
    half = burst(limiter, "ip:1.2.3.4", "free", "data", 1, now=T0 + 0.5)[0]
    assert not half.allowed
    assert half.retry_after_secs == 1
    for second in range(1, 4):
        now = T0 + second
        d = burst(limiter, "ip:1.2.3.4", "free", "data", 2, now=now)
        assert [x.allowed for x in d] == [True, False]
        assert d[0].reset_epoch == int(W0) + second + 60


def test_retry_after_is_the_wait_until_the_next_request_passes() -> None:
    limiter = RateLimiter(max_clients=10)
    burst(limiter, "key:a", "free", "admin", 15)
    denied = burst(limiter, "key:a", "free", "admin", 1)[0]
    assert not denied.allowed
    assert denied.retry_after_secs == 4  # 60 / 15
    denied = burst(limiter, "key:a", "free", "admin", 1, now=T0 + 1.5)[0]
    assert denied.retry_after_secs == 3  # 2.5 s, rounded up
    assert not burst(limiter, "key:a", "free", "admin", 1, now=T0 + 3.99)[0].allowed
    assert burst(limiter, "key:a", "free", "admin", 1, now=T0 + 4.0)[0].allowed


def test_denied_requests_consume_nothing() -> None:
    limiter = RateLimiter(max_clients=10)
    burst(limiter, "key:a", "free", "data", 60)
    assert not any(d.allowed for d in burst(limiter, "key:a", "free", "data", 100))
    assert burst(limiter, "key:a", "free", "data", 1, now=T0 + 1)[0].allowed


def test_reset_epoch_tracks_the_backlog_and_rounds_up() -> None:
    limiter = RateLimiter(max_clients=10)
    first = limiter.check("key:a", "pro", "data", T0, W0 + 0.2)
    assert first.reset_epoch == int(W0) + 1  # 0.2 + 0.5 s, rounded up
    first = limiter.check("key:a", "pro", "data", T0, W0)
    assert first.reset_epoch == int(W0) + 1  # two half-second requests: exactly 1 s
    # After the backlog drained, a request refills in one interval.
    d = limiter.check("key:a", "pro", "data", T0 + 100, W0 + 100)
    assert d.remaining == 119
    assert d.reset_epoch == int(W0) + 101


def test_peek_does_not_consume() -> None:
    limiter = RateLimiter(max_clients=10)
    fresh = limiter.peek("key:a", "free", "data", T0, W0)
    assert fresh == Decision(True, 60, 60, int(W0), 0, "free")
    assert len(limiter) == 0
    burst(limiter, "key:a", "free", "data", 10)
    for _ in range(5):
        p = limiter.peek("key:a", "free", "data", T0, W0)
        assert p.allowed
        assert p.remaining == 50
        assert p.reset_epoch == int(W0) + 10
    assert limiter.check("key:a", "free", "data", T0, W0).remaining == 49
    burst(limiter, "key:a", "free", "data", 49)
    empty = limiter.peek("key:a", "free", "data", T0, W0)
    assert not empty.allowed
    assert empty.remaining == 0
    assert empty.retry_after_secs == 1


def test_exempt_never_consumes_and_reports_the_data_bucket() -> None:
    limiter = RateLimiter(max_clients=10)
    burst(limiter, "key:a", "free", "data", 60)
    for d in [
        limiter.check("key:a", "free", "exempt", T0, W0),
        limiter.peek("key:a", "free", "exempt", T0, W0),
    ]:
        assert d.allowed
        assert d.limit == 60
        assert d.remaining == 0
        assert d.retry_after_secs == 0
        assert d.reset_epoch == int(W0) + 60
    assert not limiter.check("key:a", "free", "data", T0, W0).allowed
    fresh = RateLimiter(max_clients=10)
    for _ in range(1000):
        assert fresh.check("ip:9.9.9.9", "free", "exempt", T0, W0).allowed
    assert len(fresh) == 0


def test_buckets_are_per_client_and_per_route_class() -> None:
    limiter = RateLimiter(max_clients=10)
    burst(limiter, "key:a", "free", "data", 60)
    assert not burst(limiter, "key:a", "free", "data", 1)[0].allowed
    assert burst(limiter, "key:b", "free", "data", 1)[0].remaining == 59
    assert burst(limiter, "ip:1.2.3.4", "free", "data", 1)[0].remaining == 59
    admin = burst(limiter, "key:a", "free", "admin", 15)
    assert all(d.allowed for d in admin)
    assert not burst(limiter, "key:a", "free", "admin", 1)[0].allowed
    assert burst(limiter, "key:b", "free", "admin", 1)[0].remaining == 14


def test_tier_is_applied_per_request() -> None:
    limiter = RateLimiter(max_clients=10)
    burst(limiter, "key:a", "free", "data", 60)
    # An upgraded key gets the shorter interval on its next request; its backlog still counts.
    assert not burst(limiter, "key:a", "free", "data", 1, now=T0 + 0.5)[0].allowed
    upgraded = burst(limiter, "key:a", "pro", "data", 1, now=T0 + 0.5)[0]
    assert upgraded.allowed
    assert upgraded.limit == 120
    assert upgraded.tier == "pro"


def test_lru_bound_and_eviction_order() -> None:
    limiter = RateLimiter(max_clients=3)
    for key in ("a", "b", "c", "d"):
        burst(limiter, key, "free", "data", 60)
    assert len(limiter) == 3
    # "a", the least recently seen, was evicted and starts over with a full bucket; its return
    # evicts "b". LRU order is now c, d, a.
    assert burst(limiter, "a", "free", "data", 1)[0].remaining == 59
    assert len(limiter) == 3
    # A denied check still counts as seen: "d" moves to the recent end (c, a, d) ...
    assert not burst(limiter, "d", "free", "data", 1)[0].allowed
    # ... so a newcomer evicts "c", and "d" keeps its exhausted bucket.
    burst(limiter, "e", "free", "data", 1)
    assert len(limiter) == 3
    assert not burst(limiter, "d", "free", "data", 1)[0].allowed
    assert burst(limiter, "c", "free", "data", 1)[0].remaining == 59


def test_full_buckets_are_dropped() -> None:
    limiter = RateLimiter(max_clients=100)
    burst(limiter, "a", "free", "data", 1)
    burst(limiter, "b", "free", "data", 1)
    assert len(limiter) == 2
    # One second later both are full again; each check drops the oldest full entry.
    burst(limiter, "c", "free", "data", 1, now=T0 + 1)
    assert len(limiter) == 2
    burst(limiter, "c", "free", "data", 1, now=T0 + 1)
    assert len(limiter) == 1


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/health", "exempt"),
        ("HEAD", "/health", "exempt"),
        ("GET", "/health/", "data"),
        ("GET", "/healthz", "data"),
        ("GET", "/api/v1/openapi.json", "exempt"),
        ("GET", "/api/v1/docs", "exempt"),
        ("GET", "/api/v1/docs/", "exempt"),
        ("GET", "/api/v1/docs/swagger.js", "exempt"),
        ("GET", "/api/v1/docsx", "data"),
        ("GET", "/static/app.js", "exempt"),
        ("GET", "/static/css/site.css", "exempt"),
        ("GET", "/staticx", "data"),
        ("GET", "/api/v1/markets/123/orderbook", "data"),
        ("HEAD", "/api/v1/markets/123/orderbook", "data"),
        ("OPTIONS", "/api/v1/markets/123/orderbook", "data"),
        ("GET", "/api/v1/triggers/events", "data"),
        ("GET", "/api/v1/triggers/events/sse", "data"),
        ("get", "/api/v1/markets", "data"),
        ("GET", "/", "data"),
        ("POST", "/api/v1/auth", "admin"),
        ("DELETE", "/api/v1/auth", "admin"),
        ("PUT", "/api/v1/markets/1", "admin"),
        ("PATCH", "/api/v1/markets/1", "admin"),
        ("post", "/api/v1/export", "admin"),
        ("GET", "/triggers", "admin"),
        ("POST", "/triggers", "admin"),
        ("DELETE", "/triggers", "admin"),
        ("GET", "/lifecycle/status", "admin"),
        ("GET", "/admin", "admin"),
        ("POST", "/admin/delete-all-triggers", "admin"),
        ("POST", "/admin/init-triggers", "admin"),
        ("POST", "/cron/clear-errors", "admin"),
        ("GET", "/cron/clear-errors", "admin"),
        ("GET", "/cron/other", "data"),
    ],
)
def test_classify(method: str, path: str, expected: RouteClass) -> None:
    assert classify(method, path) == expected


def test_headers_allowed_and_denied() -> None:
    allowed = Decision(True, 60, 12, 1_700_000_060, 0, "free")
    assert headers(allowed) == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "12",
        "X-RateLimit-Reset": "1700000060",
        "X-RateLimit-Tier": "free",
    }
    denied = Decision(False, 600, 0, 1_700_000_060, 3, "enterprise")
    assert headers(denied) == {
        "X-RateLimit-Limit": "600",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1700000060",
        "X-RateLimit-Tier": "enterprise",
        "Retry-After": "3",
    }


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError):
        RateLimiter(max_clients=0)
    with pytest.raises(ConfigError):
        RateLimiter(max_clients=1, limits={**LIMITS, "pro": {"data": 0, "admin": 1}})
    with pytest.raises(ConfigError):
        RateLimiter(max_clients=1, limits={"free": {"data": 1, "admin": 1}})


@pytest.mark.parametrize("now", [0.0, 123_456.789, 1e9])
def test_exact_limits_survive_float_rounding_on_large_clocks(now: float) -> None:
    limiter = RateLimiter(max_clients=10)
    decisions = burst(limiter, "key:a", "enterprise", "data", 601, now=now)
    assert [d.remaining for d in decisions[:600]] == list(range(599, -1, -1))
    assert not decisions[600].allowed
    assert decisions[600].retry_after_secs == 1
    assert decisions[599].reset_epoch == math.ceil(W0 + (now - T0)) + 60
    again = burst(limiter, "key:a", "enterprise", "data", 2, now=now + 0.1)
    assert [d.allowed for d in again] == [True, False]
