"""Gamma REST: the active markets and their tokens, for bootstrap and resolution checks.

Gamma quirks handled here (protocol doc §4): `limit` silently capped at 100, `offset > 10000`
answered with 422, and the implicit `closed=false`. Listing prefers keyset paging and falls
back to offset paging where the keyset endpoint is not served. The bodies are parsed by
`gamma_markets` (re-exported here).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Final

import httpx
import trio

from polymon.errors import VenueError, VenueStatusError
from polymon.polymarket.gamma_markets import (
    GammaMarket,
    asset_metas,
    parse_keyset_page,
    parse_markets,
    parse_time_ms,
)
from polymon.polymarket.rest import Query, check_status, status_error, venue_request

log = logging.getLogger(__name__)

__all__ = [
    "MAX_CONDITION_IDS", "MAX_OFFSET", "MAX_PAGE_LIMIT", "RETRIES", "GammaMarket", "PageSink",
    "asset_metas", "fetch_active_markets", "fetch_markets_by_condition", "parse_keyset_page",
    "parse_markets", "parse_time_ms",
]  # fmt: skip

MAX_PAGE_LIMIT: Final = 100
MAX_OFFSET: Final = 10_000
MAX_CONDITION_IDS: Final = 100
RETRIES: Final = 4

_BACKOFF_BASE_S: Final = 0.5
_BACKOFF_CAP_S: Final = 8.0
# A Retry-After of hours would stall the bootstrap; the retry budget still bounds the total.
_RETRY_AFTER_CAP_S: Final = 60.0
_KEYSET_UNSUPPORTED: Final = frozenset({404, 405, 410, 422})


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP_S)


def _retryable(status: int) -> bool:
    return status == httpx.codes.TOO_MANY_REQUESTS or status >= 500


async def _get(client: httpx.AsyncClient, url: str, params: Query) -> bytes:
    """GET with up to RETRIES retries on 429, 5xx and transport errors; the 2xx body.

    Waits the venue's Retry-After when given, else exponential backoff with full jitter. Other
    non-2xx answers raise VenueStatusError at once; exhausted retries raise the last failure.
    """
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            response = await venue_request(client, "GET", url, params=params)
        except VenueError as exc:
            failure = exc
        else:
            if not _retryable(response.status_code):
                check_status(response)
                return response.content
            failure = status_error(response)
            retry_after = _retry_after_s(response.headers.get("retry-after"))
        if attempt >= RETRIES:
            raise failure
        if retry_after is None:
            retry_after = random.uniform(0.0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt))
        attempt += 1
        log.warning("Gamma retry %d/%d in %.2fs: %s", attempt, RETRIES, retry_after, failure)
        await trio.sleep(retry_after)


PageSink = Callable[[list[GammaMarket]], Awaitable[None]]
"""Called with each page's newly kept markets as the walk goes (before the next request)."""


class _Collector:
    """Markets kept so far: deduplicated by condition id, filtered, capped at `limit` (0 = none);
    each page's new ones go to `on_page` as they arrive."""

    def __init__(
        self, keep: Callable[[GammaMarket], bool], limit: int = 0, on_page: PageSink | None = None
    ) -> None:
        self.keep = keep
        self.limit = limit
        self.on_page = on_page
        self.markets: list[GammaMarket] = []
        self.seen: set[str] = set()
        self.skipped = 0

    async def add(self, markets: list[GammaMarket], skipped: int) -> bool:
        """Add one page (and hand its new markets to `on_page`); True once the cap is reached."""
        self.skipped += skipped
        kept: list[GammaMarket] = []
        capped = False
        for market in markets:
            if market.condition_id in self.seen or not self.keep(market):
                continue
            self.seen.add(market.condition_id)
            kept.append(market)
            if self.limit and len(self.markets) + len(kept) >= self.limit:
                capped = True
                break
        self.markets.extend(kept)
        if kept and self.on_page is not None:
            await self.on_page(kept)
        return capped


def _tradable(market: GammaMarket) -> bool:
    # Filters the venue should already apply are checked again: a server that ignores a
    # query parameter must not make us subscribe to closed or book-less markets.
    return (
        market.active
        and not market.closed
        and market.enable_order_book is not False
        and len(market.token_ids) >= 1
    )


_OPEN_FILTER: Final = (("active", "true"), ("closed", "false"))


async def _walk_keyset(client: httpx.AsyncClient, base: str, limit: int, acc: _Collector) -> bool:
    """Page `/markets/keyset` into `acc`; False when the venue does not serve it."""
    cursor: str | None = None
    used: set[str] = set()
    while True:
        params = [("limit", str(limit)), *_OPEN_FILTER]
        if cursor is not None:
            params.append(("after_cursor", cursor))
        try:
            body = await _get(client, f"{base}/markets/keyset", params)
        except VenueStatusError as exc:
            if exc.status in _KEYSET_UNSUPPORTED:
                log.warning("Gamma keyset paging unavailable (%d); using offset paging", exc.status)
                return False
            raise
        markets, skipped, cursor = parse_keyset_page(body)
        if await acc.add(markets, skipped) or cursor is None:
            return True
        # An empty page or a repeated cursor would otherwise loop forever.
        if not (markets or skipped) or cursor in used:
            return True
        used.add(cursor)


async def _walk_offset(client: httpx.AsyncClient, base: str, limit: int, acc: _Collector) -> None:
    """Page `/markets` by offset into `acc`, until an empty page or the venue's offset cap."""
    offset = 0
    while True:
        # Ascending id keeps pages stable while new markets are created during the walk.
        params = [
            ("limit", str(limit)),
            ("offset", str(offset)),
            *_OPEN_FILTER,
            ("order", "id"),
            ("ascending", "true"),
        ]
        try:
            body = await _get(client, f"{base}/markets", params)
        except VenueStatusError as exc:
            if exc.status == httpx.codes.UNPROCESSABLE_ENTITY and offset > MAX_OFFSET:
                log.warning(
                    "Gamma offset paging stopped at the venue's offset cap (offset %d); "
                    "markets past it are not listed",
                    offset,
                )
                return
            raise
        markets, skipped = parse_markets(body)
        received = len(markets) + skipped
        if await acc.add(markets, skipped) or received == 0:
            return
        # Advance by what arrived, not by `limit`: the venue silently shortens pages.
        offset += received


async def fetch_active_markets(
    client: httpx.AsyncClient,
    gamma_url: str,
    *,
    page_limit: int = 100,
    max_markets: int = 0,
    on_page: PageSink | None = None,
) -> list[GammaMarket]:
    """All active, open markets with an order book and at least one token, in venue order.

    `on_page` receives each page's new markets as soon as the page is parsed (the bootstrap
    subscribes them while later pages load); a walk is O(markets) in time and requests.

    Uses keyset paging, or offset paging when the keyset endpoint answers 404/405/410/422 (on
    any page: markets already collected are kept). Offset paging stops cleanly at the venue's
    offset cap (422 past offset 10000), so it may not list every market.
    `page_limit` is clamped to 1..100; `max_markets` stops the walk once that many markets are
    kept (0 = no cap). Markets are deduplicated by condition id. Retries 429/5xx/transport
    errors a few times (see `RETRIES`), then raises VenueError.
    """
    base = gamma_url.rstrip("/")
    limit = max(1, min(page_limit, MAX_PAGE_LIMIT))
    acc = _Collector(_tradable, max(0, max_markets), on_page)
    if not await _walk_keyset(client, base, limit, acc):
        # Markets from keyset pages before a mid-walk fallback stay; the collector dedupes.
        await _walk_offset(client, base, limit, acc)
    log.info("Gamma: %d active markets (%d elements skipped)", len(acc.markets), acc.skipped)
    return acc.markets


async def fetch_markets_by_condition(
    client: httpx.AsyncClient,
    gamma_url: str,
    condition_ids: Iterable[str],
    *,
    closed: bool | None,
) -> list[GammaMarket]:
    """The markets with these condition ids, in batches of at most 100 ids per request.

    `closed=True`/`False` filters on the venue; None sends no `closed` parameter, so the
    venue's implicit `closed=false` applies. Markets the venue returns for other ids are
    dropped. Retries as `fetch_active_markets`.
    """
    wanted = list(dict.fromkeys(c for c in condition_ids if c))
    wanted_set = set(wanted)
    acc = _Collector(lambda market: market.condition_id in wanted_set)
    extra = [] if closed is None else [("closed", "true" if closed else "false")]
    url = f"{gamma_url.rstrip('/')}/markets"
    for start in range(0, len(wanted), MAX_CONDITION_IDS):
        batch = wanted[start : start + MAX_CONDITION_IDS]
        # An explicit limit: Gamma's default page is smaller than a full batch.
        params = [("limit", str(MAX_PAGE_LIMIT)), *(("condition_ids", c) for c in batch), *extra]
        await acc.add(*parse_markets(await _get(client, url, params)))
    return acc.markets
