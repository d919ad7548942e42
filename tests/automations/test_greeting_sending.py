"""Greeting and away messages as customers and agents meet them: when each is sent and when not, once,
in the contact's language, as the automation, inside the reply window only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from automations import greeting_sender
from automations.models import AutomatedMessage, GreetingSettings
from automations.services import calendar_delete
from conversations.actors import AutomationActor
from conversations.events import delivery as event_delivery
from conversations.models import EventDelivery, Message, OutboxEvent
from conversations.services.actions import conversation_status_set
from conversations.services.inbound import contact_inbox_get_or_create
from conversations.services.outbound import OutboundSpec, message_send
from tenants.models import AuditLogEntry
from tests.automations.conftest import CUSTOMER
from tests.factories import add_member

pytestmark = pytest.mark.django_db

GREETING_LINE = "Greeting sent by automation 'Greeting': the customer's first message."
AWAY_LINE = (
    "Away message sent by automation 'Away message': outside the business hours “Office hours”, "
    "open again Tuesday at 09:00."
)
# São Paulo is UTC-3 all year.
SATURDAY_10H = datetime(2026, 9, 5, 13, 0, tzinfo=UTC)
TUESDAY_20H = datetime(2026, 9, 8, 23, 0, tzinfo=UTC)


def outbound(conversation) -> list[tuple[str, str, str, bool, str]]:
    """What the business wrote in the conversation, in order: (type, sender type, label, private, text)."""
    rows = Message.objects.filter(conversation=conversation, direction="out").order_by("id")
    return [(m.type, m.sender_type, m.sender_label, m.private, m.text) for m in rows]


def greeting(text: str = "Hi Maria, welcome to Support!") -> tuple[str, str, str, bool, str]:
    return ("text", "bot", "Greeting", False, text)


def away(text: str = "We are closed. We open Tuesday at 09:00.") -> tuple[str, str, str, bool, str]:
    return ("text", "bot", "Away message", False, text)


def line(text: str) -> tuple[str, str, str, bool, str]:
    return ("system", "system", "", True, text)


# --- the greeting -------------------------------------------------------------------------------------


def test_the_customers_first_message_ever_is_greeted_once_as_the_automation(
    tenant, channel, clock, sends, configure, customer_writes
):
    configure(greeting_enabled=True)

    first = customer_writes("Oi")
    customer_writes("Alguém aí?")

    conversation = first.conversation
    assert outbound(conversation) == [greeting(), line(GREETING_LINE)]
    sent = Message.objects.get(conversation=conversation, sender_type="bot")
    settings = GreetingSettings.objects.get(inbox=channel.inbox)
    assert (sent.status, sent.sender_automation_id, sent.idempotency_key) == (
        "queued",
        settings.pk,
        f"automation-greeting-{first.pk}",
    )
    assert sends.message_ids == [sent.pk]
    assert list(AutomatedMessage.objects.values_list("kind", "trigger_message", "message", "language")) == [
        ("greeting", first.pk, sent.pk, "en")
    ]
    entry = AuditLogEntry.objects.get(action="message.sent")
    assert (entry.actor_id, entry.actor_label) == (None, f"automation 'Greeting' (#{settings.pk})")
    event = OutboxEvent.objects.get(event_type="message.sent")
    assert (event.payload["actor_type"], event.payload["actor_id"]) == ("automation", settings.pk)
    assert set(EventDelivery.objects.filter(subscriber="automations.greeting").values_list("state", flat=True)) == {
        "done"
    }


def test_a_customer_is_not_greeted_again_in_a_new_conversation_when_greeting_the_first_message_ever(
    tenant, admin, clock, sends, configure, customer_writes
):
    configure(greeting_enabled=True)
    first = customer_writes("Oi")
    conversation_status_set(actor=admin, conversation=first.conversation, status="resolved")
    clock.advance(days=400)

    later = customer_writes("Voltei")

    assert later.conversation_id != first.conversation_id
    assert outbound(later.conversation) == []
    assert AutomatedMessage.objects.count() == 1


def test_a_customer_back_after_n_days_without_contact_is_greeted_again(
    tenant, admin, clock, sends, configure, customer_writes
):
    configure(greeting_enabled=True, greeting_when="after_days", greeting_after_days=7)
    first = customer_writes("Oi")
    conversation = first.conversation
    clock.advance(days=3)
    customer_writes("Ainda preciso de ajuda")  # three days later: contact within the week
    clock.advance(hours=1)
    conversation.refresh_from_db()
    message_send(actor=admin, conversation=conversation, spec=OutboundSpec(type="text", text="Resolvido!"))
    clock.advance(days=6, hours=23, minutes=30)
    # 7 days and 30 minutes after the customer's last message, but the agent wrote 6 days 23:30 ago.
    customer_writes("Obrigada")
    clock.advance(days=7, seconds=1)

    back = customer_writes("Oi de novo")

    bots = Message.objects.filter(conversation=conversation, sender_type="bot").order_by("id")
    assert [m.text for m in bots] == ["Hi Maria, welcome to Support!"] * 2
    assert list(AutomatedMessage.objects.order_by("id").values_list("trigger_message", flat=True)) == [
        first.pk,
        back.pk,
    ]
    assert outbound(conversation)[-1] == line(
        "Greeting sent by automation 'Greeting': the first message after 7 days without contact."
    )


def test_messages_arriving_out_of_order_are_greeted_once(tenant, clock, sends, configure, customer_writes):
    configure(greeting_enabled=True)
    written = clock.now
    # The customer's second message reaches us first, then the first one, stamped a minute earlier.
    second = customer_writes("Alguém aí?", at=written)
    first = customer_writes("Oi", at=written - timedelta(minutes=1))

    assert first.conversation_id == second.conversation_id
    assert outbound(first.conversation) == [greeting(), line(GREETING_LINE)]
    assert list(AutomatedMessage.objects.values_list("trigger_message", flat=True)) == [second.pk]


def test_a_redelivered_event_or_a_job_run_again_sends_nothing_more(
    tenant, channel, clock, sends, configure, customer_writes, django_capture_on_commit_callbacks
):
    configure(greeting_enabled=True)
    first = customer_writes("Oi")
    delivery = EventDelivery.objects.get(subscriber="automations.greeting")

    with django_capture_on_commit_callbacks(execute=True):
        event_delivery.event_deliver(delivery_id=delivery.pk)  # done: the subscriber is not called
    event = event_delivery.event_load(OutboxEvent.objects.get(pk=delivery.event_id))
    with django_capture_on_commit_callbacks(execute=True):
        greeting_sender.messages_received([event])  # its "done" was lost: called again

    assert outbound(first.conversation) == [greeting(), line(GREETING_LINE)]
    assert len(sends.message_ids) == 1
    assert AuditLogEntry.objects.filter(action="message.sent").count() == 1


def test_nothing_is_sent_when_the_reply_window_is_closed(tenant, clock, sends, configure, customer_writes, caplog):
    configure(greeting_enabled=True)

    with caplog.at_level(logging.INFO, logger="automations.greeting_sender"):
        # A message written 25 hours ago, delivered by a late webhook: its window has closed.
        late = customer_writes("Oi", at=clock.now - timedelta(hours=25))

    assert outbound(late.conversation) == []
    assert sends.message_ids == []
    assert AutomatedMessage.objects.count() == 0
    assert not AuditLogEntry.objects.filter(action="message.sent").exists()
    assert f"No greeting for message {late.pk}: the customer's reply window is closed" in caplog.messages
    assert EventDelivery.objects.get(subscriber="automations.greeting").state == "done"


def test_nothing_is_sent_when_greeting_and_away_are_off(tenant, clock, sends, configure, customer_writes, office_hours):
    configure(greeting_enabled=False, away_enabled=False)

    first = customer_writes("Oi")

    assert outbound(first.conversation) == []
    assert sends.message_ids == []


# --- the contact's language ---------------------------------------------------------------------------


def test_the_greeting_speaks_the_workspaces_language_unless_the_contact_has_one(
    tenant, channel, clock, sends, configure, customer_writes
):
    tenant.locale = "pt-br"
    tenant.save(update_fields=["locale"])
    configure(greeting_enabled=True)
    # A contact the team knows speaks English, before their first message.
    known = contact_inbox_get_or_create(inbox=channel.inbox, source_id="5511922220002", profile_name="John Smith")
    known.contact.custom_attributes = {"language": "en"}
    known.contact.save(update_fields=["custom_attributes"])

    ana = customer_writes("Oi", source_id="5511911110001", name="Ana Souza")
    john = customer_writes("Hi", source_id="5511922220002", name="John Smith")

    assert [m.text for m in Message.objects.filter(sender_type="bot", conversation=ana.conversation)] == [
        "Olá Ana, boas-vindas ao Support!"
    ]
    assert [m.text for m in Message.objects.filter(sender_type="bot", conversation=john.conversation)] == [
        "Hi John, welcome to Support!"
    ]
    assert list(AutomatedMessage.objects.order_by("id").values_list("language", flat=True)) == ["pt-br", "en"]


def test_a_language_without_wording_falls_back_to_one_that_has_it(tenant, clock, sends, configure, customer_writes):
    tenant.locale = "pt-br"
    tenant.save(update_fields=["locale"])
    configure(greeting_enabled=True, greeting_texts={"en": "Hello {{contact.name}}!"})

    first = customer_writes("Oi", name="Maria da Silva")

    assert [m.text for m in Message.objects.filter(sender_type="bot")] == ["Hello Maria da Silva!"]
    assert first.conversation.contact.custom_attributes == {}


def test_a_contact_without_a_name_is_greeted_without_one(tenant, clock, sends, configure, customer_writes):
    configure(greeting_enabled=True, greeting_texts={"en": "Hi {{ contact.first_name }}! This is {{inbox.name}}."})

    customer_writes("Oi", name="")

    assert [m.text for m in Message.objects.filter(sender_type="bot")] == ["Hi ! This is Support."]


# --- the away message ---------------------------------------------------------------------------------


def test_outside_hours_the_away_message_tells_the_next_opening_across_a_holiday_weekend(
    tenant, clock, sends, configure, customer_writes, office_hours
):
    configure(away_enabled=True)

    first = customer_writes("Oi")  # Friday 20:00; Monday 7 September is Independence Day

    assert outbound(first.conversation) == [away(), line(AWAY_LINE)]


def test_the_away_message_in_portuguese_names_the_day_in_portuguese(
    tenant, clock, sends, configure, customer_writes, office_hours
):
    tenant.locale = "pt-br"
    tenant.save(update_fields=["locale"])
    configure(away_enabled=True)

    customer_writes("Oi")

    assert [m.text for m in Message.objects.filter(sender_type="bot")] == [
        "Estamos fechados. Abrimos terça-feira às 09:00."
    ]


def test_within_hours_no_away_message_is_sent(tenant, clock, sends, configure, customer_writes, office_hours):
    configure(away_enabled=True)
    clock.set(datetime(2026, 9, 8, 13, 30, tzinfo=UTC))  # Tuesday 10:30

    first = customer_writes("Oi")

    assert outbound(first.conversation) == []


def test_the_away_message_is_sent_once_per_conversation_every_n_hours(
    tenant, clock, sends, configure, customer_writes, office_hours
):
    configure(away_enabled=True, away_every_hours=4)
    clock.set(SATURDAY_10H)
    first = customer_writes("Oi")
    clock.advance(hours=1)
    customer_writes("Alguém?")
    clock.advance(hours=2, minutes=59)
    customer_writes("Olá?")  # 3:59 after the away message
    clock.advance(minutes=2)

    last = customer_writes("Oi de novo")  # 4:01 after it

    bots = list(Message.objects.filter(conversation=first.conversation, sender_type="bot").order_by("id"))
    assert [m.text for m in bots] == ["We are closed. We open Tuesday at 09:00."] * 2
    assert list(AutomatedMessage.objects.order_by("id").values_list("trigger_message", flat=True)) == [
        first.pk,
        last.pk,
    ]


def test_no_away_message_while_an_agent_replied_within_m_minutes(
    tenant, channel, clock, sends, configure, customer_writes, office_hours
):
    configure(away_enabled=True, away_every_hours=1, away_agent_quiet_minutes=15)
    agent = add_member(tenant, "agent")
    channel.inbox.members.add(agent.user)
    first = customer_writes("Oi")
    conversation = first.conversation
    clock.advance(hours=2)  # the first away message is more than an hour old
    message_send(actor=agent, conversation=conversation, spec=OutboundSpec(type="text", text="Estou aqui!"))
    clock.advance(minutes=14)

    quiet = customer_writes("Que bom!")  # 14 minutes after the agent's reply

    assert not AutomatedMessage.objects.filter(trigger_message=quiet).exists()
    clock.advance(minutes=2)
    later = customer_writes("Ainda aí?")  # 16 minutes after it
    assert list(AutomatedMessage.objects.order_by("id").values_list("trigger_message", flat=True)) == [
        first.pk,
        later.pk,
    ]


def test_an_automations_reply_does_not_hold_the_away_message_back(
    tenant, clock, sends, configure, customer_writes, office_hours
):
    configure(away_enabled=True, away_every_hours=1, away_agent_quiet_minutes=15)
    first = customer_writes("Oi")
    clock.advance(hours=2)  # the first away message is more than an hour old
    bot = AutomationActor(tenant_id=tenant.pk, automation_id=99, name="Pesquisa", kind="csat")
    message_send(actor=bot, conversation=first.conversation, spec=OutboundSpec(type="text", text="Como foi?"))
    clock.advance(minutes=1)

    later = customer_writes("Ótimo")

    assert list(AutomatedMessage.objects.order_by("id").values_list("kind", "trigger_message")) == [
        ("away", first.pk),
        ("away", later.pk),
    ]


def test_the_first_message_outside_hours_gets_the_greeting_then_the_away_message(
    tenant, clock, sends, configure, customer_writes, office_hours
):
    configure(greeting_enabled=True, away_enabled=True)

    first = customer_writes("Oi")
    customer_writes("Alguém?")

    assert outbound(first.conversation) == [greeting(), line(GREETING_LINE), away(), line(AWAY_LINE)]
    bots = list(Message.objects.filter(sender_type="bot").order_by("id"))
    assert sends.message_ids == [m.pk for m in bots]
    assert bots[0].occurred_at <= bots[1].occurred_at


def test_without_business_hours_no_away_message_is_sent(
    tenant, admin, channel, clock, sends, configure, customer_writes, office_hours
):
    configure(away_enabled=True)
    calendar_delete(actor=admin, calendar=office_hours)

    first = customer_writes("Oi")

    assert outbound(first.conversation) == []


# --- failures -----------------------------------------------------------------------------------------


def test_a_failing_send_is_logged_retried_and_never_breaks_ingest(
    tenant, clock, sends, configure, customer_writes, monkeypatch, caplog
):
    configure(greeting_enabled=True)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(greeting_sender, "message_send", broken)
    with caplog.at_level(logging.WARNING, logger="conversations.events.delivery"):
        first = customer_writes("Oi")

    assert Message.objects.filter(pk=first.pk, direction="in").exists()
    assert outbound(first.conversation) == []
    delivery = EventDelivery.objects.get(subscriber="automations.greeting")
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        "pending",
        1,
        "RuntimeError: database went away",
    )
    assert f"Event delivery {delivery.pk} failed" in caplog.messages
    assert AutomatedMessage.objects.count() == 0

    # The retry, once the failure is gone, sends the greeting once.
    monkeypatch.setattr(greeting_sender, "message_send", message_send)
    event_delivery.event_deliver(delivery_id=delivery.pk)
    assert outbound(first.conversation) == [greeting(), line(GREETING_LINE)]


def test_a_refusal_of_the_core_is_logged_and_the_delivery_is_done(
    tenant, clock, sends, configure, customer_writes, monkeypatch, caplog
):
    from helpdesk.exceptions import ValidationFailed

    configure(greeting_enabled=True)

    def refused(**kwargs):
        raise ValidationFailed("The channel refused the content.")

    monkeypatch.setattr(greeting_sender, "message_send", refused)
    with caplog.at_level(logging.WARNING, logger="automations.greeting_sender"):
        first = customer_writes("Oi")

    assert outbound(first.conversation) == []
    assert (
        f"The greeting for message {first.pk} was not sent: The channel refused the content. (validation_failed)"
        in caplog.messages
    )
    assert EventDelivery.objects.get(subscriber="automations.greeting").state == "done"


# --- a burst: one delivery job for many messages ------------------------------------------------------------


def test_a_burst_delivered_in_one_job_greets_and_sends_away_once_per_customer_in_order(
    tenant, channel, office_hours, clock, sends, configure, customer_writes, in_one_job
):
    configure(greeting_enabled=True, away_enabled=True)
    joao = "5511911112222"
    written: list[Message] = []

    def burst() -> None:
        for text, source, name in (
            ("Oi", CUSTOMER, "Maria"),
            ("Oi", joao, "João"),
            ("Alguém aí?", CUSTOMER, "Maria"),
            ("Olá?", joao, "João"),
            ("Preciso de ajuda", CUSTOMER, "Maria"),
        ):
            written.append(customer_writes(text, source_id=source, name=name))

    in_one_job(burst, subscribers=("automations.greeting",))

    maria, joao_conversation = written[0].conversation, written[1].conversation
    assert outbound(maria) == [greeting(), line(GREETING_LINE), away(), line(AWAY_LINE)]
    assert outbound(joao_conversation) == [
        greeting("Hi João, welcome to Support!"),
        line(GREETING_LINE),
        away(),
        line(AWAY_LINE),
    ]
    assert sorted(AutomatedMessage.objects.values_list("trigger_message", "kind")) == sorted(
        [(written[0].pk, "greeting"), (written[0].pk, "away"), (written[1].pk, "greeting"), (written[1].pk, "away")]
    )
    assert len(sends.message_ids) == 4


@pytest.mark.parametrize("later", [3, 30])
def test_a_burst_of_later_messages_costs_the_same_statements_for_3_and_30(
    tenant, channel, office_hours, clock, sends, configure, customer_writes, in_one_job, later
):
    configure(greeting_enabled=True, away_enabled=True)
    customers = [f"55119111{n:05d}" for n in range(3)]
    for source in customers:
        customer_writes("Oi", source_id=source)  # greeted, and told when we open
    before = AutomatedMessage.objects.count()

    def burst() -> None:
        for n in range(later):
            customer_writes(f"Mais uma coisa {n}", source_id=customers[n % 3])

    # The settings, the messages, those already answered, their customers' greetings (all greeted: no first
    # message is looked for), the last away message and the last agent reply of their conversations.
    counted = in_one_job(burst, subscribers=("automations.greeting",))
    assert counted.statements["automations.greeting"] == GREETING_BATCH_STATEMENTS
    assert AutomatedMessage.objects.count() == before == 6


# The job's transaction (a savepoint here: 2), its deliveries claimed and marked done (2), the reads above (6).
GREETING_BATCH_STATEMENTS = 10
