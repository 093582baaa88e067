"""The hot path of one shard: text frame -> decode -> apply to the shard's books.

Runs inline in a connection's reader task; never awaits. Bad input of any kind is counted by
reason and skipped, so a shard never dies from what the venue (or a fault) sends. The time each
data frame took (decode, books, BBO, triggers and the hand-off of fired events) goes into a
LatencyRing for the p50/p95/p99 of `/do/metrics` and `/metrics`: two monotonic clock reads and
one store per frame.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from time import perf_counter_ns

from polymon.core.latency import LatencyRing
from polymon.core.shard import ShardState
from polymon.core.triggers import TriggerEvent
from polymon.errors import InvalidInput
from polymon.polymarket.dispatch import apply_message
from polymon.polymarket.schemas import (
    TEXT_FRAMES,
    MarketResolved,
    NewMarket,
    decode_frame,
)

_KEEPALIVES = frozenset(TEXT_FRAMES | {t.encode() for t in TEXT_FRAMES})
LifecycleSink = Callable[[NewMarket | MarketResolved], None]
FiredSink = Callable[[list[TriggerEvent]], None]


class Ingest:
    """Decodes frames for one shard and applies them to its ShardState.

    `lifecycle` receives `new_market` / `market_resolved` events (routed by the service).
    Counters: `frames` (every frame, keepalives included), `keepalives`, `messages` (decoded
    venue messages), `invalid` (by reason), `fired` (trigger events handed to `on_fired`).
    `latency` holds the processing time (ns) of the newest data frames.
    """

    __slots__ = (
        "fired", "frames", "invalid", "keepalives", "latency", "lifecycle", "max_frame_bytes",
        "messages", "on_fired", "state",
    )  # fmt: skip

    def __init__(
        self,
        state: ShardState,
        *,
        max_frame_bytes: int,
        lifecycle: LifecycleSink | None = None,
        on_fired: FiredSink | None = None,
    ) -> None:
        self.state = state
        self.on_fired = on_fired
        self.max_frame_bytes = max_frame_bytes
        self.lifecycle = lifecycle
        self.frames = 0
        self.keepalives = 0
        self.messages = 0
        self.fired = 0
        self.invalid: Counter[str] = Counter()
        self.latency = LatencyRing()

    def deliver_fired(self) -> None:
        """Hand the trigger events fired so far to `on_fired` and count them; O(events).

        Without a sink they stay in the table.
        """
        if self.on_fired is not None:
            fired = self.state.triggers.drain()
            self.fired += len(fired)
            self.on_fired(fired)

    def handle(self, frame: str | bytes, now: float, wall_us: int) -> bool:
        """Apply one frame; returns False for a keepalive (PONG, NO NEW ASSETS), True otherwise."""
        started = perf_counter_ns()
        self.frames += 1
        if len(frame) < 16 and frame in _KEEPALIVES:
            self.keepalives += 1
            return False
        if len(frame) > self.max_frame_bytes:
            self.invalid["too_large"] += 1
            self.latency.record(perf_counter_ns() - started)
            return True
        messages, skipped = decode_frame(frame)
        for reason in skipped:
            self.invalid[reason] += 1
        self.messages += len(messages)
        state = self.state
        for msg in messages:
            try:
                apply_message(state, msg, now, wall_us)
            except InvalidInput as e:
                self.invalid[e.reason] += 1
            except (ValueError, TypeError):
                self.invalid["schema"] += 1
            if (type(msg) is NewMarket or type(msg) is MarketResolved) and self.lifecycle:
                self.lifecycle(msg)
        if state.triggers.fired:
            self.deliver_fired()  # at once: alert latency is per frame
        self.latency.record(perf_counter_ns() - started)
        return True
