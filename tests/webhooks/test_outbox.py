"""The outbox journal: round trips, torn lines, compaction, permissions."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import msgspec
import trio
import trio.testing

from polymon.webhooks.model import (
    DeadLetter,
    DeadReason,
    DeliveryCounters,
    PendingDelivery,
)
from polymon.webhooks.outbox import JOURNAL_NAME, Outbox
from tests.webhooks.helpers import endpoint


def pending(n: int, attempts: int = 0) -> PendingDelivery:
    return PendingDelivery(
        webhook_id=f"msg_{n}",
        endpoint_id="ep",
        event_id=f"e{n}",
        event_type="market.created",
        body=b'{"n": %d, "bin": "\x00\xff"}' % n,
        created_at=1000.0,
        due_at=1000.0 + n,
        attempts=attempts,
    )


def letter(n: int) -> DeadLetter:
    return DeadLetter(
        webhook_id=f"msg_{n}",
        endpoint_id="ep",
        event_id=f"e{n}",
        event_type="market.created",
        body=b"{}",
        attempts=10,
        last_status=500,
        last_error="HTTP 500",
        reason=DeadReason.EXHAUSTED,
        dead_at=2000.0,
    )


def lines_in(directory: Path) -> int:
    return (directory / JOURNAL_NAME).read_bytes().count(b"\n")


def state(outbox: Outbox) -> tuple[object, ...]:
    return (dict(outbox.endpoints), dict(outbox.pending), list(outbox.dead.items()))


def test_the_state_survives_a_reopen(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, DeliveryCounters())
    outbox.put_endpoint(endpoint("ep", "https://a.example/hook", "market.created"))
    outbox.put_endpoint(endpoint("gone", "https://b.example/hook"))
    outbox.remove_endpoint("gone")
    with outbox.batch():
        for n in range(4):
            outbox.add_pending(pending(n))
    outbox.update_pending(
        msgspec.structs.replace(pending(1), attempts=3, due_at=5000.0, last_status=503)
    )
    outbox.finish("msg_2")
    outbox.add_dead(letter(7))
    outbox.add_dead(letter(8))
    outbox.remove_dead("msg_7")
    before = state(outbox)
    outbox.close()

    again = Outbox(tmp_path, DeliveryCounters())
    assert state(again) == before
    assert again.pending["msg_1"].attempts == 3
    assert again.pending["msg_1"].last_status == 503
    assert sorted(again.pending) == ["msg_0", "msg_1", "msg_3"]
    again.close()


def test_a_torn_last_line_is_skipped_and_cut_off(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, DeliveryCounters())
    outbox.add_pending(pending(1))
    outbox.close()
    with (tmp_path / JOURNAL_NAME).open("ab") as journal:
        journal.write(b'{"op":"pending","delivery":{"webhook_id":"msg_2","endp')

    counters = DeliveryCounters()
    again = Outbox(tmp_path, counters)
    assert list(again.pending) == ["msg_1"]
    assert counters.journal_skipped_lines == 1
    again.add_pending(pending(3))  # appended after a clean line, not glued to the torn one
    again.close()
    counters = DeliveryCounters()
    third = Outbox(tmp_path, counters)
    assert list(third.pending) == ["msg_1", "msg_3"]
    assert counters.journal_skipped_lines == 0
    third.close()


async def test_compaction_bounds_the_journal(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path, DeliveryCounters())
    outbox.add_pending(pending(0))
    for attempts in range(5000):
        outbox.update_pending(msgspec.structs.replace(pending(0), attempts=attempts))
        if attempts % 100 == 0:
            await outbox.sync()
    await outbox.sync()
    assert lines_in(tmp_path) <= 1100
    outbox.close()
    again = Outbox(tmp_path, DeliveryCounters())
    assert again.pending["msg_0"].attempts == 4999
    assert lines_in(tmp_path) == 1
    again.close()


async def test_lines_appended_during_a_background_compaction_are_kept(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    gate = trio.Event()
    in_thread: list[str] = []

    async def gated(call: Callable[[], None]) -> None:
        in_thread.append(getattr(call, "func", call).__name__)
        await gate.wait()
        call()

    outbox = Outbox(tmp_path, DeliveryCounters(), run_in_thread=gated)
    outbox.add_pending(pending(0))
    for attempts in range(1100):
        outbox.update_pending(msgspec.structs.replace(pending(0), attempts=attempts))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.sync)
        await trio.testing.wait_all_tasks_blocked()
        assert in_thread == ["_write_file"]  # the snapshot is being written
        outbox.add_pending(pending(1))
        outbox.finish("msg_0")
        outbox.add_dead(letter(2))
        gate.set()
    assert in_thread == ["_write_file", "fsync", "_fsync_dir"]
    assert lines_in(tmp_path) == 4  # the snapshot (msg_0) and the three lines after it
    assert not (tmp_path / (JOURNAL_NAME + ".compacting")).exists()
    before = state(outbox)
    outbox.close()
    again = Outbox(tmp_path, DeliveryCounters())
    assert state(again) == before
    assert list(again.pending) == ["msg_1"]
    assert list(again.dead) == ["msg_2"]
    again.close()


def test_the_journal_is_private(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "webhooks", DeliveryCounters())
    outbox.add_pending(pending(1))
    mode = stat.S_IMODE((tmp_path / "webhooks" / JOURNAL_NAME).stat().st_mode)
    assert mode == 0o600
    assert not (tmp_path / "webhooks" / (JOURNAL_NAME + ".tmp")).exists()
    outbox.close()


async def test_sync_runs_only_after_writes(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path, DeliveryCounters())
    with trio.move_on_after(0.05) as scope:
        await outbox.wait_written()
    assert scope.cancelled_caught  # nothing written since the start's compaction
    outbox.add_pending(pending(1))
    await outbox.wait_written()
    await outbox.sync()
    with trio.move_on_after(0.05) as scope:
        await outbox.wait_written()
    assert scope.cancelled_caught
    outbox.close()
