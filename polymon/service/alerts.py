"""Triggers in the running service: the persisted registry, and fired events on their way out.

Registration validates the spec (core.triggers), checks the webhook URL against the SSRF
policy, persists the registry atomically under `<data_dir>/triggers.json` and places the
trigger on the shard that owns its asset (both tokens of a market share a shard, so
arbitrage pairs are evaluated together). Fired events leave the shard's hot path in bulk
through `Alerts.deliver`: stamped with their latencies, published to the SSE buffer and
handed to the webhook delivery, all without blocking.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Protocol

import msgspec
import trio
import trio.lowlevel

from polymon.clock import wall_us
from polymon.config import WebhooksConfig
from polymon.core.triggers import Trigger, TriggerEvent, decode_trigger_spec, make_trigger_id, stamp
from polymon.core.triggers.spec import trigger_assets
from polymon.errors import BadRequest, NotFound, StateFileError
from polymon.files import write_atomic
from polymon.service.receivers import vet_receiver
from polymon.web.events import EventBuffer
from polymon.webhooks.delivery import WebhookDelivery
from polymon.webhooks.model import WebhookEvent
from polymon.webhooks.params import DeliveryParams
from polymon.webhooks.ssrf import UrlPolicy

log = logging.getLogger("polymon.triggers")
_encode = msgspec.json.Encoder().encode
_TRIGGERS = msgspec.json.Decoder(list[Trigger])
TRIGGER_EVENT = "trigger.fired"


def delivery_params(cfg: WebhooksConfig) -> DeliveryParams:
    """The webhook package's parameters from the [webhooks] config section."""
    return DeliveryParams(
        allow_private=cfg.allow_private,
        allowed_ports=frozenset(cfg.allowed_ports),
        retry_schedule_secs=tuple(cfg.retry_schedule_secs),
        attempt_timeout_secs=cfg.attempt_timeout_secs,
        max_concurrency=cfg.max_concurrency,
        max_pending_per_endpoint=cfg.max_pending_per_endpoint,
    )


class TriggerRouting(Protocol):
    """Where triggers go and what they may refer to (service.router.ShardRouter)."""

    def place_trigger(self, trigger: Trigger) -> None:
        """Put a trigger on the shard of its asset."""

    def unplace_trigger(self, trigger: Trigger) -> None:
        """Take a placed trigger off its shard."""

    def market_of(self, asset_id: str) -> str | None:
        """The condition id of a tracked token, None if it is not tracked."""

    def binary_markets(self) -> dict[str, tuple[str, str]]:
        """Tracked two-token markets: condition id -> (YES, NO)."""


class Alerts:
    """The trigger registry and the outbound path of fired events."""

    def __init__(
        self,
        data_dir: Path,
        cfg: WebhooksConfig,
        routing: TriggerRouting,
        *,
        events: EventBuffer,
        webhooks: WebhookDelivery,
    ) -> None:
        self.path = data_dir / "triggers.json"
        self.cfg = cfg
        self.routing = routing
        self.events = events
        self.webhooks = webhooks
        self.policy = UrlPolicy(cfg.allow_private, frozenset(cfg.allowed_ports))
        self.triggers: dict[str, Trigger] = {}
        self.fired: Counter[str] = Counter()

    # -- registry --------------------------------------------------------------------------
    def load(self) -> int:
        """Place every persisted trigger (at start-up); returns how many. StateFileError
        (naming the file) if it cannot be read: triggers are never dropped silently."""
        if self.path.exists():
            try:
                triggers = _TRIGGERS.decode(self.path.read_bytes())
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
                raise StateFileError(self.path, e) from e
            for trigger in triggers:
                self.triggers[trigger.trigger_id] = trigger
                self.routing.place_trigger(trigger)
        return len(self.triggers)

    def _save(self) -> None:
        write_atomic(self.path, _encode(list(self.triggers.values())))  # 0600: holds secrets

    async def register(self, body: bytes) -> tuple[Trigger, str]:
        """Validate, persist and place a trigger; returns it and its webhook secret ("" when
        it has no webhook). Raises BadRequest (or UnsafeUrl) naming what is wrong."""
        return await self._register(body, save=True)

    async def _register(self, body: bytes, *, save: bool) -> tuple[Trigger, str]:
        spec = decode_trigger_spec(body)
        if not spec.condition_id:
            market = self.routing.market_of(spec.asset_id)
            if not market:
                raise BadRequest(
                    f"asset {spec.asset_id[:80]} is not tracked: give its `condition_id`"
                )
            spec = msgspec.structs.replace(spec, condition_id=market)
        trigger_id = make_trigger_id(os.urandom(8))
        secret = ""
        endpoint = None
        if spec.webhook_url:
            endpoint = await vet_receiver(
                trigger_id, spec.webhook_url, spec.webhook_secret, self.policy
            )
            secret = endpoint.secrets[0].secret
            spec = msgspec.structs.replace(spec, webhook_secret=secret)
        trigger = Trigger(trigger_id=trigger_id, spec=spec)
        if endpoint is not None:
            self.webhooks.upsert_endpoint(endpoint)
        self.routing.place_trigger(trigger)
        self.triggers[trigger.trigger_id] = trigger
        if save:
            self._save()
            log.info(
                "trigger %s registered: %s on %s", trigger_id, spec.condition.type,
                spec.asset_id[:80], extra={"trigger_id": trigger_id, "asset": spec.asset_id},
            )  # fmt: skip
        return trigger, secret

    async def init_production(self) -> int:
        """Register the configured production set: arbitrage triggers (buy and sell) on every
        tracked binary market that does not have them yet; returns how many were created."""
        have = {
            (t.spec.asset_id, t.spec.condition.type, *trigger_assets(t)[1:])
            for t in self.triggers.values()
        }
        production = (
            ("ARBITRAGE_BUY", self.cfg.init_arbitrage_buy_below),
            ("ARBITRAGE_SELL", self.cfg.init_arbitrage_sell_above),
        )
        created = 0
        for market, (yes, no) in sorted(self.routing.binary_markets().items()):
            for kind, threshold in production:
                if (yes, kind, no) in have:
                    continue
                body = {"asset_id": yes, "condition_id": market,
                        "cooldown_ms": self.cfg.init_cooldown_ms,
                        "condition": {"type": kind, "threshold": threshold,
                                      "paired_asset_id": no}}  # fmt: skip
                await self._register(_encode(body), save=False)
                created += 1
                # Thousands of markets: let the feed readers run between registrations.
                await trio.lowlevel.checkpoint()
        if created:
            self._save()  # once, not per trigger: the file holds every trigger
        return created

    def remove(self, trigger_id: str) -> bool:
        """Unplace and forget a trigger and its webhook endpoint; False if unknown."""
        removed = self._forget(trigger_id)
        if removed:
            self._save()
            log.info("trigger %s removed", trigger_id, extra={"trigger_id": trigger_id})
        return removed

    def _forget(self, trigger_id: str) -> bool:
        trigger = self.triggers.pop(trigger_id, None)
        if trigger is None:
            return False
        self.routing.unplace_trigger(trigger)
        if trigger.spec.webhook_url:
            with contextlib.suppress(NotFound):  # already gone is fine
                self.webhooks.remove_endpoint(trigger_id)
        return True

    def remove_all(self) -> int:
        """Remove every trigger; returns how many there were."""
        ids = list(self.triggers)
        for trigger_id in ids:
            self._forget(trigger_id)
        self._save()
        return len(ids)

    def listing(self) -> list[dict[str, object]]:
        """Every trigger as the API shows it (webhook secrets never leave the process)."""
        out = []
        for trigger in self.triggers.values():
            spec = msgspec.to_builtins(trigger.spec)
            spec.pop("webhook_secret", None)
            out.append({"trigger_id": trigger.trigger_id, **spec})
        return out

    # -- fired events ----------------------------------------------------------------------
    def deliver(self, events: list[TriggerEvent]) -> None:
        """Stamp, publish to SSE and submit webhooks for events one shard fired; O(events)."""
        if not events:
            return
        now_us = wall_us()
        stamp(events, now_us)
        bodies = [(e.trigger_type, _encode(e)) for e in events]
        published = self.events.publish(bodies, now_us)
        webhooks = []
        for event, item in zip(events, published, strict=True):
            self.fired[event.trigger_type] += 1
            trigger = self.triggers.get(event.trigger_id)
            if trigger is not None and trigger.spec.webhook_url:
                webhooks.append(
                    WebhookEvent(id=f"{event.trigger_id}-{item.id}", type=TRIGGER_EVENT,
                                 body=item.data, endpoint_id=event.trigger_id)
                )  # fmt: skip
        if webhooks:
            self.webhooks.submit(webhooks)
