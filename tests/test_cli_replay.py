"""Recording, replay and backtest from the command line: `polymon run` with the one switch on
(killed with SIGKILL, then restarted: the torn file is repaired), `polymon replay`,
`polymon backtest` and `polymon replay --serve`, as real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import trio
from trio_websocket import HandshakeError, open_websocket_url

from polymon.polymarket.recording.reader import ReadStats, read_records
from polymon.polymarket.recording.records import FRAME, PART_SUFFIX, RUN, SUFFIX
from tests.test_cli import free_port, polymon, wait_healthy

pytestmark = pytest.mark.slow
RECORDING = {"POLYMON_RECORD__ENABLED": "true", "POLYMON_RECORD__FLUSH_INTERVAL_SECS": "0.2"}


def run_recording(tmp_path: Path, *, kill: bool) -> None:
    port = free_port()
    proc = polymon(tmp_path, "run", "--simulate", port=port, env=RECORDING)
    try:
        wait_healthy(port, proc)
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == (-signal.SIGKILL if kill else 0)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "polymon", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_record_kill_repair_replay_and_backtest(tmp_path: Path) -> None:
    recordings = tmp_path / "data" / "recordings"
    run_recording(tmp_path, kill=True)
    torn = [p for p in recordings.iterdir() if p.name.endswith(PART_SUFFIX)]
    assert len(torn) == 1  # the killed run's file was never closed
    killed_frames = sum(r.k == FRAME for r in read_records(torn))
    assert killed_frames > 50

    run_recording(tmp_path, kill=False)  # starts by repairing it
    files = sorted(recordings.iterdir())
    assert files
    assert all(p.name.endswith(SUFFIX) for p in files)
    stats = ReadStats()
    records = list(read_records(files, stats))
    assert stats.torn == []
    assert sum(r.k == RUN for r in records) == 2

    books = tmp_path / "books.ndjson"
    replayed = cli(tmp_path, "replay", str(recordings), "--books", str(books))
    assert replayed.returncode == 0, replayed.stderr
    summary = json.loads(replayed.stderr.strip().splitlines()[-1])
    assert summary["runs"] == 2
    assert summary["books"] == 10  # the second run's tokens (5 markets)
    assert summary["records"]["frame"] > killed_frames
    assert len(books.read_text().splitlines()) == 10
    asset = json.loads(books.read_text().splitlines()[0])["asset_id"]

    trigger = tmp_path / "trigger.json"
    trigger.write_text(json.dumps({"asset_id": asset, "condition": {
        "type": "QUOTE_VELOCITY", "count": 2, "window_ms": 1000}, "cooldown_ms": 50}))  # fmt: skip
    result = cli(tmp_path, "backtest", "--trigger", str(trigger), str(recordings))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["fired"] > 0
    assert body["evaluated"] > 0
    assert sum(day["fired"] for day in body["per_day"]) == body["fired"]

    trigger.write_text('{"asset_id": "1", "condition": {"type": "NOPE"}}')
    bad = cli(tmp_path, "backtest", "--trigger", str(trigger), str(recordings))
    assert bad.returncode == 2
    assert "NOPE" in bad.stderr

    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "polymon", "replay", "--serve", "--port", str(port),
         str(recordings)], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        frames = trio.run(first_frames, f"ws://127.0.0.1:{port}/ws/market", asset)
        assert frames
        assert all(asset in text for text in frames)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    assert serve.returncode == 0


async def first_frames(url: str, asset: str) -> list[str]:
    deadline = trio.current_time() + 20
    while True:  # the server may still be starting
        try:
            async with open_websocket_url(url) as ws:
                await ws.send_message(msgspec.json.encode({"assets_ids": [asset]}).decode())
                with trio.fail_after(10):
                    return [await ws.get_message() for _ in range(5)]
        except (OSError, HandshakeError):
            if trio.current_time() > deadline:
                raise
            await trio.sleep(0.2)
