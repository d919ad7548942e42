"""The outbox purge: delivered events and their deliveries go after the retention, failed deliveries
after their longer one, in batches; a pending delivery (and its event) is never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from django.conf import settings

from conversations.events.delivery import events_dispatched_mark
from conversations.events.retention import events_purge
from conversations.models import EventDelivery, OutboxEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the purge's clock, frozen
DAY = timedelta(days=1)


def event(tenant, *, created: datetime, dispatched: datetime | None, deliveries: list[tuple[str, datetime | None]]):
    """An outbox row created at ``created`` with deliveries given as (state, finished at)."""
    row = OutboxEvent.objects.create(
        id=uuid4(),
        tenant=tenant,
        event_type="message.received",
        payload={},
        occurred_at=created,
        dispatched_at=dispatched,
    )
    OutboxEvent.objects.filter(pk=row.pk).update(created_at=created)
    for n, (state, finished) in enumerate(deliveries):
        EventDelivery.objects.create(
            tenant=tenant, event=row, subscriber=f"tests.s{n}", state=state, finished_at=finished, due_at=created
        )
    return row.pk


def remaining() -> tuple[set[UUID], list[tuple[UUID, str, str]]]:
    return (
        set(OutboxEvent.objects.values_list("pk", flat=True)),
        sorted(EventDelivery.objects.values_list("event_id", "subscriber", "state")),
    )


def test_the_retention_settings_default_to_a_week_and_a_month_and_an_hourly_job_purges():
    assert (settings.EVENTS_RETENTION_DAYS, settings.EVENTS_FAILED_RETENTION_DAYS) == (7.0, 30.0)
    assert settings.CELERY_BEAT_SCHEDULE["events-purge"] == {
        "task": "conversations.tasks.events_purge",
        "schedule": 3600.0,
    }
    from helpdesk.celery import app

    app.loader.import_default_modules()
    assert "conversations.tasks.events_purge" in app.tasks


def test_delivered_events_go_after_the_retention_and_failed_deliveries_after_theirs(tenant, other_tenant):
    delivered_old = event(
        tenant, created=NOW - 9 * DAY, dispatched=NOW - 8 * DAY, deliveries=[("done", NOW - 8 * DAY)] * 2
    )
    delivered_recent = event(
        tenant, created=NOW - 7 * DAY, dispatched=NOW - 6 * DAY, deliveries=[("done", NOW - 6 * DAY)]
    )
    unsubscribed_old = event(other_tenant, created=NOW - 10 * DAY, dispatched=NOW - 10 * DAY, deliveries=[])
    one_still_pending = event(
        tenant, created=NOW - 40 * DAY, dispatched=None, deliveries=[("done", NOW - 40 * DAY), ("pending", None)]
    )
    failed_long_ago = event(
        tenant,
        created=NOW - 40 * DAY,
        dispatched=None,
        deliveries=[("done", NOW - 40 * DAY), ("failed", NOW - 31 * DAY)],
    )
    failed_recently = event(tenant, created=NOW - 20 * DAY, dispatched=None, deliveries=[("failed", NOW - 20 * DAY)])
    pending_for_ages = event(other_tenant, created=NOW - 100 * DAY, dispatched=None, deliveries=[("pending", None)])

    assert events_purge(now=NOW, batch=2) == {"failed_deliveries": 1, "events": 3, "deliveries": 3}
    events, deliveries = remaining()
    assert events == {delivered_recent, one_still_pending, failed_recently, pending_for_ages}
    assert deliveries == sorted(
        [
            (delivered_recent, "tests.s0", "done"),
            (one_still_pending, "tests.s0", "done"),
            (one_still_pending, "tests.s1", "pending"),
            (failed_recently, "tests.s0", "failed"),
            (pending_for_ages, "tests.s0", "pending"),
        ]
    )
    assert delivered_old not in events and unsubscribed_old not in events and failed_long_ago not in events
    # Nothing more to do at the same time, nor when the recent one is exactly a week old; then it goes.
    assert events_purge(now=NOW, batch=2) == {"failed_deliveries": 0, "events": 0, "deliveries": 0}
    assert events_purge(now=NOW + DAY, batch=2) == {"failed_deliveries": 0, "events": 0, "deliveries": 0}
    assert events_purge(now=NOW + DAY + timedelta(seconds=1), batch=2) == {
        "failed_deliveries": 0,
        "events": 1,
        "deliveries": 1,
    }
    assert remaining()[0] == {one_still_pending, failed_recently, pending_for_ages}


def test_one_run_deletes_at_most_its_batches_and_the_next_run_goes_on(tenant, settings):
    settings.EVENTS_RETENTION_DAYS = 1
    ids = [
        event(
            tenant,
            created=NOW - 3 * DAY,
            dispatched=NOW - 2 * DAY + n * timedelta(minutes=1),
            deliveries=[("done", NOW - 2 * DAY)],
        )
        for n in range(5)
    ]
    assert events_purge(now=NOW, batch=2, max_batches=2) == {"failed_deliveries": 0, "events": 4, "deliveries": 4}
    assert remaining()[0] == {ids[4]}  # the oldest delivered went first
    assert events_purge(now=NOW, batch=2, max_batches=2) == {"failed_deliveries": 0, "events": 1, "deliveries": 1}
    assert remaining() == (set(), [])


def test_a_failed_delivery_retried_by_an_admin_is_not_purged(tenant):
    from conversations.events.delivery import event_delivery_retry
    from tests.factories import owner_of

    pk = event(tenant, created=NOW - 60 * DAY, dispatched=None, deliveries=[("failed", NOW - 59 * DAY)])
    delivery = EventDelivery.objects.get(event_id=pk)
    assert event_delivery_retry(membership=owner_of(tenant), delivery=delivery)
    assert events_purge(now=NOW) == {"failed_deliveries": 0, "events": 0, "deliveries": 0}
    assert remaining() == ({pk}, [(pk, "tests.s0", "pending")])


def test_the_sweeper_marks_dispatched_only_events_whose_every_delivery_is_done_in_batches(tenant, other_tenant):
    earlier = NOW - 2 * DAY
    done = [
        event(tenant, created=NOW - 3 * DAY, dispatched=None, deliveries=[("done", earlier)] * 2),
        event(other_tenant, created=NOW - 2 * DAY, dispatched=None, deliveries=[("done", earlier)]),
        event(tenant, created=NOW - DAY, dispatched=None, deliveries=[("done", earlier)]),
    ]
    pending = event(tenant, created=NOW - 4 * DAY, dispatched=None, deliveries=[("done", earlier), ("pending", None)])
    failed = event(tenant, created=NOW - 4 * DAY, dispatched=None, deliveries=[("failed", earlier)])
    already = event(tenant, created=NOW - 5 * DAY, dispatched=earlier, deliveries=[("done", earlier)])

    assert events_dispatched_mark(now=NOW, limit=2) == 3  # two batches of two, the second one short
    dispatched = dict(OutboxEvent.objects.values_list("pk", "dispatched_at"))
    assert dispatched == {done[0]: NOW, done[1]: NOW, done[2]: NOW, pending: None, failed: None, already: earlier}
    assert events_dispatched_mark(now=NOW + DAY) == 0
    assert OutboxEvent.objects.get(pk=done[0]).dispatched_at == NOW
