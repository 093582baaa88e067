"""The handle of a started service and its stop request (for the CLI, the bench and tests)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from polymon.service.main import Service


class Shutdown:
    """A stop request: when it came, and the grace the writers get from then on (cut short
    by a second request)."""

    def __init__(self) -> None:
        self.requested = trio.Event()
        self.at = math.inf
        self._grace = trio.CancelScope()

    def request(self) -> None:
        """Ask for a clean shutdown; asked again, end the writers' grace now."""
        if self.requested.is_set():
            self._grace.cancel()
            return
        self.at = trio.current_time()
        self.requested.set()

    async def grace(self, seconds: float, done: trio.Event) -> None:
        """Wait for `done`, at most until `seconds` after the request (or a second one)."""
        self._grace.deadline = self.at + seconds
        with self._grace:
            await done.wait()


class Running:
    """Handle to a started service (for the CLI and tests)."""

    def __init__(self, service: Service, http_url: str, shutdown: Shutdown) -> None:
        self.service = service
        self.http_url = http_url
        self._shutdown = shutdown
        self.simulator: Any = None

    def stop(self) -> None:
        """Begin a clean shutdown; called again, stop waiting for the writers' flush (what
        they hold is journaled at once)."""
        self._shutdown.request()
