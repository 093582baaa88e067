"""LatencyRing and the nearest-rank percentiles: against a plain list model, and by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.core.latency import LatencyRing, LatencySummary, percentile, summarize


def model_percentile(values: list[int], q: int) -> int:
    """The textbook nearest-rank definition, in exact fractions."""
    ordered = sorted(values)
    return ordered[max(math.ceil(Fraction(q, 100) * len(ordered)), 1) - 1]


def test_an_empty_ring_has_no_summary() -> None:
    ring = LatencyRing(8)
    assert ring.summary() is None
    assert ring.window() == []
    assert (ring.count, ring.total_ns, ring.capacity) == (0, 0, 8)
    ring._check()


def test_percentiles_of_one_to_a_hundred() -> None:
    ring = LatencyRing(128)
    for ns in range(100, 0, -1):
        ring.record(ns)
        ring._check()
    assert ring.summary() == LatencySummary(samples=100, p50_ns=50, p95_ns=95, p99_ns=99,
                                            max_ns=100)  # fmt: skip
    assert ring.total_ns == 5050


def test_the_window_keeps_the_newest_values_and_the_totals_keep_all() -> None:
    ring = LatencyRing(4)
    for ns in (1000, 2000, 3, 4, 5, 6):
        ring.record(ns)
        ring._check()
    assert sorted(ring.window()) == [3, 4, 5, 6]
    assert (ring.count, ring.total_ns) == (6, 3018)
    summary = ring.summary()
    assert summary is not None
    assert (summary.samples, summary.p50_ns, summary.max_ns) == (4, 4, 6)


def test_a_single_value_is_every_percentile() -> None:
    assert summarize([7]) == LatencySummary(samples=1, p50_ns=7, p95_ns=7, p99_ns=7, max_ns=7)
    assert summarize([]) is None


def test_percentile_is_the_smallest_value_covering_q_percent() -> None:
    assert percentile([10, 20, 30, 40], 50) == 20
    assert percentile([10, 20, 30, 40], 51) == 30
    assert percentile([10, 20, 30, 40], 100) == 40
    assert percentile([10, 20, 30, 40], 1) == 10


@pytest.mark.parametrize("capacity", [0, -4, 3, 100])
def test_the_capacity_must_be_a_power_of_two(capacity: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        LatencyRing(capacity)


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), max_size=300),
    st.sampled_from([1, 2, 16, 64, 256]),
)
def test_the_ring_matches_a_list_of_the_newest_values(values: list[int], capacity: int) -> None:
    ring = LatencyRing(capacity)
    for ns in values:
        ring.record(ns)
    ring._check()
    newest = values[-capacity:]
    assert sorted(ring.window()) == sorted(newest)
    assert (ring.count, ring.total_ns) == (len(values), sum(values))
    summary = ring.summary()
    if not newest:
        assert summary is None
        return
    assert summary == LatencySummary(
        samples=len(newest),
        p50_ns=model_percentile(newest, 50),
        p95_ns=model_percentile(newest, 95),
        p99_ns=model_percentile(newest, 99),
        max_ns=max(newest),
    )
