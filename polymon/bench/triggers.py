"""`polymon bench` trigger phases.

1. Evaluation cost per BBO change on one asset with 0, 10 and 100 triggers (a realistic mix
   of price and spread thresholds around the quote, windowed types and an arbitrage pair),
   over a random walk of the top of book.
2. Frame receipt -> event published: the hot path over generated frames with price triggers
   on every asset; each fired event is stamped and published to the SSE buffer as in the
   service, and its `processing_latency_us` is collected.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from polymon.core.shard import ShardState
from polymon.core.triggers import Trigger, TriggerEvent, TriggerTable, decode_trigger_spec, stamp
from polymon.polymarket.ingest import Ingest
from polymon.web.events import EventBuffer

_ASSET = "1" * 77
_PAIR = "2" * 77


def _mixed_specs(count: int) -> list[dict[str, Any]]:
    kinds: list[dict[str, Any]] = [
        {"type": "PRICE_ABOVE", "threshold": 0.5, "side": "MID"},
        {"type": "PRICE_BELOW", "threshold": 0.5, "side": "BID"},
        {"type": "SPREAD_WIDE", "threshold": 0.03},
        {"type": "SPREAD_NARROW", "threshold": 0.01},
        {"type": "PRICE_MOVE", "pct": 5, "window_ms": 60000, "side": "MID"},
        {"type": "QUOTE_VELOCITY", "count": 50, "window_ms": 1000},
        {"type": "SIZE_SPIKE", "multiplier": 5, "window_ms": 60000, "side": "BOTH"},
        {"type": "ARBITRAGE_BUY", "threshold": 0.98, "paired_asset_id": _PAIR},
        {"type": "ARBITRAGE_SELL", "threshold": 1.02, "paired_asset_id": _PAIR},
        {"type": "STALE_QUOTE", "threshold_ms": 60000},
    ]
    specs = []
    for i in range(count):
        cond = dict(kinds[i % len(kinds)])
        if "threshold" in cond and cond["type"].startswith("PRICE"):
            cond["threshold"] = round(0.40 + 0.2 * random.Random(i).random(), 3)
        specs.append({"asset_id": _ASSET, "condition": cond, "cooldown_ms": 1000})
    return specs


def bbo_cost_ns(count: int, updates: int = 50_000) -> float:
    """Mean ns per `on_bbo` with `count` triggers on the asset (best of 3)."""
    table = TriggerTable()
    for i, spec in enumerate(_mixed_specs(count)):
        table.add(
            Trigger(trigger_id=f"trig_{i:x}", spec=decode_trigger_spec(json.dumps(spec))), 0.0
        )
    rng = random.Random(7)
    bid = 480_000
    path = []
    for _ in range(updates):
        bid = min(max(bid + rng.choice((-1000, 0, 0, 1000)), 10_000), 980_000)
        path.append((bid, float(rng.randint(1, 5000)), bid + rng.choice((1000, 2000, 10_000))))
    best = float("inf")
    for _ in range(3):
        now = 0.0
        start = time.perf_counter_ns()
        for b, size, a in path:
            now += 0.001
            table.on_bbo(_ASSET, b, size, a, size, 1, 1, now, None)
            table.fired.clear()
        best = min(best, (time.perf_counter_ns() - start) / updates)
    return best


def fired_latency(state: ShardState, ingest: Ingest, frames: list[str]) -> tuple[int, list[int]]:
    """Run frames with ten price triggers on every asset; returns (events, latencies in µs)."""
    buffer = EventBuffer(10_000)
    latencies: list[int] = []

    def deliver(events: list[TriggerEvent]) -> None:
        stamp(events, time.time_ns() // 1000)
        buffer.publish([(e.trigger_type, b"{}") for e in events], 0)
        latencies.extend(e.processing_latency_us for e in events)

    ingest.on_fired = deliver
    n = 0
    for asset in list(state.assets):
        for k in range(10):
            kind = "PRICE_ABOVE" if k % 2 else "PRICE_BELOW"
            condition = {"type": kind, "threshold": round(0.30 + 0.04 * k, 2), "side": "MID"}
            spec = {"asset_id": asset, "cooldown_ms": 0, "condition": condition}
            state.add_trigger(Trigger(trigger_id=f"trig_{n:x}",
                                      spec=decode_trigger_spec(json.dumps(spec))), 0.0)  # fmt: skip
            n += 1
    for frame in frames:
        ingest.handle(frame, 1.0, time.time_ns() // 1000)
    return len(latencies), latencies


def trigger_lines(state: ShardState, ingest: Ingest, frames: list[str]) -> list[str]:
    """The trigger phases as printable lines."""
    costs = ", ".join(f"{n} triggers {bbo_cost_ns(n):,.0f} ns" for n in (0, 10, 100))
    lines = [f"{'triggers: cost per BBO change':<34} {costs}"]
    count, lat = fired_latency(state, ingest, frames)
    lat.sort()
    if lat:
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        lines.append(f"{'triggers: frame -> event published':<34} {count:,} events "
                     f"(10 price triggers on each of {len(state.assets)} tokens): "
                     f"p50 {p50} us  p99 {p99} us")  # fmt: skip
    return lines
