from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from conversations.models import Contact, Message
from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from tenants.permissions import BuiltinRole
from tests.factories import add_member, owner_of
from whatsapp.models import WhatsAppChannel
from whatsapp.services import channel_create
from whatsapp.signature import encode_like_meta, sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def retarget(payload: dict[str, Any], *, phone_number_id: str, waba_id: str = WABA_ID) -> dict[str, Any]:
    """A copy of a fixture addressed to our test number (fixtures come from several real accounts)."""
    payload = copy.deepcopy(payload)
    for entry in payload.get("entry", []):
        entry["id"] = waba_id
        for change in entry.get("changes", []):
            metadata = change.get("value", {}).get("metadata")
            if isinstance(metadata, dict):
                metadata["phone_number_id"] = phone_number_id
    return payload


def wa_id_of(contact: Contact) -> str:
    """The customer's WhatsApp id: the contact's address on the WhatsApp channel."""
    return contact.identities.get(channel_type="whatsapp").address


# What status webhooks change on a message.
DELIVERY_FIELDS = [
    "status",
    "external_id",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_details",
    "pricing",
]


def make_sent_message(
    channel: WhatsAppChannel, *, source_id: str, external_id: str | None, status: str = Message.Status.SENT
) -> Message:
    """An agent's text to the customer ``source_id`` that Meta accepted as ``external_id``."""
    contact_inbox = contact_inbox_get_or_create(inbox=channel.inbox, source_id=source_id)
    conversation, _opened = conversation_get_or_open(contact_inbox=contact_inbox)
    return Message.objects.create(
        tenant_id=channel.tenant_id,
        conversation=conversation,
        inbox=channel.inbox,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        type=Message.Type.TEXT,
        text="Your order has shipped.",
        external_id=external_id,
        status=status,
    )


def make_channel(
    tenant, *, phone_number_id: str = PHONE_NUMBER_ID, waba_id: str = WABA_ID, **kwargs
) -> WhatsAppChannel:
    params = {
        "name": "Support",
        "display_phone_number": "+55 11 90000-0001",
        "phone_number_id": phone_number_id,
        "waba_id": waba_id,
        "access_token": "test-access-token",
        "app_secret": APP_SECRET,
        # Tests about connecting a number verify it at Meta; the others need a channel only.
        "verify": False,
    }
    params.update(kwargs)
    return channel_create(actor=owner_of(tenant), **params)


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def inbox_agent(tenant, channel):
    """An agent who belongs to the channel's inbox."""
    member = add_member(tenant, BuiltinRole.AGENT)
    channel.inbox.members.add(member.user)
    return member


class WebhookPoster:
    def __init__(self, capture):
        self.client = Client()
        self.capture = capture

    def post(
        self, channel: WhatsAppChannel, payload: dict[str, Any] | bytes, *, secret: str = APP_SECRET, headers=None
    ):
        body = payload if isinstance(payload, bytes) else encode_like_meta(payload)
        extra = {"HTTP_X_HUB_SIGNATURE_256": sign(body, secret)}
        if headers is not None:
            extra = headers
        with self.capture(execute=True):
            return self.client.post(
                f"/webhooks/whatsapp/{channel.webhook_key}/", data=body, content_type="application/json", **extra
            )


@pytest.fixture
def webhook(django_capture_on_commit_callbacks):
    return WebhookPoster(django_capture_on_commit_callbacks)
