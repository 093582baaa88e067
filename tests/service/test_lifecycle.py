"""The market life cycle against the simulated exchange, in process and on a mock clock.

The venue is the simulator's app reached through `httpx.ASGITransport` (Gamma, CLOB REST), so
Gamma's retry back-off and the new-market retries run exactly under `autojump_clock`. The
service side is `FakeTracker`: tokens it subscribes get a book when the CLOB serves one at that
moment, as the venue's initial dump does. Webhooks reach in-process receivers (tests.webhooks)
and are verified with the `standardwebhooks` package.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from standardwebhooks import Webhook

from polymon.config import Config, SimulatorConfig, load_config
from polymon.core.model import AssetMeta
from polymon.errors import BadRequest
from polymon.polymarket.gamma import asset_metas, fetch_active_markets
from polymon.polymarket.schemas import MarketResolved, NewMarket, decode_frame
from polymon.polymarket.simulator import lifecycle as sim_lifecycle
from polymon.polymarket.simulator.app import create_app
from polymon.polymarket.simulator.exchange import SimMarket, encode_frame
from polymon.polymarket.simulator.server import Simulator, build_exchange
from polymon.service.lifecycle import Lifecycle
from polymon.service.lifecycle.hooks import LifecycleWebhooks
from polymon.service.scheduler import Scheduler
from polymon.storage.rows import METADATA
from polymon.webhooks.ssrf import UrlPolicy
from tests.webhooks.helpers import make_delivery, running
from tests.webhooks.receiver import Network, Receiver

T0 = 1_790_000_000_000
VENUE = "http://venue.test"
COLUMNS = METADATA.names


def virtual_ms() -> int:
    return T0 + round(trio.current_time() * 1000)


class FakeTracker:
    """The service as the life cycle sees it: tracked tokens, and books that arrive on
    subscribe when the CLOB has them (the venue's initial dump)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.assets: dict[str, AssetMeta] = {}
        self.books: set[str] = set()
        self.subscribed: list[str] = []
        self.unsubscribed: list[str] = []

    async def subscribe(self, metas: Iterable[AssetMeta]) -> int:
        new = [m for m in metas if m.asset_id not in self.assets]
        for meta in new:
            self.assets[meta.asset_id] = meta
            self.subscribed.append(meta.asset_id)
            if self.sim.exchange.has_book(meta.asset_id, self.sim.now_ms()):
                self.books.add(meta.asset_id)
        await trio.lowlevel.checkpoint()
        return len(new)

    async def unsubscribe(self, asset_ids: Iterable[str]) -> None:
        for asset_id in asset_ids:
            if self.assets.pop(asset_id, None) is not None:
                self.unsubscribed.append(asset_id)
            self.books.discard(asset_id)
        await trio.lowlevel.checkpoint()

    def tracks(self, asset_id: str) -> bool:
        return asset_id in self.assets

    def has_book(self, asset_id: str) -> bool:
        return asset_id in self.books

    def tracked_markets(self) -> dict[str, list[str]]:
        markets: dict[str, list[str]] = {}
        for asset_id, meta in self.assets.items():
            markets.setdefault(meta.market, []).append(asset_id)
        return markets


@dataclass
class Rig:
    sim: Simulator
    lifecycle: Lifecycle
    tracker: FakeTracker
    receiver: Receiver
    secret: str
    rows: list[tuple[Any, ...]]
    http: httpx.AsyncClient

    def row(self, market: SimMarket) -> dict[str, Any]:
        """The newest market_metadata row of a market, by column name."""
        mine = [r for r in self.rows if r[0] == market.condition_id]
        assert mine, "no market_metadata row"
        return dict(zip(COLUMNS, mine[-1], strict=True))

    async def events(self) -> list[dict[str, Any]]:
        """Every webhook delivered (after a mock second for deliveries to finish), verified
        against the signing secret."""
        await trio.sleep(1)
        verifier = Webhook(self.secret)
        return [verifier.verify(c.body, c.headers) for c in self.receiver.calls]

    def new_market_event(self, market: SimMarket) -> NewMarket:
        (event,), _ = decode_frame(
            encode_frame(sim_lifecycle.new_market_message(market, virtual_ms()))
        )
        assert isinstance(event, NewMarket)
        return event

    def resolved_event(self, market: SimMarket) -> MarketResolved:
        (event,), _ = decode_frame(encode_frame(sim_lifecycle.resolved_message(market, T0)))
        assert isinstance(event, MarketResolved)
        return event

    async def bootstrap(self) -> None:
        """What Service.bootstrap does: every active market subscribed and remembered."""
        markets = await fetch_active_markets(self.http, VENUE)
        await self.lifecycle.remember(markets)
        await self.tracker.subscribe(asset_metas(markets))


def lifecycle_config(**lifecycle: Any) -> Config:
    return load_config(
        None,
        environ={},
        overrides={
            "polymarket": {"gamma_url": VENUE, "clob_url": VENUE},
            "lifecycle": {"new_market_retry_secs": 10.0, "new_market_retry_max": 5} | lifecycle,
        },
    )


@asynccontextmanager
async def rig(
    tmp_path: Path, *, cfg: Config | None = None, book_delay_secs: float = 0.0
) -> AsyncIterator[Rig]:
    sim_cfg = SimulatorConfig(markets=4, seed=7, new_market_book_delay_secs=book_delay_secs)
    sim = Simulator(sim_cfg, build_exchange(sim_cfg), clock_ms=virtual_ms)
    network = Network()
    receiver = Receiver()
    url = network.add("hooks.example", receiver)
    delivery = make_delivery(tmp_path / "webhooks", network)
    hooks = LifecycleWebhooks(
        tmp_path, delivery, UrlPolicy(False, frozenset({443})),
        resolver=network.resolve, clock_ms=virtual_ms,
    )  # fmt: skip
    transport = httpx.ASGITransport(create_app(sim))
    async with (
        httpx.AsyncClient(transport=transport, base_url=VENUE) as http,
        running(delivery),
        trio.open_nursery() as nursery,
    ):
        _hook, secret = await hooks.register(json.dumps({"url": url}).encode())
        tracker = FakeTracker(sim)
        rows: list[tuple[Any, ...]] = []
        lifecycle = Lifecycle(
            cfg or lifecycle_config(), http, tracker, hooks,
            store_rows=rows.extend, clock_ms=virtual_ms,
        )  # fmt: skip
        await nursery.start(lifecycle.run)
        the_rig = Rig(sim, lifecycle, tracker, receiver, secret, rows, http)
        await the_rig.bootstrap()
        yield the_rig
        nursery.cancel_scope.cancel()


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_a_new_market_on_gamma_is_tracked_by_one_check_and_announced_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r:
        market = r.sim.create_market(announce=False)
        result = await r.lifecycle.check()
        assert result["new"] == 1
        assert (result["errors"], result["resolved"], result["tracked_markets"]) == (0, 0, 5)
        assert all(r.tracker.tracks(t) for t in market.token_ids())
        assert r.row(market)["question"] == market.question
        assert (await r.lifecycle.check())["new"] == 0
        await trio.sleep(11)  # the first look: its books are there
        assert r.lifecycle.counts["books_arrived"] == 1
        assert r.lifecycle.state.pending == {}
        (created,) = await r.events()
        assert created["type"] == "market.created"
        assert created["condition_id"] == market.condition_id
        assert created["token_ids"] == list(market.token_ids())
        assert created["outcomes"] == ["Yes", "No"]
        assert (created["slug"], created["detected_via"]) == (market.slug, "gamma")
        assert r.receiver.calls[0].headers["webhook-id"].startswith("msg_")


async def test_the_ws_event_subscribes_at_once_and_retries_until_the_clob_knows_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path, book_delay_secs=25.0) as r:
        market = r.sim.create_market(announce=False)
        event = r.new_market_event(market)
        for _ in range(3):  # every connection sees it
            r.lifecycle.on_event(event)
        await settle()
        assert all(r.tracker.tracks(t) for t in market.token_ids())
        assert not any(r.tracker.has_book(t) for t in market.token_ids())
        assert r.lifecycle.counts["ws_duplicates"] == 2
        await trio.sleep(20.5)  # two looks: the CLOB still 404s
        counts = r.lifecycle.counts
        assert (counts["retries"], counts["clob_not_ready"], counts["resubscribed"]) == (2, 4, 0)
        await trio.sleep(10)  # the third: the CLOB serves it, so it is subscribed again
        assert counts["resubscribed"] == 1
        assert all(r.tracker.has_book(t) for t in market.token_ids())
        await trio.sleep(10)
        assert (counts["retries"], counts["books_arrived"]) == (3, 1)
        assert r.tracker.subscribed.count(market.yes_id) == 2
        (created,) = await r.events()
        assert created["detected_via"] == "ws"
        assert created["timestamp"] == T0  # the event's own time
        # the Gamma row of a market found on the WS comes with the next poll
        assert not [row for row in r.rows if row[0] == market.condition_id]
        await r.lifecycle.check()
        assert r.row(market)["slug"] == market.slug


async def test_a_market_the_clob_never_serves_is_dropped_after_the_last_try(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    cfg = lifecycle_config(new_market_retry_max=2)
    async with rig(tmp_path, cfg=cfg, book_delay_secs=10_000.0) as r:
        market = r.sim.create_market(announce=False)
        r.lifecycle.on_event(r.new_market_event(market))
        await trio.sleep(35)
        assert (r.lifecycle.counts["retries"], r.lifecycle.counts["gave_up"]) == (2, 1)
        assert not r.tracker.tracks(market.yes_id)
        # still active on Gamma: the next poll takes it back, without a second announcement
        assert (await r.lifecycle.check())["new"] == 1
        assert r.tracker.tracks(market.yes_id)
        assert len(await r.events()) == 1


async def test_bad_and_foreign_ws_events_are_counted_and_skipped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r:
        r.lifecycle.on_event(NewMarket(market="0xabc", assets_ids=[]))
        r.lifecycle.on_event(NewMarket(market="0xabc", assets_ids=["12", "x"]))
        r.lifecycle.on_event(NewMarket(market="", assets_ids=["12"]))
        r.lifecycle.on_event(MarketResolved(market="0xnot-ours", assets_ids=["5"]))
        r.lifecycle.on_event(MarketResolved(market=""))
        await settle()
        counts = r.lifecycle.counts
        assert (counts["ws_invalid"], counts["ws_resolved_untracked"]) == (4, 1)
        assert len(r.tracker.assets) == 8
        assert await r.events() == []


async def test_a_ws_resolution_drops_the_market_at_once_and_records_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r:
        market = r.sim.exchange.markets[1]
        r.sim.resolve_market(market.condition_id, yes_wins=False, announce=False)
        event = r.resolved_event(market)
        r.lifecycle.on_event(event)
        r.lifecycle.on_event(event)
        await settle()
        assert not any(r.tracker.tracks(t) for t in market.token_ids())
        assert sorted(r.tracker.unsubscribed) == sorted(market.token_ids())
        row = r.row(market)
        assert (row["winning_outcome"], row["winning_asset_id"]) == ("No", market.no_id)
        assert row["resolved_at"] == T0 * 1000  # the event's time
        assert row["closed"] is True
        counts = r.lifecycle.counts
        assert (counts["resolved_ws"], counts["confirmed_gamma"], counts["ws_duplicates"]) == (
            1,
            1,
            1,
        )
        assert r.lifecycle.resolution.watch == {}
        (resolved,) = await r.events()
        assert resolved["type"] == "market.resolved"
        assert (resolved["winner"], resolved["winning_asset_id"]) == ("No", market.no_id)
        assert (resolved["detected_via"], resolved["resolved_at"]) == ("ws", T0)
        assert resolved["question"] == market.question
        # Gamma still listing it as active for a while must not bring it back
        assert (await r.lifecycle.check())["new"] == 0


async def test_a_ws_resolution_gamma_does_not_show_yet_is_recorded_then_confirmed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r:
        market = r.sim.exchange.markets[0]
        await r.lifecycle.remember([])  # nothing cached: the tokens come from the service
        r.lifecycle.on_event(
            MarketResolved(market=market.condition_id, assets_ids=list(market.token_ids()),
                           winning_asset_id=market.yes_id, winning_outcome="Yes",
                           timestamp=str(T0))
        )  # fmt: skip
        await settle()
        assert not r.tracker.tracks(market.yes_id)
        row = r.row(market)
        assert (row["winning_asset_id"], row["closed"]) == (market.yes_id, False)
        assert list(r.lifecycle.resolution.watch) == [market.condition_id]
        r.sim.resolve_market(market.condition_id, yes_wins=True, announce=False)
        result = await r.lifecycle.check()
        assert (result["confirmed"], result["resolved"], result["watched"]) == (1, 0, 0)
        assert r.row(market)["closed"] is True
        assert [e["detected_via"] for e in await r.events()] == ["ws"]


async def test_the_poll_resolves_by_gamma_and_asks_the_clob_when_gamma_is_unclear(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r:
        by_gamma, by_clob = r.sim.exchange.markets[0], r.sim.exchange.markets[2]
        r.sim.resolve_market(by_gamma.condition_id, yes_wins=True, announce=False)
        await trio.sleep(5)
        r.sim.resolve_market(by_clob.condition_id, yes_wins=False, uma_status="", announce=False)
        result = await r.lifecycle.check()
        assert (result["resolved"], result["closed"], result["errors"]) == (2, 0, 0)
        assert result["tracked_markets"] == 2
        for market in (by_gamma, by_clob):
            assert not any(r.tracker.tracks(t) for t in market.token_ids())
        assert r.row(by_gamma)["winning_asset_id"] == by_gamma.yes_id
        assert r.row(by_gamma)["resolved_at"] == T0 * 1000  # Gamma's closed time (whole s)
        assert r.row(by_clob)["winning_asset_id"] == by_clob.no_id
        assert r.row(by_clob)["resolved_at"] == virtual_ms() * 1000  # found now
        via = {e["condition_id"]: e["detected_via"] for e in await r.events()}
        assert via == {by_gamma.condition_id: "gamma", by_clob.condition_id: "clob"}
        assert (await r.lifecycle.check())["resolved"] == 0


async def test_a_closed_market_without_a_winner_is_dropped_and_announced_once_resolved(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r:
        market = r.sim.exchange.markets[3]
        r.sim.resolve_market(market.condition_id, uma_status="proposed", announce=False)
        result = await r.lifecycle.check()
        assert (result["closed"], result["resolved"], result["watched"]) == (1, 0, 1)
        assert not r.tracker.tracks(market.yes_id)
        assert (r.row(market)["closed"], r.row(market)["winning_outcome"]) == (True, "")
        assert await r.events() == []
        assert (await r.lifecycle.check())["closed"] == 0  # watched, not closed again
        r.sim.exchange.set_uma_status(market.condition_id, "resolved")
        result = await r.lifecycle.check()
        assert (result["resolved"], result["watched"]) == (1, 0)
        assert r.row(market)["winning_asset_id"] in market.token_ids()
        assert [(e["type"], e["detected_via"]) for e in await r.events()] == [
            ("market.resolved", "gamma")
        ]


async def test_new_markets_beyond_max_markets_are_left_out(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    cfg = load_config(None, environ={}, overrides={
        "polymarket": {"gamma_url": VENUE, "clob_url": VENUE, "max_markets": 5}})  # fmt: skip
    async with rig(tmp_path, cfg=cfg) as r:
        first, second = r.sim.create_market(announce=False), r.sim.create_market(announce=False)
        assert (await r.lifecycle.check())["new"] == 1  # Gamma's first five: one new
        r.lifecycle.on_event(r.new_market_event(second))
        await settle()
        assert r.tracker.tracks(first.yes_id)
        assert not r.tracker.tracks(second.yes_id)
        assert r.lifecycle.counts["skipped_max_markets"] == 1


async def test_a_gamma_failure_fails_the_scheduled_check_and_shows_in_its_health(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with rig(tmp_path) as r, trio.open_nursery() as nursery:
        scheduler = Scheduler(clock_ms=virtual_ms)
        scheduler.add("lifecycle_check", 300.0, r.lifecycle.check_job)
        await nursery.start(scheduler.run)
        r.sim.create_market(announce=False)
        await trio.sleep(301)
        job: dict[str, Any] = scheduler.health()["jobs"]["lifecycle_check"]  # type: ignore[index]
        assert job["last_run"]["ok"] is True
        assert job["last_run"]["result"]["new"] == 1

        r.sim.gamma_failing = True
        await trio.sleep(310)  # the next run, through Gamma's retries and back-off
        job = scheduler.health()["jobs"]["lifecycle_check"]  # type: ignore[index]
        assert (job["runs"], job["failures"]) == (2, 1)
        assert job["last_run"]["ok"] is False
        assert "answered 500" in job["last_run"]["error"]
        assert [e["error"] for e in job["recent_errors"]] == [job["last_run"]["error"]]
        assert r.lifecycle.counts["check_errors"] == 1

        r.sim.gamma_failing = False
        record = await scheduler.run_now("lifecycle_check")
        assert record["ok"] is True
        assert scheduler.clear_errors() == 1
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "invalid lifecycle webhook"),
        (b'{"events": []}', "url"),
        (b'{"url": "https://hooks.example/x", "nope": 1}', "nope"),
        (b'{"url": "https://hooks.example/x", "events": []}', "events"),
        (b'{"url": "https://hooks.example/x", "events": ["market.gone"]}', "market.gone"),
        (b'{"url": "https://hooks.example/x", "secret": "short"}', "secret"),
        (b'{"url": "https://127.0.0.1/x"}', "127.0.0.1"),
        (b'{"url": "http://hooks.example/x"}', "port 80"),
    ],
)
async def test_lifecycle_webhook_registration_refuses_bad_input(
    tmp_path: Path, body: bytes, message: str
) -> None:
    network = Network()
    network.add("hooks.example", Receiver())
    hooks = LifecycleWebhooks(
        tmp_path, make_delivery(tmp_path / "webhooks", network),
        UrlPolicy(False, frozenset({443})), resolver=network.resolve,
    )  # fmt: skip
    with pytest.raises(BadRequest, match=message):
        await hooks.register(body)
    assert hooks.listing() == []


async def test_lifecycle_webhooks_survive_a_restart_without_showing_secrets(
    tmp_path: Path,
) -> None:
    network = Network()
    network.add("hooks.example", Receiver())

    def registry() -> LifecycleWebhooks:
        delivery = make_delivery(tmp_path / "webhooks", network)
        return LifecycleWebhooks(tmp_path, delivery, UrlPolicy(False, frozenset({443})),
                                 resolver=network.resolve)  # fmt: skip

    first = registry()
    record, secret = await first.register(
        b'{"url": "https://hooks.example/a", "events": ["market.resolved"], '
        b'"secret": "a raw secret of at least 24 bytes"}'
    )
    _other, generated = await first.register(b'{"url": "https://hooks.example/b"}')
    assert secret.startswith("whsec_")
    assert generated.startswith("whsec_")
    assert generated != secret
    assert "secret" not in record
    assert record["events"] == ["market.resolved"]
    first.webhooks.close()

    again = registry()
    assert again.load() == 2
    assert again.listing() == first.listing()
    assert all("secret" not in hook for hook in again.listing())
    endpoints = {e.id: e for e in again.webhooks.endpoints()}
    assert endpoints[str(record["id"])].event_types == frozenset({"market.resolved"})
    assert again.remove(str(record["id"]))
    assert not again.remove(str(record["id"]))
    assert str(record["id"]) not in {e.id for e in again.webhooks.endpoints()}
    assert [h["id"] for h in registry().listing()] == []  # not loaded yet
    again.webhooks.close()

    (tmp_path / "lifecycle_webhooks.json").write_text("{broken")
    broken = registry()
    assert broken.load() == 0
    assert (tmp_path / "lifecycle_webhooks.json.corrupt").exists()
    # the endpoint of the receiver no longer registered is gone too
    assert [e.id for e in broken.webhooks.endpoints()] == []
    broken.webhooks.close()
