"""What an automation or the system sends the customer goes ahead of the inbox's send queue, like an
agent's reply; an integrator's message waits its turn; history lines never reach the channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.actors import AutomationActor, SystemActor
from conversations.services import delivery_jobs
from conversations.services.actions import conversation_assign, conversation_status_set
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, message_send
from tenants.permissions import BuiltinRole, Perm
from tests.conversations.factories import make_role, make_token
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def requests(monkeypatch) -> list[tuple[str, int]]:
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(delivery_jobs, "send_ahead_request", lambda *, message_id: asked.append(("ahead", message_id)))
    monkeypatch.setattr(
        delivery_jobs, "send_request", lambda *, message_id, inbox_id: asked.append(("queue", message_id))
    )
    return asked


def _conversation(channel):
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id="5511987654321",
            external_id="wamid.actors-ahead",
            occurred_at=timezone.now() - timedelta(minutes=5),
            type="text",
            text="Oi",
            profile_name="Cliente",
        ),
    )
    return message.conversation


def test_bot_and_system_messages_go_ahead_and_the_apis_wait_in_the_queue(
    channel, tenant, requests, django_capture_on_commit_callbacks
):
    conversation = _conversation(channel)
    token = make_token(tenant, make_role(tenant, [Perm.REPLY]))
    senders = [
        AutomationActor(tenant_id=tenant.pk, automation_id=12, name="Boas-vindas"),
        SystemActor(tenant_id=tenant.pk),
        owner_of(tenant),
        token,
    ]
    sent = []
    for actor in senders:
        with django_capture_on_commit_callbacks(execute=True):
            message, _created = message_send(
                actor=actor, conversation=conversation, spec=OutboundSpec(type="text", text="Olá")
            )
        sent.append((message.sender_type, message.pk))
    assert [s[0] for s in sent] == ["bot", "system", "agent", "api"]
    assert requests == [("ahead", sent[0][1]), ("ahead", sent[1][1]), ("ahead", sent[2][1]), ("queue", sent[3][1])]


def test_the_systems_history_lines_are_never_handed_to_whatsapp(
    channel, tenant, requests, django_capture_on_commit_callbacks
):
    conversation = _conversation(channel)
    system = SystemActor(tenant_id=tenant.pk)
    agent = owner_of(tenant)
    assert agent.role.key == BuiltinRole.OWNER
    with django_capture_on_commit_callbacks(execute=True):
        conversation_assign(actor=system, conversation=conversation, assignee=agent.user)
        conversation_status_set(actor=system, conversation=conversation, status="resolved")
    assert conversation.messages.filter(sender_type="system", private=True).count() == 2
    assert requests == []
