"""The load generator of the HTTP bench, run as its own process (`python -m
polymon.bench.http_client URL SECONDS CONCURRENCY [--rate R] PATH...`): CONCURRENCY keep-alive
connections each send GET requests back to back (or, with `--rate`, R requests per second in
all, evenly spaced), cycling through the paths, for SECONDS. Prints one JSON object: requests,
non-200 responses, reconnects, seconds, its own CPU seconds, and the latency of each request
in µs.

Raw HTTP/1.1 over trio sockets: an HTTP client library would cost more CPU than the server
under test on a small host, and the bench would measure the client.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from urllib.parse import urlsplit

import trio


async def _connection(
    host: str,
    port: int,
    paths: list[str],
    deadline: float,
    out: dict[str, list[int]],
    interval: float = 0.0,
) -> None:
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode() for p in paths
    ]
    schedule = _Schedule(requests, interval)
    # hypercorn closes a keep-alive connection after `keep_alive_max_requests` (1,000), as
    # nginx does: reconnect, as an HTTP client would, and count the reconnects.
    while True:
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await _exchange(stream, schedule, deadline, out)
        if time.monotonic() >= deadline:
            return
        out["reconnects"].append(1)


class _Schedule:
    """The requests of one connection, cycled, one every `interval` seconds on trio's clock
    (0: back to back); a late one goes at once, and the schedule never bursts to catch up."""

    def __init__(self, requests: list[bytes], interval: float) -> None:
        self._cycle = itertools.cycle(requests)
        self._interval = interval
        self._due = trio.current_time()

    async def next(self) -> bytes:
        """Wait for the next slot; the request to send in it."""
        if self._interval:
            await trio.sleep_until(self._due)
            self._due = max(self._due + self._interval, trio.current_time())
        return next(self._cycle)


async def _exchange(
    stream: trio.SocketStream,
    schedule: _Schedule,
    deadline: float,
    out: dict[str, list[int]],
) -> None:
    """Requests back to back on one connection until the deadline or until the server closes."""
    buffer = b""
    while True:
        request = await schedule.next()
        if time.monotonic() >= deadline:
            return
        start = time.perf_counter_ns()
        try:
            await stream.send_all(request)
        except trio.BrokenResourceError:
            return
        while b"\r\n\r\n" not in buffer:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(buffer) < length:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            buffer += chunk
        buffer = buffer[length:]
        out["latency_us"].append((time.perf_counter_ns() - start) // 1000)
        if not head.startswith(b"HTTP/1.1 200"):
            out["errors"].append(int(head[9:12]))
        if close:
            return


async def load(
    url: str, seconds: float, concurrency: int, paths: list[str], rate: float = 0.0
) -> dict[str, object]:
    """Run the load (`rate` requests per second in all, 0 = back to back) and return its
    measurements."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out: dict[str, list[int]] = {"latency_us": [], "errors": [], "reconnects": []}
    start, cpu = time.monotonic(), time.process_time()
    deadline = start + seconds
    interval = concurrency / rate if rate > 0 else 0.0
    async with trio.open_nursery() as nursery:
        for i in range(concurrency):
            mine = paths[i % len(paths) :] + paths[: i % len(paths)]
            nursery.start_soon(_connection, host, port, mine, deadline, out, interval)
    return {
        "requests": len(out["latency_us"]),
        "errors": len(out["errors"]),
        "statuses": sorted(set(out["errors"])),
        "reconnects": len(out["reconnects"]),
        "seconds": time.monotonic() - start,
        "cpu_seconds": time.process_time() - cpu,
        "latency_us": out["latency_us"],
    }


def main() -> None:
    """Entry point: arguments URL SECONDS CONCURRENCY [--rate R] PATH..., prints the JSON
    result."""
    url, seconds, concurrency, *paths = sys.argv[1:]
    rate = 0.0
    if paths[:1] == ["--rate"]:
        rate, paths = float(paths[1]), paths[2:]
    result = trio.run(load, url, float(seconds), int(concurrency), paths, rate)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
