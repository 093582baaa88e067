"""The one error tree of polymon.

PolymonError                  base of everything polymon raises on purpose
├── ConfigError               bad config file, unknown key, bad env override
├── InvalidInput              venue data that cannot be used (counted and skipped)
│   └── BadNumber             a price, size, side or timestamp that is not usable
├── VenueError                a venue REST call failed (transport error or bad status)
│   └── VenueStatusError      the venue answered with a non-2xx status
└── BookError
    └── BookInvariantError    an order book broke one of its own invariants (a bug)
"""

from __future__ import annotations

from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


class PolymonError(Exception):
    """Base class of every error polymon raises on purpose."""


class ConfigError(PolymonError):
    """The configuration (file, defaults or environment override) is invalid."""


class InvalidInput(PolymonError):
    """Venue input that cannot be used; the caller counts it under `reason` and skips it."""

    reason = "schema"


class BadNumber(InvalidInput):
    """A price, size, side or timestamp that is not a finite, in-range value."""

    reason = "bad_number"


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


def first_error(group: BaseExceptionGroup[_E]) -> _E:
    """The first leaf exception of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first
