"""The HTTP bench end to end, briefly: paced simulator, polymon and the raw load client in
their own processes, every answer a 200 and counted. Correctness only; how fast it is lives in
`polymon bench`.

It runs in a subprocess: the bench opens its own embedded ClickHouse, and chDB allows one
engine path per process (the test session's is already open).
"""

from __future__ import annotations

import re
import subprocess
import sys

SCRIPT = """
from polymon.bench.http import bench_http
print(bench_http(seconds=1.0, concurrencies=(1, 3), markets=3, rate=50.0, warmup_secs=0.3))
"""


def field(pattern: str, line: str) -> str:
    match = re.search(pattern, line)
    assert match is not None, (pattern, line)
    return match.group(1)


def test_http_bench_loads_the_orderbook_endpoint_and_reports_each_load() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    loads = [line for line in result.stdout.splitlines() if line.startswith("orderbook endpoint")]
    assert [field(r"\((\d+) connections, 6 books", line) for line in loads] == ["1", "3"]
    for line in loads:
        assert float(field(r": ([\d,]+) req/s", line).replace(",", "")) > 0
        assert field(r"non-200: (\d+) ", line) == "0"
        assert field(r"p99 (\d+\.\d\d) ms", line)
