"""What every route module is built from: the backend, the triggers, the event buffer, the
guard and the app's settings."""

from __future__ import annotations

from dataclasses import dataclass

from polymon.config import HttpConfig
from polymon.web.backend import Backend, TriggerSource
from polymon.web.events import EventBuffer
from polymon.web.guard import Guard


@dataclass(frozen=True, slots=True)
class Context:
    """The dependencies of the route blueprints (one per app)."""

    backend: Backend
    triggers: TriggerSource | None
    events: EventBuffer
    guard: Guard
    http: HttpConfig
    heartbeat_secs: float
