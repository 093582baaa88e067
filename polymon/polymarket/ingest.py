"""The hot path of one shard: text frame -> decode -> apply to the shard's books.

Runs inline in a connection's reader task; never awaits. Bad input of any kind is counted by
reason and skipped, so a shard never dies from what the venue (or a fault) sends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

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
    """

    __slots__ = (
        "frames", "invalid", "keepalives", "lifecycle", "max_frame_bytes", "on_fired", "state",
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
        self.invalid: Counter[str] = Counter()

    def handle(self, frame: str | bytes, now: float, wall_us: int) -> bool:
        """Apply one frame; returns False for a keepalive (PONG, NO NEW ASSETS), True otherwise."""
        self.frames += 1
        if len(frame) < 16 and frame in _KEEPALIVES:
            self.keepalives += 1
            return False
        if len(frame) > self.max_frame_bytes:
            self.invalid["too_large"] += 1
            return True
        messages, skipped = decode_frame(frame)
        for reason in skipped:
            self.invalid[reason] += 1
        state = self.state
        for msg in messages:
            try:
                apply_message(state, msg, now, wall_us)
            except InvalidInput as e:
                self.invalid[e.reason] += 1
            except (ValueError, TypeError):
                self.invalid["schema"] += 1
            if self.lifecycle is not None and isinstance(msg, NewMarket | MarketResolved):
                self.lifecycle(msg)
        if state.triggers.fired and self.on_fired is not None:
            self.on_fired(state.triggers.drain())  # at once: alert latency is per frame
        return True
