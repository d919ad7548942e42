"""Who reacts to which event: apps subscribe in ``AppConfig.ready()``.

A subscriber's name (``"app.handler"``) is stored with each delivery, so it must stay stable
across deployments; one name per event type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from conversations.events.types import Event

E = TypeVar("E", bound=Event)

_subscribers: dict[str, dict[str, Callable[[Any], object]]] = {}


def subscribe(event_type: type[E], handler: Callable[[E], object], *, name: str) -> None:
    """Call ``handler(event)`` once per ``event_type`` event, in its own job after the fact is committed."""
    if not event_type.name:
        raise ValueError(f"{event_type.__name__} is not a concrete event type.")
    if not name or len(name) > 200:
        raise ValueError("A subscriber needs a name of 1 to 200 characters.")
    handlers = _subscribers.setdefault(event_type.name, {})
    if name in handlers and handlers[name] is not handler:
        raise ValueError(f"A subscriber named {name!r} already listens to {event_type.name}.")
    handlers[name] = handler


def unsubscribe(event_type: type[Event], *, name: str) -> None:
    _subscribers.get(event_type.name, {}).pop(name, None)


def subscriber_names(event_name: str) -> list[str]:
    return list(_subscribers.get(event_name, {}))


def handler_for(event_name: str, subscriber: str) -> Callable[[Any], object] | None:
    return _subscribers.get(event_name, {}).get(subscriber)
