"""New markets in: from the WS `new_market` event at once, from the Gamma poll otherwise.

A new market's tokens are subscribed on their shard without reconnecting (`Tracker.subscribe`).
The CLOB may not know a new market for minutes (protocol doc §2.4, §6.11), so each one is
looked at every `new_market_retry_secs` until all its books have arrived: its missing tokens
are probed with one `POST /books`, and those the CLOB serves now are subscribed again, because
the venue sends a snapshot on subscribe, not when it learns a token later. After
`new_market_retry_max` tries the market is dropped (unsubscribed, not remembered), so the
next Gamma poll finds it again if it is still active.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

import httpx
import trio

from polymon.config import Config
from polymon.errors import VenueError
from polymon.polymarket.gamma import GammaMarket
from polymon.polymarket.rest import fetch_books
from polymon.polymarket.schemas import NewMarket
from polymon.service.lifecycle.state import (
    KnownMarket,
    MarketState,
    Pending,
    timestamp_ms,
    valid_token_ids,
)

log = logging.getLogger("polymon.lifecycle")

PROBE_BATCH: Final = 100
SLICE_MARKETS: Final = 1_000
"""Markets of a listing looked at per step of the event loop (well under a millisecond)."""


class Discovery:
    """Subscribes new markets and follows them until their books arrive."""

    def __init__(self, cfg: Config, http: httpx.AsyncClient, state: MarketState) -> None:
        self.cfg = cfg
        self.http = http
        self.state = state
        self.counts = state.counts
        self._needs_row: set[str] = set()  # found on the WS: no Gamma row yet
        self._pending_changed = trio.Event()

    def known(self, cid: str, tokens: list[str]) -> bool:
        """Whether a market is tracked, pending, or dropped for good."""
        state = self.state
        return cid in state.pending or cid in state.done or any(map(state.tracker.tracks, tokens))

    def room(self) -> float:
        """How many more markets `polymarket.max_markets` allows (inf without a cap);
        O(pending)."""
        cap = self.cfg.polymarket.max_markets
        if not cap:
            return math.inf
        tracked = self.state.tracker.tracked_markets()
        return cap - len(tracked) - sum(cid not in tracked for cid in self.state.pending)

    async def on_new_market(self, event: NewMarket) -> None:
        """Subscribe the market a WS `new_market` event announces (once; within the cap)."""
        tokens = valid_token_ids(event.assets_ids)
        if not event.market or not tokens:
            self.counts["ws_invalid"] += 1
            return
        if self.known(event.market, tokens):
            self.counts["ws_duplicates"] += 1
            return
        if self.room() < 1:
            self.counts["skipped_max_markets"] += 1
            return
        tick = event.order_price_min_tick_size
        info = KnownMarket(
            condition_id=event.market, market_id=event.id, question=event.question,
            slug=event.slug, token_ids=tokens, outcomes=list(event.outcomes),
            tick_size=tick if isinstance(tick, str) else format(tick, "g"),
        )  # fmt: skip
        await self._add(info, "ws", timestamp_ms(event.timestamp))
        self._needs_row.add(event.market)

    async def discover(
        self,
        active: list[GammaMarket],
        tracked: Mapping[str, Sequence[str]],
        tally: Counter[str],
        *,
        subscribe: bool,
    ) -> None:
        """From a full listing of active markets: record the Gamma rows of markets found on
        the WS, and (with `subscribe`) subscribe the markets not tracked yet. Yields to the
        event loop every `SLICE_MARKETS` markets: a listing is the whole venue."""
        found = [m for m in active if m.condition_id in self._needs_row]
        self._needs_row.difference_update(m.condition_id for m in found)
        self._needs_row.intersection_update(self.state.pending)
        self.state.store(found)
        if not subscribe:
            return
        room = self.room()
        added = []
        for n, market in enumerate(active):
            if n % SLICE_MARKETS == SLICE_MARKETS - 1:
                await trio.lowlevel.checkpoint()
            cid = market.condition_id
            if cid in tracked or self.known(cid, market.token_ids):
                continue
            if room < 1:
                self.counts["skipped_max_markets"] += 1
                continue
            room -= 1
            await self._add(KnownMarket.of(market), "gamma", None)
            added.append(market)
        self.state.store(added)
        tally["new"] += len(added)

    async def _add(self, info: KnownMarket, via: str, detected_ms: int | None) -> None:
        state = self.state
        cid = info.condition_id
        state.info[cid] = info
        await state.tracker.subscribe(info.metas())
        retry = self.cfg.lifecycle.new_market_retry_secs
        state.pending[cid] = Pending(info, trio.current_time() + retry)
        self._pending_changed.set()
        self.counts[f"new_{via}"] += 1
        state.announce_created(info, via, detected_ms)
        log.info("lifecycle: new market %s (%s) via %s", cid[:18], info.slug[:60], via)

    async def retry_loop(self) -> None:
        """Run `retry_due` whenever a new market's next look is due, until cancelled."""
        while True:
            due = min((p.due for p in self.state.pending.values()), default=math.inf)
            self._pending_changed = trio.Event()
            with trio.move_on_at(due):
                await self._pending_changed.wait()
                continue  # something was added: look at the due times again
            await self.retry_due()

    async def retry_due(self) -> None:
        """Look at every new market whose retry is due: done when its books arrived, dropped
        after the last try, else its missing tokens are probed on the CLOB and those it serves
        now are subscribed again."""
        now = trio.current_time()
        cfg = self.cfg.lifecycle
        tracker = self.state.tracker
        pending = self.state.pending
        probe: dict[str, list[str]] = {}
        for cid, market in list(pending.items()):
            if market.due > now:
                continue
            tokens = market.info.token_ids
            if not all(map(tracker.tracks, tokens)):
                del pending[cid]  # resolved or removed meanwhile
            elif all(map(tracker.has_book, tokens)):
                del pending[cid]
                self.counts["books_arrived"] += 1
            elif market.tries >= cfg.new_market_retry_max:
                del pending[cid]
                await tracker.unsubscribe(tokens)
                self.counts["gave_up"] += 1
                log.warning("lifecycle: no book for new market %s after %d tries; dropped",
                            cid[:18], market.tries)  # fmt: skip
            else:
                market.tries += 1
                market.due = now + cfg.new_market_retry_secs
                probe[cid] = [t for t in tokens if not tracker.has_book(t)]
                self.counts["retries"] += 1
        if probe:
            await self._probe(probe)

    async def _probe(self, missing: dict[str, list[str]]) -> None:
        tokens = [t for ids in missing.values() for t in ids]
        served: set[str] = set()
        for start in range(0, len(tokens), PROBE_BATCH):
            batch = tokens[start : start + PROBE_BATCH]
            try:
                books = await fetch_books(self.http, self.cfg.polymarket.clob_url, batch)
            except VenueError as e:
                self.counts["errors"] += 1
                log.warning("lifecycle: probing new markets' books failed: %s", e)
                continue
            served.update(b.asset_id for b in books)
        self.counts["clob_not_ready"] += sum(t not in served for t in tokens)
        tracker = self.state.tracker
        for cid, ids in missing.items():
            market = self.state.pending.get(cid)
            if market is not None and served.intersection(ids):
                await tracker.unsubscribe(ids)
                await tracker.subscribe([m for m in market.info.metas() if m.asset_id in ids])
                self.counts["resubscribed"] += 1
