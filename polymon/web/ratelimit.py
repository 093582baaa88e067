"""Tiered per-client rate limiting (GCRA), pure: the caller passes the clock in.

The seed's table, in requests per minute:

    tier         data   admin
    free           60      15
    pro           120      30
    enterprise    600     120

Each (client, route class) pair has its own bucket. A client is whatever key the caller builds,
e.g. `key:<key_id>` for an API key or `ip:<addr>` for anonymous requests. The burst is the full
per-minute limit: a fresh client may make `limit` requests at once, then one every `60 / limit`
seconds.

The algorithm is GCRA: a bucket is one float, the theoretical arrival time (TAT) of the next
request. A request at `now` is allowed when `max(TAT, now) + 60 / limit - now <= 60`, and then
moves TAT forward by `60 / limit`. `TAT <= now` means the bucket is full again.

`X-RateLimit-Reset` is an epoch second (the GitHub convention, not the IETF draft's delta): the
moment the client's bucket is full again.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Literal

import msgspec

from polymon.errors import ConfigError
from polymon.web.keys import TIERS, Tier

__all__ = [
    "LIMITS",
    "TIERS",
    "Decision",
    "RateLimiter",
    "RouteClass",
    "Tier",
    "classify",
    "headers",
]

RouteClass = Literal["data", "admin", "exempt"]

LIMITS: dict[Tier, dict[str, int]] = {
    "free": {"data": 60, "admin": 15},
    "pro": {"data": 120, "admin": 30},
    "enterprise": {"data": 600, "admin": 120},
}

WINDOW_SECS = 60.0
# TATs are sums of float intervals (60 / 600 is not exact in binary) on a clock that may read
# 1e8 s; without a tolerance the 600th enterprise request could land a few ulps past the window
# and be refused. _SLACK is a fraction of one request interval, _EPS_SECS a time in seconds.
_SLACK = 1e-3
_EPS_SECS = 1e-3
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EXEMPT_EXACT = frozenset({"/health", "/api/v1/openapi.json", "/api/v1/docs"})
_EXEMPT_PREFIXES = ("/api/v1/docs/", "/static/")
_ADMIN_PREFIXES = ("/triggers", "/lifecycle", "/admin", "/cron/clear-errors")
_CLASSES: tuple[str, ...] = ("data", "admin")


def classify(method: str, path: str) -> RouteClass:
    """The rate-limit class of a request.

    `exempt`: `/health`, `/api/v1/openapi.json`, `/api/v1/docs` and everything under
    `/api/v1/docs/` and `/static/`, whatever the method. `admin`: every method other than
    GET/HEAD/OPTIONS, and any path starting with `/triggers`, `/lifecycle`, `/admin` or
    `/cron/clear-errors`. Everything else is `data`.
    """
    if path in _EXEMPT_EXACT or path.startswith(_EXEMPT_PREFIXES):
        return "exempt"
    if method.upper() not in _SAFE_METHODS or path.startswith(_ADMIN_PREFIXES):
        return "admin"
    return "data"


class Decision(msgspec.Struct, frozen=True):
    """The outcome of one rate-limit check, and what the response headers report.

    limit: requests per minute of this tier and route class.
    remaining: requests still allowed right now (after this one, when it was consumed).
    reset_epoch: epoch second at which the bucket is full again (rounded up).
    retry_after_secs: at least 1 when denied, 0 when allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after_secs: int
    tier: Tier


class RateLimiter:
    """GCRA buckets per (client key, route class), in an LRU bounded to `max_clients` clients.

    One entry per client key holds the TATs of its data and admin buckets. A check, allowed or
    denied, moves the client to the most-recent end; a new client beyond `max_clients` evicts
    the least recently seen one (which then starts again with a full bucket). Each allowed check
    also drops the least recently seen entry if all its buckets are full again, since such an
    entry says nothing a missing one would not.

    Runtime complexity: O(1) per `check` and `peek`; memory O(max_clients).
    """

    def __init__(self, max_clients: int, limits: Mapping[Tier, Mapping[str, int]] = LIMITS) -> None:
        if max_clients < 1:
            raise ConfigError(f"max_clients must be at least 1, got {max_clients}")
        for tier in TIERS:
            for route_class in _CLASSES:
                value = limits.get(tier, {}).get(route_class, 0)
                if value < 1:
                    raise ConfigError(f"rate limit for {tier}/{route_class} must be >= 1")
        self.max_clients = max_clients
        self._limits = {tier: {c: limits[tier][c] for c in _CLASSES} for tier in TIERS}
        # client key -> [data TAT, admin TAT], in monotonic seconds; least recently seen first.
        self._tats: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        """Number of clients with state. Runtime complexity: O(1)."""
        return len(self._tats)

    def check(
        self, client_key: str, tier: Tier, route_class: RouteClass, now: float, wall: float
    ) -> Decision:
        """Count one request of `client_key` at monotonic `now` (epoch `wall`) and decide.

        A denied request consumes nothing. `exempt` requests are always allowed, consume
        nothing and report the client's data bucket (as `peek` does).

        Runtime complexity: O(1).
        """
        if route_class == "exempt":
            return self.peek(client_key, tier, route_class, now, wall)
        index = _CLASSES.index(route_class)
        limit = self._limits[tier][route_class]
        interval = WINDOW_SECS / limit
        tats = self._tats.get(client_key)
        tat = max(tats[index], now) if tats is not None else now
        backlog = tat + interval - now
        if backlog > WINDOW_SECS + interval * _SLACK:
            # A denied client is still seen: evicting it would hand it a fresh bucket.
            if tats is not None:
                self._tats.move_to_end(client_key)
            wait = backlog - WINDOW_SECS
            return Decision(
                allowed=False,
                limit=limit,
                remaining=0,
                reset_epoch=_ceil(wall + tat - now),
                retry_after_secs=max(1, _ceil(wait)),
                tier=tier,
            )
        if tats is None:
            tats = [now, now]
            self._tats[client_key] = tats
            if len(self._tats) > self.max_clients:
                self._tats.popitem(last=False)
        else:
            self._tats.move_to_end(client_key)
        tats[index] = tat + interval
        self._drop_oldest_if_full(now)
        return Decision(
            allowed=True,
            limit=limit,
            remaining=_remaining(backlog, interval),
            reset_epoch=_ceil(wall + backlog),
            retry_after_secs=0,
            tier=tier,
        )

    def peek(
        self, client_key: str, tier: Tier, route_class: RouteClass, now: float, wall: float
    ) -> Decision:
        """What the bucket looks like at `now`, without consuming or touching the LRU order.

        `allowed` says whether a request now would pass (always True for `exempt`, which
        reports the data bucket); `remaining` counts the requests that would pass now.

        Runtime complexity: O(1).
        """
        bucket_class = "data" if route_class == "exempt" else route_class
        limit = self._limits[tier][bucket_class]
        interval = WINDOW_SECS / limit
        tats = self._tats.get(client_key)
        backlog = max(tats[_CLASSES.index(bucket_class)] - now, 0.0) if tats is not None else 0.0
        remaining = _remaining(backlog, interval)
        allowed = route_class == "exempt" or remaining > 0
        wait = backlog + interval - WINDOW_SECS
        return Decision(
            allowed=allowed,
            limit=limit,
            remaining=remaining,
            reset_epoch=_ceil(wall + backlog),
            retry_after_secs=0 if allowed else max(1, _ceil(wait)),
            tier=tier,
        )

    def _drop_oldest_if_full(self, now: float) -> None:
        oldest = next(iter(self._tats.items()), None)
        if oldest is not None and max(oldest[1]) <= now:
            del self._tats[oldest[0]]


def _remaining(backlog: float, interval: float) -> int:
    return max(0, math.floor((WINDOW_SECS - backlog) / interval + _SLACK))


def _ceil(value: float) -> int:
    # Rounded up, but a value a few ulps above an integer is that integer.
    return math.ceil(value - _EPS_SECS)


def headers(decision: Decision) -> dict[str, str]:
    """The `X-RateLimit-*` headers of a decision, plus `Retry-After` when it was denied.

    `X-RateLimit-Reset` is in epoch seconds.
    """
    out = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_epoch),
        "X-RateLimit-Tier": decision.tier,
    }
    if not decision.allowed:
        out["Retry-After"] = str(decision.retry_after_secs)
    return out
