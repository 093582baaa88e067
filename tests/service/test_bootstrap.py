"""Bootstrap at venue size: Gamma pages subscribed as they arrive, markets kept whole on a shard,
and new connections opened in paced parallel batches."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from polymon.config import SimulatorConfig, load_config
from polymon.polymarket.simulator.app import create_app
from polymon.polymarket.simulator.server import Simulator, build_exchange
from polymon.service.main import Service
from polymon.service.shards import OpenPacer

VENUE = "http://venue.test"


def test_the_pacer_opens_parallel_batches_one_interval_apart() -> None:
    pacer = OpenPacer(3, 0.5)
    assert [pacer.delay(10.0) for _ in range(7)] == [0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 1.0]
    assert pacer.delay(10.75) == 0.25  # the third batch still has room
    assert pacer.delay(10.75) == 0.25
    assert pacer.delay(10.75) == 0.75  # full: the fourth
    assert pacer.delay(20.0) == 0.0  # long after: a new batch opens at once
    assert [OpenPacer(2, 0.0).delay(1.0) for _ in range(3)] == [0.0] * 3


async def test_bootstrap_subscribes_each_page_before_asking_for_the_next(tmp_path: Path) -> None:
    sim_cfg = SimulatorConfig(markets=25, seed=5)
    sim = Simulator(sim_cfg, build_exchange(sim_cfg))
    cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": str(tmp_path)}, "storage": {"enabled": False},
        "polymarket": {"gamma_url": VENUE, "clob_url": VENUE, "gamma_page_limit": 10,
                       "ws_url": "ws://127.0.0.1:1/ws/market", "shards": 3,
                       "max_assets_per_connection": 6},
    })  # fmt: skip
    tracked_when_asked: list[int] = []

    class Recording(httpx.ASGITransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/markets"):
                tracked_when_asked.append(sum(len(s.state.assets) for s in service.shards))
            return await super().handle_async_request(request)

    async with (
        httpx.AsyncClient(transport=Recording(create_app(sim)), base_url=VENUE) as http,
        trio.open_nursery() as nursery,
    ):
        service = Service(cfg, http)
        await nursery.start(service.run)
        assert await service.bootstrap() == 50
        # The life cycle's view of what is tracked is an index kept on the way, not a walk.
        markets = {m.condition_id: list(m.token_ids()) for m in sim.exchange.markets}
        assert service.router.tracked_markets() == markets
        first = sim.exchange.markets[0]
        await service.unsubscribe([first.yes_id])
        assert service.router.tracked_markets()[first.condition_id] == [first.no_id]
        await service.unsubscribe([first.no_id])
        assert first.condition_id not in service.router.tracked_markets()
        nursery.cancel_scope.cancel()
    assert tracked_when_asked == [0, 20, 40]  # 10 markets a page, subscribed before the next
    for market in sim.exchange.markets[1:]:
        (index,) = {service.router.shard_for(token).index for token in market.token_ids()}
        assert set(market.token_ids()) <= set(service.shards[index].state.assets)
    for shard in service.shards:
        assert all(len(c.assets) <= 6 for c in shard.connections)
        assert sum(len(c.assets) for c in shard.connections) == len(shard.state.assets)
