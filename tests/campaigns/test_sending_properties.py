"""Pause, resume, cancel, feeding and delivery in any order: nothing is sent after a cancel commits, nobody
gets two messages, nobody without consent gets one, and a broadcast let run to its end reaches every
consenting recipient once."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import sending
from campaigns.models import Broadcast, BroadcastRecipient
from conversations.models import Message
from conversations.services import delivery_jobs
from conversations.services.delivery import message_deliver
from helpdesk.exceptions import Conflict
from tests.campaigns.sending_fixtures import PNID, MetaRecorder, install, make_broadcast, make_contacts, make_number
from tests.factories import owner_of
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.django_db

Status = Broadcast.Status
OPERATIONS = ("feed", "feed", "deliver", "deliver_one", "pause", "resume", "cancel")
_batches = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.sampled_from(OPERATIONS), max_size=14), finish=st.booleans())
def test_any_order_of_pause_resume_cancel_sends_once_and_never_after_a_cancel(
    tenant, monkeypatch, django_capture_on_commit_callbacks, steps, finish
):
    meta = install(MetaRecorder())
    number = _number(tenant)
    monkeypatch.setattr(sending, "_enqueue", lambda name, pk: None)
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_FEED_BATCH", 2, raising=False)
    # The broker hands nothing out by itself: delivery happens when a step says so.
    monkeypatch.setattr(delivery_jobs, "send_requests", lambda messages: 0)
    batch = next(_batches)
    mark = {"custom_attributes": {"batch": str(batch)}}
    consenting = make_contacts(tenant, 6, start=1000 * batch, **mark)
    refusing = make_contacts(tenant, 2, consent="opted_out", start=1000 * batch + 500, **mark)
    broadcast = make_broadcast(
        tenant, number, filters={"attributes": [{"key": "batch", "op": "eq", "value": str(batch)}]}
    )
    owner = owner_of(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        sending.broadcast_start(actor=owner, broadcast=broadcast)
        sending.broadcast_plan(broadcast_id=broadcast.pk)
    mine = Message.objects.filter(idempotency_key__startswith=f"broadcast:{broadcast.pk}:")

    def deliver(limit: int) -> None:
        for pk in list(mine.filter(status=Message.Status.QUEUED).order_by("pk").values_list("pk", flat=True)[:limit]):
            with django_capture_on_commit_callbacks(execute=True):
                message_deliver(message_id=pk)

    sent_at_cancel: int | None = None
    messages_at_cancel: int | None = None
    for step in steps:
        if step == "feed":
            with django_capture_on_commit_callbacks(execute=True):
                sending.broadcast_feed_batch(broadcast_id=broadcast.pk)
        elif step == "deliver":
            deliver(100)
        elif step == "deliver_one":
            deliver(1)
        else:
            service = {"pause": sending.broadcast_pause, "resume": sending.broadcast_resume}.get(
                step, sending.broadcast_cancel
            )
            try:
                with django_capture_on_commit_callbacks(execute=True):
                    service(actor=owner, broadcast=broadcast)
            except Conflict:
                continue
            if step == "cancel":
                sent_at_cancel, messages_at_cancel = len(meta.sends), mine.count()
    broadcast.refresh_from_db()
    if finish and broadcast.status == Status.PAUSED:
        sending.broadcast_resume(actor=owner, broadcast=broadcast)
    if finish:
        for _ in range(20):
            with django_capture_on_commit_callbacks(execute=True):
                state = sending.broadcast_feed_batch(broadcast_id=broadcast.pk).state
            deliver(100)
            if state not in ("fed", "full"):
                break
    broadcast.refresh_from_db()

    counts = meta.per_recipient()
    assert max(counts.values(), default=0) <= 1
    assert not {c.phone_e164.lstrip("+") for c in refusing} & set(counts)
    assert mine.count() == len(set(mine.values_list("conversation__contact_inbox__source_id", flat=True)))
    if sent_at_cancel is not None:
        assert broadcast.status == Status.CANCELED
        assert len(meta.sends) == sent_at_cancel
        assert mine.count() == messages_at_cancel
        assert not mine.filter(status=Message.Status.QUEUED).exists()
        assert not BroadcastRecipient.objects.filter(broadcast=broadcast, status__in=["pending", "sending"]).exists()
    elif finish:
        assert broadcast.status == Status.COMPLETED
        assert counts == {c.phone_e164.lstrip("+"): 1 for c in consenting}


def _number(tenant):
    # One number per test (hypothesis runs every example inside the same test's transaction).
    return WhatsAppChannel.objects.filter(tenant=tenant, phone_number_id=PNID).first() or make_number(tenant)
