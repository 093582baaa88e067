"""Outcome classification, the jittered schedule and Retry-After (pure functions)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymon.webhooks.params import DEFAULT_RETRY_SCHEDULE_SECS as SCHEDULE
from polymon.webhooks.params import DeliveryParams
from polymon.webhooks.retry import Verdict, classify, jittered, next_delay, retry_after_secs

NOW = 1_790_000_000.0


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (410, Verdict.GONE),
        (None, Verdict.RETRY),
        (100, Verdict.RETRY),
        (301, Verdict.RETRY),
        (302, Verdict.RETRY),
        (400, Verdict.RETRY),
        (404, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_classify(status: int | None, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_the_schedule_is_the_standard_webhooks_one() -> None:
    assert SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    assert DeliveryParams().attempt_timeout_secs == 15.0
    assert DeliveryParams().jitter_ratio == 0.2


@given(st.integers(0, 9), st.integers(0, 2**32))
def test_delays_follow_the_schedule_within_jitter(attempts: int, seed: int) -> None:
    delay = next_delay(
        SCHEDULE,
        attempts,
        status=500,
        retry_after=None,
        now=NOW,
        jitter_ratio=0.2,
        max_retry_after_secs=86400,
        rng=random.Random(seed),
    )
    assert delay is not None
    assert SCHEDULE[attempts] * 0.8 <= delay <= SCHEDULE[attempts] * 1.2


def test_no_delay_once_the_attempts_are_used_up() -> None:
    kwargs = {"status": 500, "retry_after": None, "now": NOW, "jitter_ratio": 0.2}
    rng = random.Random(1)
    assert next_delay(SCHEDULE, 10, **kwargs, max_retry_after_secs=0, rng=rng) is None  # type: ignore[arg-type]


def test_jitter_spreads_both_ways() -> None:
    rng = random.Random(7)
    delays = [jittered(100.0, 0.2, rng) for _ in range(1000)]
    assert 80 <= min(delays) < 85
    assert 115 < max(delays) <= 120


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", None),
        ("1.5", None),
        ("²", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2026 07:28:00", None),  # no zone: not an HTTP date
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert retry_after_secs(value, NOW) == seconds


def test_retry_after_http_dates() -> None:
    assert retry_after_secs("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert retry_after_secs("Thu, 01 Jan 1970 00:01:40 GMT", 400.0) == 0.0  # in the past


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "3600", 3600.0),
        (503, "999999999", 86400.0),
        (503, "1", 5.0),
        (500, "3600", 5.0),
        (429, None, 5.0),
    ],
)
def test_retry_after_only_for_throttling_and_capped(
    status: int, header: str | None, expected: float
) -> None:
    delay = next_delay(
        SCHEDULE,
        1,
        status=status,
        retry_after=header,
        now=NOW,
        jitter_ratio=0.0,
        max_retry_after_secs=86400.0,
        rng=random.Random(1),
    )
    assert delay == expected


@pytest.mark.parametrize(
    "params",
    [
        {"retry_schedule_secs": ()},
        {"retry_schedule_secs": (0.0, -1.0)},
        {"jitter_ratio": 1.0},
        {"attempt_timeout_secs": 0},
        {"max_concurrency": 0},
        {"allowed_ports": frozenset({0})},
    ],
)
def test_bad_params_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        DeliveryParams(**params)  # type: ignore[arg-type]
