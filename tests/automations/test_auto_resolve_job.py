"""The auto-resolve job: which conversations are due (to the second), what the automation does to them
(closing message inside the window only, in the contact's language; label; resolve), each said in the
history naming it, and that it does so once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.auto_resolve_run import conversations_auto_resolve
from automations.models import AutoResolution
from conversations.models import Conversation, Message
from conversations.services.actions import conversation_status_set
from helpdesk import embedded_beat
from tenants.models import AuditLogEntry
from tests.automations.auto_resolve_helpers import (
    HOUR,
    NOW,
    Clock,
    agent_answers,
    auto_resolve_on,
    customer_writes,
    set_now,
    whatsapp_inbox,
)
from tests.conversations.factories import make_label
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

CLOSING = {
    "en": "Hi {{contact.first_name}}, we are closing this chat. Write again any time!",
    "pt-br": "Oi {{contact.first_name}}, estamos encerrando esta conversa. Escreva quando quiser!",
}


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return set_now(monkeypatch, Clock())


@pytest.fixture
def inbox(tenant):
    return whatsapp_inbox(tenant)


def _status(conversation) -> str:
    return Conversation.objects.values_list("status", flat=True).get(pk=conversation.pk)


def _bot_messages(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, sender_type="bot", private=False)
        .order_by("id")
        .values_list("text", flat=True)
    )


def _lines(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, type="system").order_by("id").values_list("text", flat=True)
    )


def _answered(inbox, clock, *, customer: str, wrote, answered) -> Conversation:
    """A conversation whose customer wrote at ``wrote`` and got an answer at ``answered``: not waiting."""
    conversation = customer_writes(inbox, clock, at=wrote, customer=customer)
    agent_answers(conversation, clock, at=answered)
    return conversation


def _run(clock, at) -> dict[str, int]:
    clock.set(at)
    return conversations_auto_resolve(now=at)


# --- due or not ---------------------------------------------------------------------------------------


def test_a_conversation_is_due_exactly_its_hours_after_the_last_message_and_not_a_second_before(
    tenant, admin, inbox, clock
):
    auto_resolve_on(admin, inbox, after_hours=24)
    first = _answered(inbox, clock, customer="5511911110001", wrote=NOW - 2 * HOUR, answered=NOW - HOUR)
    second = _answered(inbox, clock, customer="5511911110002", wrote=NOW - 2 * HOUR, answered=NOW - HOUR)
    agent_answers(second, clock, at=NOW - HOUR + timedelta(seconds=1))

    early = _run(clock, NOW + 23 * HOUR - timedelta(seconds=1))
    on_time = _run(clock, NOW + 23 * HOUR)

    assert early == {"resolved": 0, "sent": 0, "window_closed": 0, "none": 0}
    assert on_time == {"resolved": 1, "sent": 0, "window_closed": 0, "none": 1}
    assert (_status(first), _status(second)) == ("resolved", "open")
    assert _run(clock, NOW + 23 * HOUR + timedelta(seconds=1))["resolved"] == 1
    assert _status(second) == "resolved"


def test_the_hours_count_from_the_customers_new_message(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=24)
    conversation = _answered(inbox, clock, customer="5511911110003", wrote=NOW, answered=NOW + HOUR)
    customer_writes(inbox, clock, at=NOW + 20 * HOUR, customer="5511911110003", text="Mais uma coisa")
    agent_answers(conversation, clock, at=NOW + 21 * HOUR)

    before = _run(clock, NOW + 44 * HOUR)  # 24 hours after the first answer, 23 after the last one
    after = _run(clock, NOW + 45 * HOUR)

    assert (before["resolved"], after["resolved"]) == (0, 1)
    assert AutoResolution.objects.get().activity_at == NOW + 21 * HOUR


def test_a_conversation_waiting_for_an_agent_is_left_alone_unless_the_inbox_says_so(tenant, admin, inbox, clock):
    settings = auto_resolve_on(admin, inbox, after_hours=1)
    waiting = customer_writes(inbox, clock, at=NOW - 30 * HOUR, customer="5511911110004")

    left = _run(clock, NOW)

    assert left["resolved"] == 0
    assert _status(waiting) == "open"
    assert list(Message.objects.filter(conversation=waiting).values_list("type", flat=True)) == ["text"]

    auto_resolve_on(admin, inbox, after_hours=settings.after_hours, include_waiting=True)
    assert _run(clock, NOW)["resolved"] == 1
    assert _status(waiting) == "resolved"


def test_pending_snoozed_and_resolved_conversations_and_inboxes_without_it_are_left_alone(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1, include_waiting=True)
    other_inbox = whatsapp_inbox(tenant, name="Vendas")
    auto_resolve_on(admin, other_inbox, enabled=False, after_hours=1, include_waiting=True)
    owner = owner_of(tenant)
    conversations = {}
    for n, status in enumerate(("pending", "snoozed", "resolved")):
        conversation = customer_writes(inbox, clock, at=NOW - 30 * HOUR, customer=f"551192222000{n}")
        until = NOW + 200 * HOUR if status == "snoozed" else None
        conversation_status_set(actor=owner, conversation=conversation, status=status, snoozed_until=until)
        conversations[status] = conversation
    conversations["off"] = customer_writes(other_inbox, clock, at=NOW - 30 * HOUR, customer="5511922220009")
    messages_before = Message.objects.count()

    result = _run(clock, NOW)

    assert result["resolved"] == 0
    assert {name: _status(c) for name, c in conversations.items()} == {
        "pending": "pending",
        "snoozed": "snoozed",
        "resolved": "resolved",
        "off": "open",
    }
    assert Message.objects.count() == messages_before
    assert AutoResolution.objects.count() == 0


# --- what it does ---------------------------------------------------------------------------------------


def test_inside_the_window_the_closing_message_goes_once_from_the_automation_with_label_and_resolve(
    tenant, admin, inbox, clock
):
    label = make_label(tenant, "auto-closed")
    settings = auto_resolve_on(admin, inbox, after_hours=2, label_id=label.pk, closing_message=CLOSING)
    conversation = _answered(inbox, clock, customer="5511911110005", wrote=NOW - 4 * HOUR, answered=NOW - 3 * HOUR)

    result = _run(clock, NOW)
    again = _run(clock, NOW + HOUR)

    assert result == {"resolved": 1, "sent": 1, "window_closed": 0, "none": 0}
    assert again["resolved"] == 0
    [closing] = Message.objects.filter(conversation=conversation, sender_type="bot")
    assert (closing.text, closing.status, closing.private, closing.direction) == (
        "Hi Maria, we are closing this chat. Write again any time!",
        "queued",
        False,
        "out",
    )
    assert (closing.sender_label, closing.sender_automation_id) == ("Auto-resolve", settings.pk)
    assert _lines(conversation)[-2:] == [
        "auto-closed added by automation 'Auto-resolve'",
        "Resolved by automation 'Auto-resolve'",
    ]
    assert list(conversation.labels.values_list("name", flat=True)) == ["auto-closed"]
    record = AutoResolution.objects.get()
    assert (record.conversation_id, record.closing, record.closing_message_id, record.label_added) == (
        conversation.pk,
        "sent",
        closing.pk,
        True,
    )
    assert record.activity_at == NOW - 3 * HOUR
    resolve_audit = AuditLogEntry.objects.get(action="conversation.status_changed", target_id=str(conversation.pk))
    assert resolve_audit.actor_id is None
    assert resolve_audit.actor_label == f"automation 'Auto-resolve' (#{settings.pk})"


def test_outside_the_window_nothing_is_sent_and_the_history_says_why(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=24, closing_message=CLOSING)
    conversation = _answered(inbox, clock, customer="5511911110006", wrote=NOW - 26 * HOUR, answered=NOW - 25 * HOUR)

    result = _run(clock, NOW)

    assert result == {"resolved": 1, "sent": 0, "window_closed": 1, "none": 0}
    assert _bot_messages(conversation) == []
    assert _lines(conversation)[-2:] == [
        "No closing message sent by automation 'Auto-resolve': the customer's reply window is closed.",
        "Resolved by automation 'Auto-resolve'",
    ]
    assert _status(conversation) == "resolved"
    assert AutoResolution.objects.get().closing == "window_closed"


def test_the_window_closing_to_the_second_decides(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1, closing_message=CLOSING)
    open_window = _answered(inbox, clock, customer="5511911110007", wrote=NOW - 24 * HOUR + timedelta(seconds=1),
                            answered=NOW - 2 * HOUR)  # fmt: skip
    closed_window = _answered(inbox, clock, customer="5511911110008", wrote=NOW - 24 * HOUR, answered=NOW - 2 * HOUR)

    _run(clock, NOW)

    assert len(_bot_messages(open_window)) == 1
    assert _bot_messages(closed_window) == []


def test_the_closing_message_speaks_the_contacts_language_else_the_workspaces(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1, closing_message=CLOSING)
    tenant.locale = "pt-br"
    tenant.save(update_fields=["locale"])
    speaks_english = _answered(inbox, clock, customer="5511911110009", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)
    speaks_english.contact.custom_attributes = {"language": "en"}
    speaks_english.contact.save(update_fields=["custom_attributes"])
    unknown = _answered(inbox, clock, customer="5511911110010", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)

    _run(clock, NOW)

    assert _bot_messages(speaks_english) == ["Hi Maria, we are closing this chat. Write again any time!"]
    assert _bot_messages(unknown) == ["Oi Maria, estamos encerrando esta conversa. Escreva quando quiser!"]


def test_without_a_closing_message_it_only_resolves(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1)
    conversation = _answered(inbox, clock, customer="5511911110011", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)

    assert _run(clock, NOW) == {"resolved": 1, "sent": 0, "window_closed": 0, "none": 1}
    assert _bot_messages(conversation) == []
    assert _lines(conversation) == ["Resolved by automation 'Auto-resolve'"]


def test_a_conversation_reopened_by_a_person_is_not_resolved_again_until_someone_writes(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1, closing_message=CLOSING)
    conversation = _answered(inbox, clock, customer="5511911110012", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)
    _run(clock, NOW)
    clock.set(NOW + HOUR)
    conversation_status_set(actor=owner_of(tenant), conversation=conversation, status="open")

    later = _run(clock, NOW + 10 * HOUR)
    agent_answers(conversation, clock, at=NOW + 11 * HOUR)
    after_a_message = _run(clock, NOW + 12 * HOUR)

    assert later["resolved"] == 0
    assert after_a_message["resolved"] == 1
    assert AutoResolution.objects.filter(conversation=conversation).count() == 2
    assert len(_bot_messages(conversation)) == 2


def test_each_workspace_follows_its_own_inboxes(tenant, admin, inbox, other_tenant, clock):
    theirs = whatsapp_inbox(other_tenant, name="Theirs")
    auto_resolve_on(add_member(other_tenant, "admin"), theirs, after_hours=48)
    auto_resolve_on(admin, inbox, after_hours=24)
    mine = _answered(inbox, clock, customer="5511911110013", wrote=NOW - 31 * HOUR, answered=NOW - 30 * HOUR)
    their = _answered(theirs, clock, customer="5511911110013", wrote=NOW - 31 * HOUR, answered=NOW - 30 * HOUR)

    assert _run(clock, NOW)["resolved"] == 1
    assert (_status(mine), _status(their)) == ("resolved", "open")


def test_a_workspace_gets_a_share_per_run_and_the_rest_next_run(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1)
    for n in range(5):
        _answered(inbox, clock, customer=f"55119333300{n:02d}", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)
    clock.set(NOW)

    first = conversations_auto_resolve(now=NOW, batch=2, per_workspace=3)
    second = conversations_auto_resolve(now=NOW, batch=2, per_workspace=3)

    assert (first["resolved"], second["resolved"]) == (3, 2)
    assert Conversation.objects.filter(tenant=tenant, status="open").count() == 0


def test_the_beat_schedule_and_the_embedded_beat_of_make_run_run_it(tenant, admin, inbox, monkeypatch):
    entry = django_settings.CELERY_BEAT_SCHEDULE["automations-auto-resolve"]
    assert (entry["task"], entry["schedule"]) == ("automations.tasks.conversations_auto_resolve", 300.0)
    auto_resolve_on(admin, inbox, after_hours=1)
    real_clock = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", real_clock)
    conversation = _answered(
        inbox, real_clock, customer="5511911110099", wrote=real_clock.now - 3 * HOUR, answered=real_clock.now - 2 * HOUR
    )
    real_clock.set(real_clock.now + 2 * HOUR)

    class OneTick:
        now = 0.0

        def monotonic(self) -> float:
            self.now += 1_000_000.0
            return self.now

        def sleep(self, seconds: float) -> None:
            raise StopIteration

    monkeypatch.setattr(embedded_beat, "time", OneTick())
    monkeypatch.setattr(embedded_beat, "close_old_connections", lambda: None)
    with pytest.raises(StopIteration):
        embedded_beat._run_forever()

    assert _status(conversation) == "resolved"


def test_finding_due_conversations_costs_the_same_queries_however_many_inboxes_and_conversations(
    tenant, admin, other_tenant, clock, django_assert_num_queries
):
    for name in ("Suporte", "Vendas", "Cobrança"):
        inbox = whatsapp_inbox(tenant, name=name)
        auto_resolve_on(admin, inbox, after_hours=24, closing_message=CLOSING)
        for n in range(3):
            customer = f"55119555{inbox.pk:02d}{n:03d}"
            _answered(inbox, clock, customer=customer, wrote=NOW - 2 * HOUR, answered=NOW - HOUR)
    auto_resolve_on(add_member(other_tenant, "admin"), whatsapp_inbox(other_tenant, name="Theirs"), after_hours=24)
    clock.set(NOW)

    # The enabled inboxes of every workspace; then per workspace its closing messages and its due conversations.
    with django_assert_num_queries(1 + 2 * 2):
        assert conversations_auto_resolve(now=NOW)["resolved"] == 0


def test_each_resolution_costs_the_same_queries(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1, closing_message=CLOSING, label_id=make_label(tenant, "fim").pk)
    for n in range(6):
        _answered(inbox, clock, customer=f"551196660{n:03d}", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)
    clock.set(NOW)

    costs = []
    for share in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            assert conversations_auto_resolve(now=NOW, per_workspace=share)["resolved"] == share
        costs.append(len(queries))

    # One more conversation costs the same fixed number of queries each time: nothing is read per row found.
    assert costs[1] - costs[0] == costs[2] - costs[1]


def test_running_twice_resolves_once_and_sends_one_closing_message(tenant, admin, inbox, clock):
    auto_resolve_on(admin, inbox, after_hours=1, closing_message=CLOSING)
    conversation = _answered(inbox, clock, customer="5511911110077", wrote=NOW - 3 * HOUR, answered=NOW - 2 * HOUR)

    runs = [_run(clock, NOW), _run(clock, NOW), _run(clock, NOW + 30 * HOUR)]

    assert [run["resolved"] for run in runs] == [1, 0, 0]
    assert len(_bot_messages(conversation)) == 1
    assert _lines(conversation).count("Resolved by automation 'Auto-resolve'") == 1
    assert AutoResolution.objects.filter(conversation=conversation).count() == 1
