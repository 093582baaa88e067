"""`polymon bench` recording phase: what recording the feed costs per frame.

Measured in CPU time of this process (`time.process_time`, `time.thread_time`), best of
several interleaved runs, over the same generated venue frames as the hot-path phase:

1. inline: the hot path (decode -> book -> BBO) with the recorder's tap against without it,
   A/B interleaved, and the tap call on its own (what the reader task pays per frame);
2. encode: turning the buffered records into NDJSON, on the event loop in slices;
3. compress: one gzip member per flush, at the configured level, in the worker thread (zlib
   releases the GIL, so this runs beside the event loop on another core);
and the compressed bytes per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import trio

from polymon.config import RecordConfig
from polymon.core.shard import Policy, ShardState
from polymon.polymarket.ingest import Ingest
from polymon.polymarket.recording.files import gzip_member
from polymon.polymarket.recording.records import RunInfo
from polymon.polymarket.recording.writer import Buffer, Recorder, Tap

_RUNS = 5


def _best_cpu(run: Callable[[], None], clock: Callable[[], float] = time.process_time) -> float:
    start = clock()
    run()
    return clock() - start


def _hot_path(
    frames: list[str], prime: Callable[[], tuple[ShardState, Ingest]], tap: Tap | None
) -> Callable[[], None]:
    state, ingest = prime()
    handle = ingest.handle
    record = None if tap is None else tap.frame

    def run() -> None:
        for i, frame in enumerate(frames):
            t_ns = 1_700_000_000_000_000_000 + i
            if record is not None:
                record(frame, 1.0, t_ns)
            handle(frame, 1.0, t_ns // 1000)
            if i % 1000 == 0:
                state.out.drain()
        if tap is not None:
            tap.recorder.buffer = Buffer()

    return run


def recording_lines(
    frames: list[str], prime: Callable[[Policy], tuple[ShardState, Ingest]]
) -> list[str]:
    """One line per measurement (µs per frame and ratios)."""
    n = len(frames)
    cfg = RecordConfig(max_pending_records=n + 10)
    with TemporaryDirectory() as tmp:
        recorder = Recorder(cfg, Path(tmp), RunInfo(run_id="bench", started_ns=0))
        tap = recorder.tap("shard-0-conn-0", 0)
        policy = Policy(mode="resync", hash_mode="off")
        without, with_tap = [], []
        for _ in range(_RUNS):  # interleaved: a noisy neighbour hits both alike
            without.append(_best_cpu(_hot_path(frames, lambda: prime(policy), None)))
            with_tap.append(_best_cpu(_hot_path(frames, lambda: prime(policy), tap)))

        def taps() -> None:
            frame = tap.frame
            for i, text in enumerate(frames):
                frame(text, 1.0, i)
            recorder.buffer = Buffer()

        tap_alone = min(_best_cpu(taps) for _ in range(_RUNS))
        encode_cpu, data = _encode(recorder, frames)

        def gzip() -> None:
            gzip_member(data, cfg.compress_level)

        compress = min(_best_cpu(gzip, time.thread_time) for _ in range(3))
    a, b = min(without), min(with_tap)
    size = len(gzip_member(data, cfg.compress_level))
    return [
        f"recording, inline (tap per frame)   {tap_alone / n * 1e6:6.2f} us/frame; hot path "
        f"{a / n * 1e6:.2f} -> {b / n * 1e6:.2f} us/frame with it (x{b / a:.3f})",
        f"recording, encode (event loop)      {encode_cpu / n * 1e6:6.2f} us/frame "
        f"(in slices of 512 records, a checkpoint between)",
        f"recording, gzip level {cfg.compress_level} (thread)      "
        f"{compress / n * 1e6:6.2f} us/frame, {size / n:.0f} bytes/frame "
        f"({len(data) / n:.0f} raw); CPU time, best of {_RUNS}, host shared",
    ]


def _encode(recorder: Recorder, frames: list[str]) -> tuple[float, bytes]:
    code = recorder.code("frame", "shard-0-conn-0", 0)
    batch = [(i, 1.0, code, text) for i, text in enumerate(frames)]
    best, data = float("inf"), b""

    async def main() -> None:
        nonlocal best, data
        for _ in range(3):
            start = time.process_time()
            data = await recorder.encode(list(batch))
            best = min(best, time.process_time() - start)

    trio.run(main)
    return best, data
