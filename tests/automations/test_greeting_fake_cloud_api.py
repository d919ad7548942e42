"""The greeting and the away message reach the fake Cloud API once each, in Meta's shape, whatever Meta
repeats: the customer writes through the fake, its webhook is posted to our endpoint (twice, and once more
under another envelope), and our sends go to the fake over HTTP."""

from __future__ import annotations

import copy

import pytest

from automations.models import AutomatedMessage
from conversations.models import Message
from tests.whatsapp.conftest import PHONE_NUMBER_ID
from tests.whatsapp.openapi import assert_valid_send_request
from whatsapp.fake import FakeAdminClient

pytestmark = pytest.mark.django_db

CUSTOMER = "5511987650001"


def _sent_texts(admin: FakeAdminClient) -> list[tuple[str, str]]:
    return [(m["wa_id"], m["payload"]["text"]["body"]) for m in admin.messages(direction="out")]


def test_greeting_and_away_reach_the_cloud_api_once_each_whatever_meta_repeats(
    tenant, channel, clock, configure, office_hours, fake, webhook
):
    configure(greeting_enabled=True, away_enabled=True)

    written = fake.inbound(phone_number_id=PHONE_NUMBER_ID, **{"from": CUSTOMER}, name="Maria Souza", text="Oi")
    payload = written["webhook"]
    assert webhook.post(channel, payload).status_code == 200
    assert webhook.post(channel, payload).status_code == 200  # Meta's retry: the same body
    again = copy.deepcopy(payload)
    again["entry"][0]["time"] = 1  # the same message under another envelope: another body, the same wamid
    assert webhook.post(channel, again).status_code == 200

    assert _sent_texts(fake) == [
        (CUSTOMER, "Hi Maria, welcome to Support!"),
        (CUSTOMER, "We are closed. We open Tuesday at 09:00."),
    ]
    # Every send the fake got (the read receipt of the customer's message aside), each accepted.
    requests = fake.requests(method="POST", path_contains="/messages")
    sends = [r["json"] for r in requests if "status" not in r["json"]]
    assert [r["status_code"] for r in requests] == [200] * len(requests)
    bots = list(Message.objects.filter(sender_type="bot").order_by("id"))
    assert [body["biz_opaque_callback_data"] for body in sends] == [f"hd:{m.pk}" for m in bots]
    for body in sends:
        assert_valid_send_request(body)
    assert [(m.sender_label, m.status) for m in bots] == [("Greeting", "sent"), ("Away message", "sent")]
    assert Message.objects.filter(direction="in").count() == 1
    assert AutomatedMessage.objects.count() == 2


def test_nothing_reaches_the_cloud_api_when_the_customer_wrote_more_than_a_day_ago(
    tenant, channel, clock, configure, office_hours, fake, webhook
):
    configure(greeting_enabled=True, away_enabled=True)
    fake.set_clock(clock.now.timestamp() - 25 * 3600)

    written = fake.inbound(phone_number_id=PHONE_NUMBER_ID, **{"from": CUSTOMER}, name="Maria Souza", text="Oi")
    assert webhook.post(channel, written["webhook"]).status_code == 200

    assert Message.objects.filter(direction="in").count() == 1
    assert _sent_texts(fake) == []
    assert not Message.objects.filter(direction="out").exists()


def test_a_greeting_with_an_image_reaches_the_cloud_api_as_an_uploaded_image_with_its_caption(
    tenant, admin, channel, clock, configure, fake, webhook
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from automations.greeting_media import greeting_media_set

    configure(greeting_enabled=True)
    image = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32
    greeting_media_set(
        actor=admin, inbox=channel.inbox, kind="greeting", upload=SimpleUploadedFile("hi.png", image, "image/png")
    )

    written = fake.inbound(phone_number_id=PHONE_NUMBER_ID, **{"from": CUSTOMER}, name="Maria Souza", text="Oi")
    assert webhook.post(channel, written["webhook"]).status_code == 200

    uploads = fake.requests(method="POST", path_contains="/media")
    assert [r["status_code"] for r in uploads] == [200]
    sends = [r["json"] for r in fake.requests(method="POST", path_contains="/messages") if "status" not in r["json"]]
    assert len(sends) == 1
    assert_valid_send_request(sends[0])
    assert sends[0]["type"] == "image"
    assert sends[0]["image"]["caption"] == "Hi Maria, welcome to Support!"
    assert set(sends[0]["image"]) == {"id", "caption"}
    bot = Message.objects.get(sender_type="bot")
    assert (bot.type, bot.status, bot.sender_label) == ("image", "sent", "Greeting")
