"""Recording events: in the fact's transaction, with their deliveries; handed to the broker after commit."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.events.registry import subscribers_of
from conversations.events.types import Event
from conversations.models import EventDelivery, OutboxEvent
from helpdesk.jobs import BROKER_ERRORS, DRAIN_KEY_TTL, inline, redis_client

logger = logging.getLogger(__name__)


def events_record(events: Sequence[Event]) -> None:
    """Write ``events`` to the outbox inside the caller's transaction (one insert for any number,
    one more for their deliveries when anyone subscribed); their jobs are enqueued after commit,
    one per subscriber."""
    if not events:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Events are recorded in the transaction of the fact they describe.")
    now = timezone.now()
    names = [subscribers_of(event) for event in events]
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            id=event.event_id,
            tenant_id=event.tenant_id,
            event_type=event.name,
            payload=event.to_payload(),
            occurred_at=event.occurred_at,
            dispatched_at=None if subscribers else now,
        )
        for event, subscribers in zip(events, names, strict=True)
    )
    deliveries = [
        EventDelivery(tenant_id=event.tenant_id, event_id=event.event_id, subscriber=subscriber, due_at=now)
        for event, subscribers in zip(events, names, strict=True)
        for subscriber in subscribers
    ]
    if deliveries:
        EventDelivery.objects.bulk_create(deliveries)
        # One job per subscriber per commit: a slow or failing subscriber holds up only its own.
        groups: dict[str, list[int]] = {}
        for delivery in deliveries:
            groups.setdefault(delivery.subscriber, []).append(delivery.pk)
        batches = list(groups.values())
        transaction.on_commit(lambda: subscribers_wake(batches, list(groups)))


def deliver_task() -> Any:
    """The Celery task that delivers one event to one subscriber, found by name in Celery's registry so
    that nothing here imports ``conversations/tasks.py`` (which imports the services that record events)."""
    return current_app.tasks["conversations.tasks.event_deliver"]


def deliver_many_task() -> Any:
    """The Celery task that delivers a batch of one subscriber's events (found by name, as above)."""
    return current_app.tasks["conversations.tasks.event_deliveries_deliver"]


def drain_key(subscriber: str) -> str:
    return f"helpdesk:events:{subscriber}"


def subscribers_wake(groups: Sequence[Sequence[int]], subscribers: Sequence[str]) -> None:
    """After commit: with a worker, at most one job at a time per subscriber works its due deliveries
    (``event_subscriber_drain``), enqueued only when none holds the subscriber's key (one Redis call),
    so that a burst of commits is delivered in batches, not one job per commit. Without a worker, one
    job per group of deliveries (``deliveries_enqueue``). The broker being down never reaches the
    caller: the deliveries stay pending for the sweeper."""
    if inline():
        deliveries_enqueue(groups)
        return
    task = drain_task()
    for subscriber in subscribers:
        key = drain_key(subscriber)
        try:
            client = redis_client()
            if client.set(key, "1", nx=True, ex=DRAIN_KEY_TTL):
                try:
                    task.delay(subscriber)
                except BROKER_ERRORS:
                    # No job holds the key: let the next commit (or the sweeper) take it.
                    with contextlib.suppress(*BROKER_ERRORS):
                        client.delete(key)
                    raise
        except BROKER_ERRORS:
            logger.warning("Event deliveries of %s not enqueued (left for the sweeper)", subscriber, exc_info=True)


def drain_task() -> Any:
    """The Celery task that works one subscriber's due deliveries (found by name, as above)."""
    return current_app.tasks["conversations.tasks.event_subscriber_drain"]


def deliveries_enqueue(groups: Sequence[Sequence[int]]) -> int:
    """One job per group of deliveries (one subscriber's), in chunks of ``EVENTS_DELIVERY_BATCH``. The
    broker being down never reaches the caller: what was not enqueued stays pending and the sweeper
    hands it over later. Returns how many deliveries were enqueued."""
    task = deliver_many_task()
    size = max(1, settings.EVENTS_DELIVERY_BATCH)
    chunks = [list(ids[n : n + size]) for ids in groups for n in range(0, len(ids), size)]
    total = sum(len(chunk) for chunk in chunks)
    done = 0
    for chunk in chunks:
        try:
            task.delay(chunk)
        except Exception:
            logger.warning("Event deliveries not enqueued (%s left for the sweeper)", total - done, exc_info=True)
            break
        done += len(chunk)
    return done
