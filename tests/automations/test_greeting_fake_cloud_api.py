"""The greeting and the away message reach the fake Cloud API once each, in Meta's shape, whatever Meta
repeats: the customer writes through the fake, its webhook is posted to our endpoint (twice, and once more
under another envelope), and our sends go to the fake over HTTP."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from automations.models import AutomatedMessage
from conversations.models import Message
from tests.whatsapp.conftest import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, WebhookPoster
from tests.whatsapp.openapi import assert_valid_send_request
from whatsapp import client as wa_client
from whatsapp import limiter
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer

pytestmark = pytest.mark.django_db

CUSTOMER = "5511987650001"
TOKEN = "test-access-token"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeCloudApiServer]:
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def fake(fake_server, settings, clock, channel) -> Iterator[FakeAdminClient]:
    """The fake with our test number; no webhook address, so each webhook is posted by the test itself."""
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    settings.WHATSAPP_HTTP_TIMEOUT = 2.0
    wa_client._transport_override.pop("transport", None)  # this module talks to the local fake over HTTP
    limiter.reset_local_state()
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.set_clock(clock.now.timestamp())  # the customer writes at the product's moment
    admin.register_number(
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="5511900000001",
        waba_id=WABA_ID,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        verified_name="Acme",
    )
    yield admin
    admin.reset()
    admin.close()


@pytest.fixture
def webhook(django_capture_on_commit_callbacks) -> WebhookPoster:
    return WebhookPoster(django_capture_on_commit_callbacks)


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
