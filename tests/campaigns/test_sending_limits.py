"""The account's messaging limit: a broadcast writes first to at most what is left of it in the rolling 24
hours, waits (``messaging_limit``) until the earliest of those customers leaves the window, and goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from campaigns import sending
from campaigns.models import Broadcast, BroadcastRecipient
from conversations.models import Contact, Message
from conversations.services.inbound import InboundSpec, message_receive
from tests.campaigns.sending_fixtures import MetaRecorder, install, make_broadcast, make_contacts, make_number
from tests.campaigns.test_sending import _start

pytestmark = pytest.mark.django_db

Status = Broadcast.Status
R = BroadcastRecipient.Status


@pytest.fixture
def jobs(monkeypatch) -> list[tuple[str, int]]:
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(sending, "_enqueue", lambda name, pk: asked.append((name, pk)))
    return asked


DAY = timedelta(hours=24, minutes=5)


def _a_day_passes(broadcast: Broadcast) -> None:
    """What the clock moving a day on looks like to the limit: every send so far is a day (and 5 min) older."""
    Message.objects.update(created_at=F("created_at") - DAY, sent_at=F("sent_at") - DAY)
    Broadcast.objects.filter(pk=broadcast.pk).update(wait_until=F("wait_until") - DAY)


def _feed(broadcast, capture, now) -> str:
    for _ in range(100):
        with capture(execute=True):
            state = sending.broadcast_feed_batch(broadcast_id=broadcast.pk, now=now).state
        if state not in ("fed", "full"):
            return state
    raise AssertionError("the feeder never stopped")


def test_tier_250_sends_250_a_day_and_the_rest_waits_for_the_window_to_roll(
    tenant, jobs, monkeypatch, django_capture_on_commit_callbacks
):
    meta = install(MetaRecorder())
    number = make_number(tenant, tier="TIER_250")
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_FEED_BATCH", 100, raising=False)
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_LIMIT_READ_SECONDS", 0, raising=False)
    make_contacts(tenant, 600)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    assert _feed(broadcast, django_capture_on_commit_callbacks, timezone.now()) == Status.WAITING
    broadcast.refresh_from_db()
    first_send = BroadcastRecipient.objects.filter(broadcast=broadcast).exclude(message=None).order_by("pk").first()
    assert len(meta.sends) == 250
    assert (broadcast.status, broadcast.wait_reason) == (Status.WAITING, "messaging_limit")
    assert broadcast.wait_until == first_send.message.created_at + timedelta(hours=24)
    assert BroadcastRecipient.objects.filter(broadcast=broadcast, status=R.PENDING).count() == 350
    # Still waiting a second before: the sweeper leaves it.
    assert sending.broadcasts_sweep(now=broadcast.wait_until - timedelta(seconds=1))["resumed"] == 0

    # A day passes (the history moves back a day and five minutes): every one of them left the window.
    _a_day_passes(broadcast)
    assert sending.broadcasts_sweep()["resumed"] == 1
    assert jobs[-1] == ("broadcast_feed", broadcast.pk)
    assert _feed(broadcast, django_capture_on_commit_callbacks, timezone.now()) == Status.WAITING
    assert len(meta.sends) == 500

    _a_day_passes(broadcast)
    sending.broadcasts_sweep()
    assert _feed(broadcast, django_capture_on_commit_callbacks, timezone.now()) == "done"
    broadcast.refresh_from_db()
    assert broadcast.status == Status.COMPLETED
    assert len(meta.sends) == 600
    assert max(meta.per_recipient().values()) == 1


def test_customers_in_their_reply_window_cost_nothing_of_the_limit(tenant, jobs, django_capture_on_commit_callbacks):
    meta = install(MetaRecorder())
    number = make_number(tenant, tier="TIER_50")
    make_contacts(tenant, 57)
    # Three customers wrote two hours ago: their window is open, a template to them is not a first message.
    for i in (57, 58, 59):
        with django_capture_on_commit_callbacks(execute=True):
            message, _ = message_receive(
                inbox=number.inbox,
                spec=InboundSpec(
                    source_id=f"55119{i:08d}",
                    external_id=f"wamid.in{i}",
                    occurred_at=timezone.now() - timedelta(hours=2),
                    type="text",
                    text="Oi",
                ),
            )
        Contact.objects.filter(pk=message.conversation.contact_id).update(
            phone_e164=f"+55119{i:08d}", marketing_consent="opted_in"
        )
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    assert _feed(broadcast, django_capture_on_commit_callbacks, timezone.now()) == Status.WAITING
    assert len(meta.sends) == 53
    assert {f"55119{i:08d}" for i in (57, 58, 59)} <= set(meta.per_recipient())
    assert sending.messaging_limit_usage(inbox=number.inbox, now=timezone.now())[0] == 50


def test_far_from_the_limit_a_feeding_job_counts_the_usage_once(
    tenant, jobs, monkeypatch, django_capture_on_commit_callbacks
):
    """The count reads every template of the last 24 hours: with a TIER_100K account and a few thousand used,
    it is read when the job starts, then kept by the job's own count; near the limit it is read again."""
    install(MetaRecorder())
    number = make_number(tenant, tier="TIER_100K")
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_FEED_BATCH", 2, raising=False)
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_LIMIT_READ_SECONDS", 0, raising=False)
    counted: list[int] = []
    real = sending.messaging_limit_usage

    def usage(**kwargs):
        counted.append(1)
        return real(**kwargs)

    monkeypatch.setattr(sending, "messaging_limit_usage", usage)
    make_contacts(tenant, 6)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.broadcast_feed(broadcast_id=broadcast.pk) == "draining"
    assert Message.objects.filter(idempotency_key__startswith=f"broadcast:{broadcast.pk}:").count() == 6
    assert len(counted) == 1  # three batches, one count

    # Near the limit (what is left is under the headroom) every stale read counts again.
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_LIMIT_HEADROOM", 200_000, raising=False)
    make_contacts(tenant, 4, start=100)
    second = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    counted.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.broadcast_feed(broadcast_id=second.pk) == "draining"
    # Ten recipients (the first six again): five batches of two, each counting again.
    assert len(counted) == 5
