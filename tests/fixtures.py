"""Load the real Polymarket captures in tests/data/polymarket (see its SOURCES.md)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "polymarket"


def read_lines(relpath: str) -> list[dict[str, Any]]:
    """Messages of a polypy capture: one JSON or Python-repr object per line, comments skipped."""
    out: list[dict[str, Any]] = []
    for line in (DATA / relpath).read_text().splitlines():
        line = line.strip()
        if not line or line[0] not in "{[":
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(ast.literal_eval(line))
    return out


def as_frame(message: dict[str, Any]) -> bytes:
    """A capture line as the venue sends it; book lines recorded without event_type get it."""
    if "bids" in message and "event_type" not in message:
        message = {"event_type": "book", **message}
    return json.dumps(message).encode()
