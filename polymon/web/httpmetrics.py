"""HTTP request metrics and the `/metrics` exposition, on a registry of their own.

Each app owns one HttpMetrics (tests build many apps in one process, so nothing goes on
prometheus_client's global registry). Requests are labelled by the URL rule that matched
(`/api/v1/markets/<asset_id>/orderbook`), never the raw path, and unknown methods collapse to
`OTHER`, so a crawler or a fuzzer cannot create new series. Free of Quart: the app passes in
what it saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import prometheus_client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram
from prometheus_client.registry import Collector

UNMATCHED = "unmatched"
OTHER_METHOD = "OTHER"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From 0.5 ms: the orderbook route's target is p99 < 20 ms, so the buckets are dense below it.
DURATION_BUCKETS_SECS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class HttpMetrics:
    """Request counts and durations per route, plus whatever collectors are registered with it.

    `polymon_http_requests_total{method,route,status}` and
    `polymon_http_request_duration_seconds{route}` (a histogram). `observe` is O(1) (a label
    lookup and two increments); `render` is O(series).
    """

    def __init__(self, buckets: Sequence[float] = DURATION_BUCKETS_SECS) -> None:
        # Idempotent and process-wide: drops the `_created` series nobody reads. (The
        # function lacks annotations upstream.)
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.buckets = tuple(buckets)  # upper bounds (seconds) of the duration histogram
        self.requests = PromCounter(
            "polymon_http_requests",
            "HTTP requests answered, by method, route (URL rule) and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = PromHistogram(
            "polymon_http_request_duration_seconds",
            "Time to produce an HTTP response (for streams: until the headers), by route.",
            ["route"],
            buckets=buckets,
            registry=self.registry,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one answered request; `route` is the matched URL rule, None if none matched."""
        route = route or UNMATCHED
        method = method.upper()
        if method not in METHODS:
            method = OTHER_METHOD
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def register(self, collector: Collector) -> None:
        """Add a collector (e.g. the service's) to what `render` exposes."""
        self.registry.register(collector)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its Content-Type, for `GET /metrics`."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
