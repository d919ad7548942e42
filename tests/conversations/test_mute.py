"""Muting a conversation: it is resolved, and the customer's new messages are filed in it (resolved, unread by
nobody, waiting for nobody) instead of opening a new conversation in the queue; unmuting leaves it resolved, so
the next message opens a new one; reopening unmutes. Through the service, the inbox page and the REST API,
with the refusals changing nothing."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Message, OutboxEvent
from conversations.services.actions import conversation_mute_set, conversation_status_set
from conversations.services.inbound import InboundSpec, message_receive
from helpdesk.exceptions import PermissionDenied
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tenants.services import api_token_create
from tests.conversations.factories import make_conversation, make_inbox, make_role
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"


def _receive(conversation: Conversation, text: str, wamid: str) -> Message:
    spec = InboundSpec(
        source_id=conversation.contact_inbox.source_id,
        external_id=wamid,
        occurred_at=timezone.now(),
        type="text",
        text=text,
        content={"v": 1, "kind": "text", "body": text},
    )
    message, _created = message_receive(inbox=conversation.inbox, spec=spec)
    return message


def _lines(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, type=Message.Type.SYSTEM)
        .order_by("id")
        .values_list("text", flat=True)
    )


def _status_events(conversation: Conversation) -> list[tuple[str, str, str]]:
    rows = OutboxEvent.objects.filter(event_type="conversation.status_changed").order_by("id")
    return [
        (row.payload["previous_status"], row.payload["status"], row.payload["change"])
        for row in rows
        if row.payload["conversation_id"] == conversation.pk
    ]


@pytest.fixture
def agent(tenant):
    return add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))


@pytest.fixture
def conversation(tenant, agent):
    return make_conversation(make_inbox(tenant, members=[agent]), name="Spam", unread_count=2)


def test_muting_resolves_files_the_customers_messages_there_and_opens_nothing(tenant, agent, conversation):
    conversation_mute_set(actor=agent, conversation=conversation, muted=True)

    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    assert conversation.muted_at == conversation.resolved_at is not None
    assert _lines(conversation) == ["Ana muted the conversation"]
    [entry] = AuditLogEntry.objects.filter(tenant=tenant, action__startswith="conversation.")
    assert (entry.action, entry.actor_id, entry.extra) == ("conversation.muted", agent.user_id, {"from": "open"})
    # Resolved as muted: no survey and no "resolved" rules follow it.
    assert _status_events(conversation) == [("open", "resolved", "muted")]

    conversations_before = Conversation.objects.count()
    first = _receive(conversation, "compre já!!!", "wamid.m1")
    second = _receive(conversation, "compre já!!! 2", "wamid.m2")

    assert first.conversation_id == second.conversation_id == conversation.pk
    assert Conversation.objects.count() == conversations_before
    assert not OutboxEvent.objects.filter(event_type="conversation.created").exists()
    conversation.refresh_from_db()
    # Nothing for the team: still resolved, still muted, nothing unread, nobody waited for.
    assert (conversation.status, conversation.unread_count, conversation.waiting_since) == ("resolved", 2, None)
    assert conversation.muted_at is not None
    assert conversation.last_message_id == second.pk
    # The messages are kept and still announced as received (for integrations); automations skip them.
    assert OutboxEvent.objects.filter(event_type="message.received").count() == 2


def test_muting_again_or_unmuting_an_unmuted_one_changes_nothing(tenant, agent, conversation):
    conversation_mute_set(actor=agent, conversation=conversation, muted=False)
    conversation_mute_set(actor=agent, conversation=conversation, muted=True)
    muted_at = Conversation.objects.get(pk=conversation.pk).muted_at
    conversation_mute_set(actor=agent, conversation=conversation, muted=True)

    conversation.refresh_from_db()
    assert conversation.muted_at == muted_at
    assert _lines(conversation) == ["Ana muted the conversation"]
    assert AuditLogEntry.objects.filter(tenant=tenant, action__startswith="conversation.").count() == 1
    assert len(_status_events(conversation)) == 1


def test_muting_a_resolved_conversation_keeps_its_resolution_and_records_no_status_change(tenant, agent, conversation):
    conversation_status_set(actor=agent, conversation=conversation, status="resolved")
    resolved_at = Conversation.objects.get(pk=conversation.pk).resolved_at

    conversation_mute_set(actor=agent, conversation=conversation, muted=True)

    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolved_at) == ("resolved", resolved_at)
    assert conversation.muted_at is not None
    assert _status_events(conversation) == [("open", "resolved", "resolved")]
    assert _receive(conversation, "oi", "wamid.r1").conversation_id == conversation.pk


def test_unmuting_leaves_it_resolved_and_the_next_message_opens_a_new_conversation(tenant, agent, conversation):
    conversation_mute_set(actor=agent, conversation=conversation, muted=True)
    conversation_mute_set(actor=agent, conversation=conversation, muted=False)

    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("resolved", None)
    assert _lines(conversation) == ["Ana muted the conversation", "Ana unmuted the conversation"]
    assert list(
        AuditLogEntry.objects.filter(tenant=tenant, action__startswith="conversation.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["conversation.muted", "conversation.unmuted"]

    message = _receive(conversation, "Voltei, preciso de ajuda", "wamid.u1")
    new = message.conversation
    new.refresh_from_db()
    assert new.pk != conversation.pk
    assert (new.status, new.unread_count, new.muted_at) == ("open", 1, None)


def test_reopening_a_muted_conversation_unmutes_it(tenant, agent, conversation):
    conversation_mute_set(actor=agent, conversation=conversation, muted=True)

    conversation_status_set(actor=agent, conversation=conversation, status="open")

    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("open", None)
    assert _lines(conversation)[-1] == "Ana reopened the conversation; the conversation is no longer muted"
    entry = AuditLogEntry.objects.filter(tenant=tenant, action="conversation.status_changed").get()
    assert entry.extra == {"from": "resolved", "to": "open", "snoozed_until": None, "unmuted": True}
    message = _receive(conversation, "oi de novo", "wamid.o1")
    conversation.refresh_from_db()
    assert message.conversation_id == conversation.pk
    assert conversation.unread_count == 3


def test_a_member_who_may_not_reply_cannot_mute_and_nothing_changes(tenant, conversation):
    viewer = add_member(tenant, role=make_role(tenant, []))

    with pytest.raises(PermissionDenied):
        conversation_mute_set(actor=viewer, conversation=conversation, muted=True)

    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("open", None)
    assert _lines(conversation) == []
    assert not AuditLogEntry.objects.filter(tenant=tenant, action__startswith="conversation.").exists()


def test_the_database_refuses_a_muted_conversation_that_is_not_resolved(conversation):
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(muted_at=timezone.now())


# --- the inbox page --------------------------------------------------------------------------------------


def test_the_inbox_mutes_and_unmutes_and_the_header_says_so(tenant, agent, conversation):
    client = Client()
    client.force_login(agent.user)
    url = f"/t/acme/inbox/c/{conversation.display_id}/mute/"

    muted = client.post(url, {"muted": "1"}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")

    assert muted.status_code == 200
    html = muted.json()["header"]
    assert "data-muted" in html and 'data-mute="0"' in html and 'data-mute="1"' not in html
    conversation.refresh_from_db()
    assert conversation.muted_at is not None

    unmuted = client.post(url, {"muted": "0"}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")

    assert unmuted.status_code == 200
    assert "data-muted" not in unmuted.json()["header"] and 'data-mute="1"' in unmuted.json()["header"]
    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("resolved", None)


@pytest.mark.parametrize("value", ["", "yes", "2"])
def test_the_inbox_refuses_an_unclear_mute_with_400_and_changes_nothing(agent, conversation, value):
    client = Client()
    client.force_login(agent.user)

    response = client.post(
        f"/t/acme/inbox/c/{conversation.display_id}/mute/", {"muted": value}, HTTP_X_REQUESTED_WITH="XMLHttpRequest"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Say whether to mute the conversation."
    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("open", None)


# --- the REST API ----------------------------------------------------------------------------------------


def _api(tenant, perms) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name="Bot", role=make_role(tenant, perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_the_api_mutes_and_unmutes(tenant, agent, conversation):
    client = Client()
    client.force_login(agent.user)
    url = f"{API}/conversations/{conversation.display_id}/muted/"

    response = client.put(url, {"muted": True}, content_type="application/json")

    assert response.status_code == 200
    body = response.json()
    conversation.refresh_from_db()
    assert (body["status"], body["muted_at"]) == ("resolved", conversation.muted_at.isoformat().replace("+00:00", "Z"))

    response = client.put(url, {"muted": False}, content_type="application/json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["muted_at"]) == ("resolved", None)


@pytest.mark.parametrize("body", [{}, {"muted": "maybe"}, {"muted": None}, {"muted": 1}, {"muted": "true"}])
def test_the_api_refuses_a_bad_body_with_400_and_changes_nothing(agent, conversation, body):
    client = Client()
    client.force_login(agent.user)

    response = client.put(
        f"{API}/conversations/{conversation.display_id}/muted/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "muted" in response.json()["error"]["details"]
    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("open", None)


def test_the_api_needs_the_reply_permission_and_hides_another_workspaces_conversation(
    tenant, other_tenant, conversation
):
    refused = _api(tenant, []).put(
        f"{API}/conversations/{conversation.display_id}/muted/", {"muted": True}, content_type="application/json"
    )
    theirs = make_conversation(make_inbox(other_tenant), name="Not yours")
    Conversation.objects.filter(pk=theirs.pk).update(display_id=900)
    hidden = _api(tenant, ["conversations.reply"]).put(
        f"{API}/conversations/900/muted/", {"muted": True}, content_type="application/json"
    )

    assert refused.status_code == 403
    assert hidden.status_code == 404
    conversation.refresh_from_db()
    theirs.refresh_from_db()
    assert (conversation.muted_at, theirs.muted_at, theirs.status) == (None, None, "open")


def test_the_api_takes_json_only_so_an_empty_form_is_not_read_as_false(agent, conversation):
    conversation_mute_set(actor=agent, conversation=conversation, muted=True)
    client = Client()
    client.force_login(agent.user)

    url = f"{API}/conversations/{conversation.display_id}/muted/"
    empty = client.put(url, "", content_type="application/x-www-form-urlencoded")
    form = client.put(url, "muted=false", content_type="application/x-www-form-urlencoded")

    assert (empty.status_code, form.status_code) == (400, 415)
    conversation.refresh_from_db()
    assert conversation.muted_at is not None
