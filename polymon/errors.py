"""The one error tree of polymon.

PolymonError                  base of everything polymon raises on purpose
├── ConfigError               bad config file, unknown key, bad env override
├── StateFileError            a state file under data_dir (keys, triggers) cannot be used
├── InvalidInput              venue data that cannot be used (counted and skipped)
│   └── BadNumber             a price, size, side or timestamp that is not usable
├── VenueError                a venue REST call failed (transport error or bad status)
│   └── VenueStatusError      the venue answered with a non-2xx status
├── BookError
│   └── BookInvariantError    an order book broke one of its own invariants (a bug)
├── RequestError              a client request that cannot be served as asked (HTTP 4xx)
│   ├── BadRequest            invalid parameters or body (400), e.g. a trigger spec
│   │   └── UnsafeUrl         a webhook URL that resolves to a forbidden address (400)
│   └── NotFound              the thing asked for does not exist (404)
└── StorageError              ClickHouse could not take or give data
    ├── StorageUnavailable    transient: unreachable, timed out, overloaded (retry, journal)
    └── StorageRejected       the server refused the data or statement itself (no retry)
"""

from __future__ import annotations

from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


class PolymonError(Exception):
    """Base class of every error polymon raises on purpose."""


class ConfigError(PolymonError):
    """The configuration (file, defaults or environment override) is invalid."""


class StateFileError(PolymonError):
    """A state file under the data directory cannot be read or decoded; the message names it.

    Raised at start (the CLI exits 2 with it): keys or triggers must not be dropped silently.
    """

    def __init__(self, path: object, problem: object) -> None:
        text = " ".join(str(problem).split())[:300]  # one line, whatever the cause printed
        super().__init__(f"state file {path} cannot be used: {text} (fix or move it away)")
        self.path = path


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


class RequestError(PolymonError):
    """A client request that cannot be served as asked; `status` is the HTTP status to answer."""

    status = 400
    error = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(RequestError):
    """Invalid parameters or body (a trigger spec, a query parameter, ...)."""


class UnsafeUrl(BadRequest):
    """A webhook URL that is malformed or resolves to an address polymon may not call."""

    error = "unsafe_url"


class NotFound(RequestError):
    """The asset, trigger, key or route asked for does not exist."""

    status = 404
    error = "not_found"


class Unavailable(RequestError):
    """What was asked for is switched off in this process (storage, triggers)."""

    status = 503
    error = "unavailable"


class StorageError(PolymonError):
    """ClickHouse could not take or give data."""


class StorageUnavailable(StorageError):
    """A transient storage failure (unreachable, timed out, overloaded): retry or journal."""


class StorageRejected(StorageError):
    """The server refused a statement or the rows themselves; retrying cannot help."""


def first_error(group: BaseExceptionGroup[_E]) -> _E:
    """The first leaf exception of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first
