"""Actors: an automation or the system acts through the core's services like a member, within its
fixed permissions, audited and named in the history, the API and the domain events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations import channels
from conversations.actors import AutomationActor, SystemActor
from conversations.models import Conversation, Message, Notification, OutboxEvent
from conversations.services import delivery_jobs
from conversations.services.actions import (
    conversation_assign,
    conversation_labels_change,
    conversation_priority_set,
    conversation_status_set,
)
from conversations.services.contacts import contact_update
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send, note_create
from helpdesk.exceptions import PermissionDenied
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import BuiltinRole, Perm, require_perm
from tests.conversations.channel_double import QuietChannel
from tests.conversations.factories import (
    captured_events,
    make_conversation,
    make_inbox,
    make_label,
    make_role,
    make_token,
)
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

GREETING = 12


RECORDING_CHANNEL = "tests-actors"


class RecordingChannel(QuietChannel):
    """A channel with a 24-hour window that records what the core asks to have delivered."""

    def __init__(self) -> None:
        super().__init__(RECORDING_CHANNEL)
        self.delivered: list[tuple[int, str, bool]] = []


@pytest.fixture
def channel(monkeypatch):
    backend = RecordingChannel()
    channels.register(backend)

    def delivery_enqueue(message):
        backend.delivered.append((message.pk, message.sender_type, message.private))
        return True

    monkeypatch.setattr(delivery_jobs, "delivery_enqueue", delivery_enqueue)
    yield backend
    channels._registry.pop(RECORDING_CHANNEL, None)


@pytest.fixture
def agent(tenant) -> Membership:
    return add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Bruno"))


@pytest.fixture
def conversation(tenant, channel, agent) -> Conversation:
    inbox = make_inbox(tenant, name="Vendas", members=[agent])
    inbox.channel_type = RECORDING_CHANNEL
    inbox.save(update_fields=["channel_type"])
    return make_conversation(inbox, name="Maria", last_inbound_at=timezone.now() - timedelta(hours=1))


def greeter(tenant) -> AutomationActor:
    return AutomationActor(tenant_id=tenant.pk, automation_id=GREETING, name="Boas-vindas", kind="greeting")


def _history(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, type=Message.Type.SYSTEM)
        .order_by("id")
        .values_list("text", flat=True)
    )


def _audit(tenant) -> list[tuple]:
    return list(
        AuditLogEntry.objects.filter(tenant=tenant)
        .exclude(action__in=["tenant.created", "api_token.created"])
        .order_by("id")
        .values_list("action", "actor_id", "actor_label", "target_type", "target_id", "target_label", "extra")
    )


# --- an automation sends ---------------------------------------------------------------------


def test_an_automation_sends_in_the_window_as_itself(tenant, conversation, channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message, created = message_send(
            actor=greeter(tenant), conversation=conversation, spec=OutboundSpec(type="text", text="Olá! Bem-vinda.")
        )

    message.refresh_from_db()
    assert created is True
    assert (
        message.direction,
        message.status,
        message.sender_type,
        message.sender_user_id,
        message.sender_label,
        message.sender_automation_id,
        message.private,
        message.text,
    ) == ("out", "queued", "bot", None, "Boas-vindas", GREETING, False, "Olá! Bem-vinda.")
    # Handed to the channel once, after commit.
    assert channel.delivered == [(message.pk, "bot", False)]
    assert _audit(tenant) == [
        (
            "message.sent",
            None,
            "automation 'Boas-vindas' (#12)",
            "conversations.conversation",
            str(conversation.pk),
            f"#{conversation.display_id}",
            {"message_id": message.pk, "type": "text"},
        )
    ]
    [event] = OutboxEvent.objects.filter(event_type="message.sent")
    assert {k: v for k, v in event.payload.items() if k != "occurred_at"} == {
        "message_id": message.pk,
        "conversation_id": conversation.pk,
        "inbox_id": conversation.inbox_id,
        "contact_id": conversation.contact_id,
        "message_type": "text",
        "sender_type": "bot",
        "sender_user_id": None,
        "actor_type": "automation",
        "actor_id": GREETING,
        "actor_kind": "greeting",
    }


def test_an_automation_is_refused_outside_the_window_and_nothing_happens(
    tenant, conversation, channel, django_capture_on_commit_callbacks
):
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    conversation.refresh_from_db()
    with (
        django_capture_on_commit_callbacks(execute=True),
        captured_events() as events,
        pytest.raises(ReplyWindowClosed) as excinfo,
    ):
        message_send(actor=greeter(tenant), conversation=conversation, spec=OutboundSpec(type="text", text="Oi"))
    assert excinfo.value.code == "reply_window_closed"
    assert Message.objects.filter(conversation=conversation).count() == 0
    assert channel.delivered == []
    assert _audit(tenant) == []
    assert OutboxEvent.objects.count() == 0
    assert events == []


def test_another_workspaces_automation_cannot_send_or_act(
    tenant, other_tenant, conversation, channel, django_capture_on_commit_callbacks
):
    stranger = AutomationActor(tenant_id=other_tenant.pk, automation_id=GREETING, name="Boas-vindas")
    system = SystemActor(tenant_id=other_tenant.pk)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(PermissionDenied):
            message_send(actor=stranger, conversation=conversation, spec=OutboundSpec(type="text", text="Oi"))
        with pytest.raises(PermissionDenied):
            conversation_status_set(actor=system, conversation=conversation, status="resolved")
        with pytest.raises(PermissionDenied):
            note_create(actor=stranger, conversation=conversation, text="nota")
        with pytest.raises(PermissionDenied):
            contact_update(actor=stranger, contact=conversation.contact, name="Outra")
    conversation.refresh_from_db()
    conversation.contact.refresh_from_db()
    assert (conversation.status, conversation.contact.name) == ("open", "Maria")
    assert Message.objects.filter(conversation=conversation).count() == 0
    assert channel.delivered == []
    assert _audit(tenant) == []
    assert OutboxEvent.objects.count() == 0


def test_the_api_and_the_history_show_the_automation_as_the_sender(tenant, conversation, agent):
    message, _created = message_send(
        actor=greeter(tenant), conversation=conversation, spec=OutboundSpec(type="text", text="Olá! Bem-vinda.")
    )
    owner = owner_of(tenant)
    client = Client()
    client.force_login(owner.user)
    # The owner may see every conversation; the inbox is not theirs.
    response = client.get(f"/api/v1/t/acme/conversations/{conversation.display_id}/messages/")
    assert response.status_code == 200
    [row] = [r for r in response.json()["results"] if r["id"] == message.pk]
    assert (row["sender_type"], row["sender_user_id"], row["sender_label"], row["sender_automation_id"]) == (
        "bot",
        None,
        "Boas-vindas",
        GREETING,
    )
    assert row["sent_by"] == "Sent by automation 'Boas-vindas'"

    page = client.get(f"/t/acme/inbox/c/{conversation.display_id}/messages/")
    assert page.status_code == 200
    body = page.json()["html"]
    start = body.index(f'<article class="msg msg-out" id="m-{message.pk}"')
    bubble = body[start : body.index("</article>", start)]
    assert '<span class="msg-sender">Sent by automation &#39;Boas-vindas&#39;</span>' in bubble


def test_a_system_message_to_the_customer_is_an_outbound_bubble_sent_ahead(
    tenant, conversation, channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = message_send(
            actor=SystemActor(tenant_id=tenant.pk),
            conversation=conversation,
            spec=OutboundSpec(type="text", text="Seu pedido foi enviado."),
        )
    message.refresh_from_db()
    assert (message.sender_type, message.sender_label, message.sender_automation_id, message.private) == (
        "system",
        "",
        None,
        False,
    )
    assert channel.delivered == [(message.pk, "system", False)]
    [entry] = _audit(tenant)
    assert entry[:3] == ("message.sent", None, "system")
    client = Client()
    client.force_login(owner_of(tenant).user)
    body = client.get(f"/t/acme/inbox/c/{conversation.display_id}/messages/").json()["html"]
    start = body.index(f'<article class="msg msg-out" id="m-{message.pk}"')
    bubble = body[start : body.index("</article>", start)]
    assert '<span class="msg-sender">Sent by the system</span>' in bubble
    assert "Seu pedido foi enviado." in bubble


# --- permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("actor_kind", ["automation", "system"])
def test_automations_and_the_system_reply_but_never_manage_members_or_settings(tenant, actor_kind):
    actor = greeter(tenant) if actor_kind == "automation" else SystemActor(tenant_id=tenant.pk)
    allowed = {p for p in Perm.values if actor.has_perm(p)}
    assert allowed == {
        Perm.VIEW_ALL_CONVERSATIONS,
        Perm.VIEW_UNASSIGNED,
        Perm.REPLY,
        Perm.SEND_TEMPLATES,
        Perm.MANAGE_CONTACTS,
    }
    require_perm(actor, Perm.REPLY, tenant_id=tenant.pk)
    for perm in (Perm.MANAGE_MEMBERS, Perm.MANAGE_ROLES, Perm.MANAGE_CHANNELS, Perm.VIEW_AUDIT_LOG):
        with pytest.raises(PermissionDenied):
            require_perm(actor, perm, tenant_id=tenant.pk)
    # Its own permission, in another workspace: refused.
    with pytest.raises(PermissionDenied):
        require_perm(actor, Perm.REPLY, tenant_id=tenant.pk + 1)


# --- history lines, audit and events name the actor --------------------------------------------


def test_the_system_resolves_and_the_history_says_so(tenant, conversation):
    conversation_status_set(actor=SystemActor(tenant_id=tenant.pk), conversation=conversation, status="resolved")
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    assert _history(conversation) == ["Resolved by the system"]
    assert _audit(tenant) == [
        (
            "conversation.status_changed",
            None,
            "system",
            "conversations.conversation",
            str(conversation.pk),
            f"#{conversation.display_id}",
            {"from": "open", "to": "resolved", "snoozed_until": None},
        )
    ]
    [event] = OutboxEvent.objects.filter(event_type="conversation.status_changed")
    assert (event.payload["actor_type"], event.payload["actor_id"], event.payload["actor_user_id"]) == (
        "system",
        None,
        None,
    )


def test_an_automation_assigns_and_the_history_names_it(tenant, conversation, agent, channel):
    round_robin = AutomationActor(tenant_id=tenant.pk, automation_id=7, name="Round robin", kind="auto_assign")
    conversation_assign(actor=round_robin, conversation=conversation, assignee=agent.user)
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.user_id
    assert _history(conversation) == ["Assigned to Bruno by automation 'Round robin'"]
    [entry] = _audit(tenant)
    assert entry[:3] == ("conversation.assigned", None, "automation 'Round robin' (#7)")
    [event] = OutboxEvent.objects.filter(event_type="conversation.assigned")
    assert {k: v for k, v in event.payload.items() if k != "occurred_at"} == {
        "conversation_id": conversation.pk,
        "previous_assignee_id": None,
        "assignee_id": agent.user_id,
        "actor_user_id": None,
        "actor_type": "automation",
        "actor_id": 7,
        "actor_kind": "auto_assign",
    }
    # The history line is never handed to the channel.
    assert channel.delivered == []
    [notification] = Notification.objects.filter(user=agent.user)
    assert (notification.kind, notification.actor_id, notification.actor_label) == (
        "assigned",
        None,
        "Automation 'Round robin'",
    )
    client = Client()
    client.force_login(agent.user)
    page = client.get("/t/acme/inbox/notifications/").content.decode()
    assert f"Automation &#x27;Round robin&#x27; assigned #{conversation.display_id} to you" in page


def test_priority_labels_and_notes_by_an_automation_name_it(tenant, conversation, channel):
    bot = greeter(tenant)
    vip = make_label(tenant, "vip")
    conversation_priority_set(actor=bot, conversation=conversation, priority="high")
    conversation_labels_change(actor=bot, conversation=conversation, add=[vip])
    conversation_labels_change(actor=bot, conversation=conversation, remove=[vip])
    note = note_create(actor=bot, conversation=conversation, text="Cliente novo")
    assert _history(conversation) == [
        "Priority set to High by automation 'Boas-vindas'",
        "vip added by automation 'Boas-vindas'",
        "vip removed by automation 'Boas-vindas'",
    ]
    assert (note.private, note.sender_type, note.sender_user_id, note.sender_label, note.sender_automation_id) == (
        True,
        "bot",
        None,
        "Boas-vindas",
        GREETING,
    )
    assert channel.delivered == []


def test_the_systems_history_lines_never_reach_the_channel(
    tenant, conversation, agent, channel, django_capture_on_commit_callbacks
):
    system = SystemActor(tenant_id=tenant.pk)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_assign(actor=system, conversation=conversation, assignee=agent.user)
        conversation_priority_set(actor=system, conversation=conversation, priority="urgent")
        conversation_status_set(actor=system, conversation=conversation, status="pending")
        conversation_status_set(actor=system, conversation=conversation, status="resolved")
    lines = Message.objects.filter(conversation=conversation, sender_type="system")
    assert [(m.private, m.status, m.type) for m in lines] == [(True, "sent", "system")] * 4
    assert _history(conversation) == [
        "Assigned to Bruno by the system",
        "Priority set to Urgent by the system",
        "Set to pending by the system",
        "Resolved by the system",
    ]
    assert channel.delivered == []


def test_a_members_lines_and_events_keep_their_wording(tenant, conversation, agent):
    conversation_assign(actor=agent, conversation=conversation, assignee=agent.user)
    conversation_status_set(actor=agent, conversation=conversation, status="resolved")
    assert _history(conversation) == ["Bruno took the conversation", "Bruno resolved the conversation"]
    payloads = [e.payload for e in OutboxEvent.objects.order_by("created_at")]
    assert [(p["actor_type"], p["actor_id"], p["actor_user_id"]) for p in payloads] == [
        ("member", agent.pk, agent.user_id),
        ("member", agent.pk, agent.user_id),
    ]


def test_an_automation_updates_a_contact_audited_under_its_name(tenant, conversation):
    contact_update(actor=greeter(tenant), contact=conversation.contact, custom_attributes={"cpf": "123"})
    conversation.contact.refresh_from_db()
    assert conversation.contact.custom_attributes == {"cpf": "123"}
    [entry] = _audit(tenant)
    assert entry[:3] == ("contact.updated", None, "automation 'Boas-vindas' (#12)")
    [event] = OutboxEvent.objects.filter(event_type="contact.updated")
    assert (event.payload["actor_type"], event.payload["actor_id"]) == ("automation", GREETING)


def test_a_member_and_a_token_send_as_before_without_an_audit_entry(tenant, conversation, agent, channel):
    token = make_token(tenant, make_role(tenant, [Perm.REPLY]), name="Loja")
    by_agent, _created = message_send(actor=agent, conversation=conversation, spec=OutboundSpec(type="text", text="a"))
    by_token, _created = message_send(actor=token, conversation=conversation, spec=OutboundSpec(type="text", text="b"))
    rows = [(m.sender_type, m.sender_user_id, m.sender_label, m.sender_automation_id) for m in (by_agent, by_token)]
    assert rows == [("agent", agent.user_id, "", None), ("api", None, "Loja", None)]
    assert _audit(tenant) == []
    payloads = [e.payload for e in OutboxEvent.objects.filter(event_type="message.sent").order_by("created_at")]
    assert [(p["actor_type"], p["actor_id"]) for p in payloads] == [("member", agent.pk), ("api_token", token.pk)]
