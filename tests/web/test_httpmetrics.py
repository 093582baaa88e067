"""HttpMetrics: per-route counts and durations on a registry of its own, bounded labels, and
extra collectors in the same exposition."""

from __future__ import annotations

from collections.abc import Iterator

import prometheus_client
import pytest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from polymon.web.httpmetrics import HttpMetrics

ORDERBOOK = "/api/v1/markets/<asset_id>/orderbook"


def samples(metrics: HttpMetrics) -> list[Sample]:
    body, content_type = metrics.render()
    assert content_type == prometheus_client.CONTENT_TYPE_LATEST
    return [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]


def value(metrics: HttpMetrics, name: str, **labels: str) -> float:
    found = [s.value for s in samples(metrics) if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels)
    return found[0]


def test_requests_are_counted_by_method_route_and_status() -> None:
    metrics = HttpMetrics()
    metrics.observe("GET", ORDERBOOK, 200, 0.003)
    metrics.observe("GET", ORDERBOOK, 200, 0.004)
    metrics.observe("GET", ORDERBOOK, 404, 0.001)
    metrics.observe("POST", "/triggers", 201, 0.02)
    total = "polymon_http_requests_total"
    assert value(metrics, total, method="GET", route=ORDERBOOK, status="200") == 2
    assert value(metrics, total, method="GET", route=ORDERBOOK, status="404") == 1
    assert value(metrics, total, method="POST", route="/triggers", status="201") == 1


def test_durations_land_in_a_histogram_per_route() -> None:
    metrics = HttpMetrics()
    for seconds in (0.0002, 0.003, 0.015, 3.0):
        metrics.observe("GET", ORDERBOOK, 200, seconds)
    name = "polymon_http_request_duration_seconds"
    assert value(metrics, f"{name}_count", route=ORDERBOOK) == 4
    assert value(metrics, f"{name}_sum", route=ORDERBOOK) == pytest.approx(3.0182)
    assert value(metrics, f"{name}_bucket", route=ORDERBOOK, le="0.0005") == 1
    assert value(metrics, f"{name}_bucket", route=ORDERBOOK, le="0.005") == 2
    assert value(metrics, f"{name}_bucket", route=ORDERBOOK, le="0.02") == 3
    assert value(metrics, f"{name}_bucket", route=ORDERBOOK, le="+Inf") == 4


def test_unknown_routes_and_methods_collapse_to_one_label_value() -> None:
    metrics = HttpMetrics()
    for _path in ("/nope", "/nope/2", "/wp-admin"):  # no rule matched: the app passes None
        metrics.observe("BREW", None, 404, 0.001)
    metrics.observe("get", "", 405, 0.001)
    total = "polymon_http_requests_total"
    assert value(metrics, total, method="OTHER", route="unmatched", status="404") == 3
    assert value(metrics, total, method="GET", route="unmatched", status="405") == 1
    routes = {s.labels.get("route") for s in samples(metrics)}
    assert routes == {"unmatched"}


def test_each_instance_has_its_own_registry_and_no_created_series() -> None:
    first, second = HttpMetrics(), HttpMetrics()
    first.observe("GET", "/health", 200, 0.001)
    assert not [s for s in samples(second) if s.name == "polymon_http_requests_total"]
    assert value(first, "polymon_http_requests_total", method="GET", route="/health",
                 status="200") == 1  # fmt: skip
    assert not any(s.name.endswith("_created") for s in samples(first))
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "polymon_http" not in default


class Fixed(Collector):
    """A collector with one gauge, built when scraped."""

    def __init__(self) -> None:
        self.level = 0.0

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("polymon_test_level", "A level.", value=self.level)


def test_registered_collectors_are_scraped_on_every_render() -> None:
    metrics = HttpMetrics()
    fixed = Fixed()
    metrics.register(fixed)
    assert value(metrics, "polymon_test_level") == 0
    fixed.level = 7.5
    assert value(metrics, "polymon_test_level") == 7.5
