"""Lengths of time in microseconds, the unit polymon stores times in: one definition for the
core, the queries and the routes."""

from __future__ import annotations

from typing import Final

SECOND_US: Final = 1_000_000
HOUR_US: Final = 3600 * SECOND_US
DAY_US: Final = 24 * HOUR_US
