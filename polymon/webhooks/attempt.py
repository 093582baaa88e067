"""One delivery attempt: sign, vet the address, POST to it, never following redirects.

The response body is read up to a limit (so a keep-alive connection can be reused) and only its
start is kept for the error text. Timeouts are the caller's cancel scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from polymon.errors import RequestError
from polymon.webhooks.model import Endpoint, PendingDelivery
from polymon.webhooks.signing import secret_key, signature_headers
from polymon.webhooks.ssrf import Resolver, Target, UrlPolicy, parse_webhook_url, resolve_target

USER_AGENT: Final = "polymon-webhooks/1"
_ERROR_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The outcome of one attempt: the status (None if no response), an error text, Retry-After."""

    status: int | None
    error: str = ""
    retry_after: str | None = None


def new_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The HTTP client deliveries use: no redirects, no proxies or netrc from the environment.

    Timeouts come from the attempt's cancel scope, not from httpx.
    """
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=None,
        # identity: the start of an error body is kept as text, and nothing is decompressed.
        headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
    )


async def post_webhook(
    client: httpx.AsyncClient,
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    max_response_bytes: int,
) -> AttemptResult:
    """POST `body` with `headers` to `target`'s pinned address; never raises for HTTP trouble."""
    try:
        request = client.build_request(
            "POST",
            target.request_url,
            content=body,
            headers={
                **headers,
                "host": target.url.host_header,
                "content-type": "application/json",
            },
            extensions=target.extensions,
        )
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            head, read = b"", 0
            async for chunk in response.aiter_raw():
                head += chunk[: _ERROR_CHARS - len(head)]
                read += len(chunk)
                if read >= max_response_bytes:
                    break
        finally:
            await response.aclose()
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS])
    status = response.status_code
    if response.is_success:
        return AttemptResult(status)
    text = head.decode("utf-8", "replace")
    error = f"HTTP {status}" + (f": {text}" if text else "")
    if response.is_redirect:
        error = f"HTTP {status}: redirects are not followed"
    return AttemptResult(status, error[:_ERROR_CHARS], response.headers.get("retry-after"))


async def attempt_delivery(
    client: httpx.AsyncClient,
    delivery: PendingDelivery,
    endpoint: Endpoint,
    *,
    policy: UrlPolicy,
    resolver: Resolver,
    now: float,
    max_response_bytes: int,
) -> AttemptResult:
    """Sign with the endpoint's active secrets at `now` (unix s), resolve and vet, POST.

    A refused or unresolvable address is a failed attempt like any other (it may be fixed by
    the time of the next one). Never raises for HTTP or address trouble.
    """
    try:
        keys = [secret_key(secret) for secret in endpoint.active_secrets(now)]
        headers = signature_headers(keys, delivery.webhook_id, int(now), delivery.body)
        url = parse_webhook_url(endpoint.url, policy)
        target = await resolve_target(url, policy, resolver)
    except RequestError as exc:
        return AttemptResult(None, f"{exc.error}: {exc.detail}"[:_ERROR_CHARS])
    return await post_webhook(
        client, target, delivery.body, headers, max_response_bytes=max_response_bytes
    )
