"""Purging the outbox: delivered events, with their deliveries, once the retention has passed."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from conversations.models import EventDelivery, OutboxEvent

WAITING = [EventDelivery.State.PENDING, EventDelivery.State.FAILED]


def events_purge(*, now: datetime | None = None, batch: int = 1000, max_batches: int = 50) -> dict[str, int]:
    """Delete, in batches of ``batch`` rows each in its own short transaction (a beat job):

    - failed deliveries that finished more than ``EVENTS_FAILED_RETENTION_DAYS`` ago (kept until then
      for admins to see and retry);
    - events delivered to every subscriber more than ``EVENTS_RETENTION_DAYS`` ago, with their done
      deliveries, and older events whose remaining deliveries are all done (their failed one purged).

    A pending delivery, and an event that still has one, is never deleted. Returns the counts.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    failed_cutoff = now - timedelta(days=max(settings.EVENTS_FAILED_RETENTION_DAYS, settings.EVENTS_RETENTION_DAYS))
    counts = {"failed_deliveries": 0, "events": 0, "deliveries": 0}

    old_failed = EventDelivery.objects.filter(state=EventDelivery.State.FAILED, finished_at__lt=failed_cutoff)
    for _ in range(max_batches):
        ids = list(old_failed.order_by("pk").values_list("pk", flat=True)[:batch])
        if ids:
            # The state is checked again by the DELETE itself: one an admin just retried stays.
            deleted, _by_model = EventDelivery.objects.filter(pk__in=ids, state=EventDelivery.State.FAILED).delete()
            counts["failed_deliveries"] += deleted
        if len(ids) < batch:
            break

    # Nothing makes an event's delivery pending or failed again once none is: these stay deletable.
    delivered = OutboxEvent.objects.filter(dispatched_at__lt=cutoff).order_by("dispatched_at")
    # Older events left undispatched by a failed delivery purged above.
    orphaned = OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lt=failed_cutoff).order_by(
        "created_at"
    )
    waiting = Exists(EventDelivery.objects.filter(event_id=OuterRef("pk"), state__in=WAITING))
    for events in (delivered, orphaned):
        for _ in range(max_batches):
            event_ids = list(events.exclude(waiting).values_list("pk", flat=True)[:batch])
            if event_ids:
                with transaction.atomic():
                    _total, by_model = OutboxEvent.objects.filter(pk__in=event_ids).delete()
                counts["events"] += by_model.get(OutboxEvent._meta.label, 0)
                counts["deliveries"] += by_model.get(EventDelivery._meta.label, 0)
            if len(event_ids) < batch:
                break
    return counts
