"""Backtests against what happened live: one trigger with a cooldown runs during a recorded,
stored simulator session; backtesting the same spec over the recording gives the live events
and the live count of cooldown-suppressed fires, and over the stored BBO ticks the same again.
The HTTP route serves both, validates its body and keeps to the recording directory."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio

from polymon.config import load_config
from polymon.core.backtest import BACKTEST_TRIGGER_ID
from polymon.core.triggers import decode_trigger_spec
from polymon.polymarket.simulator.server import build_exchange
from polymon.service.backtest import backtest_bbo, backtest_recordings
from polymon.service.main import Running, run_service
from polymon.storage.store import Store
from polymon.web.keys import KeyStore
from tests.service.recorded import record_config, record_session, without_latencies

pytestmark = pytest.mark.slow
CONDITION = {"type": "SPREAD_WIDE", "threshold": "0.002"}


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in without_latencies(event).items() if k != "trigger_id"}


async def test_backtests_give_what_the_trigger_did_live(
    tmp_path: Path, storage_url: str, database: str, nursery: trio.Nursery
) -> None:
    storage = {"url": storage_url, "database": database, "batch_max_age_secs": 0.1}
    cfg = record_config(tmp_path, storage, rate_per_sec=400.0)
    exchange = build_exchange(cfg.simulator)
    asset = sorted(exchange.token_ids())[0]
    market = exchange.market_of(asset).condition_id
    body = {"asset_id": asset, "condition_id": market, "condition": CONDITION, "cooldown_ms": 200}
    session = await record_session(nursery, cfg, seconds=2.5, only=body)
    live = [comparable(e) for e in session.live_events]
    assert len(live) >= 3
    assert session.suppressed > 0

    spec = decode_trigger_spec(msgspec.json.encode(body))
    result = await backtest_recordings([session.directory], spec)
    assert result.fired == len(live)
    assert result.suppressed == session.suppressed
    assert [comparable(msgspec.to_builtins(e)) for e in result.events] == live
    assert {e.trigger_id for e in result.events} == {BACKTEST_TRIGGER_ID}
    assert sum(d.fired for d in result.per_day) == result.fired
    assert sum(d.suppressed for d in result.per_day) == result.suppressed
    assert result.evaluated > 100

    store = Store(storage_url, database=database)
    try:
        first = result.events[0].received_us - 10_000_000
        bbo = await backtest_bbo(store, spec, start_us=first, end_us=first + 3_600_000_000)
    finally:
        store.close()
    assert bbo.fired == result.fired
    assert bbo.suppressed == result.suppressed
    assert [comparable(msgspec.to_builtins(e)) for e in bbo.events] == live

    # --from/--to: the events of a window only, the books before it still built.
    middle = result.events[len(result.events) // 2].received_us
    late = await backtest_recordings([session.directory], spec, start_us=middle)
    assert late.events == [e for e in result.events if e.received_us >= middle]

    await api_checks(tmp_path, storage_url, database, nursery, body, result.fired)


async def api_checks(
    tmp_path: Path,
    storage_url: str,
    database: str,
    nursery: trio.Nursery,
    body: dict[str, Any],
    fired: int,
) -> None:
    cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": str(tmp_path / "api")},
        "storage": {"url": storage_url, "database": database},
        "http": {"port": 0, "rate_limit_enabled": False},
        "record": {"dir": str(tmp_path / "recordings")},
        "simulator": {"markets": 2},
    })  # fmt: skip
    _, key = KeyStore(tmp_path / "api").create("tests", "enterprise")
    handle: Running = await nursery.start(partial(run_service, cfg, simulate=True))
    auth = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=handle.http_url, headers=auth, timeout=30) as c:
        listing = (await c.get("/api/v1/recordings")).json()
        assert listing["recording"] is False
        names = [item["name"] for item in listing["items"]]
        assert names
        assert not any(item["open"] for item in listing["items"])

        url = "/api/v1/triggers/backtest"
        whole = (await c.post(url, json={"trigger": body})).json()
        assert whole["fired"] == fired
        named = (await c.post(url, json={"trigger": body, "recordings": names,
                                         "max_events": 1})).json()  # fmt: skip
        assert named["fired"] == fired
        assert len(named["events"]) == 1
        assert named["events_truncated"] is True
        stored = (await c.post(url, json={"trigger": body, "source": "bbo", "start": "0"})).json()
        assert stored["fired"] == fired

        for bad, field in [
            ({"trigger": body, "recordings": ["../x.ndjson.gz"]}, "recordings"),
            ({"trigger": body, "source": "ticks"}, "source"),
            ({"trigger": {**body, "cooldown_ms": -1}}, "cooldown_ms"),
            ({"trigger": {**body, "condition": {"type": "PRICE_ABOVE", "threshold": 2}}},
             "threshold"),
            ({"trigger": {**body, "condition": {"type": "STALE_QUOTE", "threshold_ms": 5}},
              "source": "bbo"}, "trigger.condition.type"),
            ({"trigger": body, "start": "yesterday"}, "start"),
            ({"trigger": body, "extra": 1}, "extra"),
        ]:  # fmt: skip
            response = await c.post(url, json=bad)
            assert response.status_code == 400, (bad, response.text)
            assert field in response.json()["detail"], response.text
        missing = await c.post(url, json={"trigger": body, "recordings": ["nope.ndjson.gz"]})
        assert missing.status_code == 404
        assert (await c.post(url, content=b"{")).status_code == 400
        unauthorized = await c.post(url, json={"trigger": body}, headers={"X-API-Key": ""})
        assert unauthorized.status_code == 401
    handle.stop()
