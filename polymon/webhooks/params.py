"""The settings of webhook delivery, as plain constructor parameters.

The service maps its `[webhooks]` config section onto `DeliveryParams`; this package never reads
config files itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from polymon.webhooks.ssrf import UrlPolicy

# Delay before each attempt, counted from the end of the previous one (Standard Webhooks'
# example schedule): 10 attempts over about three days.
DEFAULT_RETRY_SCHEDULE_SECS: Final = (
    0.0,
    5.0,
    5 * 60.0,
    30 * 60.0,
    2 * 3600.0,
    5 * 3600.0,
    10 * 3600.0,
    14 * 3600.0,
    20 * 3600.0,
    24 * 3600.0,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryParams:
    """How webhooks are delivered.

    allow_private: allow receivers on loopback/private/link-local addresses (tests, LANs).
    allowed_ports: ports a webhook URL may use; empty means any port.
    retry_schedule_secs: delay before each attempt; its length is the number of attempts.
    jitter_ratio: each delay is scaled by a random factor in [1 - ratio, 1 + ratio].
    attempt_timeout_secs: the whole attempt (DNS, connect, request, response head).
    max_retry_after_secs: cap on a receiver's `Retry-After` (429/503).
    max_concurrency: attempts in flight across all endpoints.
    max_pending_per_endpoint: deliveries queued per endpoint; more go to the dead letters.
    max_dead_letters: dead letters kept; the oldest are evicted (and counted) beyond this.
    max_response_bytes: how much of a response body is read before the connection is closed.
    fsync_interval_secs: how often journal appends are fsynced (they are written at once).
    """

    allow_private: bool = False
    allowed_ports: frozenset[int] = field(default_factory=lambda: frozenset({80, 443}))
    retry_schedule_secs: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_SECS
    jitter_ratio: float = 0.2
    attempt_timeout_secs: float = 15.0
    max_retry_after_secs: float = 24 * 3600.0
    max_concurrency: int = 32
    max_pending_per_endpoint: int = 1000
    max_dead_letters: int = 10_000
    max_response_bytes: int = 64 * 1024
    fsync_interval_secs: float = 1.0

    def __post_init__(self) -> None:
        if not self.retry_schedule_secs or min(self.retry_schedule_secs) < 0:
            raise ValueError("retry_schedule_secs needs at least one delay, none negative")
        if not 0 <= self.jitter_ratio < 1:
            raise ValueError("jitter_ratio must be in [0, 1)")
        positive = {
            "attempt_timeout_secs": self.attempt_timeout_secs,
            "max_concurrency": self.max_concurrency,
            "max_pending_per_endpoint": self.max_pending_per_endpoint,
            "max_dead_letters": self.max_dead_letters,
            "max_response_bytes": self.max_response_bytes,
            "fsync_interval_secs": self.fsync_interval_secs,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_retry_after_secs < 0:
            raise ValueError("max_retry_after_secs must be >= 0")
        if any(not 0 < port < 65536 for port in self.allowed_ports):
            raise ValueError("allowed_ports must be TCP ports (1-65535)")

    @property
    def url_policy(self) -> UrlPolicy:
        """The SSRF rules these parameters ask for."""
        return UrlPolicy(allow_private=self.allow_private, allowed_ports=self.allowed_ports)
