"""Gamma's listing of active markets: the first subscription of the market set, and the
market_metadata rows of every page (at the bootstrap and each `metadata_refresh`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import trio

from polymon.clock import wall_us
from polymon.config import PolymarketConfig
from polymon.errors import VenueError
from polymon.polymarket.gamma import GammaMarket, PageSink, asset_metas, fetch_active_markets
from polymon.service.lifecycle import Lifecycle
from polymon.service.records import metadata_row
from polymon.service.router import ShardRouter
from polymon.service.runstate import RestartGap
from polymon.storage.rows import MetadataRow

log = logging.getLogger("polymon")


class Bootstrap:
    """Subscribes the active market set from Gamma (retried until it succeeds) and refreshes
    market_metadata; `done` is set once the first bootstrap has succeeded."""

    def __init__(
        self,
        pm: PolymarketConfig,
        http: httpx.AsyncClient,
        router: ShardRouter,
        lifecycle: Lifecycle,
        *,
        store_rows: Callable[[list[MetadataRow]], None],
        done: trio.Event,
        restart_gap: RestartGap | None = None,
    ) -> None:
        self.pm = pm
        self.http = http
        self.router = router
        self.lifecycle = lifecycle
        self.store_rows = store_rows
        self.done = done
        self.restart_gap = restart_gap  # opened on the assets of the first bootstrap
        self.error = ""  # the last failed attempt's, until one succeeds

    async def bootstrap(self) -> int:
        """Subscribe every active, open market from Gamma (capped by polymarket.max_markets),
        spread over the shards by market, page by page as the listing arrives (the first
        books are live while later pages load); returns how many tokens were new."""
        done = self.lifecycle.state.done  # resolved while Gamma may still list them as open
        gap = self.restart_gap  # an unclean stop's downtime: opened on every new asset
        added = 0

        async def subscribe_page(page: list[GammaMarket]) -> None:
            nonlocal added
            new = (m for m in asset_metas(page) if m.market not in done)
            added += await self.router.subscribe(new, gap=gap)

        markets = await self.fetch_markets(subscribe_page)
        self.restart_gap = None  # a later bootstrap's new assets were not down
        log.info("bootstrap: %d markets, %d new tokens", len(markets), added)
        return added

    async def run(self) -> None:
        """Bootstrap from Gamma, retrying with backoff until it succeeds."""
        delay = 1.0
        while True:
            try:
                await self.bootstrap()
            except VenueError as e:
                self.error = str(e)
                log.warning("bootstrap failed, retrying in %.0f s: %s", delay, e)
                await trio.sleep(delay)
                delay = min(delay * 2, 60.0)
            else:
                self.error = ""
                self.done.set()
                return

    async def refresh_metadata(self) -> int:
        """Fetch every active market from Gamma into market_metadata; returns the count."""
        count = len(await self.fetch_markets())
        log.info("metadata refresh: %d markets", count)
        return count

    async def fetch_markets(self, on_page: PageSink | None = None) -> list[GammaMarket]:
        """Every active, open market from Gamma, queued for market_metadata page by page (and
        handed to `on_page`) as the listing arrives; the life cycle remembers the listing."""
        pm = self.pm

        async def page_done(page: list[GammaMarket]) -> None:
            now_us = wall_us()
            self.store_rows([metadata_row(m, now_us) for m in page])
            if on_page is not None:
                await on_page(page)

        markets = await fetch_active_markets(
            self.http, pm.gamma_url, page_limit=pm.gamma_page_limit, max_markets=pm.max_markets,
            on_page=page_done,
        )  # fmt: skip
        await self.lifecycle.remember(markets)
        return markets
