"""Resolved and closed markets out (protocol doc §4.3).

The WS `market_resolved` event drops the market at once and announces its winner. Gamma then
confirms: the poll asks for the `closed=true` versions of tracked markets that left the active
list and of markets still watched, and applies the strict rule (`records.winner`); when Gamma
is unclear (closed, but UMA still `proposed`), the CLOB's `tokens[].winner` decides. A
resolved or closed market is unsubscribed (its books leave memory after a final snapshot row)
and gets a market_metadata row with its outcome and resolution time. A market dropped before
Gamma confirmed it (a WS resolution, or closed without a winner yet) stays watched until it is.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Final

import httpx
import msgspec

from polymon.config import Config
from polymon.errors import VenueError
from polymon.polymarket.gamma import GammaMarket, fetch_markets_by_condition
from polymon.polymarket.rest import fetch_clob_market
from polymon.polymarket.schemas import MarketResolved
from polymon.service.lifecycle.state import KnownMarket, MarketState, timestamp_ms
from polymon.service.records import Winner, clob_winner, metadata_row, winner

log = logging.getLogger("polymon.lifecycle")

MAX_CLOB_LOOKUPS: Final = 50  # per pass: the CLOB fallback costs a request per market
MAX_WATCHED: Final = 10_000


class Watched(msgspec.Struct, kw_only=True):
    """A market dropped before Gamma confirmed its outcome: the outcome seen so far (None
    while unknown), when it resolved (epoch µs), whether `market.resolved` went out."""

    won: Winner | None
    resolved_at_us: int | None
    announced: bool


class Resolution:
    """Drops resolved and closed markets and records how they ended."""

    def __init__(self, cfg: Config, http: httpx.AsyncClient, state: MarketState) -> None:
        self.cfg = cfg
        self.http = http
        self.state = state
        self.counts = state.counts
        self.watch: dict[str, Watched] = {}

    async def on_resolved(self, event: MarketResolved) -> bool:
        """Drop the market a WS `market_resolved` event names and announce its winner; True
        when it should be recorded now (`settle`), False for a duplicate or an untracked one."""
        state = self.state
        cid = event.market
        if not cid or cid in state.done:
            self.counts["ws_duplicates" if cid else "ws_invalid"] += 1
            return False
        tokens = set(event.assets_ids) | set(state.tokens_of(cid))
        if cid not in state.pending and not any(map(state.tracker.tracks, tokens)):
            self.counts["ws_resolved_untracked"] += 1
            return False
        won: Winner | None = None
        if event.winning_asset_id and event.winning_asset_id in tokens:
            won = (event.winning_outcome, event.winning_asset_id)
        at_ms = timestamp_ms(event.timestamp) or state.clock_ms()
        await state.drop(cid)
        self._watch(cid, Watched(won=won, resolved_at_us=at_ms * 1000, announced=bool(won)))
        if won is None:
            self.counts["closed_ws"] += 1
        else:
            self.counts["resolved_ws"] += 1
            if cid not in state.info:  # no Gamma listing has shown it: what the event says
                state.info[cid] = KnownMarket(condition_id=cid, market_id=event.id,
                                             token_ids=list(event.assets_ids))  # fmt: skip
            state.announce_resolved(cid, won, "ws", at_ms)
        return True

    async def settle(self, candidates: list[str], tally: Counter[str], errors: list[str]) -> None:
        """Look markets up on Gamma (closed versions; open versions of watched ones) and drop,
        confirm or record each; failures go to `errors`, counts to `tally` (resolved, closed,
        confirmed)."""
        if not candidates:
            return
        gamma_url = self.cfg.polymarket.gamma_url
        try:
            closed = await fetch_markets_by_condition(self.http, gamma_url, candidates, closed=True)
            closed_ids = {m.condition_id for m in closed}
            unseen = [c for c in candidates if c in self.watch and c not in closed_ids]
            still_open = (
                await fetch_markets_by_condition(self.http, gamma_url, unseen, closed=False)
                if unseen
                else []
            )
        except VenueError as e:
            errors.append(f"Gamma closed markets: {e}")
            return
        lookups = 0
        for market in closed:
            won = winner(market)
            via = "gamma"
            if won is None and lookups < MAX_CLOB_LOOKUPS:
                lookups += 1
                won, via = await self._clob_winner(market.condition_id, errors), "clob"
            await self._conclude(market, won, via, tally)
        for market in still_open:
            self._record_unconfirmed(market)

    async def _clob_winner(self, cid: str, errors: list[str]) -> Winner | None:
        try:
            market = await fetch_clob_market(self.http, self.cfg.polymarket.clob_url, cid)
        except VenueError as e:
            errors.append(f"CLOB market {cid[:18]}: {e}")
            return None
        return None if market is None else clob_winner(market)

    async def _conclude(
        self, market: GammaMarket, won: Winner | None, via: str, tally: Counter[str]
    ) -> None:
        state = self.state
        cid = market.condition_id
        seen = self.watch.get(cid)
        now_ms = state.clock_ms()
        if won is None:
            if seen is None:  # newly closed, outcome not known yet: drop it, keep watching
                await state.drop(cid)
                self._watch(cid, Watched(won=None, resolved_at_us=None, announced=False))
                state.store([market])
                tally["closed"] += 1
                self.counts["closed_gamma"] += 1
            else:
                self._record_unconfirmed(market)
            return
        resolved_at_us = None if seen is None else seen.resolved_at_us
        if via == "clob" and resolved_at_us is None:
            resolved_at_us = now_ms * 1000  # Gamma's times do not date a CLOB-only resolution
        if seen is not None and seen.announced:
            if seen.won is not None and seen.won[1] != won[1]:
                self.counts["winner_disagreements"] += 1
                log.warning("lifecycle: %s: the WS said %s won, %s says %s", cid[:18],
                            seen.won[0], via, won[0])  # fmt: skip
            tally["confirmed"] += 1
            self.counts[f"confirmed_{via}"] += 1
        else:
            await state.drop(cid)
            tally["resolved"] += 1
            self.counts[f"resolved_{via}"] += 1
            at_ms = resolved_at_us // 1000 if resolved_at_us else None
            state.info.setdefault(cid, KnownMarket.of(market))
            state.announce_resolved(
                cid, won, via, at_ms or market.closed_time or market.updated_at or now_ms
            )
        self.watch.pop(cid, None)
        state.info.pop(cid, None)
        state.store_row(metadata_row(market, now_ms * 1000, won=won, resolved_at_us=resolved_at_us))

    def _record_unconfirmed(self, market: GammaMarket) -> None:
        # A WS resolution Gamma does not confirm yet: record the WS outcome on Gamma's data.
        seen = self.watch.get(market.condition_id)
        if seen is not None and seen.won is not None:
            row = metadata_row(market, self.state.clock_ms() * 1000, won=seen.won,
                               resolved_at_us=seen.resolved_at_us)  # fmt: skip
            self.state.store_row(row)

    def _watch(self, cid: str, watched: Watched) -> None:
        self.watch[cid] = watched
        while len(self.watch) > MAX_WATCHED:
            del self.watch[next(iter(self.watch))]
            self.counts["watch_evicted"] += 1
