"""Fan-out of the simulated feed to market-channel clients, filtered by subscription.

Each client has a bounded queue that is only ever written with `send_nowait`, so one slow client
can never stall the generator or the others: when its queue is full it is dropped, as a venue
would cut a consumer that cannot keep up.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec
import trio

from polymon.polymarket.simulator.exchange import Message, encode_frame
from polymon.polymarket.simulator.faults import garbage_frame

Frame = Message | list[Message]
# Above this a "share of garbage" would starve the real frames entirely.
_MAX_GARBAGE_RATIO: Final = 0.95
SLOW_CONSUMER: Final = "slow consumer"


@dataclass
class SimulatorStats:
    """Counters of what the simulator did, for tests and demos."""

    connections_opened: int = 0
    connections_open: int = 0
    frames_sent: int = 0
    malformed_sent: int = 0
    frames_lost: int = 0
    hashes_corrupted: int = 0
    snapshots_sent: int = 0
    pongs_sent: int = 0
    flood_frames_sent: int = 0
    dropped_by_fault: int = 0
    dropped_slow: int = 0
    markets_created: int = 0
    markets_resolved: int = 0


# Events about the market set, not one book: every client gets them (custom_feature_enabled).
BROADCAST_EVENTS: Final = frozenset({"new_market", "market_resolved"})


def select_message(message: Message, assets: set[str] | frozenset[str]) -> Message | None:
    """The part of `message` about `assets`: itself, a copy with fewer entries, or None.

    Life-cycle events (`new_market`, `market_resolved`) go to every client.
    """
    entries = message.get("price_changes")
    if entries is None:
        asset_id = message.get("asset_id")
        if asset_id is None:
            return message if message.get("event_type") in BROADCAST_EVENTS else None
        return message if asset_id in assets else None
    kept = [entry for entry in entries if entry["asset_id"] in assets]
    if not kept:
        return None
    return message if len(kept) == len(entries) else {**message, "price_changes": kept}


def select_frame(frame: Frame, assets: set[str] | frozenset[str]) -> Frame | None:
    """The part of a frame (message or array) about `assets`; `frame` itself if all of it is."""
    if not isinstance(frame, list):
        return select_message(frame, assets)
    kept = [m for m in (select_message(message, assets) for message in frame) if m is not None]
    if not kept:
        return None
    unchanged = len(kept) == len(frame) and all(a is b for a, b in zip(kept, frame, strict=True))
    return frame if unchanged else kept


class Connection:
    """One market-channel client: its subscribed tokens and its bounded outgoing queue."""

    def __init__(self, ident: int, capacity: int, rng: random.Random) -> None:
        self.ident = ident
        self.assets: set[str] = set()
        self.subscribed = False
        self.flooded = False
        self.rng = rng
        self.close_reason = ""
        self.scope = trio.CancelScope()
        self._send, self.frames = trio.open_memory_channel[str](capacity)

    def offer(self, frame: str) -> bool:
        """Queue a frame without blocking; a full queue drops the client as too slow."""
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.drop(SLOW_CONSUMER)
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def drop(self, reason: str) -> None:
        """Close this client's session (its handler then closes the WebSocket)."""
        if not self.close_reason:
            self.close_reason = reason
        self.scope.cancel()


class Fanout:
    """Every open client connection, an index of who subscribed to what, and delivery of
    generated frames to them: a frame costs O(its subscribers), not O(every client)."""

    def __init__(
        self,
        stats: SimulatorStats,
        *,
        capacity: int,
        malformed_ratio: float,
        seed: int,
        lost_frame_ratio: float = 0.0,
    ) -> None:
        self.stats = stats
        self.connections: dict[int, Connection] = {}
        self._capacity = capacity
        self._malformed_ratio = min(malformed_ratio, _MAX_GARBAGE_RATIO)
        self._lost_frame_ratio = lost_frame_ratio
        self._seed = seed
        self._next_ident = 0
        self._subscribers: dict[str, dict[int, Connection]] = {}  # asset id -> its clients

    def open(self) -> Connection:
        """Register a new client; its fault RNG is seeded from (seed, connection number)."""
        ident = self._next_ident
        self._next_ident += 1
        conn = Connection(ident, self._capacity, random.Random(f"{self._seed}:conn:{ident}"))
        self.connections[ident] = conn
        self.stats.connections_opened += 1
        self.stats.connections_open += 1
        return conn

    def subscribe(self, conn: Connection, asset_ids: Iterable[str]) -> None:
        """Add tokens to a client's subscription; O(tokens)."""
        ids = set(asset_ids) - conn.assets
        conn.assets.update(ids)
        if conn.ident in self.connections:
            for asset_id in ids:
                self._subscribers.setdefault(asset_id, {})[conn.ident] = conn

    def unsubscribe(self, conn: Connection, asset_ids: Iterable[str]) -> None:
        """Remove tokens from a client's subscription; O(tokens)."""
        ids = conn.assets.intersection(asset_ids)
        conn.assets.difference_update(ids)
        self._unindex(conn, ids)

    def _unindex(self, conn: Connection, asset_ids: Iterable[str]) -> None:
        for asset_id in asset_ids:
            clients = self._subscribers.get(asset_id)
            if clients is not None:
                clients.pop(conn.ident, None)
                if not clients:
                    del self._subscribers[asset_id]

    def close(self, conn: Connection) -> None:
        """Forget a client whose session ended (idempotent)."""
        if self.connections.pop(conn.ident, None) is not None:
            self.stats.connections_open -= 1
            self._unindex(conn, conn.assets)

    def drop_all(self, reason: str) -> int:
        """Drop every client; returns how many."""
        conns = list(self.connections.values())
        for conn in conns:
            self._drop(conn, reason)
        return len(conns)

    def _drop(self, conn: Connection, reason: str) -> None:
        # Forget it now: Hypercorn shields socket writes, so a client that stopped reading can
        # keep its handler (and our close()) waiting for a long time.
        conn.drop(reason)
        self.close(conn)

    def deliver(self, conn: Connection, frame: str) -> None:
        """Queue one data frame, preceded by garbage frames at the configured ratio; at
        `lost_frame_ratio` the frame is never sent (a real gap: the client's book diverges)."""
        if self._lost_frame_ratio and conn.rng.random() < self._lost_frame_ratio:
            self.stats.frames_lost += 1
            return
        while self._malformed_ratio and conn.rng.random() < self._malformed_ratio:
            if not self._offer(conn, garbage_frame(frame, conn.rng)):
                return
            self.stats.malformed_sent += 1
        self._offer(conn, frame)

    def _offer(self, conn: Connection, frame: str) -> bool:
        if conn.offer(frame):
            self.stats.frames_sent += 1
            return True
        if conn.close_reason == SLOW_CONSUMER and conn.ident in self.connections:
            self.stats.dropped_slow += 1
            self.close(conn)
        return False

    def _audience(self, frame: Frame) -> list[Connection]:
        """The clients a frame may concern: subscribers of its tokens (everyone for a
        life-cycle event), in subscription order."""
        audience: dict[int, Connection] = {}
        for message in frame if isinstance(frame, list) else (frame,):
            entries = message.get("price_changes")
            if entries is not None:
                ids = [entry["asset_id"] for entry in entries]
            elif "asset_id" in message:
                ids = [message["asset_id"]]
            elif message.get("event_type") in BROADCAST_EVENTS:
                return list(self.connections.values())
            else:
                continue
            for asset_id in ids:
                clients = self._subscribers.get(asset_id)
                if clients:
                    audience.update(clients)
        return list(audience.values())

    def publish(self, frames: Sequence[Frame]) -> None:
        """Send frames to every client, each filtered to the client's subscribed tokens."""
        for frame in frames:
            shared: str | None = None
            for conn in self._audience(frame):
                selected = select_frame(frame, conn.assets)
                if selected is None:
                    continue
                if selected is frame:
                    if shared is None:
                        shared = encode_frame(frame)
                    self.deliver(conn, shared)
                else:
                    self.deliver(conn, encode_frame(selected))


class _Entry(msgspec.Struct):
    asset_id: str


class _Assets(msgspec.Struct):
    asset_id: str = ""
    price_changes: list[_Entry] = []


_ASSETS_DECODER: Final = msgspec.json.Decoder(list[_Assets] | _Assets)
_FRAME_DECODER: Final = msgspec.json.Decoder()


def _frame_assets(text: str) -> frozenset[str]:
    decoded = _ASSETS_DECODER.decode(text)
    messages = decoded if isinstance(decoded, list) else [decoded]
    assets = {m.asset_id for m in messages if m.asset_id}
    assets.update(e.asset_id for m in messages for e in m.price_changes)
    return frozenset(assets)


class Flood:
    """Pre-encoded benchmark frames, with the tokens each frame is about."""

    def __init__(self, frames: Sequence[str]) -> None:
        self.frames = frames
        self._assets = [_frame_assets(text) for text in frames]

    def frames_for(self, assets: set[str]) -> Iterator[str]:
        """The frames a client subscribed to `assets` receives, as-is when wholly relevant."""
        for text, frame_assets in zip(self.frames, self._assets, strict=True):
            if frame_assets <= assets:
                yield text
            elif not frame_assets.isdisjoint(assets):
                selected = select_frame(_FRAME_DECODER.decode(text), assets)
                if selected is not None:
                    yield encode_frame(selected)
