"""The recording format: newline-delimited JSON records, gzip, one file per hour (or size).

Every line is one `Record` object with the same seven fields, so ClickHouse reads a recording
with `file(…, 'JSONEachRow', RECORD_COLUMNS)`:

    seq  UInt64   position in its run: 1, 2, 3, … across all files of one process run, no gaps
    t    UInt64   wall-clock time the frame was received (or the message sent), ns since the
                  Unix epoch, UTC
    m    Float64  the service's monotonic clock (trio's) at that moment, in seconds: the value
                  windows, cooldowns and staleness read live, so a replay reads the same values
    k    String   the kind of record (below)
    c    String   the connection's name ("shard-0-conn-1"), "" for records of no connection
    s    Int32    the shard index, -1 for records of no shard
    d    String   the payload: a frame's text exactly as received, a message as sent, or JSON

Kinds (`d` in brackets):
    run          a process started recording                       [RunInfo]
    file         first record of every file                         [RunInfo]
    frame        a frame the market channel delivered              [its text; PONG included]
    frame_b64    a binary frame                                     [base64 of its bytes]
    sent         a subscribe/unsubscribe message sent              [its text]
    open / close a connection's session opened / ended             [close: {"reason","assets"}]
    track        tokens tracked on shard `s`                        [[AssetMeta, …]]
    untrack      tokens dropped from shard `s`                      [[asset id, …]]
    rest         a REST resync book, applied right after            [the CLOB book]
    rest_failed  tokens whose REST resync did not deliver           [[asset id, …]]
    trigger_add  a trigger placed on shard `s` (no webhook fields)  [Trigger]
    trigger_remove                                                  [trigger id]
    dropped      records lost because writing fell behind          [{"records": n}]

A file is written as `NAME.ndjson.gz.part` and renamed to `NAME.ndjson.gz` when closed; each
flush appends one complete gzip member, so a torn file loses at most its last flush.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

import msgspec

from polymon.core.backtest import RECORDING_NAME
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy

FORMAT: Final = 1
RUN: Final = "run"
FILE: Final = "file"
FRAME: Final = "frame"
FRAME_B64: Final = "frame_b64"
SENT: Final = "sent"
OPEN: Final = "open"
CLOSE: Final = "close"
TRACK: Final = "track"
UNTRACK: Final = "untrack"
REST: Final = "rest"
REST_FAILED: Final = "rest_failed"
TRIGGER_ADD: Final = "trigger_add"
TRIGGER_REMOVE: Final = "trigger_remove"
DROPPED: Final = "dropped"

SUFFIX: Final = ".ndjson.gz"
PART_SUFFIX: Final = SUFFIX + ".part"
RECORD_COLUMNS: Final = "seq UInt64, t UInt64, m Float64, k String, c String, s Int32, d String"
"""The structure argument of ClickHouse's `file()` for a recording."""
_NAME_RE: Final = re.compile(RECORDING_NAME)


class Record(msgspec.Struct, frozen=True):
    """One line of a recording (see the module docstring for the fields)."""

    seq: int
    t: int
    m: float
    k: str
    c: str = ""
    s: int = -1
    d: str = ""


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Who recorded: the payload of `run` and `file` records.

    `policy` is the integrity policy the books ran under, so a replay runs the same checks.
    """

    format: int = FORMAT
    run_id: str
    started_ns: int
    policy: Policy = msgspec.field(default_factory=Policy)
    max_frame_bytes: int = 16 << 20
    version: str = ""


class CloseInfo(msgspec.Struct, frozen=True):
    """The payload of a `close` record: why, and the tokens the connection carried."""

    reason: str
    assets: list[str]


class Dropped(msgspec.Struct, frozen=True):
    """The payload of a `dropped` record."""

    records: int


encode_json = msgspec.json.Encoder().encode
decode_record = msgspec.json.Decoder(Record).decode
decode_run_info = msgspec.json.Decoder(RunInfo).decode
decode_close = msgspec.json.Decoder(CloseInfo).decode
decode_metas = msgspec.json.Decoder(list[AssetMeta]).decode
decode_ids = msgspec.json.Decoder(list[str]).decode


def file_stem(opened_ns: int, run_id: str, number: int) -> str:
    """The name of a recording file without suffix: `polymon-20260101T130000Z-<run>-00001`;
    names sort in the order the files were opened."""
    when = datetime.fromtimestamp(opened_ns / 1e9, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"polymon-{when}-{run_id}-{number:05d}"


def is_recording_name(name: str) -> bool:
    """Whether `name` is a closed recording's file name (the API accepts no other)."""
    return _NAME_RE.fullmatch(name) is not None
