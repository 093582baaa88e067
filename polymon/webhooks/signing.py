"""Standard Webhooks signatures: `whsec_` secrets, stable message ids, the `webhook-*` headers.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256, keyed with the
base64-decoded part of the secret after `whsec_`; the header carries `v1,<base64 signature>`, one
entry per secret, space-separated, so receivers keep verifying while a secret is rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Final

from polymon.errors import BadRequest

SECRET_PREFIX: Final = "whsec_"
# The spec allows 24-64 byte keys; generated ones use 32 (256 bits).
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
GENERATED_SECRET_BYTES: Final = 32


def generate_secret() -> str:
    """A new random secret: `whsec_` + base64 of 32 random bytes."""
    return encode_secret(secrets.token_bytes(GENERATED_SECRET_BYTES))


def encode_secret(key: bytes) -> str:
    """The `whsec_` form of raw key bytes (for a secret given as raw bytes at registration).

    Raises BadRequest unless the key is 24-64 bytes long.
    """
    _check_length(key)
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret; BadRequest if it is not one.

    Padding may be left out, as the reference libraries allow.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise BadRequest("a webhook secret must look like whsec_<base64>")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise BadRequest("a webhook secret must look like whsec_<base64>") from None
    _check_length(key)
    return key


def _check_length(key: bytes) -> None:
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise BadRequest(
            f"a webhook secret must hold {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes, "
            f"not {len(key)}"
        )


def webhook_id(endpoint_id: str, event_id: str) -> str:
    """The `webhook-id` of one event at one endpoint: the same on every attempt and replay.

    Receivers use it to drop duplicates; it never contains a `.` (the spec forbids it).
    """
    # Length-prefixed, so no two (endpoint, event) pairs share an input.
    digest = hashlib.sha256(f"{len(endpoint_id)}:{endpoint_id}{event_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def sign(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64>` per key, space-separated."""
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(key, signed, "sha256")).decode("ascii") for key in keys
    )


def signature_headers(
    keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (`timestamp` in unix seconds)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(keys, msg_id, timestamp, body),
    }
