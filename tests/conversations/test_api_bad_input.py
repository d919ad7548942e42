"""Bad input to the REST API is a 400 in the error envelope, never a 500, and changes nothing.

Ids are range-checked where they are parsed (a primary key is a bigint: 1 to 2^63-1), and each
message type's content is checked before anything is queued.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Contact, ContactLabel, Conversation, ConversationLabel, Message, QuickReply
from conversations.services.inbound import InboundSpec, message_receive
from tests.conversations.factories import make_label
from tests.factories import add_member, owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"
OUT_OF_RANGE = [0, -1, 2**63, 2**64, 10**40]


@pytest.fixture
def owner_client(tenant) -> Client:
    client = Client()
    client.force_login(owner_of(tenant).user)
    return client


@pytest.fixture
def conversation(tenant) -> Conversation:
    channel = make_channel(tenant)
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id="5511912345678",
            external_id="wamid.bad-input.1",
            occurred_at=timezone.now(),
            type="text",
            text="Olá",
            profile_name="Maria",
        ),
    )
    return message.conversation


def _call(client: Client, method: str, url: str, body: dict | None = None):
    return getattr(client, method)(url, body, content_type="application/json")


def _snapshot(tenant) -> dict:
    return {
        "messages": list(Message.objects.filter(tenant=tenant).order_by("pk").values_list("pk", "private", "text")),
        "assignees": list(Conversation.objects.filter(tenant=tenant).values_list("pk", "assignee_id")),
        "conversation_labels": ConversationLabel.objects.count(),
        "contact_labels": ContactLabel.objects.count(),
        "quick_replies": QuickReply.objects.count(),
    }


def _body_cases(conversation: Conversation, value: int) -> list[tuple[str, str, dict, str]]:
    c = f"{API}/conversations/{conversation.display_id}"
    return [
        ("put", f"{c}/assignee/", {"assignee_id": value}, "assignee_id"),
        ("post", f"{c}/labels/", {"label_id": value}, "label_id"),
        ("post", f"{c}/notes/", {"text": "Veja isto", "mention_user_ids": [value]}, "mention_user_ids"),
        ("post", f"{c}/messages/", {"type": "text", "text": "Olá", "reply_to": value}, "reply_to"),
        ("patch", f"{API}/contacts/{conversation.contact_id}/", {"label_ids": [value]}, "label_ids"),
        (
            "post",
            f"{API}/quick-replies/",
            {"shortcut": "oi", "text": "Oi", "scope": "inbox", "inbox_id": value},
            "inbox_id",
        ),
        ("patch", f"{API}/quick-replies/1/", {"inbox_id": value}, "inbox_id"),
    ]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("case", range(7))
def test_an_id_out_of_range_in_a_body_is_400_naming_the_field_and_changes_nothing(
    owner_client, tenant, conversation, case, value
):
    make_label(tenant, "vip")
    QuickReply.objects.create(tenant=tenant, pk=1, shortcut="tchau", text="Tchau!", scope=QuickReply.Scope.TENANT)
    method, url, body, field = _body_cases(conversation, value)[case]
    before = _snapshot(tenant)

    response = _call(owner_client, method, url, body)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["message"], list(error["details"])) == (
        "validation_failed",
        "The request is invalid.",
        [field],
    )
    assert _snapshot(tenant) == before


@pytest.mark.parametrize("value", ["0", "-1", str(2**63), str(2**64), "1e3", "٣", "abc"])
@pytest.mark.parametrize(
    "url",
    [
        f"{API}/audit-log/?actor=",
        f"{API}/conversations/?inbox=",
        f"{API}/conversations/?label=",
        f"{API}/conversations/?assignee=",
        f"{API}/quick-replies/?inbox=",
    ],
)
def test_an_id_out_of_range_in_a_query_is_400_in_the_envelope(owner_client, url, value):
    response = owner_client.get(url + value)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_failed"


def test_the_largest_id_is_accepted_and_finds_nothing(owner_client, conversation):
    response = owner_client.get(f"{API}/conversations/?assignee={2**63 - 1}")

    assert (response.status_code, response.json()["results"]) == (200, [])


@pytest.mark.parametrize("value", [str(2**63), str(2**64), "9" * 40])
@pytest.mark.parametrize(
    ("method", "tail"),
    [
        ("get", "conversations/{id}/messages/"),
        ("get", "conversations/{id}/labels/"),
        ("delete", "conversations/1/labels/{id}/"),
        ("get", "contacts/{id}/"),
        ("delete", "quick-replies/{id}/"),
    ],
)
def test_an_id_out_of_range_in_the_path_is_404(owner_client, conversation, method, tail, value):
    response = getattr(owner_client, method)(f"{API}/{tail.format(id=value)}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("page_size", ["null", "0", "000", "-3", "abc", "1.5", ""])
@pytest.mark.parametrize("url", [f"{API}/members/", f"{API}/audit-log/", "messages"])
def test_a_page_size_that_is_not_a_positive_number_is_400(owner_client, conversation, url, page_size):
    if url == "messages":
        url = f"{API}/conversations/{conversation.display_id}/messages/"

    response = owner_client.get(f"{url}?page_size={page_size}")

    assert response.status_code == 400, response.content
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "page_size must be a whole number, at least 1; a page holds 200 at most.",
        "details": {"param": "page_size"},
    }


@pytest.mark.parametrize("page_size", ["5000", "9" * 40, "0001"])
def test_a_page_size_over_the_largest_page_gives_the_largest_page(tenant, owner_client, page_size):
    for _n in range(2):
        add_member(tenant, "agent")

    response = owner_client.get(f"{API}/members/?page_size={page_size}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == (1 if page_size == "0001" else 3)


@pytest.mark.parametrize("url", [f"{API}/members/", f"{API}/audit-log/", "messages"])
def test_a_cursor_the_api_did_not_give_out_is_400(owner_client, conversation, url):
    if url == "messages":
        url = f"{API}/conversations/{conversation.display_id}/messages/"

    response = owner_client.get(f"{url}?cursor=zzz")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "The cursor is not valid; start again from the first page.",
        "details": {"param": "cursor"},
    }


@pytest.mark.parametrize("query", ["actor=", "action=", "date_from=", "date_to=&actor=3"])
def test_an_empty_audit_log_filter_is_400(owner_client, query):
    response = owner_client.get(f"{API}/audit-log/?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "A filter cannot be empty; leave it out instead."
    assert response.json()["error"]["details"] == {"params": [query.split("=")[0]]}


@pytest.mark.parametrize("name", ["inbox", "label", "assignee"])
def test_an_empty_id_filter_of_the_conversation_list_is_400(owner_client, name):
    response = owner_client.get(f"{API}/conversations/?{name}=")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"param": name}


@pytest.mark.parametrize("name", ["tab", "status", "sort"])
def test_an_empty_choice_of_the_conversation_list_is_400(owner_client, name):
    response = owner_client.get(f"{API}/conversations/?{name}=&q=")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "A filter cannot be empty; leave it out instead.",
        "details": {"params": [name]},
    }


# --- message content, per type -----------------------------------------------------------------

BUTTON = {"id": "sim", "title": "Sim"}
LINK = "https://example.com/a"
KIND = "content.interactive_type must be one of: button, list, cta_url."
BUTTONS = 'content.buttons must be a list of {"id", "title"} objects.'
SECTION = "Section 1 must be a dict with a title and rows."


def _interactive(kind: object, **content: object) -> dict:
    return {"type": "interactive", "content": {"interactive_type": kind, **content}}


BAD_CONTENT: list[tuple[dict[str, Any], str]] = [
    ({"type": "interactive"}, KIND),
    ({"type": "interactive", "content": {}}, KIND),
    (_interactive("carousel", body="Veja"), KIND),
    (_interactive(["list"], body="Veja"), KIND),
    (_interactive("button"), BUTTONS),
    (_interactive("button", body="Confirma?", buttons="sim"), BUTTONS),
    (_interactive("button", body="Confirma?", buttons=[1]), BUTTONS),
    (_interactive("button", body="Confirma?", buttons=[{}]), "Missing field 'id'."),
    (_interactive("button", body=7, buttons=[BUTTON]), "The message body must be text, not int."),
    (
        _interactive("button", body="Ok?", buttons=[BUTTON], header=[1]),
        "The header must be a string or a header object.",
    ),
    (_interactive("button", body="Ok?", buttons=[BUTTON], footer={}), "The footer must be text, not dict."),
    (_interactive("list", body="Menu", button="Ver", sections="x"), SECTION),
    (_interactive("list", body="Menu", button="Ver", sections=[1]), SECTION),
    (_interactive("list", body="Menu", button="Ver", sections=[{}]), "Section 1 has no rows."),
    (_interactive("cta_url", body="Pague", display_text="Pagar"), "Missing field 'url'."),
    (
        _interactive("cta_url", body="Pague", display_text="Pagar", url="javascript:x"),
        "The button URL must be an http(s) URL, got 'javascript:x'.",
    ),
    ({"type": "text"}, "The message text is empty."),
    ({"type": "text", "text": "x" * 4097}, "The message text is 4097 characters; WhatsApp allows 4096."),
    ({"type": "image"}, "Attach a file (or give a link) to send this image."),
    (
        {"type": "image", "content": {"link": "javascript:alert(1)"}},
        "The image link must be an http(s) URL, got 'javascript:alert(1)'.",
    ),
    ({"type": "image", "content": {"link": [LINK]}}, "The image link is empty."),
    ({"type": "document", "content": {"link": LINK, "filename": ["a"]}}, "The filename must be text, not list."),
    (
        {"type": "sticker", "text": "legenda", "content": {"link": LINK}},
        "Sticker messages cannot have a caption; only images, videos and documents can.",
    ),
    ({"type": "location"}, "Missing field 'latitude'."),
    (
        {"type": "location", "content": {"latitude": "abc", "longitude": 1}},
        "Latitude must be a number between -90 and 90, got 'abc'.",
    ),
    (
        {"type": "location", "content": {"latitude": 1, "longitude": [2]}},
        "Longitude must be a number between -180 and 180, got [2].",
    ),
    (
        {"type": "location", "content": {"latitude": 1, "longitude": 2, "name": {}}},
        "The location name must be text, not dict.",
    ),
    (
        {"type": "reaction", "content": {"message_id": ["wamid.bad-input.1"], "emoji": "👍"}},
        "content.message_id must be the WhatsApp id of a message, as text.",
    ),
    (
        {"type": "reaction", "content": {"message_id": "wamid.bad-input.1", "emoji": ["👍"]}},
        "The reaction must be a single emoji (or empty to remove it).",
    ),
    ({"type": "template"}, "Give the template's name and language, as text."),
    (
        {"type": "template", "template": {"name": ["x"], "language": "pt_BR"}},
        "Give the template's name and language, as text.",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), BAD_CONTENT, ids=[f"{b['type']}-{i}" for i, (b, _m) in enumerate(BAD_CONTENT)]
)
def test_a_message_with_invalid_content_is_400_and_nothing_is_queued(owner_client, conversation, body, message):
    response = _call(owner_client, "post", f"{API}/conversations/{conversation.display_id}/messages/", body)

    assert response.status_code == 400, response.content
    assert response.json() == {"error": {"code": "validation_failed", "message": message, "details": {}}}
    assert list(Message.objects.filter(direction=Message.Direction.OUTBOUND)) == []


# --- the inbox page's own requests -------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", str(2**63), str(2**64), "9" * 40])
@pytest.mark.parametrize(
    ("method", "tail", "field"),
    [
        ("get", "rows/?ids=1,{v}", "ids"),
        ("get", "c/{c}/messages/?before={v}", "before"),
        ("get", "c/{c}/messages/?after={v}", "after"),
        ("get", "c/{c}/messages/?ids={v}", "ids"),
        ("post", "c/{c}/send/", {"text": "Olá", "reply_to": "{v}"}),
        ("post", "c/{c}/send/", {"text": "Olá", "quick_reply": "{v}"}),
        ("post", "c/{c}/assign/", {"assignee": "{v}"}),
        ("post", "c/{c}/labels/", {"add": "{v}"}),
    ],
)
def test_an_id_out_of_range_sent_by_the_inbox_page_is_400_and_changes_nothing(
    owner_client, tenant, conversation, method, tail, field, value
):
    make_label(tenant, "vip")
    url = f"/t/acme/inbox/{tail}".format(c=conversation.display_id, v=value)
    before = _snapshot(tenant)

    if method == "get":
        response = owner_client.get(url)
    else:
        response = owner_client.post(url, {k: v.format(v=value) for k, v in field.items()})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_failed"
    assert _snapshot(tenant) == before


# --- text PostgreSQL cannot store --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "body", "field"),
    [
        ("contact", {"custom_attributes": {"plano": "ouro\u0000"}}, "custom_attributes"),
        ("contact", {"custom_attributes": {"pla\u0000no": "ouro"}}, "custom_attributes"),
        ("messages", {"type": "location", "content": {"latitude": 1, "longitude": 2, "name": "Loja\u0000"}}, "content"),
        ("messages", {"type": "template", "template": {"name": "boas_vindas", "language": "pt_BR\u0000"}}, "template"),
        ("messages", {"type": "text", "text": "Olá\u0000"}, "text"),
    ],
)
def test_a_nul_character_in_a_body_is_400_and_stores_nothing(owner_client, tenant, conversation, tail, body, field):
    if tail == "contact":
        url, method = f"{API}/contacts/{conversation.contact_id}/", "patch"
    else:
        url, method = f"{API}/conversations/{conversation.display_id}/messages/", "post"
    before = _snapshot(tenant)

    response = _call(owner_client, method, url, body)

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["details"]) == [field]
    assert _snapshot(tenant) == before
    assert Contact.objects.get(pk=conversation.contact_id).custom_attributes == {}


@pytest.mark.parametrize("url", [f"{API}/conversations/?q=Maria%00", "/t/acme/inbox/list/?q=Maria%00"])
def test_a_nul_character_in_a_search_is_400(owner_client, conversation, url):
    response = owner_client.get(url)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The search cannot contain a NUL character."


@pytest.mark.parametrize("key", ["crm\u00004", "crm\n4", "x" * 81])
def test_an_idempotency_key_that_is_not_1_to_80_printable_characters_is_400(owner_client, conversation, key):
    response = owner_client.post(
        f"{API}/conversations/{conversation.display_id}/messages/",
        {"type": "text", "text": "Olá"},
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The idempotency key must be 1 to 80 printable characters long."
    assert list(Message.objects.filter(direction=Message.Direction.OUTBOUND)) == []


@pytest.mark.parametrize("depth", [33, 100_000])
def test_json_nested_too_deeply_is_a_400_on_any_endpoint_and_changes_nothing(owner_client, conversation, depth):
    before = _snapshot(conversation.tenant)
    body = '{"type": "text", "text": "Olá", "content": ' + "[" * depth + "]" * depth + "}"
    url = f"{API}/conversations/{conversation.display_id}/messages/"
    response = owner_client.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert response.json()["error"]["message"] == "The JSON is nested too deeply (32 levels at most)."
    assert _snapshot(conversation.tenant) == before
