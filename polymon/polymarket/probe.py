"""A one-off check of the venue's market WebSocket (for GET /test/websocket): connect,
subscribe one token, and time the handshake and the first data frame."""

from __future__ import annotations

import time
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from polymon.config import PolymarketConfig
from polymon.polymarket.feed import open_venue_websocket, subscribe_message
from polymon.polymarket.schemas import decode_frame


async def probe_websocket(
    cfg: PolymarketConfig, asset_id: str | None, timeout_secs: float = 5.0
) -> dict[str, Any]:
    """Open a fresh connection to `cfg.ws_url`, subscribe `asset_id` (when given) and wait for
    its first frame. Returns ok, connect_ms, first_frame_ms, the event types seen and an error
    text; never raises for network trouble."""
    out: dict[str, Any] = {"url": cfg.ws_url, "asset_id": asset_id, "connect_ms": None,
                           "first_frame_ms": None, "event_types": [], "error": ""}  # fmt: skip
    start = time.perf_counter()
    try:
        with trio.fail_after(timeout_secs):
            async with open_venue_websocket(cfg) as ws:
                out["connect_ms"] = round((time.perf_counter() - start) * 1000, 3)
                if asset_id is None:
                    out["ok"] = True
                    return out
                await ws.send_message(subscribe_message([asset_id]).decode())
                sent = time.perf_counter()
                while True:
                    frame = await ws.get_message()
                    messages, _skipped = decode_frame(frame)
                    if messages:
                        out["first_frame_ms"] = round((time.perf_counter() - sent) * 1000, 3)
                        types = {str(getattr(m, "event_type", type(m).__name__)) for m in messages}
                        out["event_types"] = sorted(types)
                        out["ok"] = True
                        return out
    except trio.TooSlowError:
        out["error"] = f"no answer within {timeout_secs} s"
    except (OSError, HandshakeError, ConnectionClosed, ValueError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    out["ok"] = False
    return out
