"""Standard Webhooks signatures, checked with the `standardwebhooks` package as the oracle (W3)."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from polymon.errors import BadRequest
from polymon.webhooks.model import Endpoint, SigningSecret
from polymon.webhooks.signing import (
    encode_secret,
    generate_secret,
    secret_key,
    sign,
    signature_headers,
    webhook_id,
)
from tests.webhooks.helpers import SECRET

BODY = b'{"type":"alert.fired","timestamp":"2026-01-01T00:00:00Z","data":{"price":"0.48"}}'


def headers_for(secrets: list[str], body: bytes = BODY, at: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    keys = [secret_key(s) for s in secrets]
    return signature_headers(keys, webhook_id("ep", "e1"), timestamp, body)


def test_a_signature_verifies() -> None:
    assert Webhook(SECRET).verify(BODY, headers_for([SECRET])) == {
        "type": "alert.fired",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"price": "0.48"},
    }


def test_during_rotation_both_secrets_verify() -> None:
    new = generate_secret()
    headers = headers_for([new, SECRET])
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(SECRET).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_a_tampered_body_fails() -> None:
    headers = headers_for([SECRET])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"0.48", b"0.49"), headers)


def test_a_six_minute_old_timestamp_fails() -> None:
    headers = headers_for([SECRET], at=time.time() - 6 * 60)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, headers)
    Webhook(SECRET).verify(BODY, headers_for([SECRET], at=time.time() - 4 * 60))


def test_the_signature_is_the_references() -> None:
    # The example of the Standard Webhooks spec (and of its reference libraries' tests).
    msg_id, timestamp = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign([secret_key(SECRET)], msg_id, timestamp, body) == expected


def test_generated_secrets() -> None:
    secrets = {generate_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(secret_key(secret)) == 32
        assert Webhook(secret)._whsecret == secret_key(secret)


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"x" * 16).decode(),  # too short
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long
    ],
)
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(BadRequest):
        secret_key(secret)


def test_raw_secret_bytes_and_unpadded_base64() -> None:
    raw = bytes(range(30))
    secret = encode_secret(raw)
    assert secret_key(secret) == raw
    assert secret_key(secret.rstrip("=")) == raw
    with pytest.raises(BadRequest):
        encode_secret(b"short")


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_webhook_ids_are_stable_distinct_and_dot_free(endpoint_id: str, event_id: str) -> None:
    msg_id = webhook_id(endpoint_id, event_id)
    assert msg_id == webhook_id(endpoint_id, event_id)
    assert "." not in msg_id
    assert msg_id.startswith("msg_")
    assert msg_id != webhook_id(endpoint_id + "x", event_id)
    assert msg_id != webhook_id(endpoint_id, event_id + "x")
    assert msg_id != webhook_id(endpoint_id + event_id[:1], event_id[1:])


def test_an_expiring_secret_signs_until_it_expires_only() -> None:
    new = generate_secret()
    endpoint = Endpoint(
        id="ep",
        url="https://a.example/",
        secrets=(SigningSecret(new), SigningSecret(SECRET, expires_at=1000.0 + 86400)),
    )
    assert endpoint.active_secrets(1000.0) == [new, SECRET]
    assert endpoint.active_secrets(1000.0 + 86399) == [new, SECRET]
    assert endpoint.active_secrets(1000.0 + 86400) == [new]


def test_secrets_never_show_in_repr() -> None:
    endpoint = Endpoint(
        id="ep", url="https://hooks.example/T0/secret-token", secrets=(SigningSecret(SECRET),)
    )
    assert SECRET not in repr(endpoint)
    assert "secret-token" not in repr(endpoint)
    assert SECRET not in repr(endpoint.secrets)
