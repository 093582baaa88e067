"""The measuring SSE client of `polymon bench`, run as its own process, as a user's would be.

    POLYMON_BENCH_API_KEY=... python -m polymon.bench.sse_client URL SECONDS

Connects to the alert stream at URL with that key as `X-API-Key`, prints `ready` once the
stream is open (polymon has subscribed it), reads events for SECONDS, then prints one JSON
line: for every event `[received_us, fired_at, parsed_us]`, the wall times (µs) at which
polymon received the frame that caused it, published it, and this client had parsed it. All
three are `time.time_ns()`, CLOCK_REALTIME, which every process of the host shares.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx
from httpx_sse import connect_sse


def read_events(url: str, seconds: float, api_key: str = "") -> list[tuple[int, int, int]]:
    """(received, published, parsed) wall µs of the events read from `url` during `seconds`."""
    times: list[tuple[int, int, int]] = []
    clock_us = time.time_ns
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=seconds + 30.0)) as client,
        connect_sse(client, "GET", url, headers={"X-API-Key": api_key}) as source,
    ):
        source.response.raise_for_status()
        print("ready", flush=True)
        end = time.monotonic() + seconds
        for sse in source.iter_sse():
            if sse.data:
                event = json.loads(sse.data)
                times.append((event["received_us"], event["fired_at"], clock_us() // 1000))
            if time.monotonic() >= end:
                break
    return times


def main(argv: list[str]) -> None:
    """Entry point: URL SECONDS; the result is the last line on stdout."""
    url, seconds = argv[0], float(argv[1])
    api_key = os.environ.get("POLYMON_BENCH_API_KEY", "")
    print(json.dumps(read_events(url, seconds, api_key)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
