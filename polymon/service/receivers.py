"""Webhook receivers registered through the API (trigger alerts, market life cycle): one path
from a user's URL and optional secret to a vetted `Endpoint` of the shared WebhookDelivery."""

from __future__ import annotations

from polymon.errors import BadRequest
from polymon.webhooks.model import Endpoint, SigningSecret
from polymon.webhooks.signing import encode_secret, generate_secret
from polymon.webhooks.ssrf import Resolver, UrlPolicy, check_webhook_url, system_resolver


def signing_secret(given: str, field: str = "webhook_secret") -> str:
    """A `whsec_` secret from what the user gave in `field`: kept if already one, a new one
    when empty, else the text's bytes (BadRequest unless 24-64 bytes)."""
    if not given:
        return generate_secret()
    if given.startswith("whsec_"):
        return given
    raw = given.encode()
    if not 24 <= len(raw) <= 64:
        raise BadRequest(f"`{field}` must be a whsec_ secret or 24-64 bytes of text")
    return encode_secret(raw)


async def vet_receiver(
    endpoint_id: str,
    url: str,
    given_secret: str,
    policy: UrlPolicy,
    *,
    event_types: frozenset[str] = frozenset(),
    secret_field: str = "webhook_secret",
    resolver: Resolver = system_resolver,
) -> Endpoint:
    """An Endpoint for a receiver after the SSRF check a delivery makes (parse, resolve, vet
    every address); its first secret is the signing secret to show the user once.

    Raises UnsafeUrl for a URL polymon may not call, BadRequest for a bad secret. The caller
    stores it (`WebhookDelivery.upsert_endpoint`) once the rest of its registration is valid.
    """
    await check_webhook_url(url, policy, resolver)
    secret = signing_secret(given_secret, secret_field)
    return Endpoint(
        id=endpoint_id, url=url, secrets=(SigningSecret(secret),), event_types=event_types
    )
