"""Receivers of market life-cycle events (`market.created`, `market.resolved`).

Registration takes the same path as a trigger's webhook (service.receivers: SSRF check, a
`whsec_` signing secret shown once) and the same delivery (signed Standard Webhooks, retried,
SSRF-guarded at every attempt). Each receiver is an endpoint of the shared WebhookDelivery
that subscribes to the event types it asked for, so an event is submitted once and fans out
by type. The registry (with secrets) is persisted atomically in
`<data_dir>/lifecycle_webhooks.json` (0600) and written before the endpoint goes live, so a
crash can never leave a receiver nobody can list or remove.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from polymon.clock import wall_ms
from polymon.errors import BadRequest, NotFound
from polymon.files import write_atomic
from polymon.service.receivers import vet_receiver
from polymon.webhooks.delivery import WebhookDelivery
from polymon.webhooks.model import Endpoint, SigningSecret, WebhookEvent
from polymon.webhooks.ssrf import Resolver, UrlPolicy, system_resolver

log = logging.getLogger("polymon.lifecycle")

MARKET_CREATED: Final = "market.created"
MARKET_RESOLVED: Final = "market.resolved"
EVENT_TYPES: Final = (MARKET_CREATED, MARKET_RESOLVED)
MAX_RECEIVERS: Final = 100
_ID_PREFIX: Final = "lch_"
_encode = msgspec.json.Encoder().encode


class LifecycleHook(msgspec.Struct, frozen=True, kw_only=True):
    """One registered receiver (as persisted: with its secret)."""

    id: str
    url: str
    events: list[str]
    secret: str
    created_at_ms: int

    def public(self) -> dict[str, object]:
        """The receiver as the API shows it: everything but the secret."""
        return {"id": self.id, "url": self.url, "events": self.events,
                "created_at_ms": self.created_at_ms}  # fmt: skip


class _Registration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    events: list[str] | None = None
    secret: str = ""


_HOOKS = msgspec.json.Decoder(list[LifecycleHook])
_REGISTRATION = msgspec.json.Decoder(_Registration)


class LifecycleWebhooks:
    """The persisted registry of life-cycle receivers, and event submission to them."""

    def __init__(
        self,
        data_dir: Path,
        webhooks: WebhookDelivery,
        policy: UrlPolicy,
        *,
        resolver: Resolver = system_resolver,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.path = data_dir / "lifecycle_webhooks.json"
        self.webhooks = webhooks
        self.policy = policy
        self.resolver = resolver
        self.clock_ms = clock_ms
        self.hooks: dict[str, LifecycleHook] = {}
        self.submitted = 0

    def load(self) -> int:
        """Read the registry and make sure each receiver is a live endpoint; drop endpoints of
        receivers no longer registered. Returns how many receivers there are.

        An unreadable file is set aside as `*.corrupt` (logged), never fatal.
        """
        if self.path.exists():
            try:
                hooks = _HOOKS.decode(self.path.read_bytes())
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                aside = self.path.with_name(self.path.name + ".corrupt")
                log.error("lifecycle webhooks: %s is unreadable (%s); moved to %s",
                          self.path, e, aside)  # fmt: skip
                self.path.replace(aside)
                hooks = []
            self.hooks = {h.id: h for h in hooks}
        for hook in self.hooks.values():
            try:
                self.webhooks.upsert_endpoint(self._endpoint(hook))
            except BadRequest as e:  # the URL policy got stricter since: listed, not called
                log.warning("lifecycle webhook %s is not delivered to: %s", hook.id, e)
        for endpoint in self.webhooks.endpoints():
            if endpoint.id.startswith(_ID_PREFIX) and endpoint.id not in self.hooks:
                self.webhooks.remove_endpoint(endpoint.id)
        return len(self.hooks)

    def _endpoint(self, hook: LifecycleHook) -> Endpoint:
        return Endpoint(id=hook.id, url=hook.url, secrets=(SigningSecret(hook.secret),),
                        event_types=frozenset(hook.events))  # fmt: skip

    def _save(self) -> None:
        write_atomic(self.path, _encode(list(self.hooks.values())))  # 0600: holds secrets

    async def register(self, body: bytes) -> tuple[dict[str, object], str]:
        """Validate and add a receiver from a JSON body `{"url": …, "events": [...],
        "secret": …}` (`events` defaults to both types; `secret` is a whsec_ secret or 24-64
        bytes of text, generated when left out). Returns the receiver (without its secret)
        and the signing secret, shown only here.

        Raises BadRequest naming what is wrong, UnsafeUrl for a URL polymon may not call.
        """
        try:
            wanted = _REGISTRATION.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise BadRequest(f"invalid lifecycle webhook: {e}") from None
        events = list(EVENT_TYPES) if wanted.events is None else wanted.events
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if not events or unknown:
            raise BadRequest(
                f"`events` must name some of {', '.join(EVENT_TYPES)}"
                + (f"; unknown: {', '.join(u[:40] for u in unknown[:5])}" if unknown else "")
            )
        if len(self.hooks) >= MAX_RECEIVERS:
            raise BadRequest(f"at most {MAX_RECEIVERS} lifecycle webhooks; remove one first")
        hook_id = _ID_PREFIX + os.urandom(8).hex()
        endpoint = await vet_receiver(
            hook_id, wanted.url, wanted.secret, self.policy,
            event_types=frozenset(events), secret_field="secret", resolver=self.resolver,
        )  # fmt: skip
        secret = endpoint.secrets[0].secret
        hook = LifecycleHook(
            id=hook_id, url=wanted.url, events=sorted(set(events)), secret=secret,
            created_at_ms=self.clock_ms(),
        )  # fmt: skip
        self.hooks[hook_id] = hook
        self._save()
        self.webhooks.upsert_endpoint(endpoint)
        return hook.public(), secret

    def listing(self) -> list[dict[str, object]]:
        """Every receiver, oldest first, without secrets."""
        return [hook.public() for hook in self.hooks.values()]

    def remove(self, hook_id: str) -> bool:
        """Forget a receiver and its endpoint (pending deliveries are discarded); False if
        unknown."""
        if self.hooks.pop(hook_id, None) is None:
            return False
        self._save()
        with contextlib.suppress(NotFound):  # never went live (policy) or already gone
            self.webhooks.remove_endpoint(hook_id)
        return True

    def emit(self, event_type: str, event_id: str, payload: dict[str, object]) -> None:
        """Submit one event to every receiver of its type; never blocks. `event_id` is stable
        per event, so a repeated emission is delivered once per receiver."""
        if not self.hooks:
            return
        self.webhooks.submit([WebhookEvent(id=event_id, type=event_type, body=_encode(payload))])
        self.submitted += 1
