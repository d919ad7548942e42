"""Sending and listing a conversation's messages through the REST API, as an integration does with its token."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from conversations import channels
from conversations.models import Conversation, Message
from conversations.services import delivery_jobs
from conversations.services.contacts import contact_marketing_consent_set
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, message_send
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import owner_of
from tests.whatsapp.conftest import load_fixture, make_channel
from whatsapp import client as whatsapp_client
from whatsapp.services import templates_sync

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"
PNG = b"\x89PNG\r\n\x1a\nfake image"


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def api(tenant) -> Client:
    """An integration's token that sees every conversation and may reply and send templates."""
    role = make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY, Perm.SEND_TEMPLATES])
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def deliveries(channel, monkeypatch) -> list[int]:
    """Ids of the messages handed to the channel for delivery (after commit); read receipts (a reply
    marks the customer's messages read) are left out."""
    handed: list[int] = []
    backend = channels.backend_for(channel.inbox)
    monkeypatch.setattr(delivery_jobs, "delivery_enqueue", lambda m: handed.append(m.pk))
    monkeypatch.setattr(backend, "enqueue_read_receipt", lambda m: None)
    return handed


def _customer_writes(channel, *, wa_id: str = "5511912345678", text: str = "Olá") -> Message:
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=wa_id,
            external_id=f"wamid.{wa_id}.{Message.objects.count()}",
            occurred_at=timezone.now(),
            type="text",
            text=text,
            profile_name="Maria",
        ),
    )
    return message


def _messages_url(conversation: Conversation) -> str:
    return f"{API}/conversations/{conversation.display_id}/messages/"


def _send(client: Client, conversation: Conversation, body: dict, *, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(_messages_url(conversation), body, content_type="application/json", headers=headers)


# --- Idempotency-Key ---------------------------------------------------------------------------------


def test_a_replayed_send_returns_the_first_message_and_delivers_it_once(
    api, channel, deliveries, django_capture_on_commit_callbacks
):
    conversation = _customer_writes(channel).conversation
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(api, conversation, {"type": "text", "text": "Olá, Maria!"}, key="crm-42")
    with django_capture_on_commit_callbacks(execute=True):
        again = _send(api, conversation, {"type": "text", "text": "Olá, Maria!"}, key="crm-42")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    [message] = Message.objects.filter(direction="out")
    assert (message.pk, message.conversation_id, message.text, message.idempotency_key) == (
        first.json()["id"],
        conversation.pk,
        "Olá, Maria!",
        "crm-42",
    )
    assert deliveries == [message.pk]


def test_a_key_reused_on_another_conversation_is_refused_and_sends_nothing(
    api, channel, deliveries, django_capture_on_commit_callbacks
):
    conversation = _customer_writes(channel, wa_id="5511911111111").conversation
    other = _customer_writes(channel, wa_id="5511922222222").conversation
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(api, conversation, {"type": "text", "text": "Seu pedido saiu"}, key="crm-42")
    with django_capture_on_commit_callbacks(execute=True):
        reused = _send(api, other, {"type": "text", "text": "Seu pedido saiu"}, key="crm-42")

    assert reused.status_code == 422
    assert reused.json() == {
        "error": {
            "code": "idempotency_key_reused",
            "message": "This idempotency key was already used for a message in another conversation. Use a new key.",
            "details": {"idempotency_key": "crm-42"},
        }
    }
    assert list(Message.objects.filter(direction="out").values_list("pk", "conversation_id")) == [
        (first.json()["id"], conversation.pk)
    ]
    assert deliveries == [first.json()["id"]]


@pytest.mark.parametrize(
    "second",
    [
        {"type": "text", "text": "Seu pedido chegou"},
        {"type": "text", "text": "Seu pedido saiu", "reply_to": "inbound"},
        {"type": "document", "text": "Seu pedido saiu", "content": {"link": "https://files.example.com/nf.pdf"}},
    ],
    ids=["other-text", "now-a-reply", "other-type"],
)
def test_a_key_reused_with_a_different_body_is_422_and_sends_nothing(
    api, channel, deliveries, django_capture_on_commit_callbacks, second
):
    inbound = _customer_writes(channel)
    conversation = inbound.conversation
    if second.get("reply_to") == "inbound":
        second = {**second, "reply_to": inbound.pk}
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(api, conversation, {"type": "text", "text": "Seu pedido saiu"}, key="crm-42")
    with django_capture_on_commit_callbacks(execute=True):
        mismatch = _send(api, conversation, second, key="crm-42")

    assert mismatch.status_code == 422
    assert mismatch.json() == {
        "error": {
            "code": "idempotency_key_mismatch",
            "message": "This idempotency key was already used for a different message in this conversation. "
            "Repeat the same request to get that message, or use a new key.",
            "details": {"idempotency_key": "crm-42", "message_id": first.json()["id"]},
        }
    }
    assert list(Message.objects.filter(direction="out").values_list("pk", "text")) == [
        (first.json()["id"], "Seu pedido saiu")
    ]
    assert deliveries == [first.json()["id"]]


def test_a_key_reused_with_another_file_is_422_and_the_same_file_replays(
    api, channel, deliveries, django_capture_on_commit_callbacks
):
    conversation = _customer_writes(channel).conversation
    url = _messages_url(conversation)

    def upload(data: bytes):
        return api.post(
            url,
            {"type": "image", "file": SimpleUploadedFile("nota.png", data, content_type="image/png")},
            headers={"Idempotency-Key": "nota-7"},
        )

    with django_capture_on_commit_callbacks(execute=True):
        first = upload(PNG)
    with django_capture_on_commit_callbacks(execute=True):
        other = upload(PNG + b"another")
    with django_capture_on_commit_callbacks(execute=True):
        again = upload(PNG)

    assert (first.status_code, other.status_code, again.status_code) == (201, 422, 200)
    assert other.json()["error"]["code"] == "idempotency_key_mismatch"
    assert again.json() == first.json()
    [message] = Message.objects.filter(direction="out")
    assert [a.file.read() for a in message.attachments.all()] == [PNG]
    assert deliveries == [message.pk]


def test_a_message_stored_without_a_fingerprint_is_replayed_for_its_key(api, channel, deliveries):
    conversation = _customer_writes(channel).conversation
    first = _send(api, conversation, {"type": "text", "text": "Olá"}, key="antiga-1")
    Message.objects.filter(pk=first.json()["id"]).update(idempotency_fingerprint="")

    again = _send(api, conversation, {"type": "text", "text": "Outro texto"}, key="antiga-1")

    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert Message.objects.filter(direction="out").count() == 1


def test_the_same_key_in_another_workspace_does_not_collide(api, channel, other_tenant):
    globex_channel = make_channel(other_tenant, phone_number_id="106540352249999", waba_id="102290129349999")
    theirs = _customer_writes(globex_channel).conversation
    their_message, _created = message_send(
        actor=owner_of(other_tenant),
        conversation=theirs,
        spec=OutboundSpec(type="text", text="Globex"),
        idempotency_key="crm-42",
    )
    ours = _customer_writes(channel).conversation

    response = _send(api, ours, {"type": "text", "text": "Acme"}, key="crm-42")

    assert response.status_code == 201
    assert response.json()["id"] != their_message.pk
    assert sorted(
        Message.objects.filter(idempotency_key="crm-42").values_list("tenant_id", "conversation_id", "text")
    ) == sorted([(other_tenant.pk, theirs.pk, "Globex"), (ours.tenant_id, ours.pk, "Acme")])


# --- sending each kind of message --------------------------------------------------------------------


@pytest.fixture
def synced_templates(channel, monkeypatch) -> None:
    """The WABA's templates synced from Meta's own list example (2023_april_promo: APPROVED, body {{1}} {{2}})."""

    def cloud_api(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/{channel.api_version}/{channel.waba_id}/message_templates"
        return httpx.Response(200, json=load_fixture("template_list_response.json") | {"paging": {}})

    monkeypatch.setitem(whatsapp_client._transport_override, "transport", httpx.MockTransport(cloud_api))
    assert templates_sync(channel=channel) == 2


def _opted_in(conversation: Conversation) -> Conversation:
    """The customer agreed to marketing (2023_april_promo is a MARKETING template)."""
    contact_marketing_consent_set(contact=conversation.contact, consent="opted_in", at=timezone.now())
    return conversation


def test_a_template_is_sent_with_its_body_values(
    api, channel, synced_templates, deliveries, django_capture_on_commit_callbacks
):
    conversation = _opted_in(_customer_writes(channel).conversation)
    template = {"name": "2023_april_promo", "language": "en_US", "params": {"body": ["Mark", "FALL25"]}}

    with django_capture_on_commit_callbacks(execute=True):
        response = _send(api, conversation, {"type": "template", "template": template})

    assert response.status_code == 201, response.content
    message = Message.objects.get(direction="out")
    assert (message.type, message.status, message.text) == (
        "template",
        "queued",
        "Hi Mark, our Fall Sale is on! Use promo code FALL25 Get an extra 25% off every order above $350!",
    )
    assert message.content == {
        "v": 1,
        "kind": "template",
        "name": "2023_april_promo",
        "language": "en_US",
        "category": "MARKETING",
        "body": message.text,
        "parameters": {"body": ["Mark", "FALL25"]},
    }
    # Meta's components, built from the approved template now, are what delivery sends.
    assert message.raw == {
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Mark"}, {"type": "text", "text": "FALL25"}]}
        ]
    }
    assert (response.json()["id"], response.json()["type"], response.json()["text"]) == (
        message.pk,
        "template",
        message.text,
    )
    assert deliveries == [message.pk]


def test_a_template_missing_a_body_value_is_400_and_stores_nothing(api, channel, synced_templates):
    conversation = _opted_in(_customer_writes(channel).conversation)
    template = {"name": "2023_april_promo", "language": "en_US", "params": {"body": ["Mark"]}}

    response = _send(api, conversation, {"type": "template", "template": template})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "template_params_invalid",
            "message": "The template body needs 2 values. 1 was given.",
            "details": {},
        }
    }
    assert not Message.objects.filter(direction="out").exists()


def test_an_image_is_sent_as_a_multipart_upload_with_its_caption(
    api, channel, deliveries, django_capture_on_commit_callbacks
):
    conversation = _customer_writes(channel).conversation
    upload = SimpleUploadedFile("comprovante.png", PNG, content_type="image/png")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(_messages_url(conversation), {"type": "image", "text": "Seu comprovante", "file": upload})

    assert response.status_code == 201, response.content
    message = Message.objects.get(direction="out")
    [attachment] = message.attachments.all()
    assert (message.type, message.text, message.content) == (
        "image",
        "Seu comprovante",
        {"v": 1, "kind": "media", "media_kind": "image", "caption": "Seu comprovante"},
    )
    assert (attachment.kind, attachment.mime_type, attachment.filename, attachment.file_size) == (
        "image",
        "image/png",
        "comprovante.png",
        len(PNG),
    )
    assert attachment.file.read() == PNG
    assert response.json()["attachments"] == [
        {
            "id": attachment.pk,
            "kind": "image",
            "mime_type": "image/png",
            "filename": "comprovante.png",
            "file_size": len(PNG),
            "download_status": "stored",
            "url": f"http://testserver{API}/attachments/{attachment.pk}/",
        }
    ]
    assert deliveries == [message.pk]


def test_a_document_is_sent_by_link(api, channel, deliveries, django_capture_on_commit_callbacks):
    conversation = _customer_writes(channel).conversation
    link = "https://files.example.com/boleto-4521.pdf"

    with django_capture_on_commit_callbacks(execute=True):
        response = _send(api, conversation, {"type": "document", "text": "Boleto", "content": {"link": link}})

    assert response.status_code == 201, response.content
    message = Message.objects.get(direction="out")
    content = {"v": 1, "kind": "media", "media_kind": "document", "caption": "Boleto", "link": link}
    assert (message.type, message.text, message.content, message.attachments.count()) == (
        "document",
        "Boleto",
        content,
        0,
    )
    # The API answers with the stored, neutral content.
    assert (response.json()["content"], response.json()["attachments"]) == (content, [])
    assert deliveries == [message.pk]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "image"}, "Attach a file (or give a link) to send this image."),
        ({"type": "image", "content": {"link": "ftp://files.example.com/a.png"}},
         "The image link must be an http(s) URL, got 'ftp://files.example.com/a.png'."),
        ({"type": "audio", "text": "Ouça", "content": {"link": "https://files.example.com/a.ogg"}},
         "Audio messages cannot have a caption; only images, videos and documents can."),
        ({"type": "image", "content": {"link": "https://files.example.com/a.png", "filename": "a.png"}},
         "Only documents have a filename."),
        ({"type": "image", "text": "x" * 1025, "content": {"link": "https://files.example.com/a.png"}},
         "The caption is 1025 characters; WhatsApp allows 1024."),
    ],
)  # fmt: skip
def test_media_without_a_usable_source_is_400_and_stores_nothing(api, channel, body, message):
    conversation = _customer_writes(channel).conversation

    response = _send(api, conversation, body)

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "validation_failed", "message": message, "details": {}}
    assert not Message.objects.filter(direction="out").exists()


def test_an_uploaded_sticker_with_a_caption_is_400_and_stores_nothing(api, channel):
    conversation = _customer_writes(channel).conversation
    upload = SimpleUploadedFile("joinha.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 fake", content_type="image/webp")

    response = api.post(_messages_url(conversation), {"type": "sticker", "file": upload, "text": "Valeu"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "Sticker messages cannot have a caption; only images, videos and documents can.",
        "details": {},
    }
    assert not Message.objects.filter(direction="out").exists()


def test_media_with_both_a_file_and_a_link_is_400_and_stores_nothing(api, channel):
    conversation = _customer_writes(channel).conversation
    upload = SimpleUploadedFile("a.png", PNG, content_type="image/png")

    # A form names the link as content.link.
    response = api.post(
        _messages_url(conversation),
        {"type": "image", "file": upload, "content.link": "https://files.example.com/a.png"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "Attach a file or give a link, not both.",
        "details": {},
    }
    assert not Message.objects.filter(direction="out").exists()


def test_a_reply_quotes_the_customers_message(api, channel):
    inbound = _customer_writes(channel, text="Qual o prazo?")

    response = _send(api, inbound.conversation, {"type": "text", "text": "Chega amanhã", "reply_to": inbound.pk})

    assert response.status_code == 201, response.content
    message = Message.objects.get(direction="out")
    assert (message.text, message.reply_to_id, message.reply_to_external_id) == (
        "Chega amanhã",
        inbound.pk,
        inbound.external_id,
    )
    assert response.json()["reply_to_id"] == inbound.pk


def test_a_reply_to_a_message_of_another_conversation_is_404_and_stores_nothing(api, channel):
    elsewhere = _customer_writes(channel, wa_id="5511911111111")
    conversation = _customer_writes(channel, wa_id="5511922222222").conversation

    response = _send(api, conversation, {"type": "text", "text": "Chega amanhã", "reply_to": elsewhere.pk})

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "The message to reply to is not in this conversation.", "details": {}}
    }
    assert not Message.objects.filter(direction="out").exists()


# --- listing -----------------------------------------------------------------------------------------


def test_the_message_list_pages_by_cursor_forward_and_back(api, channel):
    ids = [_customer_writes(channel, text=f"m{i}").pk for i in range(5)]
    conversation = Message.objects.get(pk=ids[0]).conversation

    def page(url: str) -> tuple[list[int], str | None, str | None]:
        response = api.get(url)
        assert response.status_code == 200
        body = response.json()
        assert list(body) == ["next", "previous", "results"]
        return [m["id"] for m in body["results"]], body["next"], body["previous"]

    newest, older, newest_previous = page(f"{_messages_url(conversation)}?page_size=2")
    assert (newest, newest_previous) == ([ids[4], ids[3]], None)
    middle, oldest, _previous = page(older)
    assert middle == [ids[2], ids[1]]
    last, end, back = page(oldest)
    assert (last, end) == ([ids[0]], None)
    middle_again, _next, back_to_newest = page(back)
    assert middle_again == [ids[2], ids[1]]
    newest_again, _next, before_newest = page(back_to_newest)
    assert (newest_again, before_newest) == ([ids[4], ids[3]], None)


def _written(channel, plan: list[tuple[str, int]]) -> dict[str, int]:
    """The customer's messages, stored in the plan's order, each stamped ``seconds`` after a fixed time."""
    start = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    ids = {}
    for name, seconds in plan:
        message, _created = message_receive(
            inbox=channel.inbox,
            spec=InboundSpec(
                source_id="5511912345678",
                external_id=f"wamid.{name}",
                occurred_at=start + timedelta(seconds=seconds),
                type="text",
                text=name,
            ),
        )
        ids[name] = message.pk
    return ids


# Stored in this order; written in the order of their seconds, five of them in the same second.
ARRIVALS = [("a", 3), ("b", 1), ("c", 2), ("d", 2), ("e", 2), ("f", 2), ("g", 2), ("h", 0), ("i", 4)]


def test_the_message_list_is_in_the_customers_order_and_pages_across_equal_times_by_arrival(api, channel):
    ids = _written(channel, ARRIVALS)
    conversation = Message.objects.get(pk=ids["a"]).conversation

    def page(url: str) -> tuple[list[str], str | None, str | None]:
        body = api.get(url).json()
        return [m["text"] for m in body["results"]], body["next"], body["previous"]

    first, older, newer = page(f"{_messages_url(conversation)}?page_size=3")
    assert (first, newer) == (["i", "a", "g"], None)
    second, oldest, back = page(older)
    assert second == ["f", "e", "d"]  # the page boundary falls inside the second both pages share
    third, end, _back = page(oldest)
    assert (third, end) == (["c", "b", "h"], None)
    assert page(back)[0] == ["i", "a", "g"]
    [message] = api.get(f"{_messages_url(conversation)}?page_size=1").json()["results"]
    assert message["occurred_at"] == "2026-11-02T12:00:04Z"


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _cursor(["2026-11-02T12:00:00+00:00", 2**64, 0]),
        _cursor(["2026-11-02T12:00:00", 5, 0]),
        _cursor(["0001-01-01T00:00:00+14:00", 5, 0]),
        _cursor(["yesterday", 5, 0]),
        _cursor(["2026-11-02T12:00:00+00:00", 5, 7]),
        _cursor({"at": "2026-11-02T12:00:00+00:00"}),
    ],
)
def test_a_bad_message_cursor_is_a_400_in_the_error_envelope(api, channel, cursor):
    conversation = _customer_writes(channel).conversation
    response = api.get(f"{_messages_url(conversation)}?cursor={cursor}")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_failed",
            "message": "The cursor is not valid; start again from the first page.",
            "details": {"param": "cursor"},
        }
    }
