"""Small HTTP helpers shared by every route module: JSON responses, the error shape, and
decoding query strings and bodies into msgspec models with a 400 that names the problem."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from quart import Response, request

from polymon.errors import BadRequest

_encode = msgspec.json.Encoder().encode
_M = TypeVar("_M")
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Encode `body` with msgspec as an application/json response."""
    return Response(_encode(body), status=status, headers=headers, content_type="application/json")


def error(status: int, code: str, detail: object = None) -> Response:
    """The JSON error shape of every 4xx/5xx: {"error", "detail"}."""
    return Response(error_body(code, detail), status=status, content_type="application/json")


def error_body(code: str, detail: object = None) -> bytes:
    """The encoded body of an error response: {"error": code, "detail": detail}."""
    return _encode({"error": code, "detail": detail})


def query(model: type[_M]) -> _M:
    """The request's query string as `model`; a repeated parameter or a bad value is a 400.

    Values arrive as text and are converted (`strict=False`): "5" -> 5, "true" -> True.
    """
    args = request.args
    raw: dict[str, str] = {}
    for name in args:
        values = args.getlist(name)
        if len(values) > 1:
            raise BadRequest(f"query parameter {name!r} given more than once")
        raw[name] = values[0]
    try:
        return msgspec.convert(raw, model, strict=False)
    except msgspec.ValidationError as e:
        raise BadRequest(f"query string: {e}") from None


async def body(model: type[_M]) -> _M:
    """The request's JSON body as `model`; malformed JSON or a schema mismatch is a 400."""
    return decode(model, await raw_body())


def decode(model: type[_M], data: bytes) -> _M:
    """JSON `data` as `model`; malformed JSON or a schema mismatch is a 400."""
    decoder = _DECODERS.get(model)
    if decoder is None:
        decoder = _DECODERS[model] = msgspec.json.Decoder(model)
    try:
        result: _M = decoder.decode(data)
    except msgspec.ValidationError as e:
        raise BadRequest(f"body: {e}") from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"body is not valid JSON: {e}") from None
    return result


_EXACT_DECODER = msgspec.json.Decoder(Any, float_hook=Decimal)


def _whole(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    return value


def decode_exact(model: type[_M], data: bytes) -> _M:
    """JSON `data` as `model`, reading numbers as JSON Schema does: a whole number written with
    a fraction or an exponent (`7.0`, `1e3`) is that integer, and every other number keeps its
    exact decimal text (for `Decimal` fields). Malformed JSON or a mismatch is a 400."""
    try:
        raw = _EXACT_DECODER.decode(data)
    except msgspec.DecodeError as e:
        raise BadRequest(f"body is not valid JSON: {e}") from None
    try:
        return msgspec.convert(_whole(raw), model)
    except msgspec.ValidationError as e:
        raise BadRequest(f"body: {e}") from None


async def raw_body() -> bytes:
    """The request body as bytes (bounded by MAX_CONTENT_LENGTH: larger is a 413)."""
    return await request.get_data(cache=False, as_text=False, parse_form_data=False)


def parse_time_us(text: str, name: str) -> int:
    """A time parameter as Unix µs: Unix seconds ("1735689600", "1735689600.5"), an ISO 8601
    date ("2025-01-01", midnight UTC) or date-time (UTC unless it carries an offset).
    Times before 1970 give 0."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not 0 <= seconds < 1e11:
            raise BadRequest(f"{name} must be Unix seconds after the epoch, got {text!r}")
        return round(seconds * 1_000_000)
    try:
        when = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name} must be Unix seconds or an ISO 8601 date or date-time, got {text[:40]!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Before the epoch nothing is stored: clamp, so such a range is simply empty.
    return max(0, int(when.timestamp()) * 1_000_000 + when.microsecond)
