"""`polymon bench --scale`: the whole venue in one process, measured as a user would see it.

Three processes, as in production: the paced simulator with `tokens / 2` binary markets
(`polymon.bench.paced`, its own process and core), polymon with its default configuration
(this process: embedded storage on, `hash_mode` as given, rate limits off so the load is not
throttled), and a paced orderbook load (`polymon.bench.http_client --rate`). Printed:

- seconds from start until every book is fresh (and until the Gamma walk was done);
- over a steady window after a warm-up: polymon's CPU (every thread of the process, the
  embedded ClickHouse included) as % of one core and in µs per frame received, RSS (and its
  peak), event-loop stalls p99/max (`bench.stalls`), the orderbook endpoint's p50/p99 under
  the load, and rows/s written to ClickHouse.

    python -m polymon.bench.scale [--tokens N] [--rate FRAMES_PER_S] [--seconds S] [--hash-mode M]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from functools import partial
from typing import Any

import msgspec
import trio

from polymon.bench.paced import paced_simulator, polymarket_urls
from polymon.bench.stalls import probe_stalls
from polymon.config import load_config
from polymon.core.latency import percentile
from polymon.core.model import Phase
from polymon.runtime import tune_runtime
from polymon.service.main import Running, Service, run_service

_POLL_SECS = 0.25
_MAX_PATHS = 2_000  # orderbook paths handed to the load client (a sample of the books)
_HTTP_CONNECTIONS = 4
_PROBE_SECS = 0.01


class Window(msgspec.Struct, kw_only=True):
    """One measured stretch of the steady state."""

    secs: float
    frames: int
    cpu_secs: float
    loop_cpu_secs: float
    """The event loop's thread alone (the rest: the embedded ClickHouse engine, insert threads)."""
    threads_cpu_secs: dict[str, float] = {}
    """CPU seconds by thread name."""
    rows_written: int
    host_busy: float
    """Busy share of the whole host's cores (the host is shared: read the others with it)."""
    stalls_us: list[int]
    http_latency_us: list[int] = []
    http_errors: int = 0
    gc_pauses_us: list[tuple[int, int]] = []
    """(generation, µs) of every garbage collection in the window."""

    def line(self) -> str:
        """The window's CPU, stall and storage figures."""
        stalls = sorted(self.stalls_us)
        longest = max(self.gc_pauses_us, key=lambda p: p[1], default=(0, 0))
        return (
            f"{self.frames / self.secs:,.0f} frames/s in, polymon CPU "
            f"{self.cpu_secs / self.secs:.1%} of one core = "
            f"{self.cpu_secs / max(self.frames, 1) * 1e6:.1f} us per frame (all included; "
            f"event loop {self.loop_cpu_secs / self.secs:.1%}); "
            f"loop stalls p99 {_ms(stalls, 99)} ms, max {_ms(stalls, 100)} ms "
            f"(GC: {len(self.gc_pauses_us)} collections, longest {longest[1] / 1000:.1f} ms "
            f"in generation {longest[0]}); "
            f"{self.rows_written / self.secs:,.0f} rows/s written; "
            f"host {self.host_busy:.0%} busy; busiest threads: "
            + ", ".join(
                f"{name} {cpu / self.secs:.1%}"
                for name, cpu in sorted(self.threads_cpu_secs.items(), key=lambda i: -i[1])[:4]
            )
        )


class ScaleResult(msgspec.Struct, kw_only=True):
    """What one `--scale` run measured."""

    tokens: int
    hash_mode: str
    rate: float
    listed_secs: float
    """Start until the Gamma walk had subscribed every market."""
    fresh_secs: float
    """Start until every book was fresh."""
    rss_bytes: int
    peak_rss_bytes: int
    steady: Window
    """Frames only."""
    loaded: Window
    """Frames and the orderbook load."""

    def lines(self) -> list[str]:
        """The human summary."""
        http = sorted(self.loaded.http_latency_us)
        return [
            f"scale: {self.tokens:,} tokens, hash_mode {self.hash_mode}, simulator at "
            f"{self.rate:,.0f} events/s (its own process)",
            f"  all books fresh {self.fresh_secs:.1f} s after start "
            f"(Gamma listing subscribed after {self.listed_secs:.1f} s); "
            f"RSS {self.rss_bytes / 2**30:.2f} GiB (peak {self.peak_rss_bytes / 2**30:.2f} GiB)",
            f"  steady, {self.steady.secs:.0f} s: {self.steady.line()}",
            f"  orderbook endpoint at {len(http) / self.loaded.secs:,.0f} req/s: "
            f"p50 {_ms(http, 50)} ms, p99 {_ms(http, 99)} ms, non-200 {self.loaded.http_errors}",
            f"  with that load, {self.loaded.secs:.0f} s: {self.loaded.line()}",
        ]


def _ms(ordered: list[int], q: int) -> str:
    return f"{percentile(ordered, q) / 1000:.2f}" if ordered else "-"


def _memory() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in bytes; (0, 0) where /proc is missing."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    fields[name] = int(value.split()[0]) * 1024
    except OSError:
        return 0, 0
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


def _host_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole host; (0, 0) where /proc is missing."""
    try:
        with open("/proc/stat") as f:
            values = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return sum(values) - idle, sum(values)


def _loop_cpu() -> float:
    """CPU seconds of this thread (the event loop's) so far."""
    return time.thread_time()


def _threads_cpu() -> dict[int, tuple[str, float]]:
    """Each thread of this process: its name and CPU seconds so far ({} without /proc)."""
    ticks = float(os.sysconf("SC_CLK_TCK"))
    out: dict[int, tuple[str, float]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = name, (int(fields[11]) + int(fields[12])) / ticks
    return out


def _by_name(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds spent between two `_threads_cpu` samples, by thread name (threads are
    renamed while they work, so the later name counts); threads that ended are missed."""
    spent: dict[str, float] = {}
    for tid, (name, cpu) in after.items():
        spent[name] = spent.get(name, 0.0) + cpu - before.get(tid, (name, 0.0))[1]
    return spent


def _synced(service: Service) -> int:
    return sum(
        1 for s in service.shards for st in s.state.assets.values() if st.phase is Phase.SYNCED
    )


def _rows_written(service: Service) -> int:
    writers = service.writers
    return 0 if writers is None else sum(w.stats.rows_written for w in writers.writers.values())


async def _wait_fresh(service: Service, tokens: int, started: float) -> float:
    """Seconds from `started` until the Gamma walk is done (every token is subscribed then)."""
    listed = 0.0
    while True:
        if not listed and service.bootstrapped.is_set():
            listed = time.perf_counter() - started
        if listed and _synced(service) >= tokens:
            return listed
        await trio.sleep(_POLL_SECS)


async def _window(service: Service, seconds: float, load: list[str] | None) -> Window:
    """Measure `seconds` of the running service, with a load process (its JSON result read)
    or without one."""
    stalls: list[int] = []
    pauses: list[tuple[int, int]] = []
    started: list[int] = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        else:
            pauses.append((info["generation"], (time.perf_counter_ns() - started[0]) // 1000))

    done = trio.Event()
    gc.callbacks.append(on_gc)
    try:
        window = await _measured(service, seconds, load, stalls, done)
    finally:
        gc.callbacks.remove(on_gc)
    return msgspec.structs.replace(window, gc_pauses_us=pauses)


async def _measured(
    service: Service, seconds: float, load: list[str] | None, stalls: list[int], done: trio.Event
) -> Window:
    async with trio.open_nursery() as nursery:
        # A probe every 10 ms (bench.alerts uses 5): its own wake-ups are part of the CPU.
        nursery.start_soon(probe_stalls, stalls, done, _PROBE_SECS, name="bench-loop-probe")
        frames0 = sum(s.ingest.frames for s in service.shards)
        rows0, host0 = _rows_written(service), _host_busy()
        wall0, cpu0, loop0 = time.perf_counter(), time.process_time(), _loop_cpu()
        threads0 = _threads_cpu()
        http: dict[str, Any] = {"latency_us": [], "errors": 0}
        if load is None:
            await trio.sleep(seconds)
        else:
            http = json.loads((await trio.run_process(load, capture_stdout=True)).stdout)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        loop = _loop_cpu() - loop0
        threads = _by_name(threads0, _threads_cpu())
        done.set()
    busy, total = (a - b for a, b in zip(_host_busy(), host0, strict=True))
    return Window(
        secs=wall, frames=sum(s.ingest.frames for s in service.shards) - frames0, cpu_secs=cpu,
        loop_cpu_secs=loop, threads_cpu_secs=threads,
        rows_written=_rows_written(service) - rows0, host_busy=busy / total if total else 0.0,
        stalls_us=stalls, http_latency_us=http["latency_us"], http_errors=http["errors"],
    )  # fmt: skip


async def _measure(
    sim_url: str,
    data_dir: str,
    *,
    tokens: int,
    rate: float,
    seconds: float,
    http_seconds: float,
    warmup_secs: float,
    hash_mode: str,
    http_rate: float,
    timeout_secs: float,
) -> ScaleResult:
    cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": data_dir}, "http": {"port": 0, "rate_limit_enabled": False},
        "polymarket": polymarket_urls(sim_url), "integrity": {"hash_mode": hash_mode},
    })  # fmt: skip
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        handle: Running = await nursery.start(partial(run_service, cfg))
        service = handle.service
        with trio.fail_after(timeout_secs):
            listed = await _wait_fresh(service, tokens, started)
        fresh = time.perf_counter() - started
        tune_runtime()  # where `polymon run` calls it: once bootstrapped
        await trio.sleep(warmup_secs)  # the writers store the initial books meanwhile
        steady = await _window(service, seconds, None)
        assets = [a for s in service.shards for a in s.state.assets]
        paths = [
            f"/api/v1/markets/{a}/orderbook"
            for a in random.Random(1).sample(assets, min(_MAX_PATHS, len(assets)))
        ]
        load = [
            sys.executable, "-m", "polymon.bench.http_client", handle.http_url, str(http_seconds),
            str(_HTTP_CONNECTIONS), "--rate", str(http_rate), *paths,
        ]  # fmt: skip
        loaded = await _window(service, http_seconds, load)
        rss, peak = _memory()
        handle.stop()
    return ScaleResult(
        tokens=tokens, hash_mode=hash_mode, rate=rate, listed_secs=listed, fresh_secs=fresh,
        rss_bytes=rss, peak_rss_bytes=peak, steady=steady, loaded=loaded,
    )  # fmt: skip


def measure_scale(
    *,
    tokens: int = 25_000,
    rate: float = 1_000.0,
    seconds: float = 60.0,
    http_seconds: float = 20.0,
    warmup_secs: float = 10.0,
    hash_mode: str = "observe",
    http_rate: float = 200.0,
    timeout_secs: float = 900.0,
) -> ScaleResult:
    """One scale run (see the module docstring); `tokens` is rounded down to whole markets.

    `seconds` of frames only, then `http_seconds` with the orderbook load at `http_rate`.
    """
    markets = max(1, tokens // 2)
    with (
        tempfile.TemporaryDirectory(prefix="polymon-bench-scale-") as data_dir,
        paced_simulator(rate, markets, data_dir) as sim_url,
    ):
        return trio.run(partial(
            _measure, sim_url, data_dir, tokens=2 * markets, rate=rate, seconds=seconds,
            http_seconds=http_seconds, warmup_secs=warmup_secs, hash_mode=hash_mode,
            http_rate=http_rate, timeout_secs=timeout_secs,
        ))  # fmt: skip


def bench_scale(**kwargs: Any) -> str:
    """Run `measure_scale(**kwargs)` and return its summary lines."""
    return "\n".join(measure_scale(**kwargs).lines())


def main(argv: list[str] | None = None) -> None:
    """`python -m polymon.bench.scale`: only the scale phase."""
    parser = argparse.ArgumentParser(prog="python -m polymon.bench.scale")
    parser.add_argument("--tokens", type=int, default=25_000)
    parser.add_argument("--rate", type=float, default=1_000.0, help="simulator events/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="frames-only window")
    parser.add_argument("--http-seconds", type=float, default=20.0, help="orderbook window")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first")
    parser.add_argument("--hash-mode", choices=["off", "observe", "resync"], default="observe")
    args = parser.parse_args(argv)
    print(bench_scale(tokens=args.tokens, rate=args.rate, seconds=args.seconds,
                      http_seconds=args.http_seconds, warmup_secs=args.warmup,
                      hash_mode=args.hash_mode), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
