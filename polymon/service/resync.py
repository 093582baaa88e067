"""REST resync scheduler: fetch suspected-gap books through `POST /books`, within a budget.

Shards ask for a resync at most once per asset per `resync_min_interval_secs` (enforced in the
core); this task batches the requests (`resync_batch_size` tokens per call) and spaces calls to
stay within `resync_budget_per_sec` for the whole process, so a storm of mismatches can never
turn into a storm of REST calls.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import trio

from polymon.clock import wall_us
from polymon.config import Config
from polymon.core.shard import ShardState
from polymon.errors import InvalidInput, VenueError
from polymon.polymarket.dispatch import apply_snapshot
from polymon.polymarket.recording.records import encode_json
from polymon.polymarket.recording.writer import Recorder
from polymon.polymarket.rest import fetch_books
from polymon.service.shards import Tagged


class Resyncer:
    """Drains resync requests and applies REST snapshots to the owning shard's state."""

    def __init__(
        self,
        cfg: Config,
        http: httpx.AsyncClient,
        state_of: Callable[[str], ShardState],
        requests: trio.MemoryReceiveChannel[Tagged[str]],
        *,
        recorder: Recorder | None = None,
    ) -> None:
        self.cfg = cfg
        self.http = http
        self.state_of = state_of
        self.requests = requests
        self.recorder = recorder
        self.calls = 0
        self.fetched = 0
        self.failed = 0
        self._next_call = float("-inf")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve resync requests until cancelled."""
        integrity = self.cfg.integrity
        pending: dict[str, None] = {}  # insertion-ordered set
        task_status.started()
        async with self.requests:
            while True:
                if not pending:
                    _shard, first = await self.requests.receive()
                    for asset_id in first:
                        pending[asset_id] = None
                while True:  # take whatever else is already queued
                    try:
                        _shard, batch = self.requests.receive_nowait()
                    except trio.WouldBlock:
                        break
                    pending.update(dict.fromkeys(batch))
                take = list(pending)[: integrity.resync_batch_size]
                for asset_id in take:
                    del pending[asset_id]
                await trio.sleep_until(max(self._next_call, trio.current_time()))
                self._next_call = trio.current_time() + 1.0 / integrity.resync_budget_per_sec
                await self._fetch(take)

    async def _fetch(self, asset_ids: list[str]) -> None:
        self.calls += 1
        try:
            books = await fetch_books(self.http, self.cfg.polymarket.clob_url, asset_ids)
        except VenueError:
            books = []
        now, now_us = trio.current_time(), wall_us()
        delivered: set[str] = set()
        for book in books:
            if book.asset_id not in asset_ids:
                continue
            if self.recorder is not None:  # before applying: the replay applies it there too
                self.recorder.rest_book(encode_json(book), now, now_us)
            try:
                apply_snapshot(self.state_of(book.asset_id), book, now, now_us, "rest_snapshot")
            except (InvalidInput, ValueError):
                continue
            delivered.add(book.asset_id)
        self.fetched += len(delivered)
        failed = [a for a in asset_ids if a not in delivered]
        if self.recorder is not None:
            self.recorder.rest_failed(failed, now)
        for asset_id in failed:
            self.failed += 1
            self.state_of(asset_id).resync_failed(asset_id)
