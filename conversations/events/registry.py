"""Who reacts to which event: apps subscribe in ``AppConfig.ready()``.

A subscriber's name (``"app.handler"``) is stored with each delivery, so it must stay stable
across deployments; one name per event type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

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


class Many(Generic[E]):
    """A subscriber that takes its events a batch at a time (``subscribe_many``); called with one event, it
    handles a batch of one."""

    def __init__(self, handler: Callable[[Sequence[E]], object]) -> None:
        self.many = handler

    def __call__(self, event: E) -> object:
        return self.many([event])


def subscribe_many(event_type: type[E], handler: Callable[[Sequence[E]], object], *, name: str) -> None:
    """Call ``handler(events)`` with the ``event_type`` events of one delivery job at once (up to
    ``EVENTS_DELIVERY_BATCH``, oldest first), in that job's transaction: a subscriber that reads what it
    needs for the whole batch in a few statements instead of a few per event. It must act as if it were
    called once per event in that order (an event sees what the earlier ones of the batch did). When it
    raises, the batch is rolled back and handed over again one event at a time."""
    existing = _subscribers.get(event_type.name, {}).get(name)
    if isinstance(existing, Many) and existing.many is handler:
        return
    subscribe(event_type, Many(handler), name=name)


T = TypeVar("T")


def by_conversation(items: Sequence[T]) -> list[T]:
    """A batch's events (or what stands for them) in the order of their conversations' ids, each
    conversation's in their own order (a stable sort). Batch subscribers that lock conversations handle
    them so: two jobs at once then lock the rows they share in the same order, and never wait for each
    other in a circle."""
    return sorted(items, key=lambda item: getattr(item, "conversation_id", 0) or 0)


def unsubscribe(event_type: type[Event], *, name: str) -> None:
    _subscribers.get(event_type.name, {}).pop(name, None)


def subscriber_names(event_name: str) -> list[str]:
    return list(_subscribers.get(event_name, {}))


def handler_for(event_name: str, subscriber: str) -> Callable[[Any], object] | None:
    return _subscribers.get(event_name, {}).get(subscriber)
