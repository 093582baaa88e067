"""The scale bench end to end, tiny: a paced simulator in its own process, polymon with its
default configuration (embedded storage on), the paced orderbook load, every figure reported.
Correctness only; the 25k/100k-token figures come from `polymon bench --scale`.

It runs in a subprocess: the bench opens its own embedded ClickHouse, and chDB allows one
engine path per process (the test session's is already open).
"""

from __future__ import annotations

import re
import subprocess
import sys

SCRIPT = """
from polymon.bench.scale import measure_scale
result = measure_scale(tokens=41, rate=100.0, seconds=1.5, http_seconds=1.5, warmup_secs=0.3,
                       http_rate=40.0, timeout_secs=60.0)
print("\\n".join(result.lines()))
print("JSON", result.tokens, result.steady.frames, len(result.steady.stalls_us),
      len(result.loaded.http_latency_us), result.loaded.http_errors, result.rss_bytes)
"""


def test_scale_bench_reports_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    out = result.stdout
    (figures,) = re.findall(r"^JSON (.*)$", out, re.MULTILINE)
    tokens, frames, probes, requests, errors, rss = map(int, figures.split())
    assert tokens == 40  # whole markets
    assert frames > 0
    assert probes > 0
    assert requests > 0
    assert errors == 0
    assert rss > 0
    patterns = (
        r"all books fresh [\d.]+ s after start",
        r"us per frame",
        r"loop stalls p99 [\d.]+ ms, max [\d.]+ ms",
        r"rows/s written",
        r"orderbook endpoint at [\d,]+ req/s: p50 [\d.]+ ms, p99 [\d.]+ ms",
    )
    for pattern in patterns:
        assert re.search(pattern, out), (pattern, out)
