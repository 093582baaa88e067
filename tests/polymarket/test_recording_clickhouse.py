"""The README's ClickHouse query over recordings, run for real (embedded engine, `file()`)."""

from __future__ import annotations

import re
from calendar import timegm
from collections import Counter
from pathlib import Path

import msgspec
import trio

from polymon.config import RecordConfig
from polymon.polymarket.recording.records import RECORD_COLUMNS, RunInfo
from polymon.polymarket.recording.writer import Recorder
from polymon.polymarket.simulator.exchange import Exchange
from polymon.storage.store import Store

README = Path(__file__).resolve().parents[2] / "README.md"
T0 = 1_767_272_000 * 10**9


def readme_query() -> str:
    block = re.search(r"```sql\n-- recording query\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "the README shows the recording query"
    return block.group(1)


async def test_the_readme_query_counts_the_recorded_messages(tmp_path: Path, store: Store) -> None:
    frames = Exchange(4, 7).generate_frames(600, T0 // 10**6)
    frames += ["PONG", '{"not json']
    recorder = Recorder(RecordConfig(), tmp_path, RunInfo(run_id="q", started_ns=T0))
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        tap = recorder.tap("shard-0-conn-0", 0)
        for i, frame in enumerate(frames):
            tap.frame(frame, float(i), T0 + i * 200_000_000)  # 5 a second: two minutes
        nursery.cancel_scope.cancel()
    expected: Counter[tuple[int, str]] = Counter()
    for i, frame in enumerate(frames[:600]):  # the last two are not JSON: no messages
        decoded = msgspec.json.decode(frame)
        minute = (T0 + i * 200_000_000) // 10**9 // 60 * 60
        for message in decoded if isinstance(decoded, list) else [decoded]:
            expected[minute, message.get("event_type", "")] += 1

    query = readme_query().replace("/var/lib/polymon/recordings", str(tmp_path))
    assert RECORD_COLUMNS in query
    rows = await store.query(query)
    got = {(timegm(minute.utctimetuple()), kind): int(n) for minute, kind, n in rows}
    assert got == expected
    assert sum(got.values()) > 600
