"""Scheduled messages: what can be scheduled, sent exactly once when due (whatever runs the job, or dies in it),
checked again when sent, and canceled only before it is being sent."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from campaigns.models import ScheduledMessage
from campaigns.scheduling import (
    ScheduledMessageNotCancelable,
    ScheduleIdempotencyMismatch,
    TemplateSpec,
    message_schedule,
    scheduled_message_cancel,
    scheduled_messages_send_due,
)
from conversations import channels
from conversations.models import Conversation, Message
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.campaigns.scheduling_setup import customer_wrote, make_whatsapp
from tests.conversations.factories import make_role
from tests.factories import add_member, owner_of
from tests.prerequisites import require_postgresql
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db

REMINDER = TemplateSpec(name="appointment_reminder", language="pt_BR", params={"body": ["Ana", "10:00"]})


@pytest.fixture
def channel(tenant):
    return make_whatsapp(tenant)


@pytest.fixture
def conversation(channel):
    return customer_wrote(channel, minutes_ago=60)


def _schedule(actor, conversation, *, hours: float = 1, now=None, **kwargs):
    now = now or timezone.now()
    kwargs.setdefault("template", REMINDER) if "text" not in kwargs else None
    scheduled, _created = message_schedule(
        actor=actor,
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=now + timedelta(hours=hours),
        now=now,
        **kwargs,
    )
    return scheduled


def _sent(conversation) -> list[Message]:
    return list(
        Message.objects.filter(conversation__contact=conversation.contact, direction="out").exclude(type="system")
    )


def test_a_due_template_is_sent_once_however_often_the_job_runs(tenant, conversation):
    now = timezone.now()
    scheduled = _schedule(owner_of(tenant), conversation, hours=1, now=now)

    early = scheduled_messages_send_due(now=now + timedelta(minutes=59))
    first = scheduled_messages_send_due(now=now + timedelta(hours=1, seconds=1))
    second = scheduled_messages_send_due(now=now + timedelta(hours=1, seconds=31))

    assert early == {"sent": 0, "failed": 0, "skipped": 0, "retaken": 0, "errors": 0}
    assert first["sent"] == 1 and second["sent"] == 0
    scheduled.refresh_from_db()
    [message] = _sent(conversation)
    assert (scheduled.status, scheduled.message_id, scheduled.conversation_id) == ("sent", message.pk, conversation.pk)
    assert (message.type, message.status, message.text) == (
        "template",
        "queued",
        "Olá Ana, sua consulta é amanhã às 10:00.",
    )
    assert message.idempotency_key == f"scheduled:{scheduled.pk}"
    assert message.sender_user_id == owner_of(tenant).user_id


def test_scheduling_and_canceling_are_audited(tenant, conversation):
    scheduled = _schedule(owner_of(tenant), conversation)
    scheduled_message_cancel(actor=owner_of(tenant), scheduled=scheduled)

    actions = list(
        AuditLogEntry.objects.filter(
            tenant=tenant, target_type="campaigns.scheduledmessage", target_id=str(scheduled.pk)
        )
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [AuditLogEntry.Action.MESSAGE_SCHEDULED, AuditLogEntry.Action.SCHEDULED_MESSAGE_CANCELED]


def test_a_canceled_message_is_never_sent(tenant, conversation):
    now = timezone.now()
    scheduled = _schedule(owner_of(tenant), conversation, now=now)

    scheduled_message_cancel(actor=owner_of(tenant), scheduled=scheduled)
    outcome = scheduled_messages_send_due(now=now + timedelta(hours=2))

    scheduled.refresh_from_db()
    assert (scheduled.status, outcome["sent"], _sent(conversation)) == ("canceled", 0, [])


def test_a_message_being_sent_cannot_be_canceled(tenant, conversation):
    scheduled = _schedule(owner_of(tenant), conversation)
    ScheduledMessage.objects.filter(pk=scheduled.pk).update(status="sending", claimed_at=timezone.now())

    with pytest.raises(ScheduledMessageNotCancelable):
        scheduled_message_cancel(actor=owner_of(tenant), scheduled=scheduled)

    scheduled.refresh_from_db()
    assert scheduled.status == "sending"
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.SCHEDULED_MESSAGE_CANCELED).exists()


def test_a_claim_whose_job_died_is_sent_once_by_the_sweeper(tenant, conversation):
    now = timezone.now()
    scheduled = _schedule(owner_of(tenant), conversation, now=now)
    # The job claimed it and died before sending.
    ScheduledMessage.objects.filter(pk=scheduled.pk).update(status="sending", claimed_at=now + timedelta(hours=1))

    too_soon = scheduled_messages_send_due(now=now + timedelta(hours=1, seconds=60))
    retaken = scheduled_messages_send_due(now=now + timedelta(hours=1, seconds=121))
    again = scheduled_messages_send_due(now=now + timedelta(hours=1, seconds=400))

    assert (too_soon["sent"], retaken["sent"], retaken["retaken"], again["sent"]) == (0, 1, 1, 0)
    assert len(_sent(conversation)) == 1


def test_a_job_that_died_after_sending_sends_nothing_more(tenant, conversation):
    now = timezone.now()
    scheduled = _schedule(owner_of(tenant), conversation, now=now)
    ScheduledMessage.objects.filter(pk=scheduled.pk).update(status="sending", claimed_at=now)
    # The send committed, the job died before marking it sent.
    message, _created = message_send(
        actor=owner_of(tenant),
        conversation=conversation,
        spec=OutboundSpec(
            type="template", content={"name": REMINDER.name, "language": "pt_BR", "params": REMINDER.params}
        ),
        idempotency_key=f"scheduled:{scheduled.pk}",
    )

    scheduled_messages_send_due(now=now + timedelta(minutes=10))

    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.message_id) == ("sent", message.pk)
    assert [m.pk for m in _sent(conversation)] == [message.pk]


def test_text_is_scheduled_only_while_the_window_will_be_open(tenant, conversation):
    # The customer wrote an hour ago: the window closes in 23 hours.
    scheduled = _schedule(owner_of(tenant), conversation, hours=22, text="Seu pedido saiu para entrega")
    with pytest.raises(ValidationFailed) as refused:
        _schedule(owner_of(tenant), conversation, hours=23.5, text="Tarde demais")

    assert scheduled.kind == "text" and scheduled.conversation_id == conversation.pk
    assert refused.value.code == "reply_window_closed_at_send_time"
    assert ScheduledMessage.objects.count() == 1


def test_text_whose_window_closed_meanwhile_fails_with_the_reason_in_the_history(tenant, conversation):
    now = timezone.now()
    scheduled = _schedule(owner_of(tenant), conversation, hours=1, now=now, text="Seu pedido saiu")
    # The window ended before the time came (a customer's timestamp corrected, a long outage of the job).
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))

    outcome = scheduled_messages_send_due(now=now + timedelta(hours=1))

    scheduled.refresh_from_db()
    assert (outcome["failed"], scheduled.status, scheduled.failure_code) == (1, "failed", "reply_window_closed")
    assert not Message.objects.filter(conversation=conversation, type="text", direction="out").exists()
    line = Message.objects.get(conversation=conversation, type="system")
    assert line.private is True
    assert line.text.startswith("Scheduled message not sent: The customer's reply window is closed.")


def test_a_template_no_longer_approved_fails_at_send_time(tenant, channel, conversation):
    now = timezone.now()
    scheduled = _schedule(owner_of(tenant), conversation, now=now)
    MessageTemplate.objects.filter(name="appointment_reminder").update(status="PAUSED")

    scheduled_messages_send_due(now=now + timedelta(hours=1))

    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.message_id) == ("failed", None)
    assert "only approved templates can be sent" in scheduled.failure
    assert _sent(conversation) == []
    assert Message.objects.filter(conversation=conversation, type="system").count() == 1


def test_a_marketing_template_to_a_contact_without_consent_fails_with_that_reason(tenant, conversation, monkeypatch):
    now = timezone.now()
    sale = TemplateSpec(name="spring_sale", language="pt_BR", params={"body": ["Ana"]})
    scheduled = _schedule(owner_of(tenant), conversation, now=now, template=sale)
    backend = channels.backend_for(conversation.inbox)
    real_prepare = backend.prepare_outbound

    def consent_checked(*, conversation, spec):
        if spec.content.get("name") == "spring_sale":
            raise ValidationFailed("This contact has not opted in to marketing.", code="no_marketing_consent")
        return real_prepare(conversation=conversation, spec=spec)

    monkeypatch.setattr(backend, "prepare_outbound", consent_checked)
    scheduled_messages_send_due(now=now + timedelta(hours=1))

    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.failure_code) == ("failed", "no_marketing_consent")
    assert scheduled.failure == "This contact has not opted in to marketing."
    assert _sent(conversation) == []


def test_unknown_or_unapproved_templates_and_bad_values_are_refused_when_scheduling(tenant, conversation):
    MessageTemplate.objects.filter(name="spring_sale").update(status="PENDING")
    refusals = []
    for template in (
        TemplateSpec(name="nope", language="pt_BR", params={}),
        TemplateSpec(name="spring_sale", language="pt_BR", params={"body": ["Ana"]}),
        TemplateSpec(name="appointment_reminder", language="pt_BR", params={"body": ["Ana"]}),
    ):
        with pytest.raises(ValidationFailed) as refused:
            _schedule(owner_of(tenant), conversation, template=template)
        refusals.append(refused.value.code)
    assert refusals == ["template_not_approved", "template_not_approved", "template_params_invalid"]
    assert ScheduledMessage.objects.count() == 0


@pytest.mark.parametrize(
    ("delta", "accepted"),
    [(timedelta(seconds=-1), False), (timedelta(days=90), True), (timedelta(days=90, seconds=1), False)],
)
def test_send_at_is_in_the_future_and_at_most_90_days_ahead(tenant, conversation, delta, accepted):
    now = timezone.now()
    schedule = lambda: message_schedule(  # noqa: E731
        actor=owner_of(tenant),
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=now + delta,
        template=REMINDER,
        now=now,
    )
    if accepted:
        schedule()
    else:
        with pytest.raises(ValidationFailed):
            schedule()
    assert ScheduledMessage.objects.count() == int(accepted)


def test_templates_need_send_templates_and_texts_need_reply(tenant, conversation):
    replies_only = add_member(tenant, make_role(tenant, [Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS]))
    templates_only = add_member(tenant, make_role(tenant, [Perm.SEND_TEMPLATES, Perm.VIEW_ALL_CONVERSATIONS]))

    with pytest.raises(PermissionDenied):
        _schedule(replies_only, conversation)
    with pytest.raises(PermissionDenied):
        _schedule(templates_only, conversation, text="Oi")
    _schedule(replies_only, conversation, text="Oi")
    _schedule(templates_only, conversation)

    assert sorted(ScheduledMessage.objects.values_list("kind", flat=True)) == ["template", "text"]


def test_another_workspaces_contact_or_inbox_is_not_found(tenant, other_tenant, conversation):
    from helpdesk.exceptions import NotFound

    theirs = customer_wrote(make_whatsapp(other_tenant, phone_number_id="999000111"), source_id="5511911112222")
    with pytest.raises(NotFound):
        message_schedule(
            actor=owner_of(tenant),
            contact=theirs.contact,
            inbox=conversation.inbox,
            send_at=timezone.now() + timedelta(hours=1),
            template=REMINDER,
        )
    with pytest.raises(NotFound):
        message_schedule(
            actor=owner_of(tenant),
            contact=conversation.contact,
            inbox=theirs.inbox,
            send_at=timezone.now() + timedelta(hours=1),
            template=REMINDER,
        )
    scheduled = _schedule(owner_of(tenant), conversation)
    with pytest.raises(NotFound):
        scheduled_message_cancel(actor=owner_of(other_tenant), scheduled=scheduled)
    assert ScheduledMessage.objects.get().status == "scheduled"


def test_the_same_idempotency_key_schedules_once(tenant, conversation):
    now = timezone.now()
    first = _schedule(owner_of(tenant), conversation, now=now, idempotency_key="remind-42")
    again = _schedule(owner_of(tenant), conversation, now=now, idempotency_key="remind-42")
    with pytest.raises(ScheduleIdempotencyMismatch):
        _schedule(owner_of(tenant), conversation, now=now, hours=2, idempotency_key="remind-42")

    assert first.pk == again.pk
    assert ScheduledMessage.objects.count() == 1


def test_a_member_who_left_is_replaced_by_the_scheduled_message_automation(tenant, conversation):
    now = timezone.now()
    member = add_member(tenant, "supervisor")
    _schedule(member, conversation, now=now)
    member.active = False
    member.save(update_fields=["active"])

    scheduled_messages_send_due(now=now + timedelta(hours=1))

    [message] = _sent(conversation)
    assert (message.sender_type, message.sender_user_id, message.sender_label) == ("bot", None, "Scheduled message")


@pytest.mark.django_db(transaction=True)
def test_concurrent_jobs_send_each_due_message_once(tenant, conversation):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    now = timezone.now()
    for hours in (1, 1, 1.5):
        _schedule(owner_of(tenant), conversation, hours=hours, now=now)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            scheduled_messages_send_due(now=now + timedelta(hours=2))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(_sent(conversation)) == 3
    assert set(ScheduledMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_an_unexpected_error_with_one_message_does_not_hold_up_the_others(tenant, conversation, monkeypatch, caplog):
    import campaigns.scheduling as scheduling

    now = timezone.now()
    broken = _schedule(owner_of(tenant), conversation, now=now, hours=1)
    fine = _schedule(owner_of(tenant), conversation, now=now, hours=1.5)
    real_deliver = scheduling._deliver

    def deliver(scheduled):
        if scheduled.pk == broken.pk:
            raise RuntimeError("the channel's backend is missing")
        return real_deliver(scheduled)

    monkeypatch.setattr(scheduling, "_deliver", deliver)
    outcome = scheduled_messages_send_due(now=now + timedelta(hours=2))

    assert (outcome["sent"], outcome["errors"]) == (1, 1)
    assert dict(ScheduledMessage.objects.values_list("pk", "status")) == {broken.pk: "sending", fine.pk: "sent"}
    assert f"Scheduled message {broken.pk} could not be sent" in caplog.text
