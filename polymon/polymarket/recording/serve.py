"""A recording served as the venue: the market-channel WebSocket and Gamma `/markets`.

Any market-channel client (polymon included) connects to `/ws/market` as it would to the
venue and subscribes as usual. From its first subscription on, each connection gets its own
replay of the recorded frames, in recorded order, filtered to the tokens it subscribed to (a
frame about only those tokens goes out byte for byte as recorded; one that also covers others
goes out with just their part), paced at `speed` × the recorded pace (0: as fast as the client
reads). `PING` is answered with `PONG`; the recorded PONGs are not replayed. A frame that is
not JSON went to the recorded connection that received it, so it goes to the clients
subscribed to any of that connection's tokens. After the last record the connection stays
open, quiet, as a venue with no news would be.

Gamma `/markets` (and `/markets/keyset`) list the recorded markets, from the tracked tokens,
so `polymon run` can bootstrap against it. REST books are not served (`/book` answers 404 and
`/books` an empty list): the recorded ones belong to moments that have passed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final

import msgspec
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from quart import Response, request, websocket
from quart_trio import QuartTrio

from polymon.polymarket.recording import records as r
from polymon.polymarket.recording.reader import read_records
from polymon.polymarket.schemas import TEXT_FRAMES
from polymon.polymarket.simulator.exchange import encode_frame
from polymon.polymarket.simulator.fanout import select_frame
from polymon.polymarket.simulator.server import market_ws_url

_CHECKPOINT_EVERY: Final = 256
Sender = Callable[[str], Awaitable[None]]
_decode_request = msgspec.json.Decoder(dict[str, Any]).decode
log = logging.getLogger(__name__)


def recorded_markets(files: Sequence[Path]) -> list[dict[str, Any]]:
    """Gamma market objects for every market whose tokens the recording tracked."""
    markets: dict[str, dict[str, Any]] = {}
    for rec in read_records(files):
        if rec.k != r.TRACK:
            continue
        for meta in r.decode_metas(rec.d):
            key = meta.market or meta.asset_id
            market = markets.get(key)
            if market is None:
                market = markets[key] = {
                    "id": str(len(markets) + 1), "conditionId": key, "question": "", "slug": "",
                    "tokens": [], "outcomes": [], "active": True, "closed": False,
                    "archived": False, "acceptingOrders": True, "enableOrderBook": True,
                    "negRisk": meta.neg_risk, "orderPriceMinTickSize": meta.tick_size or None,
                    "orderMinSize": meta.min_order_size or None,
                }  # fmt: skip
            if meta.asset_id not in market["tokens"]:
                market["tokens"].append(meta.asset_id)
                market["outcomes"].append(meta.outcome)
    out = []
    for market in markets.values():
        tokens, outcomes = market.pop("tokens"), market.pop("outcomes")
        market["clobTokenIds"] = msgspec.json.encode(tokens).decode()
        market["outcomes"] = msgspec.json.encode(outcomes).decode()
        out.append({k: v for k, v in market.items() if v is not None})
    return out


class ReplayServer:
    """A running replay server: its address and counters."""

    def __init__(
        self,
        files: Sequence[Path],
        markets: list[dict[str, Any]],
        *,
        host: str,
        speed: float,
        from_ns: int | None,
        to_ns: int | None,
    ) -> None:
        self.files = list(files)
        self.markets = markets
        self.host = host
        self.port = 0
        self.speed = speed
        self.from_ns = from_ns
        self.to_ns = to_ns
        self.connections = 0
        self.frames_sent = 0
        self.finished = 0  # connections whose replay reached the end
        self._scope = trio.CancelScope()

    @property
    def http_url(self) -> str:
        """Base URL of Gamma (and of the empty CLOB routes)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The market channel URL."""
        return market_ws_url(self.http_url)

    def stop(self) -> None:
        """Stop serving (`run_replay_server` returns)."""
        self._scope.cancel()

    async def stream(self, assets: set[str], send: Sender) -> None:
        """Send the recorded frames about `assets` (which may grow meanwhile) to the client."""
        carried: dict[str, set[str]] = {}  # recorded connection -> its tokens
        base: tuple[int, float] | None = None
        for n, rec in enumerate(read_records(self.files), 1):
            if n % _CHECKPOINT_EVERY == 0:
                await trio.lowlevel.checkpoint()
            if self.to_ns is not None and rec.t >= self.to_ns:
                break
            if rec.k == r.SENT:
                _follow(carried.setdefault(rec.c, set()), rec.d)
                continue
            if rec.k != r.FRAME or rec.d in TEXT_FRAMES:
                continue
            text = _selected(rec.d, assets, carried.get(rec.c, set()))
            if text is None:
                continue
            if self.speed > 0 and (self.from_ns is None or rec.t >= self.from_ns):
                if base is None:
                    base = (rec.t, trio.current_time())
                await trio.sleep_until(base[1] + (rec.t - base[0]) / 1e9 / self.speed)
            await send(text)
            self.frames_sent += 1
        self.finished += 1


def _follow(tokens: set[str], message: str) -> None:
    """Update a recorded connection's tokens from a subscription message it sent."""
    try:
        body = _decode_request(message)
    except msgspec.DecodeError:
        return
    ids = [a for a in body.get("assets_ids") or () if isinstance(a, str)]
    operation = body.get("operation")
    if operation is None:
        tokens.clear()  # the initial subscription of a session names the whole set
    if operation == "unsubscribe":
        tokens.difference_update(ids)
    else:
        tokens.update(ids)


def _selected(text: str, assets: set[str], carried: set[str]) -> str | None:
    """The part of a recorded frame the client subscribed to, as text (None: nothing)."""
    try:
        frame = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text if assets & carried else None
    try:
        selected = select_frame(frame, assets)
    except (AttributeError, KeyError, TypeError):  # JSON, but not venue messages
        return text if assets & carried else None
    if selected is None:
        return None
    return text if selected is frame else encode_frame(selected)


def create_app(server: ReplayServer) -> QuartTrio:
    """The Quart-Trio app of a replay server."""
    app = QuartTrio(__name__)

    def json(status: int, body: Any) -> Response:
        return Response(msgspec.json.encode(body), status=status, mimetype="application/json")

    def listed() -> list[dict[str, Any]]:
        if request.args.get("closed") == "true":
            return []
        wanted = set(request.args.getlist("condition_ids"))
        return [m for m in server.markets if not wanted or m["conditionId"] in wanted]

    @app.get("/markets")
    async def gamma_markets() -> Response:
        """Gamma `GET /markets`: the recorded markets, paged by `limit` and `offset`."""
        try:
            limit = int(request.args.get("limit", "100"))
            offset = int(request.args.get("offset", "0"))
        except ValueError:
            return json(400, {"error": "limit and offset must be integers"})
        return json(200, listed()[offset : offset + max(0, limit)])

    @app.get("/markets/keyset")
    async def gamma_keyset() -> Response:
        """Gamma `GET /markets/keyset`: every recorded market on one page."""
        return json(200, {"markets": listed()})

    @app.get("/book")
    async def clob_book() -> Response:
        """No REST books: the recorded ones are of the past."""
        return json(404, {"error": "a replay serves no REST books"})

    @app.post("/books")
    async def clob_books() -> Response:
        """No REST books (an empty list)."""
        return json(200, [])

    @app.websocket("/ws/market")
    async def market_channel() -> None:
        """The market channel: subscriptions and PING in, the recorded frames out."""
        await websocket.accept()
        server.connections += 1
        assets: set[str] = set()
        lock = trio.Lock()  # one writer at a time: the replay and the PONGs

        async def send(text: str) -> None:
            async with lock:
                await websocket.send(text)

        async with trio.open_nursery() as nursery:
            while True:
                message = await websocket.receive()
                if message in ("PING", b"PING"):
                    await send("PONG")
                    continue
                try:
                    body = _decode_request(message)
                except msgspec.DecodeError:
                    continue
                ids = [a for a in body.get("assets_ids") or () if isinstance(a, str)]
                if body.get("operation") == "unsubscribe":
                    assets.difference_update(ids)
                    continue
                first = not assets
                assets.update(ids)
                if first and assets:
                    nursery.start_soon(server.stream, assets, send)

    return app


async def run_replay_server(
    files: Sequence[Path],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float = 0.0,
    from_ns: int | None = None,
    to_ns: int | None = None,
    task_status: trio.TaskStatus[ReplayServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `files` (in recording order) on host:port until cancelled; reports the server
    through `task_status` once the port is bound."""
    markets = await trio.to_thread.run_sync(recorded_markets, list(files))
    server = ReplayServer(files, markets, host=host, speed=speed, from_ns=from_ns, to_ns=to_ns)
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = log
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, create_app(server), config,
                                                       mode="asgi"))  # fmt: skip
        server.port = int(binds[0].rsplit(":", 1)[1])
        server._scope = nursery.cancel_scope
        log.info("replaying %d recording files on %s (ws: %s)", len(server.files),
                 server.http_url, server.ws_url)  # fmt: skip
        task_status.started(server)
