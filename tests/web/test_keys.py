"""API keys: hashed at rest, compared in constant time, created by the CLI (reliability S1)."""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polymon.errors import BadRequest
from polymon.web.keys import KeyStore


def test_only_the_hash_is_stored_and_the_key_verifies(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    record, key = store.create("research", "enterprise")
    secret = key.split("_", 2)[2]
    assert key.startswith(f"pm_{record.key_id}_")
    assert len(secret) == 43
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()
    again = KeyStore(tmp_path)  # a restart reads the file
    assert again.verify(key) == record
    assert again.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert again.verify(f"pm_ffffffff_{secret}") is None
    assert again.verify("not-a-key") is None


def test_every_check_goes_through_compare_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore(tmp_path)
    _record, key = store.create("a", "free")
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    store.verify(key)
    store.verify("pm_00000000_wrong")  # unknown id: still one constant-time compare
    assert len(calls) == 2


def test_bad_tier_and_name_are_rejected(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(BadRequest, match="tier"):
        store.create("x", "gold")
    with pytest.raises(BadRequest, match="name"):
        store.create("", "pro")


def test_keys_created_by_the_cli_are_seen_by_a_running_store(tmp_path: Path) -> None:
    running = KeyStore(tmp_path / "data")
    env = os.environ | {"POLYMON_SERVICE__DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "polymon", "keys", "create", "--name", "bot", "--tier", "free"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = out.stdout.strip().splitlines()[-1]
    record = running.verify(key)
    assert record is not None
    assert (record.name, record.tier) == ("bot", "free")
