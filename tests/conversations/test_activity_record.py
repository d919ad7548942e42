"""A history line an automation leaves about what it did: private, live, never sent, refused to
actors of another workspace or without the permission to reply."""

from __future__ import annotations

import pytest

from conversations.actors import AutomationActor
from conversations.models import Message
from conversations.services.actions import conversation_activity_record
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tests.conversations.factories import captured_events, make_conversation, make_inbox, make_role, make_token

pytestmark = pytest.mark.django_db


def test_an_automations_line_is_a_private_system_message_published_live(tenant, django_capture_on_commit_callbacks):
    conversation = make_conversation(make_inbox(tenant))
    actor = AutomationActor(tenant_id=tenant.pk, automation_id=3, name="Auto-resolve", kind="auto_resolve")

    with captured_events(django_capture_on_commit_callbacks) as events:
        line = conversation_activity_record(actor=actor, conversation=conversation, text="  Nothing was sent.  ")

    stored = Message.objects.get(pk=line.pk)
    assert (stored.type, stored.sender_type, stored.private, stored.status) == ("system", "system", True, "sent")
    assert stored.text == "Nothing was sent."
    assert stored.content == {"v": 1, "kind": "system", "event": "activity", "body": "Nothing was sent."}
    assert [e["message"]["id"] for _t, _g, e in events if e["type"] == "message.created"] == [line.pk]


def test_an_actor_of_another_workspace_or_without_reply_writes_nothing(tenant, other_tenant):
    conversation = make_conversation(make_inbox(tenant))
    stranger = AutomationActor(tenant_id=other_tenant.pk, automation_id=3, name="Theirs")
    reader = make_token(tenant, make_role(tenant, []))

    for actor in (stranger, reader):
        with pytest.raises(PermissionDenied):
            conversation_activity_record(actor=actor, conversation=conversation, text="Hello")
    mine = AutomationActor(tenant_id=tenant.pk, automation_id=3, name="Mine")
    with pytest.raises(ValidationFailed):
        conversation_activity_record(actor=mine, conversation=conversation, text=" ")

    assert Message.objects.filter(conversation=conversation).count() == 0
