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
    from polymon.polymarket.simulator.market import SimMarket
    from polymon.polymarket.simulator.server import Simulator

_CLOSE_GOING_AWAY = 1001
_GAMMA_DOWN = (500, {"error": "simulated Gamma failure"})


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
    # The only task that writes to this socket: queued frames in order, and in flood mode the
    # benchmark frames right after the first frame sent once subscribed (normally its snapshot
    # array), with anything queued meanwhile (PONGs) interleaved.
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


def _market_summary(market: SimMarket) -> dict[str, Any]:
    return {
        "condition_id": market.condition_id,
        "id": market.gamma_id,
        "token_ids": list(market.token_ids()),
        "closed": market.closed_ms is not None,
        "yes_won": market.yes_won,
    }


def create_app(sim: Simulator) -> QuartTrio:
    """The Quart-Trio app serving `sim` (Gamma `/markets`, CLOB `/book`, WS `/ws/market`)."""
    app = QuartTrio(__name__)

    @app.get("/markets")
    async def gamma_markets() -> Response:
        """Gamma `GET /markets` (a JSON array page); 500 while Gamma is made to fail."""
        if sim.gamma_failing:
            return _json(*_GAMMA_DOWN)
        return _json(*rest.gamma_markets(sim.exchange, request.args))

    @app.get("/markets/keyset")
    async def gamma_markets_keyset() -> Response:
        """Gamma `GET /markets/keyset` (`{markets, next_cursor}`); 500 while Gamma fails."""
        if sim.gamma_failing:
            return _json(*_GAMMA_DOWN)
        return _json(*rest.gamma_markets_keyset(sim.exchange, request.args))

    @app.get("/markets/<condition_id>")
    async def clob_market(condition_id: str) -> Response:
        """CLOB `GET /markets/{condition_id}` (with `tokens[].winner`)."""
        return _json(*rest.clob_market(sim.exchange, condition_id, sim.now_ms()))

    @app.get("/book")
    async def clob_book() -> Response:
        """CLOB `GET /book?token_id=`."""
        return _json(*rest.clob_book(sim.exchange, request.args.get("token_id"), sim.now_ms()))

    @app.post("/books")
    async def clob_books() -> Response:
        """CLOB `POST /books` with `[{"token_id": ...}]`."""
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        return _json(*rest.clob_books(sim.exchange, body, sim.now_ms()))

    @app.get("/simulator/trades")
    async def sim_trades() -> Response:
        """Control: every trade message the exchange has produced since the last clear."""
        return _json(200, sim.exchange.trades_sent)

    @app.delete("/simulator/trades")
    async def sim_clear_trades() -> Response:
        """Control: forget the trades produced so far (start a new ledger)."""
        sim.exchange.trades_sent.clear()
        return _json(200, {"cleared": True})

    @app.post("/simulator/pause")
    async def sim_pause() -> Response:
        """Control: stop the exchange from moving."""
        sim.pause()
        return _json(200, {"paused": True})

    @app.post("/simulator/resume")
    async def sim_resume() -> Response:
        """Control: let the exchange move again."""
        sim.resume()
        return _json(200, {"paused": False})

    @app.post("/simulator/markets")
    async def sim_create_market() -> Response:
        """Control: create a market now (`?announce=false`: no `new_market` event)."""
        market = sim.create_market(announce=request.args.get("announce") != "false")
        return _json(200, _market_summary(market))

    @app.post("/simulator/markets/<condition_id>/resolve")
    async def sim_resolve_market(condition_id: str) -> Response:
        """Control: resolve a market now. Query: `winner=yes|no`, `uma=resolved|proposed`,
        `announce=false` (no `market_resolved` event)."""
        args = request.args
        winner = args.get("winner")
        try:
            market = sim.resolve_market(
                condition_id,
                yes_wins=None if winner is None else winner.lower() == "yes",
                uma_status=args.get("uma", "resolved"),
                announce=args.get("announce") != "false",
            )
        except KeyError:
            return _json(404, {"error": "market not found"})
        except ValueError as e:
            return _json(409, {"error": str(e)})
        assert market is not None
        return _json(200, _market_summary(market))

    @app.post("/simulator/gamma/fail")
    async def sim_gamma_fail() -> Response:
        """Control: Gamma answers 500 from now on."""
        sim.gamma_failing = True
        return _json(200, {"gamma_failing": True})

    @app.post("/simulator/gamma/recover")
    async def sim_gamma_recover() -> Response:
        """Control: Gamma answers normally again."""
        sim.gamma_failing = False
        return _json(200, {"gamma_failing": False})

    @app.websocket("/ws/market")
    async def market_channel() -> None:
        """The market channel: subscriptions and PING in, snapshots and events out."""
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
        # Reached only when the simulator dropped the client (a disconnect cancels us).
        await websocket.close(_CLOSE_GOING_AWAY, conn.close_reason)

    return app
