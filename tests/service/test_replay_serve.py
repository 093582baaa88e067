"""`polymon replay --serve`: a recorded session served as the venue; polymon pointed at it
bootstraps from its Gamma, subscribes over its market channel and ends with the books the
simulator had when the session was recorded."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx
import msgspec
import pytest
import trio
from trio_websocket import open_websocket_url

from polymon.config import load_config
from polymon.polymarket.recording.serve import run_replay_server
from polymon.service.main import Running, run_service
from polymon.service.replay import recording_paths
from tests.service.recorded import record_config, record_session

pytestmark = pytest.mark.slow


async def test_polymon_run_against_a_served_recording_ends_with_the_recorded_books(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    cfg = record_config(tmp_path / "live", drop_every_secs=0.6, malformed_ratio=0.02)
    session = await record_session(nursery, cfg, seconds=1.5, triggers=False)
    files = recording_paths([session.directory])
    server = await nursery.start(partial(run_replay_server, files))

    client_cfg = load_config(None, environ={}, overrides={
        "service": {"data_dir": str(tmp_path / "client")},
        "storage": {"enabled": False},
        "http": {"port": 0},
        "polymarket": {"ws_url": server.ws_url, "gamma_url": server.http_url,
                       "clob_url": server.http_url, "shards": 3,
                       "max_assets_per_connection": 3, "connection_stagger_secs": 0.01},
        "lifecycle": {"poll_interval_secs": 0},
    })  # fmt: skip
    handle: Running = await nursery.start(partial(run_service, client_cfg))
    service = handle.service
    with trio.fail_after(20):
        await service.bootstrapped.wait()
    assert sorted(a for s in service.shards for a in s.state.assets) == session.assets

    def books_equal() -> bool:
        for asset_id, (bids, asks) in session.books.items():
            view = service.book_view(asset_id, None)
            if view is None or [(lv.price, lv.size) for lv in view.bids] != bids:
                return False
            if [(lv.price, lv.size) for lv in view.asks] != asks:
                return False
        return True

    with trio.fail_after(20):
        while not (books_equal() and server.finished == server.connections > 1):  # noqa: ASYNC110
            await trio.sleep(0.05)
    invalid = sum(sum(s.ingest.invalid.values()) for s in service.shards)
    assert invalid > 0  # the venue's garbage frames were served to the clients they reached
    handle.stop()


async def test_a_served_recording_answers_ping_and_filters_to_the_subscription(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    session = await record_session(nursery, record_config(tmp_path), 0.5, triggers=False)
    server = await nursery.start(partial(run_replay_server, recording_paths([session.directory])))
    async with httpx.AsyncClient() as http:
        markets = (await http.get(f"{server.http_url}/markets")).json()
        assert len(markets) == len(session.assets) // 2
        assert (
            await http.get(f"{server.http_url}/book", params={"token_id": "1"})
        ).status_code == 404
    one = session.assets[0]
    async with open_websocket_url(server.ws_url) as ws:
        await ws.send_message(msgspec.json.encode({"assets_ids": [one], "type": "market"}).decode())
        await ws.send_message("PING")
        seen: set[str] = set()
        pong = False
        with trio.move_on_after(2):
            while True:
                text = await ws.get_message()
                if text == "PONG":
                    pong = True
                    continue
                frame = msgspec.json.decode(text)
                for message in frame if isinstance(frame, list) else [frame]:
                    if "asset_id" in message:
                        seen.add(message["asset_id"])
                    seen.update(e["asset_id"] for e in message.get("price_changes") or ())
        assert pong
        assert seen == {one}
