"""The scheduled messages' API: schedule (by contact id or phone), idempotency, list, read, cancel; time zones,
permissions and other workspaces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import ScheduledMessage
from conversations.models import Contact
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.campaigns.scheduling_setup import customer_wrote, make_whatsapp
from tests.conversations.factories import make_role
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/t/acme/scheduled-messages/"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def channel(tenant):
    return make_whatsapp(tenant)


@pytest.fixture
def conversation(channel):
    return customer_wrote(channel, minutes_ago=60)


def token_client(tenant, perms=(Perm.SEND_TEMPLATES, Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS), name="Agenda"):
    _token, raw = api_token_create(actor=owner_of(tenant), name=name, role=make_role(tenant, perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client: Client, url: str, body: dict | None = None, **headers):
    return client.post(url, json.dumps(body or {}), content_type="application/json", headers=headers)


def _tomorrow_at_ten_in_sao_paulo() -> datetime:
    local = timezone.now().astimezone(SAO_PAULO) + timedelta(days=1)
    return local.replace(hour=10, minute=0, second=0, microsecond=0)


def reminder(inbox_id: int, **extra) -> dict:
    return {
        "inbox_id": inbox_id,
        "send_at": _tomorrow_at_ten_in_sao_paulo().isoformat(),
        "template": {"name": "appointment_reminder", "language": "pt_BR", "params": {"body": ["Ana", "10:00"]}},
        **extra,
    }


def test_a_reminder_for_a_new_phone_number_is_scheduled_in_utc(tenant, channel):
    client = token_client(tenant)

    answer = post(client, URL, reminder(channel.inbox_id, phone="+55 11 91234-5678"))

    assert answer.status_code == 201, answer.content
    body = answer.json()
    contact = Contact.objects.get(pk=body["contact_id"])
    scheduled = ScheduledMessage.objects.get(pk=body["id"])
    assert contact.phone_e164 == "+5511912345678"
    assert scheduled.send_at == _tomorrow_at_ten_in_sao_paulo().astimezone(UTC)
    assert scheduled.send_at.astimezone(UTC).hour == 13
    assert (body["status"], body["kind"], body["scheduled_by"]) == ("scheduled", "template", "API token Agenda")
    assert body["template"] == {
        "name": "appointment_reminder",
        "language": "pt_BR",
        "params": {"body": ["Ana", "10:00"]},
    }


def test_the_same_idempotency_key_schedules_once(tenant, conversation):
    client = token_client(tenant)
    body = reminder(conversation.inbox_id, contact_id=conversation.contact_id)

    first = post(client, URL, body, **{"Idempotency-Key": "appt-77"})
    again = post(client, URL, body, **{"Idempotency-Key": "appt-77"})
    in_body = post(client, URL, {**body, "idempotency_key": "appt-77"})
    other = post(
        client,
        URL,
        {**body, "template": {**body["template"], "params": {"body": ["Bia", "11:00"]}}},
        **{"Idempotency-Key": "appt-77"},
    )

    assert (first.status_code, again.status_code, in_body.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == in_body.json()["id"]
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_mismatch")
    assert ScheduledMessage.objects.count() == 1


def test_a_text_past_the_reply_window_is_refused_with_a_clear_message(tenant, conversation):
    client = token_client(tenant)
    later = (timezone.now() + timedelta(hours=30)).isoformat()

    answer = post(
        client,
        URL,
        {"inbox_id": conversation.inbox_id, "contact_id": conversation.contact_id, "send_at": later, "text": "Oi"},
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "reply_window_closed_at_send_time"
    assert "reply window will be closed" in answer.json()["error"]["message"]
    assert ScheduledMessage.objects.count() == 0


def test_a_time_without_its_zone_is_refused(tenant, conversation):
    client = token_client(tenant)
    naive = (timezone.now() + timedelta(hours=2)).replace(tzinfo=None).isoformat()

    answer = post(client, URL, reminder(conversation.inbox_id, contact_id=conversation.contact_id, send_at=naive))

    assert (answer.status_code, list(answer.json()["error"]["details"])) == (400, ["send_at"])
    assert ScheduledMessage.objects.count() == 0


def test_list_read_and_cancel(tenant, conversation):
    client = token_client(tenant)
    created = post(client, URL, reminder(conversation.inbox_id, contact_id=conversation.contact_id)).json()

    listed = client.get(URL).json()
    read = client.get(f"{URL}{created['id']}/").json()
    canceled = post(client, f"{URL}{created['id']}/cancel/")
    canceled_again = post(client, f"{URL}{created['id']}/cancel/")

    assert [row["id"] for row in listed["results"]] == [created["id"]]
    assert read["status"] == "scheduled"
    assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")
    assert (canceled_again.status_code, canceled_again.json()["status"]) == (200, "canceled")
    assert client.get(f"{URL}?status=canceled").json()["results"][0]["id"] == created["id"]
    for unknown in ("", "sent_maybe"):
        refused = client.get(f"{URL}?status={unknown}")
        assert (refused.status_code, refused.json()["error"]["details"]) == (400, {"param": "status"})


def test_a_message_being_sent_cannot_be_canceled(tenant, conversation):
    client = token_client(tenant)
    created = post(client, URL, reminder(conversation.inbox_id, contact_id=conversation.contact_id)).json()
    ScheduledMessage.objects.filter(pk=created["id"]).update(status="sending", claimed_at=timezone.now())

    answer = post(client, f"{URL}{created['id']}/cancel/")

    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "scheduled_message_not_cancelable")
    assert ScheduledMessage.objects.get(pk=created["id"]).status == "sending"


def test_another_workspaces_scheduled_message_is_not_found(tenant, other_tenant, conversation):
    created = post(
        token_client(tenant), URL, reminder(conversation.inbox_id, contact_id=conversation.contact_id)
    ).json()
    theirs = token_client(other_tenant, name="Deles")

    detail = theirs.get(f"/api/v1/t/globex/scheduled-messages/{created['id']}/")
    cancel = post(theirs, f"/api/v1/t/globex/scheduled-messages/{created['id']}/cancel/")
    listed = theirs.get("/api/v1/t/globex/scheduled-messages/").json()

    assert (detail.status_code, cancel.status_code, listed["results"]) == (404, 404, [])
    assert ScheduledMessage.objects.get(pk=created["id"]).status == "scheduled"


def test_another_workspaces_contact_or_inbox_cannot_be_named(tenant, other_tenant, conversation):
    their_channel = make_whatsapp(other_tenant, phone_number_id="999000111")
    their_conversation = customer_wrote(their_channel, source_id="5511911112222")
    client = token_client(tenant)

    their_contact = post(client, URL, reminder(conversation.inbox_id, contact_id=their_conversation.contact_id))
    their_inbox = post(client, URL, reminder(their_channel.inbox_id, contact_id=conversation.contact_id))

    assert (their_contact.status_code, their_contact.json()["error"]["details"]) == (400, {"field": "contact_id"})
    assert (their_inbox.status_code, their_inbox.json()["error"]["details"]) == (400, {"field": "inbox_id"})
    assert ScheduledMessage.objects.count() == 0


def test_permissions(tenant, conversation):
    nothing = token_client(tenant, perms=(Perm.VIEW_ALL_CONVERSATIONS,), name="Leitor")
    replies = token_client(tenant, perms=(Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS), name="Respostas")
    body = reminder(conversation.inbox_id, contact_id=conversation.contact_id)

    assert nothing.get(URL).status_code == 403
    assert post(nothing, URL, body).status_code == 403
    assert post(replies, URL, body).status_code == 403
    text = {
        **body,
        "template": None,
        "text": "Até amanhã!",
        "send_at": (timezone.now() + timedelta(hours=2)).isoformat(),
    }
    del text["template"]
    assert post(replies, URL, text).status_code == 201
    assert list(ScheduledMessage.objects.values_list("kind", flat=True)) == ["text"]


def test_an_agent_sees_the_scheduled_messages_of_conversations_they_see(tenant, channel, conversation):
    agent = add_member(tenant, "agent")
    client = Client()
    client.force_login(agent.user)
    other = customer_wrote(channel, source_id="5511933334444")
    owner_client = token_client(tenant)
    for c in (conversation, other):
        post(owner_client, URL, reminder(c.inbox_id, contact_id=c.contact_id))

    # The agent is in no inbox: they see none of the conversations, and none of their scheduled messages.
    assert client.get(URL).json()["results"] == []
    channel.inbox.members.add(agent.user)
    assert len(client.get(URL).json()["results"]) == 2
