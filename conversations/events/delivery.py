"""Delivering events to subscribers (once each), retrying failures, sweeping lost jobs, and the
reply-window events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.events.outbox import deliver_task, deliveries_enqueue, drain_key, drain_task, events_record
from conversations.events.registry import Many, handler_for
from conversations.events.types import EVENT_TYPES, Event, ReplyWindowClosed, ReplyWindowClosing
from conversations.models import Conversation, EventDelivery, OutboxEvent
from helpdesk.jobs import HOLD_TTL, held, redis_client
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm
from tenants.services import audit_log_record

logger = logging.getLogger(__name__)

ERROR_MAX = 2000
# Retries held back when HELPDESK_EAGER_DELAYED_TASKS is "defer" (tests run them explicitly).
DEFERRED: list[tuple[int, float]] = []


def event_load(row: OutboxEvent) -> Event:
    return EVENT_TYPES[row.event_type].from_payload(event_id=row.pk, tenant_id=row.tenant_id, payload=row.payload)


def retry_delay(attempts: int) -> float:
    """Exponential backoff: the base, doubled after each failed attempt, at most an hour."""
    return float(min(settings.EVENTS_DELIVERY_RETRY_SECONDS * 2 ** max(attempts - 1, 0), 3600))


def event_deliver(*, delivery_id: int) -> str:
    """Hand one event to one subscriber (``event_deliveries_deliver`` for one delivery).

    Returns ``done``, ``skipped`` (done, failed or being delivered elsewhere), ``retry`` or ``failed``.
    """
    return event_deliveries_deliver(delivery_ids=[delivery_id]).get(delivery_id, "skipped")


class _SubscriberFailed(Exception):
    def __init__(self, delivery_id: int, error: Exception) -> None:
        super().__init__(delivery_id, error)
        self.delivery_id, self.error = delivery_id, error


def event_deliveries_deliver(*, delivery_ids: Sequence[int]) -> dict[int, str]:
    """Hand pending deliveries to their subscribers, all in one transaction.

    The deliveries' rows are held while their subscribers run, and the subscribers' database writes
    commit together with their deliveries' "done", or not at all: a job delivered twice (a worker
    killed mid-way, the sweeper re-enqueueing) has each effect once. When a subscriber raises, the
    batch is rolled back and its deliveries are handed over again one transaction each, so the
    failure stays alone (recorded, retried later) and the others go on; the common case pays for no
    savepoint. Effects outside the database (HTTP calls) happen at least once: enqueue them with
    ``transaction.on_commit``. Returns each delivery's outcome (``done``, ``retry`` or ``failed``);
    one absent was skipped (done, failed, or being delivered by another job).
    """
    ids = list(delivery_ids)
    if len(ids) > 1:
        try:
            return _deliver(Q(pk__in=ids))
        except Exception:
            # Rolled back whole: one by one below, so that whatever failed fails alone.
            logger.info("Event deliveries %s handed over one by one after a failure", ids, exc_info=True)
    return _deliver_one_by_one(ids)


def _deliver_one_by_one(ids: Sequence[int]) -> dict[int, str]:
    outcomes: dict[int, str] = {}
    for delivery_id in ids:
        try:
            outcomes.update(_deliver(Q(pk=delivery_id)))
        except Exception as exc:
            # A subscriber's error, or one it left behind (a database error it swallowed).
            error = exc.error if isinstance(exc, _SubscriberFailed) else exc
            logger.warning("Event delivery %s failed", delivery_id, exc_info=error)
            outcomes[delivery_id] = _failed(delivery_id, error)
    return outcomes


def event_subscriber_drain(*, subscriber: str) -> int:
    """Deliver a subscriber's due deliveries, ``EVENTS_DELIVERY_BATCH`` per transaction (each as in
    ``event_deliveries_deliver``), while there are any, holding the subscriber's key (see
    ``outbox.subscribers_wake``); returns how many were handed over (done, retried or failed)."""
    batch = max(1, settings.EVENTS_DELIVERY_BATCH)

    def due() -> Q:
        return Q(subscriber=subscriber, due_at__lte=timezone.now())

    def step() -> int:
        try:
            return len(_deliver(due(), limit=batch))
        except Exception:
            ids = list(
                EventDelivery.objects.filter(due(), state=EventDelivery.State.PENDING)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            logger.info("Event deliveries %s handed over one by one after a failure", ids, exc_info=True)
            # A failed one is due again only after its backoff: the next step does not take it again.
            return len(_deliver_one_by_one(ids))

    def pending() -> bool:
        # Deliveries held by another job are not this one's to wait for.
        with transaction.atomic():
            return bool(
                EventDelivery.objects.select_for_update(skip_locked=True)
                .filter(due(), state=EventDelivery.State.PENDING)
                .values_list("pk", flat=True)[:1]
            )

    # As ``helpdesk.jobs.drain``, but a short batch ends the work at once: no empty batch is asked
    # for (commits between two batches are the common case, a backlog the rare one).
    key = drain_key(subscriber)
    client = redis_client()
    deadline = time.monotonic() + settings.EVENTS_DRAIN_SECONDS
    done = 0
    with held(key, client=client):
        while True:
            count = step()
            done += count
            if count >= batch:
                if time.monotonic() > deadline:
                    drain_task().delay(subscriber)
                    return done
                continue
            client.delete(key)
            # Deliveries committed after the last batch found the key taken and asked for no job.
            if not pending() or not client.set(key, "1", nx=True, ex=HOLD_TTL):
                return done


def _deliver(claim: Q, *, limit: int | None = None) -> dict[int, str]:
    """Deliver the pending deliveries that ``claim`` matches (at most ``limit``, the oldest first) in
    one transaction; raises ``_SubscriberFailed`` (rolled back) when one fails."""
    with transaction.atomic():
        deliveries = list(
            EventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .filter(claim, state=EventDelivery.State.PENDING)
            .order_by("pk")[:limit]
        )
        for run in _runs(deliveries):
            try:
                handler = handler_for(run[0].event.event_type, run[0].subscriber)
                if handler is None:
                    raise LookupError(
                        f"No subscriber named {run[0].subscriber!r} listens to {run[0].event.event_type}."
                    )
                if isinstance(handler, Many):
                    handler.many([event_load(delivery.event) for delivery in run])
                else:
                    for delivery in run:
                        try:
                            handler(event_load(delivery.event))
                        except Exception as exc:
                            raise _SubscriberFailed(delivery.pk, exc) from exc
            except _SubscriberFailed:
                raise
            except Exception as exc:
                raise _SubscriberFailed(run[0].pk, exc) from exc
        if not deliveries:
            return {}
        now = timezone.now()
        EventDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
            state=EventDelivery.State.DONE,
            attempts=F("attempts") + 1,
            finished_at=now,
            last_error="",
            updated_at=now,
        )
        # The events' ``dispatched_at`` is left to the sweeper (``events_dispatched_mark``): two more
        # statements in every job were a quarter of its time.
        return dict.fromkeys((d.pk for d in deliveries), "done")


def _runs(deliveries: Sequence[EventDelivery]) -> list[list[EventDelivery]]:
    """The deliveries in order, cut where the subscriber or the event type changes (one handler per run)."""
    runs: list[list[EventDelivery]] = []
    for delivery in deliveries:
        if runs and (runs[-1][0].subscriber, runs[-1][0].event.event_type) == (
            delivery.subscriber,
            delivery.event.event_type,
        ):
            runs[-1].append(delivery)
        else:
            runs.append([delivery])
    return runs


def _failed(delivery_id: int, exc: Exception) -> str:
    """Record a failed attempt: try again after the backoff, or give up after the last attempt."""
    error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
    now = timezone.now()
    with transaction.atomic():
        delivery = EventDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.state != EventDelivery.State.PENDING:
            return "skipped"
        delivery.attempts += 1
        delivery.last_error = error
        final = delivery.attempts >= settings.EVENTS_DELIVERY_MAX_ATTEMPTS or isinstance(exc, LookupError)
        delay = retry_delay(delivery.attempts)
        delivery.state = EventDelivery.State.FAILED if final else EventDelivery.State.PENDING
        delivery.finished_at = now if final else None
        delivery.due_at = now + timedelta(seconds=delay)
        delivery.save(update_fields=["attempts", "last_error", "state", "finished_at", "due_at", "updated_at"])
    if final:
        return "failed"
    _deliver_later(delivery_id, delay)
    return "retry"


def _deliver_later(delivery_id: int, delay: float) -> None:
    task = deliver_task()
    try:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            task.apply_async(args=(delivery_id,), countdown=delay)
        elif settings.HELPDESK_EAGER_DELAYED_TASKS == "defer":
            DEFERRED.append((delivery_id, delay))
        else:
            timer = threading.Timer(delay, task.apply, kwargs={"args": (delivery_id,)})
            timer.daemon = True
            timer.start()
    except Exception:
        logger.warning("Retry of event delivery %s not enqueued (left for the sweeper)", delivery_id, exc_info=True)


def event_delivery_retry(
    *, membership: Membership, delivery: EventDelivery, request: HttpRequest | None = None
) -> bool:
    """An admin asks for a failed delivery (fetched through a tenant-checked selector) to be tried
    again, with a fresh count of attempts, and the audit log says who, which delivery and which
    subscriber. Returns False when it was not failed (nothing changes, nothing is audited)."""
    require_perm(
        membership,
        Perm.MANAGE_AUTOMATIONS,
        tenant_id=delivery.tenant_id,
        message=_("You do not have permission to retry event deliveries."),
    )
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            EventDelivery.objects.select_for_update(of=("self",))
            .select_related("event")
            .get(tenant_id=delivery.tenant_id, pk=delivery.pk)
        )
        if delivery.state != EventDelivery.State.FAILED:
            return False
        previous_attempts, last_error = delivery.attempts, delivery.last_error
        delivery.state = EventDelivery.State.PENDING
        delivery.attempts = 0
        delivery.finished_at = None
        delivery.due_at = now
        delivery.save(update_fields=["state", "attempts", "finished_at", "due_at", "updated_at"])
        audit_log_record(
            action=AuditLogEntry.Action.EVENT_DELIVERY_RETRIED,
            tenant=membership.tenant,
            actor=membership.user,
            target=delivery,
            target_label=f"{delivery.subscriber} ({delivery.event.event_type})",
            request=request,
            extra={
                "subscriber": delivery.subscriber,
                "event_type": delivery.event.event_type,
                "event_id": str(delivery.event_id),
                "attempts": previous_attempts,
                "last_error": last_error[:500],
            },
        )
        pk = delivery.pk
        transaction.on_commit(lambda: deliveries_enqueue([[pk]]))
    return True


def event_deliveries_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Enqueue again pending deliveries whose job is overdue (the broker lost it, or it was never
    enqueued); each is given a new due time so the next sweep waits again. Returns how many."""
    now = now or timezone.now()
    events_dispatched_mark(now=now, limit=limit)
    cutoff = now - timedelta(seconds=settings.EVENTS_SWEEP_AFTER_SECONDS)
    overdue = list(
        EventDelivery.objects.filter(state=EventDelivery.State.PENDING, due_at__lte=cutoff)
        .order_by("due_at")
        .values_list("pk", "subscriber")[:limit]
    )
    if not overdue:
        return 0
    ids = [pk for pk, _subscriber in overdue]
    EventDelivery.objects.filter(pk__in=ids, state=EventDelivery.State.PENDING).update(due_at=now, updated_at=now)
    groups: dict[str, list[int]] = {}
    for pk, subscriber in overdue:
        groups.setdefault(subscriber, []).append(pk)
    return deliveries_enqueue(list(groups.values()))


def events_dispatched_mark(*, now: datetime | None = None, limit: int = 1000, max_batches: int = 50) -> int:
    """Set ``dispatched_at`` on events whose every delivery is done (the sweeper's pass, not each
    delivery job's), oldest first, in batches of ``limit``. Returns how many were marked."""
    now = now or timezone.now()
    waiting = Exists(
        EventDelivery.objects.filter(
            event_id=OuterRef("pk"), state__in=[EventDelivery.State.PENDING, EventDelivery.State.FAILED]
        )
    )
    undispatched = OutboxEvent.objects.filter(dispatched_at__isnull=True).exclude(waiting).order_by("created_at")
    marked = 0
    for _batch in range(max_batches):
        ids = list(undispatched.values_list("pk", flat=True)[:limit])
        if ids:
            # Nothing makes a done delivery waiting again: these stay dispatched.
            marked += OutboxEvent.objects.filter(pk__in=ids, dispatched_at__isnull=True).update(
                dispatched_at=now, updated_at=now
            )
        if len(ids) < limit:
            break
    return marked


def reply_window_events_record(*, now: datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """Record ``ReplyWindowClosing`` for windows ending within the lead time and ``ReplyWindowClosed``
    for windows that ended, once per window end (a beat job)."""
    now = now or timezone.now()
    lead = timedelta(seconds=settings.EVENTS_REPLY_WINDOW_LEAD_SECONDS)
    due = Q(reply_window_closed_event_for__isnull=True, reply_window_closes_at__isnull=False)
    closing = due & Q(
        reply_window_closing_event_for__isnull=True,
        reply_window_closes_at__gt=now,
        reply_window_closes_at__lte=now + lead,
    )
    closed = due & Q(reply_window_closes_at__lte=now)
    counts = {"closing": 0, "closed": 0}
    for kind, match in (("closing", closing), ("closed", closed)):
        with transaction.atomic():
            # Locked: a customer's message moving the window waits, then clears what was recorded.
            rows = list(
                Conversation.objects.select_for_update(no_key=True, skip_locked=True)
                .filter(match)
                .order_by("reply_window_closes_at")
                .only("pk", "tenant_id", "inbox_id", "contact_id", "reply_window_closes_at")[:limit]
            )
            if not rows:
                continue
            events: list[Event] = []
            field = "reply_window_closing_event_for" if kind == "closing" else "reply_window_closed_event_for"
            for c in rows:
                common: dict[str, Any] = {
                    "tenant_id": c.tenant_id,
                    "conversation_id": c.pk,
                    "inbox_id": c.inbox_id,
                    "contact_id": c.contact_id,
                }
                assert c.reply_window_closes_at is not None
                if kind == "closing":
                    events.append(ReplyWindowClosing(**common, closes_at=c.reply_window_closes_at))
                else:
                    events.append(
                        ReplyWindowClosed(
                            **common, closed_at=c.reply_window_closes_at, occurred_at=c.reply_window_closes_at
                        )
                    )
            Conversation.objects.filter(pk__in=[c.pk for c in rows]).update(**{field: F("reply_window_closes_at")})
            events_record(events)
            counts[kind] = len(rows)
    return counts
