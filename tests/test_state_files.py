"""Bad state files at start: a one-line error naming the file and exit 2, never a traceback
(and never a silent start without the keys or triggers the file held)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("triggers.json", b'[{"trigger_id": "t1", "spec": '),
        ("triggers.json", b"\xff\xfe not json"),
        ("keys.json", b'{"abcd": {"key_id": "abcd"}}'),
        ("keys.json", b"{"),
    ],
)
def test_a_corrupt_state_file_is_a_one_line_error_naming_it(
    tmp_path: Path, name: str, content: bytes
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / name).write_bytes(content)
    env = os.environ | {
        "POLYMON_SERVICE__DATA_DIR": str(data),
        "POLYMON_STORAGE__ENABLED": "false",
        "POLYMON_HTTP__PORT": "0",
        "POLYMON_SIMULATOR__MARKETS": "2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "polymon", "run", "--simulate"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    assert result.stderr.count("\n") == 1, result.stderr
    assert name in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert (data / name).read_bytes() == content  # left as it was, for the user to look at
