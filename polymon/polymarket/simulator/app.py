"""The simulator's Quart-Trio app: Gamma and CLOB REST routes plus the market channel WebSocket.

Routes only translate HTTP to the pure handlers in `rest` and client frames to the `Simulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import trio
from quart import Response, request, websocket
from quart_trio import QuartTrio

from polymon.polymarket.simulator import rest

if TYPE_CHECKING:
    from polymon.polymarket.simulator.fanout import Connection
    from polymon.polymarket.simulator.server import Simulator

_CLOSE_GOING_AWAY = 1001
_CLOSE_WAIT_SECS = 1.0


def _json(status: int, body: Any) -> Response:
    return Response(msgspec.json.encode(body), status=status, mimetype="application/json")


async def _send_queued(conn: Connection) -> None:
    while True:
        try:
            frame = conn.frames.receive_nowait()
        except trio.WouldBlock:
            return
        await websocket.send(frame)


async def _write(sim: Simulator, conn: Connection) -> None:
    # The only task that writes to this socket: queued frames in order, then (flood mode) the
    # benchmark frames once the first subscription's snapshot has gone out.
    async for frame in conn.frames:
        await websocket.send(frame)
        if sim.flood is None or conn.flooded or not conn.subscribed:
            continue
        conn.flooded = True
        await _send_queued(conn)
        for text in sim.flood.frames_for(conn.assets):
            await websocket.send(text)
            sim.stats.flood_frames_sent += 1
            await _send_queued(conn)


def create_app(sim: Simulator) -> QuartTrio:
    """The Quart-Trio app serving `sim` (Gamma `/markets`, CLOB `/book`, WS `/ws/market`)."""
    app = QuartTrio(__name__)

    @app.get("/markets")
    async def gamma_markets() -> Response:
        return _json(*rest.gamma_markets(sim.exchange, request.args))

    @app.get("/markets/keyset")
    async def gamma_markets_keyset() -> Response:
        return _json(*rest.gamma_markets_keyset(sim.exchange, request.args))

    @app.get("/book")
    async def clob_book() -> Response:
        return _json(*rest.clob_book(sim.exchange, request.args.get("token_id"), sim.now_ms()))

    @app.post("/books")
    async def clob_books() -> Response:
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        return _json(*rest.clob_books(sim.exchange, body, sim.now_ms()))

    @app.websocket("/ws/market")
    async def market_channel() -> None:
        await websocket.accept()
        conn = sim.fanout.open()
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_write, sim, conn)
                    while True:
                        sim.handle_client_text(conn, await websocket.receive())
        finally:
            sim.fanout.close(conn)
        # Reached only when the simulator dropped the client (a disconnect cancels us). A client
        # that stopped reading may never take the close frame; do not hang on it.
        with trio.move_on_after(_CLOSE_WAIT_SECS):
            await websocket.close(_CLOSE_GOING_AWAY, conn.close_reason)

    return app
