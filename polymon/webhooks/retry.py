"""What an attempt's outcome means and when the next attempt is due (pure: no clock, no I/O).

2xx is success; 410 Gone disables the endpoint; everything else (3xx, other 4xx, 5xx, transport
errors, timeouts, refused addresses) is a failure that is retried on the schedule. For 429 and
503 a `Retry-After` (seconds or an HTTP date, capped) pushes the next attempt further out.
"""

from __future__ import annotations

import email.utils
import enum
import math
import random
from collections.abc import Sequence

_THROTTLED = frozenset({429, 503})
_GONE = 410


class Verdict(enum.Enum):
    """What to do after an attempt."""

    DELIVERED = "delivered"
    GONE = "gone"
    RETRY = "retry"


def classify(status: int | None) -> Verdict:
    """The verdict for an HTTP status (None: no response: transport error or timeout)."""
    if status is not None and 200 <= status < 300:
        return Verdict.DELIVERED
    if status == _GONE:
        return Verdict.GONE
    return Verdict.RETRY


def jittered(delay: float, ratio: float, rng: random.Random) -> float:
    """`delay` scaled by a random factor in [1 - ratio, 1 + ratio]."""
    return delay * (1.0 + rng.uniform(-ratio, ratio))


def retry_after_secs(value: str | None, now: float) -> float | None:
    """A `Retry-After` header as seconds from `now` (unix s); None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # HTTP dates are GMT; one without a zone is not an HTTP date
    return max(0.0, when.timestamp() - now)


def next_delay(
    schedule: Sequence[float],
    attempts: int,
    *,
    status: int | None,
    retry_after: str | None,
    now: float,
    jitter_ratio: float,
    max_retry_after_secs: float,
    rng: random.Random,
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None when they are used up.

    The schedule's delay (jittered) applies, or a 429/503 answer's `Retry-After` if that is
    longer, capped at `max_retry_after_secs`.
    """
    if attempts >= len(schedule):
        return None
    delay = jittered(schedule[attempts], jitter_ratio, rng)
    if status in _THROTTLED:
        asked = retry_after_secs(retry_after, now)
        if asked is not None and math.isfinite(asked):
            delay = max(delay, min(asked, max_retry_after_secs))
    return delay
