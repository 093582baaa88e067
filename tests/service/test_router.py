"""The shard router on its own: market-whole placement, the tracked-market index, trigger
placement before and after a token is tracked, and what unsubscribing forgets."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from polymon.config import load_config
from polymon.core.model import AssetMeta
from polymon.core.shard import ShardState
from polymon.service.main import policy_from
from polymon.service.router import ShardRouter
from polymon.service.shards import shard_of

SHARDS = 5


class FakeShard:
    """A shard without connections: tracks tokens in a real ShardState, keeps trigger ids."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.state = ShardState(policy_from(load_config(None, environ={})))
        self.triggers: list[str] = []

    async def add(self, metas: Iterable[AssetMeta], *, gap: Any = None) -> int:
        new = [m for m in metas if m.asset_id not in self.state.assets]
        for meta in new:
            self.state.track(meta)
        return len(new)

    async def remove(self, asset_ids: Iterable[str]) -> None:
        for asset_id in asset_ids:
            self.state.untrack(asset_id, 0)

    def add_trigger(self, trigger: Any) -> None:
        self.triggers.append(trigger.trigger_id)

    def remove_trigger(self, trigger_id: str) -> None:
        self.triggers.remove(trigger_id)


def router() -> tuple[ShardRouter, list[FakeShard]]:
    shards = [FakeShard(i) for i in range(SHARDS)]
    return ShardRouter(shards), shards  # type: ignore[arg-type]


def trigger(trigger_id: str, asset_id: str, condition_id: str = "") -> Any:
    spec = SimpleNamespace(asset_id=asset_id, condition_id=condition_id)
    return SimpleNamespace(trigger_id=trigger_id, spec=spec)


def market(cid: str, *outcomes: str) -> list[AssetMeta]:
    return [AssetMeta(asset_id=f"{cid}-{o}", market=cid, outcome=o) for o in outcomes]


async def test_both_tokens_of_a_market_share_the_shard_of_its_condition_id() -> None:
    r, shards = router()
    metas = [m for i in range(20) for m in market(f"0xc{i}", "Yes", "No")]
    assert await r.subscribe(metas) == 40
    assert await r.subscribe(metas[:2]) == 0  # already tracked
    for i in range(20):
        cid = f"0xc{i}"
        owner = shard_of(cid, SHARDS)
        assert {r.shard_for(f"{cid}-Yes").index, r.shard_for(f"{cid}-No").index} == {owner}
        assert r.state_of(f"{cid}-No") is shards[owner].state
        assert r.tracked_markets()[cid] == [f"{cid}-Yes", f"{cid}-No"]
        assert r.market_of(f"{cid}-Yes") == cid
    assert r.tracks("0xc3-Yes")
    assert not r.has_book("0xc3-Yes")  # tracked, no snapshot yet
    assert r.book_view("unknown", None) is None
    assert r.market_of("unknown") is None


async def test_unsubscribing_forgets_the_owner_and_the_index_entry() -> None:
    r, _ = router()
    await r.subscribe(market("0xm", "Yes", "No"))
    await r.unsubscribe(["0xm-Yes", "never-tracked"])
    assert not r.tracks("0xm-Yes")
    assert r.tracked_markets() == {"0xm": ["0xm-No"]}
    assert r.shard_for("0xm-Yes").index == shard_of("0xm-Yes", SHARDS)  # the fallback
    await r.unsubscribe(["0xm-No"])
    assert r.tracked_markets() == {}


async def test_binary_markets_put_yes_first_and_skip_other_shapes() -> None:
    r, _ = router()
    await r.subscribe(market("0xa", "No", "Yes"))
    await r.subscribe(market("0xb", "Down", "Up"))
    await r.subscribe(market("0xc", "A", "B", "C"))
    assert r.binary_markets() == {"0xa": ("0xa-Yes", "0xa-No"), "0xb": ("0xb-Down", "0xb-Up")}


async def test_triggers_go_to_the_owner_or_before_tracking_to_the_market_shard() -> None:
    r, shards = router()
    early = trigger("t1", "0xm-Yes", condition_id="0xm")
    r.place_trigger(early)  # not tracked yet: where the market will be
    assert shards[shard_of("0xm", SHARDS)].triggers == ["t1"]
    await r.subscribe(market("0xm", "Yes", "No"))
    late = trigger("t2", "0xm-No")
    r.place_trigger(late)
    assert shards[shard_of("0xm", SHARDS)].triggers == ["t1", "t2"]
    loose = trigger("t3", "lonely")
    r.place_trigger(loose)
    assert "t3" in shards[shard_of("lonely", SHARDS)].triggers
    r.unplace_trigger(early)
    r.unplace_trigger(early)  # a second time: nothing placed, nothing done
    assert not any("t1" in shard.triggers for shard in shards)
    assert "t2" in shards[shard_of("0xm", SHARDS)].triggers
