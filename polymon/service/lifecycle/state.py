"""What market discovery and resolution share: the seam they act through (`Tracker`, which
service.router implements), what they know about markets (`KnownMarket`), and the events and
rows they produce."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Protocol

import msgspec

from polymon.clock import wall_ms
from polymon.core.model import AssetMeta
from polymon.polymarket.gamma import GammaMarket
from polymon.service.lifecycle.hooks import MARKET_CREATED, MARKET_RESOLVED, LifecycleWebhooks
from polymon.service.records import Winner, metadata_row
from polymon.storage.rows import MetadataRow

log = logging.getLogger("polymon.lifecycle")

MAX_REMEMBERED: Final = 100_000


class Tracker(Protocol):
    """What the life cycle needs from the running service."""

    async def subscribe(self, metas: Iterable[AssetMeta]) -> int:
        """Track and subscribe tokens; returns how many were new."""

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        """Unsubscribe tokens and drop their books (after a final snapshot row)."""

    def tracks(self, asset_id: str) -> bool:
        """Whether a token is tracked."""

    def has_book(self, asset_id: str) -> bool:
        """Whether a tracked token has received a book snapshot."""

    def tracked_markets(self) -> Mapping[str, Sequence[str]]:
        """Every tracked market: condition id -> its tracked token ids (read-only; may be a
        live view, so copy what is kept across an await)."""


class KnownMarket(msgspec.Struct, frozen=True, kw_only=True):
    """What a life-cycle event (or a Gamma listing) says about a market: enough to subscribe
    its tokens and announce it. Not core.history.MarketInfo, the full market_metadata row the
    HTTP API serves: a WS `new_market` event carries only these fields."""

    condition_id: str
    market_id: str = ""
    question: str = ""
    slug: str = ""
    token_ids: list[str]
    outcomes: list[str] = []
    tick_size: str = ""

    @classmethod
    def of(cls, market: GammaMarket) -> KnownMarket:
        """The info of a Gamma market."""
        return cls(condition_id=market.condition_id, market_id=market.id,
                   question=market.question, slug=market.slug, token_ids=market.token_ids,
                   outcomes=market.outcomes, tick_size=market.tick_size)  # fmt: skip

    def metas(self) -> list[AssetMeta]:
        """One AssetMeta per token, with its outcome."""
        return [
            AssetMeta(asset_id=token, market=self.condition_id, tick_size=self.tick_size,
                      outcome=self.outcomes[i] if i < len(self.outcomes) else "")
            for i, token in enumerate(self.token_ids)
        ]  # fmt: skip


class Pending:
    """A new market whose books have not all arrived: its next look (trio time) and tries."""

    def __init__(self, info: KnownMarket, due: float) -> None:
        self.info = info
        self.tries = 0
        self.due = due


class Recent:
    """A bounded set that forgets the oldest keys first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.keys: dict[str, None] = {}

    def add(self, key: str) -> None:
        """Remember `key`, forgetting the oldest beyond the limit; O(1)."""
        self.keys[key] = None
        if len(self.keys) > self.limit:
            del self.keys[next(iter(self.keys))]

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def __len__(self) -> int:
        return len(self.keys)


def timestamp_ms(value: str | int) -> int | None:
    """A venue timestamp (ms, as text or number) as an int; None when absent or not one."""
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    return ms if ms > 0 else None


def valid_token_ids(ids: Iterable[str]) -> list[str]:
    """`ids` when every one is a distinct decimal uint256 string, else [] (not subscribable)."""
    tokens = list(ids)
    ok = all(t.isascii() and t.isdigit() and len(t) <= 78 for t in tokens)
    return tokens if ok and len(set(tokens)) == len(tokens) else []


class MarketState:
    """The state discovery and resolution share, and the outputs both produce.

    info: what the events say about known markets (from Gamma listings and WS events).
    pending: new markets whose books have not all arrived.
    done: markets dropped as resolved or closed; never subscribed again.
    """

    def __init__(
        self,
        tracker: Tracker,
        hooks: LifecycleWebhooks,
        *,
        store_rows: Callable[[list[MetadataRow]], None] | None = None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.tracker = tracker
        self.hooks = hooks
        self.store_rows = store_rows
        self.clock_ms = clock_ms
        self.counts: Counter[str] = Counter()
        self.info: dict[str, KnownMarket] = {}
        self.pending: dict[str, Pending] = {}
        self.done = Recent(MAX_REMEMBERED)
        self._announced = Recent(MAX_REMEMBERED)

    def tokens_of(self, cid: str) -> list[str]:
        """A known market's token ids ([] when unknown)."""
        info = self.info.get(cid)
        return info.token_ids if info is not None else []

    async def drop(self, cid: str) -> None:
        """Unsubscribe a market for good (its books get a final snapshot row); it is never
        taken back, even while Gamma still lists it as active."""
        self.pending.pop(cid, None)
        self.done.add(cid)
        tokens = [t for t in self.tokens_of(cid) if self.tracker.tracks(t)]
        if not tokens:  # not in the info cache: ask the service
            tokens = list(self.tracker.tracked_markets().get(cid, ()))
        if tokens:
            await self.tracker.unsubscribe(tokens)
            self.counts["markets_dropped"] += 1

    def announce_created(self, info: KnownMarket, via: str, at_ms: int | None) -> None:
        """Send `market.created` for a market, once."""
        cid = info.condition_id
        if cid in self._announced:
            return
        self._announced.add(cid)
        payload = self._payload(MARKET_CREATED, info, via, at_ms)
        self.hooks.emit(MARKET_CREATED, f"{MARKET_CREATED}:{cid}", payload)

    def announce_resolved(self, cid: str, won: Winner, via: str, at_ms: int) -> None:
        """Send `market.resolved` with the winner and resolution time (ms)."""
        info = self.info.get(cid) or KnownMarket(condition_id=cid, token_ids=[])
        payload = self._payload(MARKET_RESOLVED, info, via, None)
        payload |= {"winner": won[0], "winning_asset_id": won[1], "resolved_at": at_ms}
        self.hooks.emit(MARKET_RESOLVED, f"{MARKET_RESOLVED}:{cid}", payload)
        log.info("lifecycle: market %s resolved (%s won) via %s", cid[:18], won[0], via)

    def _payload(
        self, event_type: str, info: KnownMarket, via: str, at_ms: int | None
    ) -> dict[str, object]:
        return {
            "type": event_type, "condition_id": info.condition_id, "market_id": info.market_id,
            "question": info.question, "slug": info.slug, "token_ids": info.token_ids,
            "outcomes": info.outcomes, "detected_via": via,
            "timestamp": at_ms if at_ms is not None else self.clock_ms(),
        }  # fmt: skip

    def store(self, markets: list[GammaMarket]) -> None:
        """Queue market_metadata rows for Gamma markets (their own outcome, if any)."""
        if markets and self.store_rows is not None:
            now_us = self.clock_ms() * 1000
            self.store_rows([metadata_row(m, now_us) for m in markets])

    def store_row(self, row: MetadataRow) -> None:
        """Queue one market_metadata row."""
        if self.store_rows is not None:
            self.store_rows([row])
