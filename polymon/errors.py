"""The one error tree of polymon.

    PolymonError                  base of everything polymon raises on purpose
    ├── ConfigError               bad config file, unknown key, bad env override
    ├── InvalidInput              venue data that cannot be used (counted and skipped)
    │   ├── BadNumber             a price or size that is not a finite, in-range decimal
    │   └── FrameError            a frame that is not JSON, too large, or of the wrong shape
    ├── FeedError                 the market WebSocket failed
    │   ├── HandshakeTimeout      TCP accepted but no HTTP 101 before the deadline
    │   └── FeedSilent            no frame for the silence timeout
    ├── VenueError                a venue REST call failed (transport error or bad status)
    │   └── VenueStatusError      the venue answered with a non-2xx status
    └── BookError
        └── BookInvariantError    an order book broke one of its own invariants (a bug)
"""

from __future__ import annotations


class PolymonError(Exception):
    """Base class of every error polymon raises on purpose."""


class ConfigError(PolymonError):
    """The configuration (file, defaults or environment override) is invalid."""


class InvalidInput(PolymonError):
    """Venue input that cannot be used; the caller counts it under `reason` and skips it."""

    reason = "schema"


class BadNumber(InvalidInput):
    """A price or size string that is not a finite, in-range decimal."""

    reason = "bad_number"


class FrameError(InvalidInput):
    """A frame that is not JSON, is too large, or has the wrong shape."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class FeedError(PolymonError):
    """The market WebSocket connection failed."""


class HandshakeTimeout(FeedError):
    """The server accepted TCP but did not complete the WebSocket upgrade in time."""


class FeedSilent(FeedError):
    """No frame of any kind arrived within the silence timeout."""


class VenueError(PolymonError):
    """A venue REST call failed."""


class VenueStatusError(VenueError):
    """The venue answered a REST call with a non-2xx status."""

    def __init__(self, url: str, status: int, body: str = "") -> None:
        super().__init__(f"{url} answered {status}: {body[:200]}")
        self.url = url
        self.status = status


class BookError(PolymonError):
    """Base of order book errors."""


class BookInvariantError(BookError):
    """An order book broke one of its own invariants; this is a bug, never venue input."""
