"""The recording phase of `polymon bench` runs and reports its three costs (correctness only:
how fast lives in the bench itself)."""

from __future__ import annotations

import re

from polymon.bench.recording import recording_lines
from polymon.bench.run import _exchange, _primed_state


def test_the_recording_phase_reports_inline_encode_and_compress_costs() -> None:
    frames = _exchange(5).generate_frames(300, 1_767_225_600_000)
    lines = recording_lines(frames, lambda policy: _primed_state(_exchange(5), policy))
    assert [line.split()[1] for line in lines] == ["inline", "encode", "gzip"]
    for line in lines:
        assert re.search(r"\d+\.\d\d us/frame", line), line
    assert "bytes/frame" in lines[2]
