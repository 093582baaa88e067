"""API keys: hashed at rest, compared in constant time, created by the CLI (reliability S1)."""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from polymon.config import load_config
from polymon.errors import BadRequest, StateFileError
from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
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


def test_an_unreadable_key_file_at_start_is_an_error_naming_it(tmp_path: Path) -> None:
    KeyStore(tmp_path).create("a", "pro")
    (tmp_path / "keys.json").write_bytes(b'{"1234": {"key_id": ')
    with pytest.raises(StateFileError, match=r"keys\.json") as raised:
        KeyStore(tmp_path)
    assert "\n" not in str(raised.value)


def test_a_key_file_broken_while_running_keeps_the_keys_last_read(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    record, key = store.create("a", "pro")
    path = tmp_path / "keys.json"
    good = path.read_bytes()
    path.write_bytes(b"\x00garbage")
    os.utime(path, (1, 1))  # a new version, whatever the clock's resolution
    assert store.verify(key) == record  # no exception: requests are not failed by it
    assert store.verify(key) == record
    assert store.reload_errors == 1  # logged once per bad version
    path.write_bytes(good)
    os.utime(path, (2, 2))
    assert store.verify(key) == record
    path.write_bytes(b"[")
    os.utime(path, (3, 3))
    with pytest.raises(StateFileError):  # creating a key never rewrites an unreadable file
        store.create("b", "pro")
    assert path.read_bytes() == b"["


async def test_keyed_requests_are_served_while_the_key_file_is_broken(tmp_path: Path) -> None:
    cfg = load_config(None, environ={}, overrides={"service": {"data_dir": str(tmp_path)},
                                                    "storage": {"enabled": False}})  # fmt: skip
    keys = KeyStore(tmp_path)
    _, key = keys.create("a", "pro")
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        app = create_app(ServiceApi(service, None, cfg), service.events, triggers=service.alerts,
                         keys=keys, http=cfg.http)  # fmt: skip
        client = app.test_client()
        (tmp_path / "keys.json").write_bytes(b"{not json")
        os.utime(tmp_path / "keys.json", (1, 1))
        for _ in range(3):
            response = await client.get("/triggers", headers={"X-API-Key": key})
            assert response.status_code == 200
        assert (await client.get("/triggers", headers={"X-API-Key": "pm_x_y"})).status_code == 401
        service.webhooks.close()
