"""Log lines: text and JSON formats, structured fields, journald priorities, secret masking."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio
import trio.lowlevel
import trio.testing

from polymon.config import Config, StorageConfig, load_config
from polymon.logs import Redactor, bind, configure, secrets_of
from polymon.storage.rows import BBO
from polymon.storage.store import Store
from polymon.storage.writer_set import WriterSet
from tests.storage.helpers import FaultyStore, bbo_row

SENTINEL = "Sentinel-Pa55word-7f3a"


@pytest.fixture(autouse=True)
def _restore_logging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no ./config.toml: built-in defaults plus the test's env
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, sys.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook = hook


def config(**env: str) -> Config:
    return load_config(None, environ=env)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_timestamp_level_logger_message_and_fields() -> None:
    out = io.StringIO()
    configure(config(POLYMON_LOG__FORMAT="json"), stream=out, environ={})
    logging.getLogger("polymon.storage").warning(
        "%s: %d rows", "ob_bbo", 3, extra={"table": "ob_bbo", "shard": 2}
    )
    logging.getLogger("polymon").debug("not at info level")
    [line] = lines(out)
    record = json.loads(line)
    assert record["level"] == "warning"
    assert record["logger"] == "polymon.storage"
    assert record["message"] == "ob_bbo: 3 rows"
    assert record["table"] == "ob_bbo"
    assert record["shard"] == 2
    assert record["timestamp"].endswith("Z")
    when = msgspec.json.decode(f'"{record["timestamp"]}"'.encode(), type=datetime.datetime)
    assert when.tzinfo is not None


def test_json_exceptions_stay_on_one_line() -> None:
    out = io.StringIO()
    configure(config(POLYMON_LOG__FORMAT="json"), stream=out, environ={})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("polymon").exception("job failed")
    [line] = lines(out)
    record = json.loads(line)
    assert record["level"] == "error"
    assert "ValueError: boom" in record["exception"]


def test_text_lines_append_the_fields() -> None:
    out = io.StringIO()
    configure(config(), stream=out, environ={})
    logging.getLogger("polymon.storage").warning("journaling", extra={"table": "ob_bbo"})
    [line] = lines(out)
    assert " WARNING polymon.storage: journaling  table=ob_bbo" in line


async def test_bound_fields_belong_to_their_task_and_its_children() -> None:
    out = io.StringIO()
    configure(config(POLYMON_LOG__FORMAT="json"), stream=out, environ={})
    log = logging.getLogger("polymon")

    async def shard(index: int) -> None:
        bind(shard=index)
        await trio.lowlevel.checkpoint()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, log.info, f"from shard {index}'s thread")
        log.info("from shard %d", index)

    async with trio.open_nursery() as nursery:
        for index in (1, 2):
            nursery.start_soon(shard, index)
    log.info("from the parent")
    records = [json.loads(line) for line in lines(out)]
    by_message = {r["message"]: r.get("shard") for r in records}
    assert by_message == {
        "from shard 1": 1, "from shard 2": 2,
        "from shard 1's thread": 1, "from shard 2's thread": 2,
        "from the parent": None,
    }  # fmt: skip


def test_level_comes_from_log_level_else_the_old_service_key() -> None:
    out = io.StringIO()
    configure(config(POLYMON_SERVICE__LOG_LEVEL="warning"), stream=out, environ={})
    assert logging.getLogger().level == logging.WARNING
    configure(
        config(POLYMON_SERVICE__LOG_LEVEL="warning", POLYMON_LOG__LEVEL="debug"),
        stream=out,
        environ={},
    )
    assert logging.getLogger().level == logging.DEBUG


def test_lines_to_the_journal_stream_start_with_their_priority(tmp_path: Path) -> None:
    with open(tmp_path / "journal", "w+", encoding="utf-8") as stream:
        stat = os.fstat(stream.fileno())
        journal = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        configure(config(POLYMON_LOG__FORMAT="json"), stream=stream, environ=journal)
        logging.getLogger("polymon").warning("w")
        logging.getLogger("polymon").error("e")
        logging.getLogger("polymon").info("i")
        configure(config(), stream=stream, environ={"JOURNAL_STREAM": "1:2"})  # another stream
        logging.getLogger("polymon").warning("plain")
        stream.seek(0)
        written = stream.read().splitlines()
    assert [line[:3] for line in written[:3]] == ["<4>", "<3>", "<6>"]
    assert json.loads(written[0][3:])["message"] == "w"
    assert not written[3].startswith("<")


@pytest.mark.parametrize("kind", ["text", "json"])
def test_no_secret_reaches_a_line(kind: str) -> None:
    cfg = config(
        POLYMON_STORAGE__PASSWORD=SENTINEL,
        POLYMON_STORAGE__URL="https://ops:Url-S3cret-99@ch.example:8443/db",
        POLYMON_LOG__FORMAT=kind,
    )
    out = io.StringIO()
    configure(cfg, stream=out, environ={})
    log = logging.getLogger("polymon")
    key = "pm_0a1b2c3d_" + "K" * 43
    whsec = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWJ5dGVz"
    log.warning("connecting with %s", SENTINEL)
    log.warning("url https://ops:Url-S3cret-99@ch.example:8443/db failed")
    log.warning("url http://u:other-pass@host/ failed")  # not configured, but URL-shaped
    log.warning("request with X-API-Key: %s and Authorization: Bearer tok-123456", key)
    log.warning("key %s rejected", key)
    log.warning("endpoint secret %s", whsec)
    log.warning("settings password=hunter22 api_key='k-998877' token ok", extra={"url": SENTINEL})
    try:
        raise RuntimeError(f"auth failed for password {SENTINEL}")
    except RuntimeError:
        log.exception("storage")
    text = out.getvalue()
    for secret in (SENTINEL, "Url-S3cret-99", "other-pass", "K" * 43, "c2VjcmV0", "tok-123456",
                   "hunter22", "k-998877"):  # fmt: skip
        assert secret not in text, secret
    assert "pm_0a1b2c3d_***" in text  # the key id stays: it is not secret
    assert "ops:***@ch.example" in text
    if kind == "json":
        assert all(json.loads(line) for line in text.splitlines())


def test_secrets_of_a_config() -> None:
    cfg = config(
        POLYMON_STORAGE__PASSWORD=SENTINEL, POLYMON_STORAGE__URL="https://u:p%40ss-word@h/db"
    )
    assert set(secrets_of(cfg)) == {SENTINEL, "p%40ss-word", "p@ss-word"}
    assert secrets_of(Config()) == []


def test_redactor_leaves_ordinary_text_alone() -> None:
    redact = Redactor(["abc", "longer-secret"])  # 3 characters is too short to mask
    text = "ob_bbo: ClickHouse unavailable, journaling (abc) 10 rows; tokens=5"
    assert redact(text) == text
    assert redact("x longer-secret y") == "x *** y"


@pytest.fixture
def patient_clock() -> trio.testing.MockClock:
    # Jumps only once every task has waited 50 ms of real time: a chDB ping runs in a thread
    # under a deadline, and a clock that jumped at once would time it out every probe.
    return trio.testing.MockClock(autojump_threshold=0.05)


async def test_a_writer_names_its_table_in_every_line(
    store: Store, tmp_path: Path, patient_clock: trio.testing.MockClock
) -> None:
    out = io.StringIO()
    configure(config(POLYMON_LOG__FORMAT="json"), stream=out, environ={})
    faulty = FaultyStore(store)
    faulty.down = True
    cfg = StorageConfig(batch_max_rows=10, batch_max_age_secs=0.1, probe_interval_secs=0.5)
    writers = WriterSet(faulty, cfg, tmp_path / "data")
    async with trio.open_nursery() as nursery:
        await nursery.start(writers.run)
        writers.put(BBO, [bbo_row(i, 1_700_000_000_000 + i, 480_000, 520_000) for i in range(20)])
        await trio.sleep(5)
        faulty.down = False
        await trio.sleep(5)
        writers.close_intake()
    records = [json.loads(line) for line in lines(out)]
    storage = [r for r in records if r["logger"] == "polymon.storage"]
    assert any("journaling" in r["message"] for r in storage)
    assert any("replaying" in r["message"] for r in storage)
    assert {r.get("table") for r in storage} == {"ob_bbo"}


def test_in_json_mode_an_uncaught_exception_is_one_json_line() -> None:
    out = io.StringIO()
    configure(config(POLYMON_LOG__FORMAT="json"), stream=out, environ={})
    try:
        raise KeyError(SENTINEL)
    except KeyError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    [line] = lines(out)
    record = json.loads(line)
    assert record["level"] == "critical"
    assert "KeyError" in record["exception"]
