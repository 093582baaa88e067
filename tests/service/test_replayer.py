"""The Replayer and its driver on hand-made records: the virtual clock (pacing, windows,
STALE_QUOTE on flush ticks), --from/--to, runs, and gaps made explicit."""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing

from polymon.core.backtest import BacktestTally
from polymon.core.model import AssetMeta
from polymon.core.shard import Policy
from polymon.core.triggers import Trigger, TriggerEvent, decode_trigger_spec
from polymon.polymarket.recording import records as r
from polymon.polymarket.recording.records import Record, RunInfo, encode_json
from polymon.service.replay import drive
from polymon.service.replayer import Replayer

ASSET = "111"
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, ns
POLICY = Policy(mode="observe", hash_mode="off")
UP_DOWN = ["10", "0", "10", "0"]  # a bid at 0.41 comes and goes


def book(bid: str, ask: str) -> str:
    return json.dumps([{"event_type": "book", "asset_id": ASSET, "market": "0xm", "timestamp": "1",
                        "bids": [{"price": bid, "size": "10"}],
                        "asks": [{"price": ask, "size": "10"}]}])  # fmt: skip


def change(price: str, side: str = "BUY", size: str = "10") -> str:
    entry = {"asset_id": ASSET, "price": price, "size": size, "side": side}
    return json.dumps({"event_type": "price_change", "market": "0xm", "timestamp": "2",
                       "price_changes": [entry]})  # fmt: skip


class Log:
    """Records made one after another, `secs` apart by default, as a recorder would."""

    def __init__(self, run_id: str = "run1") -> None:
        self.records: list[Record] = []
        self.seq = 0
        self.secs = 0.0
        self.run(run_id)

    def add(self, kind: str, d: str | bytes = "", *, after: float = 0.1, s: int = 0) -> None:
        self.secs += after
        self.seq += 1
        text = d.decode() if isinstance(d, bytes) else d
        self.records.append(Record(self.seq, T0 + round(self.secs * 1e9), 1000.0 + self.secs,
                                   kind, "shard-0-conn-0", s, text))  # fmt: skip

    def run(self, run_id: str) -> None:
        self.seq = 0
        info = RunInfo(run_id=run_id, started_ns=T0, policy=POLICY)
        self.add(r.FILE, encode_json(info), after=0.0)
        self.add(r.RUN, encode_json(info), after=0.0)
        self.add(r.TRACK, encode_json([AssetMeta(asset_id=ASSET, market="0xm")]))


def trigger(condition: dict[str, Any], cooldown_ms: int = 0) -> Trigger:
    body = {"asset_id": ASSET, "condition": condition, "cooldown_ms": cooldown_ms}
    return Trigger(trigger_id="trig_t", spec=decode_trigger_spec(json.dumps(body)))


def replay(log: Log, **kwargs: Any) -> tuple[Replayer, list[TriggerEvent]]:
    fired: list[TriggerEvent] = []
    replayer = Replayer(fired.extend, **kwargs)
    for record in log.records:
        replayer.apply(record)
    replayer.finish()
    return replayer, fired


def test_cooldowns_and_staleness_run_on_the_recorded_clock() -> None:
    log = Log()
    log.add(r.FRAME, book("0.40", "0.60"))
    for size in [*UP_DOWN, "10"]:  # 0.1 s apart: the best bid 0.41, 0.40, 0.41, 0.40, 0.41
        log.add(r.FRAME, change("0.41", size=size))
    log.add(r.FRAME, change("0.41", size="0"), after=5.0)  # then quiet: 5 s with no update
    triggers = [trigger({"type": "PRICE_ABOVE", "threshold": "0.405", "side": "BID"}, 250)]
    tally = BacktestTally(100)
    _, fired = replay(log, recorded_triggers=False, triggers=triggers, tally=tally)
    # crossings at 0.3 s, 0.5 s, 0.7 s; the cooldown of 250 ms drops the one at 0.5 s
    assert [round(e.received_us / 1e6 - T0 / 1e9, 1) for e in fired] == [0.3, 0.7]
    assert tally.suppressed == 1
    assert all(e.condition_id == "0xm" for e in fired)  # filled in from the tracked token

    stale = [trigger({"type": "STALE_QUOTE", "threshold_ms": 2000})]
    _, fired = replay(log, recorded_triggers=False, triggers=stale)
    (event,) = fired
    quiet_from = T0 / 1e9 + 0.7
    assert 2.0 <= event.received_us / 1e6 - quiet_from <= 2.05  # on a 50 ms flush tick


def test_from_and_to_bound_what_is_counted_and_read() -> None:
    log = Log()
    log.add(r.FRAME, book("0.40", "0.60"))
    for size in UP_DOWN * 3:
        log.add(r.FRAME, change("0.41", size=size))
    triggers = [trigger({"type": "PRICE_ABOVE", "threshold": "0.405", "side": "BID"})]
    _, everything = replay(log, recorded_triggers=False, triggers=triggers)
    middle = everything[2].received_us * 1000
    _, late = replay(log, recorded_triggers=False, triggers=triggers, emit_from_ns=middle)
    assert late == everything[2:]

    async def until(to_ns: int) -> list[TriggerEvent]:
        fired: list[TriggerEvent] = []
        replayer = Replayer(fired.extend, recorded_triggers=False, triggers=triggers)
        await drive(replayer, log.records, to_ns=to_ns)
        return fired

    assert trio.run(until, middle) == everything[:2]


def test_speed_paces_by_the_recorded_wall_time() -> None:
    log = Log()
    log.add(r.FRAME, book("0.40", "0.60"), after=1.0)
    log.add(r.FRAME, change("0.41"), after=9.0)  # 10.1 s after the first record

    async def main(speed: float) -> float:
        start = trio.current_time()
        await drive(Replayer(), log.records, speed=speed)
        return trio.current_time() - start

    for speed, took in ((1.0, 10.1), (4.0, 10.1 / 4), (0.0, 0.0)):
        clock = trio.testing.MockClock(autojump_threshold=0)
        assert abs(trio.run(main, speed, clock=clock) - took) < 1e-6


def test_a_sequence_gap_or_a_drop_leaves_the_books_stale_and_a_run_starts_afresh() -> None:
    log = Log()
    log.add(r.FRAME, book("0.40", "0.60"))
    replayer, _ = replay(log)
    assert [b.status for b in replayer.books()] == ["fresh"]

    log.seq += 5  # five records never made it to disk
    log.add(r.FRAME, change("0.41"))
    replayer, _ = replay(log)
    assert replayer.seq_gaps == [("run1", log.seq - 5, log.seq - 1)]
    assert [b.status for b in replayer.books()] == ["stale"]

    dropped = Log()
    dropped.add(r.FRAME, book("0.40", "0.60"))
    dropped.add(r.DROPPED, encode_json(r.Dropped(3)))
    replayer, _ = replay(dropped)
    assert [b.status for b in replayer.books()] == ["stale"]

    dropped.run("run2")  # a restart: empty books, tracked again, no snapshot yet
    replayer, _ = replay(dropped)
    assert replayer.runs == 2
    assert [(b.status, b.bids) for b in replayer.books()] == [("stale", [])]


def test_closes_rest_books_and_recorded_triggers_are_applied() -> None:
    log = Log()
    log.add(r.TRIGGER_ADD, encode_json(trigger({"type": "SPREAD_NARROW", "threshold": "0.1"})))
    log.add(r.FRAME, book("0.40", "0.60"))
    log.add(r.CLOSE, encode_json(r.CloseInfo("closed 1006", [ASSET])))
    rest = {"asset_id": ASSET, "market": "0xm", "timestamp": "5", "bids": [], "asks": []}
    log.add(r.REST, json.dumps(rest))  # not resyncing: unneeded, as it would be live
    log.add(r.FRAME, book("0.45", "0.50"))  # the reconnect's snapshot
    replayer, fired = replay(log)
    (line,) = replayer.books()
    assert (line.status, line.bids, line.asks) == ("fresh", [("0.45", "10")], [("0.50", "10")])
    assert [e.trigger_type for e in fired] == ["SPREAD_NARROW"]
    summary = replayer.summary()
    assert summary["integrity"]["rest_snapshot_unneeded"] == 1  # type: ignore[index]
    assert summary["rows"]["gaps"] == 2  # type: ignore[index]
    _, without = replay(log, recorded_triggers=False)
    assert without == []
