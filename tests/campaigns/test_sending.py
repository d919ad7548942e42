"""Sending broadcasts in one process: start, planning (rows, skip reasons, variables, the CSV audience), one
message per consenting recipient whatever crashes between the feeder's steps, pause, resume and cancel,
consent re-read at send time, outcomes and replies, quiet hours and the number's quality."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns import sending
from campaigns.models import Broadcast, BroadcastRecipient, ConsentEvent, ConsentPurpose, ConsentState
from conversations.models import Contact, Conversation, Message
from conversations.services import delivery_jobs
from conversations.services.inbound import InboundSpec, message_receive
from helpdesk.exceptions import Conflict, PermissionDenied
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.campaigns.sending_fixtures import MetaRecorder, install, make_broadcast, make_contacts, make_number
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

Status = Broadcast.Status
R = BroadcastRecipient.Status


@pytest.fixture
def meta() -> MetaRecorder:
    return install(MetaRecorder())


@pytest.fixture
def number(tenant, meta):
    return make_number(tenant)


@pytest.fixture
def jobs(monkeypatch) -> list[tuple[str, int]]:
    """The campaign jobs asked for, run by the test when it chooses (delivery stays the core's, in-process)."""
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(sending, "_enqueue", lambda name, pk: asked.append((name, pk)))
    return asked


def _rows(broadcast: Broadcast) -> dict[str, tuple[str, str, dict]]:
    return {
        r.phone: (r.status, r.skip_reason, r.variables)
        for r in BroadcastRecipient.objects.filter(broadcast=broadcast).order_by("pk")
    }


def _run(broadcast: Broadcast, capture) -> str:
    """Feed the broadcast to the end, its deliveries and their events running as each batch commits."""
    state = ""
    for _ in range(1000):
        with capture(execute=True):
            state = sending.broadcast_feed_batch(broadcast_id=broadcast.pk).state
        if state not in ("fed", "full"):
            return state
    raise AssertionError("the feeder never stopped")


def _start(broadcast, capture, jobs, *, actor=None) -> Broadcast:
    with capture(execute=True):
        sending.broadcast_start(actor=actor or owner_of(broadcast.tenant), broadcast=broadcast)
    assert jobs.pop() == ("broadcast_plan", broadcast.pk)
    with capture(execute=True):
        sending.broadcast_plan(broadcast_id=broadcast.pk)
    assert jobs.pop() == ("broadcast_feed", broadcast.pk)
    broadcast.refresh_from_db()
    return broadcast


# --- planning ----------------------------------------------------------------------------------------------------


def test_planning_a_segment_creates_one_row_per_phone_with_its_values_and_skip_reasons(
    tenant, number, jobs, django_capture_on_commit_callbacks
):
    Contact.objects.bulk_create(
        [
            Contact(tenant=tenant, name="Ana", phone_e164="+5511900000001", marketing_consent="opted_in",
                    custom_attributes={"cupom": "A1"}),
            Contact(tenant=tenant, profile_name="Beto", phone_e164="+5511900000002", marketing_consent="opted_in",
                    custom_attributes={"cupom": " B2 "}),
            Contact(tenant=tenant, name="Caio", phone_e164="+5511900000003", marketing_consent="opted_out",
                    custom_attributes={"cupom": "C3"}),
            Contact(tenant=tenant, name="Duda", phone_e164="+5511900000004", marketing_consent="unknown",
                    custom_attributes={"cupom": "D4"}),
            Contact(tenant=tenant, name="Eva", phone_e164="12345", marketing_consent="opted_in",
                    custom_attributes={"cupom": "E5"}),
            Contact(tenant=tenant, name="Fábio", phone_e164="+5511900000006", marketing_consent="opted_in"),
            Contact(tenant=tenant, phone_e164="+5511900000007", marketing_consent="opted_in",
                    custom_attributes={"cupom": "G7"}),
            # The same phone twice: one recipient (the first contact).
            Contact(tenant=tenant, name="Ana de novo", phone_e164="+5511900000001", marketing_consent="opted_in",
                    custom_attributes={"cupom": "Z9"}),
        ]
    )  # fmt: skip
    broadcast = make_broadcast(
        tenant,
        number,
        variables={"body.1": {"attribute": "name", "fallback": "cliente"}, "body.2": {"attribute": "attr:cupom"}},
    )
    broadcast = _start(broadcast, django_capture_on_commit_callbacks, jobs)

    assert broadcast.status == Status.SENDING
    assert broadcast.total == 7
    assert broadcast.template_category == "MARKETING"
    assert _rows(broadcast) == {
        "+5511900000001": (R.PENDING, "", {"body.1": "Ana", "body.2": "A1"}),
        "+5511900000002": (R.PENDING, "", {"body.1": "Beto", "body.2": "B2"}),
        "+5511900000003": (R.SKIPPED, "opted_out", {"body.1": "Caio", "body.2": "C3"}),
        "+5511900000004": (R.SKIPPED, "no_consent", {"body.1": "Duda", "body.2": "D4"}),
        "12345": (R.SKIPPED, "invalid_phone", {"body.1": "Eva", "body.2": "E5"}),
        "+5511900000006": (R.SKIPPED, "missing_variable", {"body.1": "Fábio", "body.2": None}),
        # No name: the phone is the contact's name, as everywhere in the product.
        "+5511900000007": (R.PENDING, "", {"body.1": "+5511900000007", "body.2": "G7"}),
    }
    # Planned again (a redelivered job): nothing more, nothing changed.
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Status.PLANNING)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.broadcast_plan(broadcast_id=broadcast.pk) == 7
    assert BroadcastRecipient.objects.filter(broadcast=broadcast).count() == 7


def test_a_utility_template_needs_no_marketing_consent_but_a_purpose_needs_its_opt_in(
    tenant, number, jobs, django_capture_on_commit_callbacks
):
    contacts = make_contacts(tenant, 4, consent="unknown")
    purpose = ConsentPurpose.objects.create(tenant=tenant, key="pedidos", name="Pedidos")
    for contact, kind in ((contacts[0], "opt_in"), (contacts[1], "opt_out"), (contacts[2], "resume")):
        event = ConsentEvent.objects.create(
            tenant=tenant, contact=contact, purpose=purpose, kind=kind, source="agent", occurred_at=timezone.now()
        )
        ConsentState.objects.create(
            tenant=tenant, contact=contact, purpose=purpose, kind=kind, occurred_at=event.occurred_at, event=event
        )
    plain = _start(make_broadcast(tenant, number, template="aviso"), django_capture_on_commit_callbacks, jobs)
    assert [status for status, _skip, _v in _rows(plain).values()] == [R.PENDING] * 4

    with_purpose = make_broadcast(tenant, number, template="aviso", consent_purpose=purpose)
    with_purpose = _start(with_purpose, django_capture_on_commit_callbacks, jobs)
    assert [(status, skip) for status, skip, _v in _rows(with_purpose).values()] == [
        (R.PENDING, ""),
        (R.SKIPPED, "opted_out"),
        (R.SKIPPED, "no_consent"),
        (R.SKIPPED, "no_consent"),
    ]


def test_planning_a_csv_audience_reads_phones_and_columns_and_matches_known_contacts(
    tenant, number, jobs, django_capture_on_commit_callbacks
):
    Contact.objects.create(tenant=tenant, name="Ana Souza", phone_e164="+5511900000001", marketing_consent="opted_in")
    Contact.objects.create(tenant=tenant, name="Bia", phone_e164="+5511900000003", marketing_consent="opted_out")
    csv_text = (
        "Phone;nome;cupom\n"
        "+55 11 90000-0001;;X1\n"  # a known contact: her name is the fallback's column's? no: the column is empty
        "(11) 90000-0002;Carlos;X2\n"  # national format, in the workspace's country
        "+5511900000003;Bia;X3\n"
        "abc;Zé;X4\n"
        "+5511900000005;Duda;\n"
        "\n"
    )
    broadcast = make_broadcast(
        tenant,
        number,
        template="promo",
        csv_text=csv_text,
        variables={
            "body.1": {"attribute": "column:nome", "fallback": "cliente"},
            "body.2": {"attribute": "column:cupom"},
        },
    )
    broadcast = _start(broadcast, django_capture_on_commit_callbacks, jobs)
    assert _rows(broadcast) == {
        "+5511900000001": (R.PENDING, "", {"body.1": "cliente", "body.2": "X1"}),
        # No contact with this phone: nobody's consent to a marketing template.
        "+5511900000002": (R.SKIPPED, "no_consent", {"body.1": "Carlos", "body.2": "X2"}),
        "+5511900000003": (R.SKIPPED, "opted_out", {"body.1": "Bia", "body.2": "X3"}),
        "abc": (R.SKIPPED, "invalid_phone", {"body.1": "Zé", "body.2": "X4"}),
        "+5511900000005": (R.SKIPPED, "no_consent", {"body.1": "Duda", "body.2": ""}),
    }
    assert BroadcastRecipient.objects.get(broadcast=broadcast, phone="+5511900000001").contact.name == "Ana Souza"
    assert broadcast.total == 5


# --- start, permissions, audit -------------------------------------------------------------------------------------


def test_an_agent_cannot_start_a_broadcast_and_nothing_changes(tenant, number, jobs):
    broadcast = make_broadcast(tenant, number)
    with pytest.raises(PermissionDenied):
        sending.broadcast_start(actor=add_member(tenant, BuiltinRole.AGENT), broadcast=broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == Status.DRAFT
    assert jobs == []


def test_a_broadcast_for_later_is_scheduled_and_the_sweeper_starts_it_when_due(
    tenant, number, jobs, django_capture_on_commit_callbacks
):
    make_contacts(tenant, 2)
    at = timezone.now() + timedelta(hours=2)
    broadcast = make_broadcast(tenant, number, scheduled_at=at)
    sending.broadcast_start(actor=owner_of(tenant), broadcast=broadcast)
    broadcast.refresh_from_db()
    assert (broadcast.status, jobs) == (Status.SCHEDULED, [])
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.BROADCAST_SCHEDULED).count() == 1

    assert sending.broadcasts_sweep(now=at - timedelta(seconds=1))["started"] == 0
    assert sending.broadcasts_sweep(now=at)["started"] == 1
    broadcast.refresh_from_db()
    assert broadcast.status == Status.PLANNING
    assert jobs == [("broadcast_plan", broadcast.pk)]
    with pytest.raises(Conflict):
        sending.broadcast_start(actor=owner_of(tenant), broadcast=broadcast)


# --- sending -------------------------------------------------------------------------------------------------------


def test_each_consenting_recipient_gets_one_template_from_the_broadcast_without_touching_the_inbox(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    contacts = make_contacts(tenant, 5)
    make_contacts(tenant, 2, consent="opted_out", start=100)
    # One customer is waiting for an agent: the broadcast joins their conversation and leaves it waiting.
    with django_capture_on_commit_callbacks(execute=True):
        waiting, _ = message_receive(
            inbox=number.inbox,
            spec=InboundSpec(
                source_id="5511900000099", external_id="wamid.in-1", occurred_at=timezone.now(), type="text", text="Oi"
            ),
        )
    Contact.objects.filter(pk=waiting.conversation.contact_id).update(
        phone_e164="+5511900000099", marketing_consent="opted_in"
    )
    before = Conversation.objects.get(pk=waiting.conversation_id)

    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"

    broadcast.refresh_from_db()
    assert broadcast.status == Status.COMPLETED and broadcast.finished_at is not None
    assert meta.per_recipient() == {**{c.phone_e164.lstrip("+"): 1 for c in contacts}, "5511900000099": 1}
    first = meta.sends[0]
    assert first["type"] == "template" and first["template"]["name"] == "promo"
    assert first["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "Cliente 0"},
        {"type": "text", "text": "BF10"},
    ]
    recipients = BroadcastRecipient.objects.filter(broadcast=broadcast, status=R.SENT).order_by("pk")
    assert recipients.count() == 6
    assert all(r.sent_at is not None and r.message_id for r in recipients)
    message = Message.objects.get(pk=recipients.first().message_id)
    assert (message.sender_type, message.sender_label) == (Message.SenderType.BOT, "Black Friday")
    assert message.idempotency_key == f"broadcast:{broadcast.pk}:{recipients.first().pk}"
    # New conversations are created resolved: nothing new in anyone's open tabs.
    assert set(Conversation.objects.filter(contact__in=contacts).values_list("status", flat=True)) == {"resolved"}
    assert Message.objects.filter(conversation=before, sender_type="bot").count() == 1
    after = Conversation.objects.get(pk=before.pk)
    assert (after.status, after.unread_count, after.waiting_since, after.last_activity_at) == (
        before.status,
        before.unread_count,
        before.waiting_since,
        before.last_activity_at,
    )
    assert BroadcastRecipient.objects.filter(broadcast=broadcast, status=R.SKIPPED).count() == 2


def test_broadcast_messages_join_the_end_of_the_send_queue(
    tenant, number, jobs, monkeypatch, django_capture_on_commit_callbacks
):
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(delivery_jobs, "send_ahead_request", lambda *, message_id: asked.append(("ahead", message_id)))
    monkeypatch.setattr(
        delivery_jobs, "send_request", lambda *, message_id, inbox_id: asked.append(("queue", message_id))
    )
    make_contacts(tenant, 3)
    broadcast = make_broadcast(tenant, number)
    sending.broadcast_start(actor=owner_of(tenant), broadcast=broadcast)
    sending.broadcast_plan(broadcast_id=broadcast.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.broadcast_feed_batch(broadcast_id=broadcast.pk).queued == 3
    assert [where for where, _pk in asked] == ["queue", "queue", "queue"]


def test_a_customer_who_opts_out_after_planning_is_skipped_at_send_time(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    contacts = make_contacts(tenant, 3)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    Contact.objects.filter(pk=contacts[1].pk).update(marketing_consent="opted_out")
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"
    assert meta.per_recipient() == {"5511900000000": 1, "5511900000002": 1}
    skipped = BroadcastRecipient.objects.get(broadcast=broadcast, contact=contacts[1])
    assert (skipped.status, skipped.skip_reason, skipped.message_id) == (R.SKIPPED, "opted_out", None)


@pytest.mark.parametrize("point", ["claimed", "conversations", "message", "recorded", "committed"])
def test_a_feeder_that_crashes_between_any_two_steps_sends_each_recipient_exactly_once(
    tenant, number, meta, jobs, monkeypatch, django_capture_on_commit_callbacks, point
):
    contacts = make_contacts(tenant, 7)
    make_contacts(tenant, 3, consent="unknown", start=50)
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_FEED_BATCH", 3, raising=False)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    crashes = []

    def crash(name: str) -> None:
        if name == point and len(crashes) < 2:
            crashes.append(name)
            raise RuntimeError(f"worker died at {name}")

    monkeypatch.setattr(sending, "_crashpoint", crash)
    for _ in range(2):
        with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
            sending.broadcast_feed_batch(broadcast_id=broadcast.pk)
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"

    assert crashes == [point, point]
    assert meta.per_recipient() == {c.phone_e164.lstrip("+"): 1 for c in contacts}
    assert Message.objects.filter(idempotency_key__startswith=f"broadcast:{broadcast.pk}:").count() == 7
    assert BroadcastRecipient.objects.filter(broadcast=broadcast, status=R.SENT).count() == 7


def test_cancel_stops_feeding_and_withdraws_messages_still_in_the_queue(
    tenant, number, meta, jobs, monkeypatch, django_capture_on_commit_callbacks
):
    make_contacts(tenant, 6)
    monkeypatch.setattr(sending.settings, "CAMPAIGNS_FEED_BATCH", 2, raising=False)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    with django_capture_on_commit_callbacks(execute=True):
        sending.broadcast_feed_batch(broadcast_id=broadcast.pk)  # two sent
    # The next two wait in the send queue (the broker is slow to hand them out).
    monkeypatch.setattr(delivery_jobs, "send_requests", lambda messages: 0)
    with django_capture_on_commit_callbacks(execute=True):
        sending.broadcast_feed_batch(broadcast_id=broadcast.pk)
    queued = list(Message.objects.filter(status=Message.Status.QUEUED).values_list("pk", flat=True))
    assert len(queued) == 2

    with django_capture_on_commit_callbacks(execute=True):
        sending.broadcast_cancel(actor=owner_of(tenant), broadcast=broadcast)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.broadcast_feed_batch(broadcast_id=broadcast.pk).state == Status.CANCELED
    from conversations.services.delivery import message_deliver

    assert [message_deliver(message_id=pk) for pk in queued] == ["not-claimed", "not-claimed"]
    assert len(meta.sends) == 2
    counts = dict(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("status").annotate(n=Count("pk")))
    assert counts == {R.SENT: 2, R.CANCELED: 4}
    assert set(Message.objects.filter(pk__in=queued).values_list("status", "error_title")) == {
        ("failed", "Withdrawn before it was sent")
    }
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.BROADCAST_CANCELED).get().extra["canceled"] == 4


def test_pause_stops_feeding_and_resume_goes_on(tenant, number, meta, jobs, django_capture_on_commit_callbacks):
    make_contacts(tenant, 3)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    sending.broadcast_pause(actor=owner_of(tenant), broadcast=broadcast)
    assert _run(broadcast, django_capture_on_commit_callbacks) == Status.PAUSED
    assert meta.sends == []
    with pytest.raises(Conflict):
        sending.broadcast_pause(actor=owner_of(tenant), broadcast=broadcast)
    sending.broadcast_resume(actor=owner_of(tenant), broadcast=broadcast)
    assert jobs == [("broadcast_feed", broadcast.pk)]
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"
    assert len(meta.sends) == 3
    actions = list(
        AuditLogEntry.objects.filter(action__startswith="broadcast.").order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["broadcast.started", "broadcast.paused", "broadcast.resumed"]


def test_a_red_number_pauses_the_broadcast_with_its_reason(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    make_contacts(tenant, 2)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    type(number).objects.filter(pk=number.pk).update(quality_rating="RED")
    assert _run(broadcast, django_capture_on_commit_callbacks) == Status.PAUSED
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.wait_reason, meta.sends) == (Status.PAUSED, "quality", [])


def test_quiet_hours_across_midnight_make_the_broadcast_wait_until_they_end(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    make_contacts(tenant, 2)
    broadcast = make_broadcast(tenant, number, quiet_start=time(21, 0), quiet_end=time(8, 0))
    broadcast = _start(broadcast, django_capture_on_commit_callbacks, jobs)
    # 23:30 in São Paulo (UTC-3).
    night = datetime(2026, 12, 8, 2, 30, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.broadcast_feed_batch(broadcast_id=broadcast.pk, now=night).state == Status.WAITING
    broadcast.refresh_from_db()
    assert (broadcast.wait_reason, broadcast.wait_until) == ("quiet_hours", datetime(2026, 12, 8, 11, 0, tzinfo=UTC))
    assert sending.quiet_until(broadcast, datetime(2026, 12, 8, 10, 59, tzinfo=UTC)) == broadcast.wait_until
    assert sending.quiet_until(broadcast, datetime(2026, 12, 8, 11, 0, tzinfo=UTC)) is None
    assert sending.quiet_until(broadcast, datetime(2026, 12, 8, 23, 59, tzinfo=UTC)) is None  # 20:59 there
    assert sending.quiet_until(broadcast, datetime(2026, 12, 9, 0, 0, tzinfo=UTC)) == datetime(
        2026, 12, 9, 11, 0, tzinfo=UTC
    )
    assert sending.broadcasts_sweep(now=datetime(2026, 12, 8, 11, 0, tzinfo=UTC))["resumed"] == 1
    assert meta.sends == []


# --- outcomes ------------------------------------------------------------------------------------------------------


def test_statuses_move_recipients_forward_and_the_per_user_marketing_limit_skips(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    from conversations.services.delivery_status import StatusSpec, message_statuses_update

    make_contacts(tenant, 3)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"
    first, second, third = (
        BroadcastRecipient.objects.filter(broadcast=broadcast).select_related("message").order_by("pk")
    )
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        message_statuses_update(
            inbox=number.inbox,
            specs=[
                StatusSpec(external_id=first.message.external_id, status="read", occurred_at=now),
                StatusSpec(external_id=first.message.external_id, status="delivered", occurred_at=now),
                StatusSpec(external_id=second.message.external_id, status="failed", occurred_at=now,
                           error_code=131049, error_title="Not delivered to maintain healthy ecosystem engagement."),
                StatusSpec(external_id=third.message.external_id, status="failed", occurred_at=now,
                           error_code=131026, error_title="Message undeliverable"),
            ],
        )  # fmt: skip
    rows = {
        r.pk: (r.status, r.skip_reason, r.error_code) for r in BroadcastRecipient.objects.filter(broadcast=broadcast)
    }
    assert rows == {
        first.pk: (R.READ, "", None),
        second.pk: (R.SKIPPED, "user_limit", 131049),
        third.pk: (R.FAILED, "", 131026),
    }


def test_only_automations_message_statuses_are_delivered_to_the_broadcasts_outcomes(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    """An agent's reply is never a broadcast's: its statuses get no delivery for the outcomes' subscriber."""
    from conversations.models import EventDelivery, OutboxEvent
    from conversations.services.outbound import OutboundSpec, message_send

    contact = make_contacts(tenant, 1)[0]
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"
    with django_capture_on_commit_callbacks(execute=True):
        inbound, _ = message_receive(
            inbox=number.inbox,
            spec=InboundSpec(
                source_id=contact.phone_e164.lstrip("+"),
                external_id="wamid.IN1",
                occurred_at=timezone.now(),
                type="text",
                text="Oi",
            ),
        )
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(
            actor=owner_of(tenant), conversation=inbound.conversation, spec=OutboundSpec(type="text", text="Olá")
        )
    broadcast_message = BroadcastRecipient.objects.get(broadcast=broadcast).message

    def subscribers(message) -> set[str]:
        events = OutboxEvent.objects.filter(event_type="message.status_changed", payload__message_id=message.pk)
        assert events.exists()
        return set(EventDelivery.objects.filter(event__in=events).values_list("subscriber", flat=True))

    assert subscribers(broadcast_message) == {sending.SUBSCRIBER_STATUSES}
    assert subscribers(reply) == set()
    assert {e.payload["sender_type"] for e in OutboxEvent.objects.filter(event_type="message.status_changed")} == {
        "bot",
        "agent",
    }


def test_a_reply_after_the_broadcast_is_recorded_on_its_recipient(
    tenant, number, meta, jobs, django_capture_on_commit_callbacks
):
    contacts = make_contacts(tenant, 2)
    broadcast = _start(make_broadcast(tenant, number), django_capture_on_commit_callbacks, jobs)
    assert _run(broadcast, django_capture_on_commit_callbacks) == "done"
    at = timezone.now() + timedelta(minutes=3)
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_receive(
            inbox=number.inbox,
            spec=InboundSpec(
                source_id="5511900000001", external_id="wamid.reply", occurred_at=at, type="text", text="Eu quero"
            ),
        )
    replied = dict(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("contact_id", "replied_at"))
    assert replied == {contacts[0].pk: None, contacts[1].pk: at}
    # The answer opens a conversation for the team, as any customer message does.
    assert reply.conversation.status == "open"
