"""HTTP request statistics as JSON (`GET /api/v1/metrics/http`), read from the same
prometheus_client counter and histogram that `/metrics` exposes.

Cumulative since start-up, like the Prometheus series; a client that wants rates diffs two
readings. Cost per call: O(routes x buckets + route/method/status series).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from polymon.web.httpmetrics import HttpMetrics
from polymon.web.models.activity import HttpStats, RouteStats

QUANTILES = (0.5, 0.95, 0.99)
ALL_ROUTES = "*"


def bucket_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float | None:
    """The q-quantile (0 < q < 1) of a histogram, as PromQL's histogram_quantile estimates it.

    `bounds` are the finite upper bounds in ascending order and `cumulative[i]` the number of
    observations <= bounds[i]; one more entry, last, is the total (the +Inf bucket). Linear
    interpolation inside the bucket holding rank q x total, from 0 for the first bucket; a rank
    in the +Inf bucket gives the largest finite bound. None without observations. O(buckets).
    """
    total = cumulative[-1] if cumulative else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=False):
        if count >= rank:
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return bounds[-1] if bounds else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or not math.isfinite(seconds) else round(seconds * 1000, 3)


class _Route:
    def __init__(self, n_buckets: int) -> None:
        self.methods: dict[str, int] = defaultdict(int)
        self.statuses: dict[str, int] = defaultdict(int)
        self.buckets = [0.0] * n_buckets
        self.count = 0.0
        self.sum = 0.0

    def add(self, other: _Route) -> None:
        for method, n in other.methods.items():
            self.methods[method] += n
        for status, n in other.statuses.items():
            self.statuses[status] += n
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.count += other.count
        self.sum += other.sum

    def stats(self, route: str, bounds: Sequence[float]) -> RouteStats:
        cumulative = [*self.buckets, self.count]
        p50, p95, p99 = (_ms(bucket_quantile(q, bounds, cumulative)) for q in QUANTILES)
        statuses = dict(sorted(self.statuses.items()))
        return RouteStats(
            route=route,
            requests=sum(statuses.values()),
            methods=dict(sorted(self.methods.items())),
            statuses=statuses,
            client_errors=sum(n for s, n in statuses.items() if s.startswith("4")),
            server_errors=sum(n for s, n in statuses.items() if s.startswith("5")),
            mean_ms=_ms(self.sum / self.count) if self.count else None,
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
        )


def http_stats(metrics: HttpMetrics) -> HttpStats:
    """Per-route statistics (most requests first, then by route) and their total."""
    bounds = [float(b) for b in metrics.buckets]
    index = {b: i for i, b in enumerate(bounds)}
    routes: dict[str, _Route] = defaultdict(lambda: _Route(len(bounds)))
    for family in metrics.requests.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                route = routes[sample.labels["route"]]
                route.methods[sample.labels["method"]] += int(sample.value)
                route.statuses[sample.labels["status"]] += int(sample.value)
    for family in metrics.duration.collect():
        for sample in family.samples:
            route = routes[sample.labels["route"]]
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                if le in index:
                    route.buckets[index[le]] = sample.value
            elif sample.name.endswith("_count"):
                route.count = sample.value
            elif sample.name.endswith("_sum"):
                route.sum = sample.value
    total = _Route(len(bounds))
    for route in routes.values():
        total.add(route)
    listed = sorted(
        (r.stats(name, bounds) for name, r in routes.items()), key=lambda s: (-s.requests, s.route)
    )
    return HttpStats(
        routes=listed,
        total=total.stats(ALL_ROUTES, bounds),
        bucket_bounds_ms=[round(b * 1000, 3) for b in bounds],
    )
