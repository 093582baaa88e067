"""The HTTP side of a running service: the web app over the service's read side, served by
hypercorn until the stop request."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HypercornConfig

from polymon.config import Config
from polymon.service.api import ServiceApi
from polymon.storage.store import Store
from polymon.web.app import create_app
from polymon.web.keys import KeyStore
from polymon.web.server import serve

if TYPE_CHECKING:
    from polymon.service.main import Service


def hypercorn_config(cfg: Config) -> HypercornConfig:
    """Hypercorn's settings from the [http] section: the bind, no access log, 1 s grace."""
    hc = HypercornConfig()
    hc.bind = [f"{cfg.http.host}:{cfg.http.port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("polymon.http")
    hc.graceful_timeout = 1.0
    return hc


async def start_http(
    nursery: trio.Nursery, service: Service, store: Store | None, cfg: Config, stop: trio.Event
) -> str:
    """Serve the web app under `nursery` until `stop` is set (SSE streams end at once then);
    returns the URL it is bound to."""

    async def shutdown_trigger() -> None:
        await stop.wait()
        service.events.close()  # end SSE streams now, not after hypercorn's grace

    app = create_app(
        ServiceApi(service, store, cfg), service.events, triggers=service.alerts,
        keys=KeyStore(Path(cfg.service.data_dir)), http=cfg.http,
        heartbeat_secs=cfg.webhooks.sse_heartbeat_secs,
    )  # fmt: skip
    binds: list[str] = await nursery.start(
        partial(serve, app, hypercorn_config(cfg), shutdown_trigger=shutdown_trigger),
        name="http",
    )
    return binds[0]
