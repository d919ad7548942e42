"""The closing message reaches the (fake) Cloud API once, as Meta's JSON, however many times the job runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from automations.auto_resolve_run import conversations_auto_resolve
from conversations.models import Conversation, Message
from tests.automations.auto_resolve_helpers import (
    Clock,
    agent_answers,
    auto_resolve_on,
    customer_writes,
    whatsapp_inbox,
)
from whatsapp import client as wa_client
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer

pytestmark = pytest.mark.django_db

PNID = "106540352249901"
WABA = "102290129340398"
TOKEN = "test-access-token"
CUSTOMER = "5511987650042"


@pytest.fixture(scope="module")
def fake_server():
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def fake(fake_server, settings):
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    wa_client._transport_override.pop("transport", None)  # this module talks to the local fake over HTTP
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.register_number(phone_number_id=PNID, display_phone_number="5511900000001", waba_id=WABA, access_token=TOKEN)
    yield admin
    admin.reset()
    admin.close()


def _sends(admin) -> list[dict]:
    return [r for r in admin.requests(method="POST", path_contains="/messages") if "status" not in (r["json"] or {})]


def test_the_closing_message_reaches_the_cloud_api_once(
    tenant, admin, fake, monkeypatch, django_capture_on_commit_callbacks
):
    inbox = whatsapp_inbox(tenant, phone_number_id=PNID)
    settings = auto_resolve_on(admin, inbox, after_hours=1, closing_message={"en": "Bye {{contact.first_name}}!"})
    # At Meta, the customer wrote a moment ago (the window is open there too); here, three hours ago.
    fake.inbound(phone_number_id=PNID, from_=CUSTOMER, name="Maria Souza", type="text", text="Oi")
    now = timezone.now()
    clock = Clock(now)
    monkeypatch.setattr(timezone, "now", clock)
    conversation = customer_writes(inbox, clock, at=now - timedelta(hours=3), customer=CUSTOMER)
    answer = agent_answers(conversation, clock, at=now - timedelta(hours=2))
    Message.objects.filter(pk=answer.pk).update(status="sent", external_id="wamid.answered-before")
    monkeypatch.undo()

    with django_capture_on_commit_callbacks(execute=True):
        first = conversations_auto_resolve()
    with django_capture_on_commit_callbacks(execute=True):
        second = conversations_auto_resolve()

    assert (first["sent"], second["resolved"]) == (1, 0)
    closing = Message.objects.get(conversation=conversation, sender_type="bot")
    sends = _sends(fake)
    assert [r["json"] for r in sends] == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": CUSTOMER,
            "type": "text",
            "text": {"body": "Bye Maria!", "preview_url": False},
            "biz_opaque_callback_data": f"hd:{closing.pk}",
        }
    ]
    closing.refresh_from_db()
    assert closing.status == "sent"
    [at_meta] = fake.messages(direction="out", to=CUSTOMER)
    assert (closing.external_id, at_meta["type"]) == (at_meta["wamid"], "text")
    assert (closing.sender_label, closing.sender_automation_id) == ("Auto-resolve", settings.pk)
    assert Conversation.objects.get(pk=conversation.pk).status == "resolved"
