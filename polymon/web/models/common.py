"""Shared parameter types, the query-model base and the small envelopes several areas use."""

from __future__ import annotations

from typing import Annotated

import msgspec

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Hours = Annotated[float, msgspec.Meta(ge=0.001, le=2160)]
# Starts with a letter: real token ids are decimal and condition ids start with "0x", so a
# cleanup prefix can never match venue data.
Prefix = Annotated[
    str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_:-]+$")
]
TimeParam = Annotated[
    str,
    msgspec.Meta(
        max_length=40,
        description="Unix seconds, or an ISO 8601 date or date-time (UTC unless offset)",
        extra_json_schema={"anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": r"^[0-9]{1,11}(\.[0-9]{1,6})?$"},
        ]},
    ),
]  # fmt: skip
AssetId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# A number the service reports as it has it: an int stays an int (no "60.0" for 60).
Number = int | float


class Query(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the query-string models."""


class ErrorOut(msgspec.Struct, frozen=True):
    """Every error: a short code and a human-readable detail."""

    error: str
    detail: str | None = None


class Deleted(msgspec.Struct, frozen=True):
    """What was deleted: an id, or a count."""

    deleted: str | int


class Created(msgspec.Struct, frozen=True):
    """How many things were created."""

    created: int
