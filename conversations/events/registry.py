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
# A subscriber's ``when``: which of its events it is given at all, decided when each event is recorded.
_filters: dict[tuple[str, str], Callable[[Any], bool]] = {}


def subscribe(
    event_type: type[E], handler: Callable[[E], object], *, name: str, when: Callable[[E], bool] | None = None
) -> None:
    """Call ``handler(event)`` once per ``event_type`` event, in its own job after the fact is committed.

    ``when``: only the events it is true of reach the subscriber; the others get no delivery at all (no row,
    no job). It looks at the event alone (no query) and runs where the event is recorded: for a subscriber
    that has nothing to do with most events of its type (an agent's reply among every message sent)."""
    if not event_type.name:
        raise ValueError(f"{event_type.__name__} is not a concrete event type.")
    if not name or len(name) > 200:
        raise ValueError("A subscriber needs a name of 1 to 200 characters.")
    handlers = _subscribers.setdefault(event_type.name, {})
    if name in handlers and handlers[name] is not handler:
        raise ValueError(f"A subscriber named {name!r} already listens to {event_type.name}.")
    handlers[name] = handler
    if when is None:
        _filters.pop((event_type.name, name), None)
    else:
        _filters[(event_type.name, name)] = when


class Many(Generic[E]):
    """A subscriber that takes its events a batch at a time (``subscribe_many``); called with one event, it
    handles a batch of one."""

    def __init__(self, handler: Callable[[Sequence[E]], object]) -> None:
        self.many = handler

    def __call__(self, event: E) -> object:
        return self.many([event])


def subscribe_many(
    event_type: type[E],
    handler: Callable[[Sequence[E]], object],
    *,
    name: str,
    when: Callable[[E], bool] | None = None,
) -> None:
    """Call ``handler(events)`` with the ``event_type`` events of one delivery job at once (up to
    ``EVENTS_DELIVERY_BATCH``, oldest first), in that job's transaction: a subscriber that reads what it
    needs for the whole batch in a few statements instead of a few per event. It must act as if it were
    called once per event in that order (an event sees what the earlier ones of the batch did). When it
    raises, the batch is rolled back and handed over again one event at a time."""
    existing = _subscribers.get(event_type.name, {}).get(name)
    if isinstance(existing, Many) and existing.many is handler and _filters.get((event_type.name, name)) is when:
        return
    subscribe(
        event_type,
        existing if isinstance(existing, Many) and existing.many is handler else Many(handler),
        name=name,
        when=when,
    )


T = TypeVar("T")


def by_conversation(items: Sequence[T]) -> list[T]:
    """A batch's events (or what stands for them) in the order of their conversations' ids, each
    conversation's in their own order (a stable sort). Batch subscribers that lock conversations handle
    them so: two jobs at once then lock the rows they share in the same order, and never wait for each
    other in a circle."""
    return sorted(items, key=lambda item: getattr(item, "conversation_id", 0) or 0)


def unsubscribe(event_type: type[Event], *, name: str) -> None:
    _subscribers.get(event_type.name, {}).pop(name, None)
    _filters.pop((event_type.name, name), None)


def subscriber_names(event_name: str) -> list[str]:
    return list(_subscribers.get(event_name, {}))


def subscribers_of(event: Event) -> list[str]:
    """The subscribers this event is delivered to: those of its type whose ``when`` (if any) is true of it."""
    return [
        name
        for name in _subscribers.get(event.name, {})
        if (when := _filters.get((event.name, name))) is None or when(event)
    ]


def handler_for(event_name: str, subscriber: str) -> Callable[[Any], object] | None:
    return _subscribers.get(event_name, {}).get(subscriber)
