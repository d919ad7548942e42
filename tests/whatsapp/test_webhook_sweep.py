"""The beat job that picks up webhook events whose processing job was lost, and deletes delivery statuses that
waited too long for their message."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from conversations.models import Message, PendingStatus
from conversations.services.delivery_status import pending_statuses_purge
from tests.factories import make_tenant
from tests.whatsapp.conftest import load_fixture, make_channel, retarget
from whatsapp import tasks
from whatsapp.models import WebhookEvent
from whatsapp.signature import encode_like_meta

pytestmark = pytest.mark.django_db

PROCESSED_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _sweep_ages(settings):
    settings.WHATSAPP_WEBHOOK_SWEEP_AFTER_SECONDS = 60
    settings.WHATSAPP_PENDING_STATUS_MAX_AGE_DAYS = 3


def stored(channel, *, wamid: str, age_seconds: float, status: str = "pending", attempts: int = 0) -> WebhookEvent:
    """An inbound text webhook as the endpoint stored it ``age_seconds`` ago, whose job never ran (or did)."""
    payload = retarget(load_fixture("inbound_text.json"), phone_number_id=channel.phone_number_id)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    body = encode_like_meta(payload)
    event = WebhookEvent.objects.create(
        tenant_id=channel.tenant_id,
        channel=channel,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        status=status,
        attempts=attempts,
        processed_at=PROCESSED_AT if status != "pending" else None,
    )
    WebhookEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(seconds=age_seconds))
    return event


def state(event: WebhookEvent) -> tuple[str, int, datetime | None, str]:
    event.refresh_from_db()
    return event.status, event.attempts, event.processed_at, event.summary


def test_the_sweep_runs_on_the_beat():
    assert django_settings.CELERY_BEAT_SCHEDULE["whatsapp-webhook-events-sweep"] == {
        "task": "whatsapp.tasks.webhook_events_sweep",
        "schedule": django_settings.WHATSAPP_SWEEP_INTERVAL_SECONDS,
    }


def test_an_event_left_pending_past_the_sweep_age_is_enqueued_again_and_processed(channel):
    lost = stored(channel, wamid="wamid.lost", age_seconds=90)

    assert tasks.webhook_events_sweep.delay().get() == {"requeued": 1, "pending_statuses_purged": 0}

    status, attempts, processed_at, summary = state(lost)
    assert (status, attempts, summary) == ("processed", 1, "1 message")
    assert processed_at is not None
    message = Message.objects.get()
    assert (message.external_id, message.direction, message.text) == (
        "wamid.lost",
        "in",
        "Does it come in another color?",
    )


def test_recent_processed_and_failed_events_are_not_enqueued(channel):
    recent = stored(channel, wamid="wamid.recent", age_seconds=30)
    processed = stored(channel, wamid="wamid.processed", age_seconds=3600, status="processed", attempts=1)
    failed = stored(channel, wamid="wamid.failed", age_seconds=3600, status="failed", attempts=1)

    assert tasks.webhook_events_sweep.delay().get() == {"requeued": 0, "pending_statuses_purged": 0}

    # Its job may still be on its way: the event waits for it (or for a later sweep).
    assert state(recent) == ("pending", 0, None, "")
    assert state(processed) == ("processed", 1, PROCESSED_AT, "")
    assert state(failed) == ("failed", 1, PROCESSED_AT, "")
    assert not Message.objects.exists()


def test_a_recent_event_is_enqueued_by_the_first_sweep_after_it_is_old_enough(channel):
    event = stored(channel, wamid="wamid.later", age_seconds=30)
    assert tasks.webhook_events_sweep.delay().get()["requeued"] == 0

    WebhookEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(seconds=61))

    assert tasks.webhook_events_sweep.delay().get()["requeued"] == 1
    assert state(event)[:2] == ("processed", 1)
    assert Message.objects.values_list("external_id", flat=True).get() == "wamid.later"


def waiting(channel, external_id: str, *, age: timedelta, status: str = "delivered") -> PendingStatus:
    """A status that arrived ``age`` ago for a message we have not (yet) seen."""
    pending = PendingStatus.objects.create(
        tenant_id=channel.tenant_id,
        inbox=channel.inbox,
        external_id=external_id,
        status=status,
        occurred_at=PROCESSED_AT,
    )
    PendingStatus.objects.filter(pk=pending.pk).update(created_at=timezone.now() - age)
    return pending


def test_statuses_that_waited_longer_than_the_max_age_for_their_message_are_deleted(channel):
    other = make_channel(make_tenant("Globex", slug="globex"), phone_number_id="200000000000001")
    waiting(channel, "wamid.sent-by-another-app", age=timedelta(days=3, minutes=1))
    waiting(channel, "wamid.sent-by-another-app", age=timedelta(days=4), status="read")
    waiting(other, "wamid.group-message", age=timedelta(days=30))
    fresh = waiting(channel, "wamid.slow-send-response", age=timedelta(days=2, hours=23))

    assert tasks.webhook_events_sweep.delay().get() == {"requeued": 0, "pending_statuses_purged": 3}

    assert list(PendingStatus.objects.values_list("pk", "external_id", "status")) == [
        (fresh.pk, "wamid.slow-send-response", "delivered")
    ]


def test_a_purge_deletes_at_most_its_limit_and_the_next_one_the_rest(channel):
    for n in range(3):
        waiting(channel, f"wamid.orphan-{n}", age=timedelta(days=5))

    assert pending_statuses_purge(older_than=timezone.now() - timedelta(days=3), limit=2) == 2
    assert PendingStatus.objects.count() == 1
    assert pending_statuses_purge(older_than=timezone.now() - timedelta(days=3), limit=2) == 1
    assert not PendingStatus.objects.exists()
