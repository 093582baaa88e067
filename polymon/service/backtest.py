"""Backtest one trigger: what it would have fired over recordings or stored BBO ticks.

- recordings: the recorded frames through the live path (`replayer`), with only this trigger
  (placed when its token is first tracked), so every type behaves exactly as it would have live.
- bbo: the ob_bbo ticks of the trigger's token from ClickHouse, in receive order, through the
  trigger table's top-of-book entry point: for the types that read nothing but the top of book
  (`BBO_TYPES`); it runs on history that was never recorded.

Both run in slices with checkpoints, so a backtest inside the service never holds the event
loop for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import trio

from polymon.clock import wall_us
from polymon.config import Config
from polymon.core.backtest import (
    BACKTEST_TRIGGER_ID,
    BacktestResult,
    BacktestTally,
    RecordingFile,
)
from polymon.core.prices import parse_price, parse_size
from polymon.core.timeunits import DAY_US
from polymon.core.triggers import Trigger, TriggerSpec, TriggerTable, stamp
from polymon.errors import BadRequest, InvalidInput, Unavailable
from polymon.polymarket.recording.files import list_recordings, resolve
from polymon.polymarket.recording.reader import read_records
from polymon.service.replay import drive, recording_paths
from polymon.service.replayer import Replayer
from polymon.storage.store import Store
from polymon.storage.ticks import bbo_ticks

BBO_TYPES: Final = frozenset(
    {"PRICE_ABOVE", "PRICE_BELOW", "SPREAD_NARROW", "SPREAD_WIDE", "PRICE_MOVE", "SIZE_SPIKE",
     "QUOTE_VELOCITY"}
)  # fmt: skip
"""The trigger types the stored BBO ticks can backtest (they read only the top of book)."""
_SLICE_SECS: Final = 0.002


def backtest_trigger(spec: TriggerSpec) -> Trigger:
    """The trigger a backtest runs (its webhook is never called: it is dropped here)."""
    return Trigger(trigger_id=BACKTEST_TRIGGER_ID,
                   spec=TriggerSpec(asset_id=spec.asset_id, condition=spec.condition,
                                    condition_id=spec.condition_id,
                                    cooldown_ms=spec.cooldown_ms))  # fmt: skip


async def backtest_recordings(
    paths: Iterable[Path],
    spec: TriggerSpec,
    *,
    start_us: int | None = None,
    end_us: int | None = None,
    max_events: int = 1000,
) -> BacktestResult:
    """Replay the recordings (directories expanded) with only this trigger; records before
    `start_us` build the books, none after `end_us` is read."""
    tally = BacktestTally(max_events)
    replayer = Replayer(recorded_triggers=False, triggers=[backtest_trigger(spec)],
                        emit_from_ns=None if start_us is None else start_us * 1000,
                        tally=tally)  # fmt: skip
    files = await trio.to_thread.run_sync(recording_paths, list(paths))
    to_ns = None if end_us is None else end_us * 1000
    await drive(replayer, read_records(files), to_ns=to_ns)
    return tally.result(spec.condition.type, spec.asset_id, "recordings", start_us, end_us)


def check_bbo_type(spec: TriggerSpec) -> None:
    """BadRequest unless the stored BBO ticks can backtest this trigger's type."""
    kind = spec.condition.type
    if kind not in BBO_TYPES:
        raise BadRequest(
            f"`trigger.condition.type` {kind} needs more than the stored top of book: backtest "
            f"it over recordings (source: recordings); bbo takes {', '.join(sorted(BBO_TYPES))}"
        )


async def backtest_bbo(
    store: Store, spec: TriggerSpec, *, start_us: int, end_us: int, max_events: int = 1000
) -> BacktestResult:
    """Run the trigger over the stored BBO ticks of its token received in [start_us, end_us).

    Raises BadRequest for a type that needs more than the top of book (see `BBO_TYPES`).
    """
    check_bbo_type(spec)
    tally = BacktestTally(max_events)
    table = TriggerTable()
    trigger = backtest_trigger(spec)
    asset_id = spec.asset_id
    added = False
    slice_start = time.perf_counter()
    async for block in bbo_ticks(store, asset_id, start_us, end_us):
        for venue_ms, recv_us, bid, bid_size, ask, ask_size in block:
            now = recv_us / 1e6
            if not added:
                table.add(trigger, now)
                added = True
            try:
                bid_units, ask_units = parse_price(bid), parse_price(ask)
                bid_qty, ask_qty = parse_size(bid_size), parse_size(ask_size)
            except InvalidInput:
                continue
            suppressed = table.suppressed
            table.on_bbo(asset_id, bid_units, bid_qty, ask_units, ask_qty, venue_ms, recv_us, now)
            tally.evaluated += 1
            if table.fired:
                tally.add_fired(stamp(table.drain(), recv_us))
            tally.add_suppressed(table.suppressed - suppressed, recv_us)
        if time.perf_counter() - slice_start > _SLICE_SECS:
            await trio.lowlevel.checkpoint()
            slice_start = time.perf_counter()
    return tally.result(spec.condition.type, asset_id, "bbo", start_us, end_us)


class Backtests:
    """Backtests for the HTTP API: over the recording directory or the store, one at a time,
    each within `http.query_timeout_secs`."""

    def __init__(self, cfg: Config, store: Store | None) -> None:
        self.cfg = cfg
        self.store = store
        self.directory = cfg.recording_dir
        self._one_at_a_time = trio.Lock()

    def recordings(self) -> tuple[bool, list[RecordingFile]]:
        """(whether the service records now, the recording files oldest first)."""
        return self.cfg.record.enabled, list_recordings(self.directory)

    async def run(
        self,
        spec: TriggerSpec,
        source: str,
        names: list[str] | None,
        start_us: int | None,
        end_us: int | None,
        max_events: int,
    ) -> BacktestResult:
        """Run one backtest (see the module docstring); raises NotFound for a recording that
        does not exist, BadRequest for a type `bbo` cannot run, Unavailable without storage
        (bbo) or past the deadline."""
        limit = self.cfg.http.query_timeout_secs
        with trio.move_on_after(limit):
            async with self._one_at_a_time:
                if source == "bbo":
                    check_bbo_type(spec)
                    if self.store is None:
                        raise Unavailable("storage is disabled: backtest over recordings")
                    end = end_us if end_us is not None else wall_us()
                    start = start_us if start_us is not None else end - DAY_US
                    return await backtest_bbo(self.store, spec, start_us=start, end_us=end,
                                              max_events=max_events)  # fmt: skip
                if names is None:
                    paths = [self.directory] if self.directory.is_dir() else []
                else:
                    paths = resolve(self.directory, names)
                return await backtest_recordings(paths, spec, start_us=start_us, end_us=end_us,
                                                 max_events=max_events)  # fmt: skip
        raise Unavailable(
            f"the backtest took longer than {limit} s: narrow start/end, or run"
            " `polymon backtest` on the recordings"
        )
