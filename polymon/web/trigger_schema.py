"""The exact JSON Schemas of the trigger parameters, for the OpenAPI document.

msgspec documents a `Decimal` as `{"type": "string", "format": "decimal"}`, while a trigger
takes a JSON number or a decimal string, within the range its type allows, at most six
decimal places (`core.triggers.spec`). `refine_trigger_schemas` rewrites the condition
components of a generated document so each decimal parameter says exactly that: a number with
its bounds and `multipleOf: 0.000001`, or a string whose pattern spells the same set; and a
condition that needs one of two parameters says so with `anyOf` / `required`. Clients (and
schema-driven fuzzers) then know which values are accepted without a round trip.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from polymon.core.triggers.spec import CONDITION_TYPES, Range

_FRACTION = r"(?:\.[0-9]{1,6})?"
_ZERO_FRACTION = r"(?:\.0{1,6})?"
_NONZERO_FRACTION = (  # 1-6 digits, not all zero: z zeros, a non-zero digit, up to 5 - z more
    r"\.(?:" + "|".join("0" * z + "[1-9]" + (f"[0-9]{{0,{5 - z}}}" if z < 5 else "")
                        for z in range(6)) + ")"
)  # fmt: skip


def _integers(lo: int, hi: int) -> str | None:
    """A regex alternative for the integers lo..hi written without leading zeros (None: none).

    Supports what the trigger ranges need: a single value, or lo in 0..9 up to 10**k - 1.
    """
    if lo > hi:
        return None
    if lo == hi:
        return str(lo)
    k = len(str(hi))
    if hi != 10**k - 1 or not 0 <= lo <= 9:
        raise ValueError(f"no pattern for the integers {lo}..{hi}")
    parts = ["0"] if lo == 0 else []
    parts.append(f"[{max(lo, 1)}-9]")
    if k > 1:
        parts.append(f"[1-9][0-9]{{1,{k - 1}}}")
    return "|".join(parts)


def decimal_pattern(bounds: Range) -> str:
    """The strings of the decimals in `bounds` with at most six places (no sign, exponent or
    leading zeros): integer part, then an optional fraction."""
    low, high, low_open, high_open = bounds
    lo, hi = int(Decimal(low)), int(Decimal(high))
    if lo != Decimal(low) or hi != Decimal(high):
        raise ValueError(f"no pattern for the non-integer bounds {low}, {high}")
    branches = [f"{lo}{_NONZERO_FRACTION if low_open else _FRACTION}"]
    middle = _integers(lo + 1, hi - 1)
    if middle is not None:
        branches.append(f"(?:{middle}){_FRACTION}")
    if not high_open:
        branches.append(f"{hi}{_ZERO_FRACTION}")
    return "^(?:" + "|".join(branches) + ")$"


def decimal_schema(bounds: Range) -> dict[str, Any]:
    """A decimal parameter in `bounds`: a JSON number or a decimal string."""
    low, high, low_open, high_open = bounds
    number: dict[str, Any] = {"type": "number", "multipleOf": 0.000001}
    number["exclusiveMinimum" if low_open else "minimum"] = int(Decimal(low))
    number["exclusiveMaximum" if high_open else "maximum"] = int(Decimal(high))
    string = {"type": "string", "pattern": decimal_pattern(bounds)}
    return {"anyOf": [number, string]}


def refine_trigger_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the exact schemas of every condition component it holds (in place)."""
    schemas = document.get("components", {}).get("schemas", {})
    for condition in CONDITION_TYPES:
        component = schemas.get(condition.__name__)
        if component is None:
            continue
        properties = component.get("properties", {})
        for name, bounds in condition.ranges.items():
            prop = properties.get(name)
            if prop is None:
                continue
            exact = decimal_schema(bounds)
            if "anyOf" in prop:  # optional: keep its null branch and default
                exact = {"anyOf": [*exact["anyOf"], {"type": "null"}]}
            kept = {k: v for k, v in prop.items() if k not in ("type", "format", "anyOf")}
            properties[name] = kept | exact
        if condition.one_of:
            component["anyOf"] = [
                {
                    "type": "object",
                    "required": [name],
                    "properties": {name: {"type": ["number", "string"]}},
                }
                for name in condition.one_of
            ]
    return document
