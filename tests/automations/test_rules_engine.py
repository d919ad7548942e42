"""Automation rules at work: each condition, each action as the rule, AND/OR, order and stop, the loop
guard and the chain cap, failures logged without touching ingest, once per event, the SLA entry point,
and the dry-run agreeing with the live rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from automations import rules_engine
from automations.models import RuleRun
from automations.rules_engine import Facts, conditions_hold, rule_dry_run, sla_breached
from conversations import events
from conversations.models import ContactLabel, Conversation, ConversationLabel, EventDelivery, Message, OutboxEvent
from conversations.services.actions import conversation_assign, conversation_status_set
from conversations.services.library import quick_reply_create
from tenants.models import AuditLogEntry
from tests.automations.rules_helpers import history, label_names, make_rule, outbound, runs
from tests.conversations.factories import make_label
from tests.factories import add_member

pytestmark = pytest.mark.django_db

LABEL = {"type": "add_label", "label_ids": []}


@pytest.fixture
def vip(tenant):
    return make_label(tenant, "vip")


@pytest.fixture
def billing(tenant):
    return make_label(tenant, "billing")


def tag(label) -> list[dict]:
    return [{"type": "add_label", "label_ids": [label.pk]}]


def facts_for(message) -> Facts:
    conversation = Conversation.objects.select_related("contact", "inbox", "tenant").get(pk=message.conversation_id)
    return Facts(conversation=conversation, at=message.occurred_at, message=message)


def holds(item: dict, message) -> bool:
    return conditions_hold({"op": "and", "items": [item]}, facts_for(message))


# --- each condition --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "text", "expected"),
    [
        ({"type": "text_contains", "value": "boleto"}, "Quero a 2ª via do BOLÉTO", True),
        ({"type": "text_contains", "value": "boleto"}, "Quero pagar com pix", False),
        ({"type": "text_regex", "pattern": r"pedido\s+\d{4}"}, "Meu PEDIDO 1234 atrasou", True),
        ({"type": "text_regex", "pattern": r"pedido\s+\d{4}"}, "Meu pedido 12 atrasou", False),
        ({"type": "keywords", "values": ["segunda via", "boleto"]}, "a Segunda Via, por favor", True),
        ({"type": "keywords", "values": ["segunda via", "boleto"]}, "tenho dois boletos", False),
        ({"type": "keywords", "values": ["cancelar"]}, "quero CANCELAR!", True),
    ],
)
def test_message_text_conditions(customer_writes, clock, item, text, expected):
    assert holds(item, customer_writes(text)) is expected


def test_a_regex_reads_only_the_first_characters_of_a_long_message(customer_writes, clock):
    message = customer_writes("a" * rules_engine.REGEX_INPUT_MAX + " pedido 1234")
    assert holds({"type": "text_regex", "pattern": r"pedido \d+"}, message) is False
    assert holds({"type": "text_contains", "value": "pedido 1234"}, message) is True


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"type": "contact_attribute", "key": "plan", "operator": "equals", "value": "GOLD"}, True),
        ({"type": "contact_attribute", "key": "plan", "operator": "equals", "value": "silver"}, False),
        ({"type": "contact_attribute", "key": "city", "operator": "contains", "value": "paulo"}, True),
        ({"type": "contact_attribute", "key": "city", "operator": "contains", "value": "rio"}, False),
        ({"type": "contact_attribute", "key": "plan", "operator": "exists"}, True),
        ({"type": "contact_attribute", "key": "cpf", "operator": "exists"}, False),
        ({"type": "contact_attribute", "key": "cpf", "operator": "not_exists"}, True),
    ],
)
def test_contact_attribute_conditions(customer_writes, clock, item, expected):
    message = customer_writes("Oi")
    contact = message.conversation.contact
    contact.custom_attributes = {"plan": "gold", "city": "São Paulo"}
    contact.save()
    assert holds(item, message) is expected


def test_label_conditions(tenant, customer_writes, clock, vip, billing):
    message = customer_writes("Oi")
    conversation = message.conversation
    ContactLabel.objects.create(tenant=tenant, contact=conversation.contact, label=vip)
    ConversationLabel.objects.create(tenant=tenant, conversation=conversation, label=billing)
    assert holds({"type": "contact_label", "operator": "has", "label_id": vip.pk}, message) is True
    assert holds({"type": "contact_label", "operator": "has", "label_id": billing.pk}, message) is False
    assert holds({"type": "contact_label", "operator": "has_not", "label_id": billing.pk}, message) is True
    assert holds({"type": "conversation_label", "operator": "has", "label_id": billing.pk}, message) is True
    assert holds({"type": "conversation_label", "operator": "has_not", "label_id": billing.pk}, message) is False


def test_inbox_priority_and_language_conditions(customer_writes, clock, channel):
    message = customer_writes("Oi")
    conversation = message.conversation
    Conversation.objects.filter(pk=conversation.pk).update(priority="urgent")
    contact = conversation.contact
    contact.custom_attributes = {"language": "pt-BR"}
    contact.save()
    assert holds({"type": "inbox", "operator": "is", "inbox_ids": [channel.inbox_id]}, message) is True
    assert holds({"type": "inbox", "operator": "is_not", "inbox_ids": [channel.inbox_id]}, message) is False
    assert holds({"type": "priority", "operator": "is", "values": ["high", "urgent"]}, message) is True
    assert holds({"type": "priority", "operator": "is_not", "values": ["urgent"]}, message) is False
    assert holds({"type": "contact_language", "operator": "is", "values": ["pt-br"]}, message) is True
    assert holds({"type": "contact_language", "operator": "is", "values": ["pt"]}, message) is True
    assert holds({"type": "contact_language", "operator": "is", "values": ["en"]}, message) is False
    assert holds({"type": "contact_language", "operator": "is_not", "values": ["en"]}, message) is True


def test_business_hours_condition_reads_the_inbox_calendar_at_the_message_time(customer_writes, clock, office_hours):
    # Friday 20:00 in São Paulo: closed. Then Tuesday 10:00: open.
    closed = customer_writes("Oi")
    clock.set(datetime(2026, 9, 8, 13, 0, tzinfo=UTC))
    opened = customer_writes("Oi de novo")
    assert holds({"type": "business_hours", "value": "out"}, closed) is True
    assert holds({"type": "business_hours", "value": "in"}, closed) is False
    assert holds({"type": "business_hours", "value": "in"}, opened) is True


def test_an_inbox_without_business_hours_is_always_in_hours(customer_writes, clock):
    assert holds({"type": "business_hours", "value": "in"}, customer_writes("Oi")) is True


def test_first_message_condition(customer_writes, clock):
    first = customer_writes("Oi")
    clock.advance(minutes=1)
    second = customer_writes("Tem alguém?")
    assert holds({"type": "first_message", "value": True}, first) is True
    assert holds({"type": "first_message", "value": True}, second) is False
    assert holds({"type": "first_message", "value": False}, second) is True


def test_and_or_groups(customer_writes, clock, channel):
    message = customer_writes("boleto atrasado")
    yes = {"type": "text_contains", "value": "boleto"}
    no = {"type": "text_contains", "value": "pix"}
    facts = facts_for(message)
    assert conditions_hold({"op": "and", "items": [yes, no]}, facts) is False
    assert conditions_hold({"op": "or", "items": [yes, no]}, facts) is True
    nested = {"op": "and", "items": [yes, {"op": "or", "items": [no, {"type": "first_message", "value": True}]}]}
    assert conditions_hold(nested, facts) is True
    assert conditions_hold({"op": "and", "items": [yes, {"op": "or", "items": [no]}]}, facts) is False
    assert conditions_hold({"op": "or", "items": []}, facts) is True


# --- the live run: matched, not matched, logged ----------------------------------------------------------


def test_a_matching_rule_acts_as_itself_and_logs_the_run(admin, customer_writes, clock, billing):
    rule = make_rule(admin, name="Billing", items=[{"type": "keywords", "values": ["boleto"]}], actions=tag(billing))
    matched = customer_writes("Quero o boleto").conversation
    clock.advance(minutes=1)
    customer_writes("Obrigado")

    assert label_names(matched) == ["billing"]
    assert runs(rule) == [("matched", matched.pk), ("not_matched", matched.pk)]
    run = RuleRun.objects.get(rule=rule, outcome="matched")
    assert (run.event_type, run.depth, run.error) == ("message_received", 0, "")
    assert run.actions_done == [{"type": "add_label", "result": "done", "detail": "billing"}]
    assert history(matched) == ["billing added by automation 'Billing'"]
    entry = AuditLogEntry.objects.get(action="conversation.labels_changed")
    assert (entry.actor_id, entry.actor_label) == (None, f"automation 'Billing' (#{rule.pk})")


def test_an_inactive_rule_does_nothing(admin, customer_writes, clock, billing):
    rule = make_rule(admin, actions=tag(billing), active=False)
    conversation = customer_writes("Oi").conversation
    assert label_names(conversation) == []
    assert runs(rule) == []


def test_rules_run_in_order_and_stop_processing_ends_the_event(admin, customer_writes, clock, vip, billing):
    first = make_rule(admin, name="First", actions=tag(vip))
    second = make_rule(admin, name="Second", actions=tag(billing), stop_processing=True)
    third = make_rule(admin, name="Third", actions=[{"type": "set_priority", "priority": "urgent"}])
    conversation = customer_writes("Oi").conversation

    assert history(conversation) == ["vip added by automation 'First'", "billing added by automation 'Second'"]
    assert (runs(first), runs(second), runs(third)) == (
        [("matched", conversation.pk)],
        [("matched", conversation.pk)],
        [],
    )
    assert Conversation.objects.get(pk=conversation.pk).priority == "none"


def test_a_stop_rule_that_does_not_match_lets_the_next_ones_run(admin, customer_writes, clock, vip, billing):
    make_rule(
        admin, name="Stopper", items=[{"type": "text_contains", "value": "pix"}], actions=tag(vip), stop_processing=True
    )
    make_rule(admin, name="Next", actions=tag(billing))
    conversation = customer_writes("Oi").conversation
    assert label_names(conversation) == ["billing"]


def test_every_rule_of_an_event_sees_the_conversation_as_it_was(admin, customer_writes, clock, vip, billing):
    # The first adds vip; the second asks for vip: it saw the conversation before the first acted.
    make_rule(admin, name="Adds", actions=tag(vip))
    second = make_rule(
        admin,
        name="Needs vip",
        items=[{"type": "conversation_label", "operator": "has", "label_id": vip.pk}],
        actions=tag(billing),
    )
    conversation = customer_writes("Oi").conversation
    assert label_names(conversation) == ["vip"]
    assert runs(second) == [("not_matched", conversation.pk)]


# --- each action --------------------------------------------------------------------------------------


def test_assign_unassign_priority_labels_note_and_resolve(tenant, admin, customer_writes, clock, channel, vip, billing):
    agent = add_member(tenant, "agent")
    channel.inbox.members.add(agent.user)
    first = make_rule(
        admin,
        name="Triage",
        actions=[
            {"type": "assign_agent", "user_id": agent.user_id},
            {"type": "set_priority", "priority": "high"},
            {"type": "add_label", "label_ids": [vip.pk, billing.pk]},
            {"type": "remove_label", "label_ids": [vip.pk]},
            {"type": "add_note", "text": "Cliente {{contact.first_name}} pediu boleto"},
            {"type": "unassign"},
            {"type": "resolve"},
        ],
    )
    conversation = customer_writes("boleto", name="Maria Silva").conversation

    conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.priority, conversation.status) == (None, "high", "resolved")
    assert label_names(conversation) == ["billing"]
    name = agent.user.display_name
    assert history(conversation) == [
        f"Assigned to {name} by automation 'Triage'",
        "Priority set to High by automation 'Triage'",
        "billing, vip added by automation 'Triage'",
        "vip removed by automation 'Triage'",
        "Unassigned by automation 'Triage'",
        "Resolved by automation 'Triage'",
    ]
    note = Message.objects.get(conversation=conversation, private=True, type="text")
    assert (note.text, note.sender_type, note.sender_label, note.sender_automation_id) == (
        "Cliente Maria pediu boleto",
        "bot",
        "Triage",
        first.pk,
    )
    run = RuleRun.objects.get(rule=first)
    assert [(a["type"], a["result"]) for a in run.actions_done] == [
        ("assign_agent", "done"),
        ("set_priority", "done"),
        ("add_label", "done"),
        ("remove_label", "done"),
        ("add_note", "done"),
        ("unassign", "done"),
        ("resolve", "done"),
    ]
    assignment = OutboxEvent.objects.filter(event_type="conversation.assigned").order_by("created_at").first()
    assert (assignment.payload["actor_type"], assignment.payload["actor_id"], assignment.payload["actor_kind"]) == (
        "automation",
        first.pk,
        "rule",
    )


def test_send_message_inside_the_window_is_free_text_from_the_rule(admin, customer_writes, clock, sends):
    rule = make_rule(admin, name="Hello", actions=[{"type": "send_message", "text": "Olá {{contact.first_name}}!"}])
    conversation = customer_writes("Oi", name="Maria Silva").conversation
    assert outbound(conversation) == [("text", "bot", "Hello", False, "Olá Maria!")]
    sent = Message.objects.get(conversation=conversation, sender_type="bot", type="text")
    assert (sent.sender_automation_id, sends.message_ids) == (rule.pk, [sent.pk])
    run = RuleRun.objects.get(rule=rule)
    assert run.actions_done == [{"type": "send_message", "result": "done", "detail": f"message {sent.pk} sent"}]


def _template(tenant, channel, name="retomar"):
    from whatsapp.models import MessageTemplate

    return MessageTemplate.objects.create(
        tenant=tenant,
        waba_id=channel.waba_id,
        name=name,
        language="pt_BR",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Olá {{1}}, podemos continuar?"}],
    )


def test_outside_the_window_the_chosen_template_is_sent_never_free_text(
    tenant, admin, customer_writes, clock, channel, sends
):
    _template(tenant, channel)
    template = {"name": "retomar", "language": "pt_BR", "params": {"body": ["{{contact.first_name}}"]}}
    rule = make_rule(
        admin,
        name="Breach",
        event="sla_breached",
        actions=[{"type": "send_message", "text": "Free text", "template": template}],
    )
    conversation = customer_writes("Oi", name="Maria Silva").conversation
    clock.advance(hours=25)

    sla_breached(tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=1)

    assert outbound(conversation) == [("template", "bot", "Breach", False, "Olá Maria, podemos continuar?")]
    assert RuleRun.objects.get(rule=rule).actions_done[0]["result"] == "done"


def test_outside_the_window_without_a_template_nothing_is_sent_and_the_history_says_why(
    tenant, admin, customer_writes, clock, sends
):
    rule = make_rule(admin, name="Breach", event="sla_breached", actions=[{"type": "send_message", "text": "Oi"}])
    conversation = customer_writes("Oi").conversation
    clock.advance(hours=25)

    sla_breached(tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=1)

    assert outbound(conversation) == []
    assert sends.message_ids == []
    why = "the customer's reply window is closed and the rule has no template."
    assert history(conversation) == [f"No message sent by automation 'Breach': {why}"]
    run = RuleRun.objects.get(rule=rule)
    assert (run.outcome, run.actions_done) == (
        "matched",
        [{"type": "send_message", "result": "not_sent", "detail": why}],
    )


def test_send_quick_reply_inside_the_window(tenant, admin, owner, customer_writes, clock):
    reply = quick_reply_create(
        membership=owner, shortcut="horario", text="Atendemos das 9h às 18h, {{contact.first_name}}."
    )
    make_rule(admin, name="Hours", actions=[{"type": "send_quick_reply", "quick_reply_id": reply.pk}])
    conversation = customer_writes("Oi", name="Maria").conversation
    assert outbound(conversation) == [("text", "bot", "Hours", False, "Atendemos das 9h às 18h, Maria.")]


def test_send_quick_reply_sends_its_file_with_its_text_as_the_caption(
    tenant, admin, owner, customer_writes, clock, sends
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    reply = quick_reply_create(
        membership=owner,
        shortcut="tabela",
        text="Nossa tabela de preços, {{contact.first_name}}.",
        attachment=SimpleUploadedFile("tabela.png", b"\x89PNG\r\n\x1a\n tabela", content_type="image/png"),
    )
    make_rule(admin, name="Preços", actions=[{"type": "send_quick_reply", "quick_reply_id": reply.pk}])
    conversation = customer_writes("Oi", name="Maria").conversation
    assert outbound(conversation) == [("image", "bot", "Preços", False, "Nossa tabela de preços, Maria.")]
    sent = Message.objects.get(conversation=conversation, type="image")
    attachment = sent.attachments.get()
    # Named as the quick reply's file is stored ("tabela.png", or with a suffix when the storage had one).
    stored_name = reply.attachment.name.rsplit("/", 1)[-1]
    assert stored_name.startswith("tabela") and stored_name.endswith(".png")
    assert (attachment.filename, attachment.mime_type) == (stored_name, "image/png")
    with attachment.file.open("rb") as handle:
        assert handle.read() == b"\x89PNG\r\n\x1a\n tabela"
    assert sends.message_ids == [sent.pk]


def test_send_quick_reply_with_an_audio_file_sends_the_text_after_it(
    tenant, admin, owner, customer_writes, clock, sends
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    reply = quick_reply_create(
        membership=owner,
        shortcut="audio",
        text="Ouça nossas instruções.",
        attachment=SimpleUploadedFile("instrucoes.ogg", b"OggS audio", content_type="audio/ogg"),
    )
    make_rule(admin, name="Áudio", actions=[{"type": "send_quick_reply", "quick_reply_id": reply.pk}])
    conversation = customer_writes("Oi").conversation
    assert outbound(conversation) == [
        ("audio", "bot", "Áudio", False, ""),
        ("text", "bot", "Áudio", False, "Ouça nossas instruções."),
    ]
    assert len(sends.message_ids) == 2


def test_snooze_for_hours_and_until_the_next_opening(tenant, admin, customer_writes, clock, office_hours):
    make_rule(admin, name="Nap", event="sla_breached", actions=[{"type": "snooze", "mode": "hours", "hours": 3}])
    make_rule(admin, name="Night", actions=[{"type": "snooze", "mode": "next_opening"}])
    conversation = customer_writes("Oi").conversation
    conversation.refresh_from_db()
    # Friday 20:00 in São Paulo, Monday 7 September a holiday: Tuesday 09:00 (12:00 UTC).
    assert (conversation.status, conversation.snoozed_until) == ("snoozed", datetime(2026, 9, 8, 12, 0, tzinfo=UTC))

    conversation_status_set(actor=admin, conversation=conversation, status="open")
    sla_breached(tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=9)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("snoozed", timezone.now() + timedelta(hours=3))


# --- failures, once, loops --------------------------------------------------------------------------------


def test_a_failing_action_is_logged_and_the_others_and_ingest_go_on(
    tenant, admin, customer_writes, clock, billing, monkeypatch
):
    outsider = add_member(tenant, "agent")  # not a member of the inbox: the core refuses the assignment

    def broken(**kwargs):
        raise RuntimeError("priority store down")

    monkeypatch.setattr(rules_engine, "conversation_priority_set", broken)
    rule = make_rule(
        admin,
        name="Shaky",
        actions=[
            {"type": "assign_agent", "user_id": outsider.user_id},
            {"type": "set_priority", "priority": "high"},
            {"type": "add_label", "label_ids": [billing.pk]},
        ],
    )
    message = customer_writes("Oi")

    assert Message.objects.filter(pk=message.pk).exists()
    conversation = message.conversation
    conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.priority) == (None, "none")
    assert label_names(conversation) == ["billing"]
    run = RuleRun.objects.get(rule=rule)
    refused = "That person cannot be assigned: they are not a member of this conversation's inbox."
    assert run.outcome == "error"
    assert run.actions_done == [
        {"type": "assign_agent", "result": "error", "detail": refused},
        {"type": "set_priority", "result": "error", "detail": "RuntimeError: priority store down"},
        {"type": "add_label", "result": "done", "detail": "billing"},
    ]
    assert run.error == f"1. assign_agent: {refused}\n2. set_priority: RuntimeError: priority store down"
    delivery = EventDelivery.objects.get(subscriber="automations.rules.message_received")
    assert (delivery.state, delivery.last_error) == ("done", "")


def test_a_repeated_event_runs_each_rule_once(admin, customer_writes, clock, sends, billing):
    rule = make_rule(admin, name="Once", actions=[*tag(billing), {"type": "send_message", "text": "Recebido!"}])
    message = customer_writes("Oi")
    row = OutboxEvent.objects.get(event_type="message.received")
    event = events.MessageReceived.from_payload(event_id=row.pk, tenant_id=row.tenant_id, payload=row.payload)

    assert (
        rules_engine.rules_run(
            rules_engine.Trigger(
                tenant_id=event.tenant_id,
                event="message_received",
                event_key=str(event.event_id),
                conversation_id=event.conversation_id,
                occurred_at=event.occurred_at,
                message_id=event.message_id,
            )
        )
        == []
    )
    rules_engine.on_messages_received([event])

    assert runs(rule) == [("matched", message.conversation_id)]
    assert len(outbound(message.conversation)) == 1
    assert len(sends.message_ids) == 1
    assert history(message.conversation) == ["billing added by automation 'Once'"]


def test_the_sla_entry_point_runs_once_per_breach(tenant, admin, customer_writes, clock, billing):
    rule = make_rule(admin, name="Breached", event="sla_breached", actions=tag(billing))
    conversation = customer_writes("Oi").conversation

    first = sla_breached(tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=41)
    again = sla_breached(tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=41)
    other = sla_breached(tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=42)

    assert [(r.outcome, r.event_key) for r in first] == [("matched", "sla:41")]
    assert again == []
    assert [(r.outcome, r.event_key) for r in other] == [("matched", "sla:42")]
    assert runs(rule) == [("matched", conversation.pk), ("matched", conversation.pk)]


def test_the_sla_entry_point_ignores_another_workspaces_conversation(
    other_tenant, tenant, admin, customer_writes, clock, billing
):
    rule = make_rule(admin, name="Breached", event="sla_breached", actions=tag(billing))
    conversation = customer_writes("Oi").conversation
    assert sla_breached(tenant_id=other_tenant.pk, conversation_id=conversation.pk, breach_id=1) == []
    assert runs(rule) == []


def test_a_rule_never_triggers_itself(
    tenant, admin, customer_writes, clock, channel, django_capture_on_commit_callbacks
):
    ana, bruno = add_member(tenant, "agent"), add_member(tenant, "agent")
    channel.inbox.members.add(ana.user, bruno.user)
    # On every assignment, hand the conversation to Bruno: its own assignment must not run it again.
    rule = make_rule(
        admin,
        name="To Bruno",
        event="conversation_assigned",
        actions=[{"type": "unassign"}, {"type": "assign_agent", "user_id": bruno.user_id}],
    )
    conversation = customer_writes("Oi").conversation
    with django_capture_on_commit_callbacks(execute=True):
        conversation_assign(actor=admin, conversation=conversation, assignee=ana.user)

    conversation.refresh_from_db()
    assert conversation.assignee_id == bruno.user_id
    assert runs(rule) == [("matched", conversation.pk), ("loop_guard", conversation.pk)]


def test_a_chain_of_rules_stops_at_the_depth_cap(
    tenant, admin, customer_writes, clock, channel, django_capture_on_commit_callbacks
):
    ana, bruno = add_member(tenant, "agent"), add_member(tenant, "agent")
    channel.inbox.members.add(ana.user, bruno.user)
    to_bruno = make_rule(
        admin,
        name="To Bruno",
        event="conversation_assigned",
        items=[{"type": "priority", "operator": "is", "values": ["none"]}],
        actions=[{"type": "assign_agent", "user_id": bruno.user_id}],
    )
    to_ana = make_rule(
        admin, name="To Ana", event="conversation_assigned", actions=[{"type": "assign_agent", "user_id": ana.user_id}]
    )
    conversation = customer_writes("Oi").conversation
    with django_capture_on_commit_callbacks(execute=True):
        conversation_assign(actor=admin, conversation=conversation, assignee=ana.user)

    # Admin → Ana: To Bruno (depth 0) and To Ana (no change: already Ana… then Bruno's event)…
    depths = list(RuleRun.objects.order_by("created_at", "id").values_list("rule__name", "outcome", "depth"))
    assert max(depth for _name, _outcome, depth in depths) == rules_engine.CHAIN_MAX
    assert all(outcome == "loop_guard" for _n, outcome, depth in depths if depth >= rules_engine.CHAIN_MAX)
    assert {name for name, outcome, _d in depths if outcome == "matched"} == {"To Bruno", "To Ana"}
    assert RuleRun.objects.filter(rule__in=[to_bruno, to_ana]).count() == len(depths)


# --- the dry-run -----------------------------------------------------------------------------------------


def test_the_dry_run_lists_what_the_live_rule_then_does(tenant, admin, customer_writes, clock, billing):
    rule = make_rule(
        admin,
        name="Billing",
        op="or",
        items=[{"type": "keywords", "values": ["boleto"]}, {"type": "text_regex", "pattern": r"fatura \d+"}],
        actions=tag(billing),
        active=False,
    )
    written = []
    for n, text in enumerate(["Quero o boleto", "Oi", "fatura 123 venceu", "pix?", "BOLETO de novo"]):
        written.append(customer_writes(text, source_id=f"55119000000{n:02d}"))
        clock.advance(minutes=5)
    old = written[0]
    Message.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - timedelta(days=8))

    dry = rule_dry_run(rule=rule)
    assert [m.message.text for m in dry] == ["BOLETO de novo", "fatura 123 venceu"]
    assert runs(rule) == []
    assert ConversationLabel.objects.count() == 0

    # The same events handed to the live rule, now active: it acts on exactly those.
    rule.active = True
    rule.save()
    recent = {m.pk for m in written[1:]}
    for row in OutboxEvent.objects.filter(event_type="message.received").order_by("created_at"):
        if row.payload["message_id"] in recent:
            rules_engine.on_messages_received(
                [events.MessageReceived.from_payload(event_id=row.pk, tenant_id=row.tenant_id, payload=row.payload)]
            )
    matched = set(RuleRun.objects.filter(rule=rule, outcome="matched").values_list("conversation_id", flat=True))
    assert matched == {m.conversation.pk for m in dry}
    labelled = set(ConversationLabel.objects.filter(label=billing).values_list("conversation_id", flat=True))
    assert labelled == matched


def test_the_dry_run_of_a_status_event_reads_the_recorded_events(tenant, admin, customer_writes, clock, vip):
    rule = make_rule(admin, name="On resolve", event="conversation_resolved", actions=tag(vip), active=False)
    kept = customer_writes("Oi", source_id="5511900000001").conversation
    other = customer_writes("Oi", source_id="5511900000002").conversation
    conversation_status_set(actor=admin, conversation=kept, status="resolved")
    conversation_status_set(actor=admin, conversation=other, status="pending")
    assert [m.conversation.pk for m in rule_dry_run(rule=rule)] == [kept.pk]


def test_the_dry_run_of_sla_breached_reads_the_recorded_breaches_and_matches_what_the_live_rule_does(
    tenant, admin, other_tenant, customer_writes, clock, vip
):
    from automations.models import SlaBreach

    rule = make_rule(
        admin,
        name="Urgent breach",
        event="sla_breached",
        items=[{"type": "priority", "operator": "is", "values": ["urgent"]}],
        actions=tag(vip),
        active=False,
    )
    urgent = customer_writes("Oi", source_id="5511900000001").conversation
    calm = customer_writes("Oi", source_id="5511900000002").conversation
    old = customer_writes("Oi", source_id="5511900000003").conversation
    Conversation.objects.filter(pk__in=[urgent.pk, old.pk]).update(priority="urgent")
    now = timezone.now()

    def breach(conversation, *, hours_ago: float) -> SlaBreach:
        at = now - timedelta(hours=hours_ago)
        return SlaBreach.objects.create(
            tenant=tenant, conversation=conversation, metric="first_response", cycle=0, due_at=at, breached_at=at
        )

    recent = [breach(urgent, hours_ago=1), breach(calm, hours_ago=2)]
    breach(old, hours_ago=24 * 8)  # older than the dry-run's 7 days

    matches = rule_dry_run(rule=rule)
    assert [(m.conversation.pk, m.at, m.message) for m in matches] == [(urgent.pk, now - timedelta(hours=1), None)]
    # Another workspace's rule sees none of these breaches.
    theirs = make_label(other_tenant, "vip")
    foreign = make_rule(
        add_member(other_tenant, "admin"), name="Theirs", event="sla_breached", actions=tag(theirs), active=False
    )
    assert rule_dry_run(rule=foreign) == []

    # The live rule, on the same breaches, acts on exactly what the dry-run listed.
    rule.active = True
    rule.save()
    for row in recent:
        sla_breached(tenant_id=tenant.pk, conversation_id=row.conversation_id, breach_id=row.pk)
    assert runs(rule) == [("matched", urgent.pk), ("not_matched", calm.pk)]
    assert label_names(urgent) == ["vip"] and label_names(calm) == []


def test_runs_older_than_the_retention_are_purged(admin, customer_writes, clock, billing):
    rule = make_rule(admin, name="Billing", actions=tag(billing))
    customer_writes("Oi")
    clock.advance(days=rules_engine.RUN_RETENTION_DAYS - 1)
    customer_writes("Oi de novo")
    assert rules_engine.rule_runs_purge(now=timezone.now() + timedelta(days=2)) == 1
    assert len(runs(rule)) == 1
    assert rules_engine.rule_runs_purge() == 0


# --- teams -----------------------------------------------------------------------------------------------


def test_the_team_condition_and_the_move_to_a_team_action(tenant, admin, customer_writes, clock, billing):
    from conversations.models import Team

    sales = Team.objects.create(tenant=tenant, name="Vendas")
    support = Team.objects.create(tenant=tenant, name="Suporte")
    to_sales = make_rule(
        admin,
        name="Route",
        items=[{"type": "keywords", "values": ["comprar"]}],
        actions=[{"type": "assign_team", "team_id": sales.pk}],
    )
    conversation = customer_writes("Quero comprar").conversation
    conversation.refresh_from_db()
    assert conversation.team_id == sales.pk
    assert history(conversation) == ["Moved to team Vendas by automation 'Route'"]
    assert RuleRun.objects.get(rule=to_sales).actions_done == [
        {"type": "assign_team", "result": "done", "detail": "Vendas"}
    ]
    team_event = OutboxEvent.objects.get(event_type="conversation.team_changed")
    assert (team_event.payload["actor_kind"], team_event.payload["actor_id"]) == ("rule", to_sales.pk)

    message = Message.objects.filter(conversation=conversation, direction="in").get()
    assert holds({"type": "team", "operator": "is", "team_ids": [sales.pk]}, message) is True
    assert holds({"type": "team", "operator": "is", "team_ids": [support.pk]}, message) is False
    assert holds({"type": "team", "operator": "is_not", "team_ids": [support.pk]}, message) is True


def test_twenty_rules_cost_four_statements_per_message_when_none_matches(admin, customer_writes, clock, billing):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(20):
        make_rule(
            admin, name=f"Rule {n}", items=[{"type": "keywords", "values": [f"palavra{n}"]}], actions=tag(billing)
        )
    message = customer_writes("Oi, tudo bem?")
    trigger = rules_engine.Trigger(
        tenant_id=message.tenant_id,
        event="message_received",
        event_key="another-delivery",
        conversation_id=message.conversation_id,
        occurred_at=message.occurred_at,
        message_id=message.pk,
    )
    with CaptureQueriesContext(connection) as queries:
        logged = rules_engine.rules_run(trigger)
    # The rules, the conversation (with its contact, inbox and workspace), the message, the run log.
    assert len(queries) == 4, [q["sql"] for q in queries]
    assert [r.outcome for r in logged] == ["not_matched"] * 20


# --- a burst: one delivery job for many messages --------------------------------------------------------------


def test_a_burst_in_one_job_acts_as_one_event_at_a_time_in_order(
    admin, customer_writes, clock, vip, billing, in_one_job
):
    # "Pedido" adds billing; "Remove" takes vip away on "cancelar"; "Volta" adds vip on "voltei": in one
    # conversation the label comes and goes in the order of the messages; another conversation is apart.
    make_rule(admin, name="Pedido", items=[{"type": "keywords", "values": ["pedido"]}], actions=tag(billing))
    make_rule(
        admin,
        name="Remove",
        items=[{"type": "keywords", "values": ["cancelar"]}],
        actions=[{"type": "remove_label", "label_ids": [vip.pk]}],
    )
    make_rule(admin, name="Volta", items=[{"type": "keywords", "values": ["voltei"]}], actions=tag(vip))
    make_rule(
        admin,
        name="Urgente",
        items=[{"type": "keywords", "values": ["pedido"]}],
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    written = []

    def burst() -> None:
        for text, source in (
            ("voltei, meu pedido", "5511911110001"),
            ("pedido de novo", "5511911110001"),
            ("quero cancelar", "5511911110001"),
            ("oi", "5511911110002"),
            ("voltei", "5511911110001"),
            ("pedido 2", "5511911110002"),
        ):
            written.append(customer_writes(text, source_id=source))

    in_one_job(burst, subscribers=("automations.rules.message_received",))

    first, second = written[0].conversation, written[3].conversation
    assert history(first) == [
        "billing added by automation 'Pedido'",
        "vip added by automation 'Volta'",
        "Priority set to Urgent by automation 'Urgente'",
        "vip removed by automation 'Remove'",
        "vip added by automation 'Volta'",
    ]
    assert label_names(first) == ["billing", "vip"]
    assert history(second) == [
        "billing added by automation 'Pedido'",
        "Priority set to Urgent by automation 'Urgente'",
    ]
    # Every rule is logged once per message: the second "pedido" matched with nothing left to do.
    logged = RuleRun.objects.filter(rule__name="Pedido", conversation=first).order_by("id")
    assert sorted(r.outcome for r in logged) == ["matched", "matched", "not_matched", "not_matched"]
    assert RuleRun.objects.count() == 4 * 6
    assert [r.actions_done for r in logged if r.outcome == "matched"] == [
        [{"type": "add_label", "result": "done", "detail": "billing"}]
    ] * 2


@pytest.mark.parametrize("later", [3, 30])
def test_a_burst_with_nothing_left_to_do_costs_the_same_statements_for_3_and_30(
    admin, customer_writes, clock, vip, billing, in_one_job, later
):
    make_rule(admin, name="Pedido", items=[{"type": "keywords", "values": ["pedido"]}], actions=tag(billing))
    make_rule(
        admin,
        name="VIP em inglês",
        items=[
            {"type": "contact_label", "operator": "has", "label_id": vip.pk},
            {"type": "contact_language", "operator": "is", "values": ["en"]},
            {"type": "first_message", "value": False},
        ],
        actions=[{"type": "set_priority", "priority": "high"}],
    )
    customers = [f"55119111{n:05d}" for n in range(3)]
    for source in customers:
        conversation = customer_writes("pedido", source_id=source).conversation  # labelled billing
        ContactLabel.objects.create(tenant=conversation.tenant, contact_id=conversation.contact_id, label=vip)
    Conversation.objects.update(priority="high")
    before = RuleRun.objects.count()

    def burst() -> None:
        for n in range(later):
            clock.advance(seconds=1)
            customer_writes(f"meu pedido {n}", source_id=customers[n % 3])

    counted = in_one_job(burst, subscribers=("automations.rules.message_received",))
    # The job's transaction (a savepoint here: 2), its deliveries claimed and marked done (2); the rules, the
    # conversations, the messages, their labels, their contacts' labels, their contacts' last template (for
    # the language, one each: 3), their first messages, the actions' labels; the runs in one insert.
    assert counted.statements["automations.rules.message_received"] == 4 + 7 + 3 + 1
    assert RuleRun.objects.count() == before + 2 * later
    assert set(RuleRun.objects.filter(rule__name="Pedido").values_list("outcome", flat=True)) == {"matched"}
    assert list(
        RuleRun.objects.filter(rule__name="VIP em inglês").order_by("id").values_list("outcome", flat=True)
    ) == (["not_matched"] * 3 + ["matched"] * later)
    assert not Message.objects.filter(type="system", text__contains="Priority").exists()
    assert ConversationLabel.objects.filter(label=billing).count() == 3
