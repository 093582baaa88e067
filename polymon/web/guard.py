"""The request guard: who is calling (API key or session cookie), may they (protected routes,
Origin check for cookie-authenticated writes), how often (tiered rate limits), and CORS.

Runs as the app's before/after request hooks. The identity and the rate-limit decision are kept
on `quart.g` for the route and the after hook; the after hook adds the `X-RateLimit-*` headers
to every response, errors and 429s included.
"""

from __future__ import annotations

import time

import msgspec
import trio
from quart import Response, current_app, g, request

from polymon.config import HttpConfig
from polymon.web.http import error
from polymon.web.keys import KeyStore, Tier
from polymon.web.openapi import PROTECTED
from polymon.web.ratelimit import Decision, RateLimiter, classify, headers
from polymon.web.sessions import COOKIE_NAME, Sessions, origin_allowed

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Identity(msgspec.Struct, frozen=True):
    """An authenticated caller: key id, tier, and how it authenticated ("key" | "cookie")."""

    key_id: str
    tier: Tier
    via: str


class Guard:
    """Authentication, authorization, rate limiting and CORS for one app."""

    def __init__(self, cfg: HttpConfig, keys: KeyStore | None) -> None:
        self.cfg = cfg
        self.keys = keys
        self.sessions = Sessions(cfg.session_ttl_secs)
        self.limiter = RateLimiter(cfg.rate_limit_max_clients)
        self.cors = frozenset(o.rstrip("/").lower() for o in cfg.cors_allow_origins)

    def key_identity(self, key: str | None) -> Identity | None:
        """The caller an `X-API-Key` value names, None if it is absent or not a valid key."""
        if key and self.keys is not None:
            record = self.keys.verify(key)
            if record is not None:
                return Identity(record.key_id, record.tier, "key")
        return None

    def identify(self) -> Identity | None:
        """The caller of the current request: a valid X-API-Key first, else the cookie."""
        identity = self.key_identity(request.headers.get("X-API-Key"))
        if identity is not None:
            return identity
        session_id = request.cookies.get(COOKIE_NAME)
        if session_id:
            info = self.sessions.lookup(session_id, trio.current_time())
            if info is not None:
                return Identity(info.key_id, info.tier, "cookie")
        return None

    def before(self) -> Response | None:
        """Identify, rate-limit and authorize the request; a Response ends it early."""
        identity = self.identify()
        g.identity = identity
        g.rate = None
        if request.method == "OPTIONS" and self.cors:
            return None  # CORS preflight: answered by the after hook, never limited
        decision = self.charge(
            identity, request.method, request.path, request.remote_addr, trio.current_time(),
            time.time(),
        )  # fmt: skip
        g.rate = decision
        if decision is not None and not decision.allowed:
            route_class = classify(request.method, request.path)
            return error(429, "rate_limited", self.refusal(decision, route_class))
        rule = request.url_rule
        view = None if rule is None else _view(rule.endpoint)
        if view is not None and getattr(view, PROTECTED, False):
            if identity is None:
                return error(401, "unauthorized", "an X-API-Key header or a session is required")
            if identity.via == "cookie" and not self.origin_ok():
                return error(403, "forbidden", "cross-origin request with a session cookie")
        return None

    def charge(
        self,
        identity: Identity | None,
        method: str,
        path: str,
        remote_addr: str | None,
        now: float,
        wall: float,
    ) -> Decision | None:
        """Count one request against its caller's bucket (the key's, else the client
        address's) at monotonic `now` / epoch `wall`; None when rate limits are off. O(1)."""
        if not self.cfg.rate_limit_enabled:
            return None
        if identity is not None:
            tier, client = identity.tier, f"key:{identity.key_id}"
        else:
            # The direct peer: polymon does not trust X-Forwarded-For (no proxy is assumed).
            tier, client = self.cfg.anonymous_tier, f"ip:{remote_addr or 'unknown'}"
        return self.limiter.check(client, tier, classify(method, path), now, wall)

    @staticmethod
    def refusal(decision: Decision, route_class: str) -> str:
        """The detail of a 429 for a refused `decision`."""
        return (
            f"{decision.limit} {route_class} requests per minute for tier {decision.tier};"
            f" retry in {decision.retry_after_secs} s"
        )

    def origin_ok(self) -> bool:
        """Whether the current request may come from where its Origin/Referer says (the
        CSRF check of cookie-authenticated writes; see sessions.origin_allowed)."""
        return origin_allowed(
            request.method,
            request.headers.get("Origin"),
            request.headers.get("Referer"),
            request.host,
            request.scheme,
            list(self.cors),
        )

    def after(self, response: Response) -> Response:
        """Add the rate-limit and CORS headers."""
        decision: Decision | None = g.get("rate")
        if decision is not None:
            response.headers.update(headers(decision))
        origin = request.headers.get("Origin")
        if origin and self.cors and origin.rstrip("/").lower() in self.cors:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Expose-Headers"] = (
                "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-RateLimit-Tier,"
                " Retry-After"
            )
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "X-API-Key, Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
        return response


def _view(endpoint: str) -> object | None:
    return current_app.view_functions.get(endpoint)
