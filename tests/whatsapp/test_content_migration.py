"""The conversion of stored messages from Meta's shape to neutral content (migration whatsapp 0005).

The database holds one message of every inbound fixture, stored exactly as the webhook processing
stored it before (``meta_content`` of the parsed fixture, plus the errors the core added), and one of
every outbound shape the API stored. After the conversion each holds the neutral content that a
message received (or sent) today holds, written out by hand, with the old shape kept in ``raw``.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from conversations.content import is_current
from conversations.models import Attachment, Conversation, Message
from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from tests.whatsapp.conftest import FIXTURES, load_fixture
from tests.whatsapp.test_inbound_fixtures import CASES
from whatsapp.content import messages_convert
from whatsapp.payloads import parse_webhook
from whatsapp.processing import meta_content
from whatsapp.sender import build_payload

pytestmark = pytest.mark.django_db

# The shared contract's commerce fixtures that customers send (kept beside the others in tests/fixtures).
COMMERCE_CASES: dict[str, dict[str, Any]] = {
    "commerce_inbound_order.json": {
        "v": 1,
        "kind": "order",
        "catalog_id": "194836987003835",
        "note": "Love these!",
        "items": [{"sku": "di9ozbzfi4", "quantity": 2, "unit_price": 799, "currency": "USD"}],
    },
    "commerce_inbound_order_brl.json": {
        "v": 1,
        "kind": "order",
        "catalog_id": "194836987003835",
        "items": [
            {"sku": "PIZZA-MARG-G", "quantity": 1, "unit_price": 5990, "currency": "BRL"},
            {"sku": "REFRI-LATA", "quantity": 3, "unit_price": 650, "currency": "BRL"},
        ],
    },
    "commerce_inbound_location_request_reply.json": {
        "v": 1,
        "kind": "location",
        "latitude": "40.782910059774",
        "longitude": "-73.959075808525",
        "address": "1071 5th Ave, New York, NY 10128",
    },
}

# What the API stored for each kind of outbound message, and the neutral content it holds now.
OUTBOUND: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "text",
        "See https://example.com",
        {"preview_url": True},
        {"kind": "text", "body": "See https://example.com", "preview_url": True},
    ),
    (
        "document",
        "The invoice",
        {"link": "https://files.example.com/invoice.pdf", "filename": "invoice.pdf"},
        {
            "kind": "media",
            "media_kind": "document",
            "caption": "The invoice",
            "filename": "invoice.pdf",
            "link": "https://files.example.com/invoice.pdf",
        },
    ),
    (
        "interactive",
        "Pick one",
        {
            "interactive_type": "button",
            "body": "Pick one",
            "header": "Menu",
            "footer": "Thanks",
            "buttons": [{"id": "a", "title": "Yes"}, {"id": "b", "title": "No"}],
        },
        {
            "kind": "interactive",
            "style": "button",
            "body": "Pick one",
            "header": {"type": "text", "text": "Menu"},
            "footer": "Thanks",
            "buttons": [{"id": "a", "title": "Yes"}, {"id": "b", "title": "No"}],
        },
    ),
    (
        "interactive",
        "Shipping",
        {
            "interactive_type": "list",
            "body": "Shipping",
            "button": "Options",
            "sections": [{"title": "Fast", "rows": [{"id": "x", "title": "Express", "description": "1 day"}]}],
        },
        {
            "kind": "interactive",
            "style": "list",
            "body": "Shipping",
            "list_button": "Options",
            "sections": [{"title": "Fast", "rows": [{"id": "x", "title": "Express", "description": "1 day"}]}],
        },
    ),
    (
        "interactive",
        "Track it",
        {
            "interactive_type": "cta_url",
            "body": "Track it",
            "header": {"type": "image", "image": {"link": "https://cdn.example.com/box.png"}},
            "display_text": "Open tracking",
            "url": "https://track.example.com/1",
        },
        {
            "kind": "interactive",
            "style": "cta_url",
            "body": "Track it",
            "header": {"type": "image", "link": "https://cdn.example.com/box.png"},
            "cta_text": "Open tracking",
            "cta_url": "https://track.example.com/1",
        },
    ),
    (
        "location",
        "Shop",
        {"latitude": -23.5505, "longitude": -46.6333, "name": "Shop", "address": "Rua A, 1"},
        {"kind": "location", "latitude": "-23.5505", "longitude": "-46.6333", "name": "Shop", "address": "Rua A, 1"},
    ),
    (
        "reaction",
        "\u2764",
        {"message_id": "wamid.target", "emoji": "\u2764"},
        {"kind": "reaction", "emoji": "\u2764", "target_id": "wamid.target"},
    ),
    (
        "template",
        "Your order 42 has shipped.",
        {
            "name": "order_shipped",
            "language": "en_US",
            "params": {"header": "Good news", "body": ["42"], "buttons": {"0": "track"}},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Good news"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "42"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "track"}],
                },
            ],
            "category": "UTILITY",
        },
        {
            "kind": "template",
            "name": "order_shipped",
            "language": "en_US",
            "category": "UTILITY",
            "header_text": "Good news",
            "body": "Your order 42 has shipped.",
            "parameters": {"header": "Good news", "body": ["42"], "buttons": {"0": "track"}},
            "buttons": ["quick reply: track"],
        },
    ),
]


def old_shape_of(fixture: str, fill: dict[str, str] | None = None) -> tuple[str, str, dict[str, Any], Any]:
    """(type, text, content, media) of a fixture's first message as the processing stored it before."""
    body = json.dumps(load_fixture(fixture))
    for placeholder, value in (fill or {}).items():
        body = body.replace(placeholder, value)
    parsed = parse_webhook(body.encode())
    msg = parsed.messages[0]
    content = meta_content(msg)
    if msg.errors:
        content["errors"] = [
            {"code": e.code, "title": e.title, "message": e.message, "details": e.details} for e in msg.errors
        ]
    return msg.type, msg.text, content, msg.media


@pytest.fixture
def conversation(channel) -> Conversation:
    contact_inbox = contact_inbox_get_or_create(inbox=channel.inbox, source_id="5511987654321")
    return conversation_get_or_open(contact_inbox=contact_inbox)[0]


def store_old(conversation: Conversation, message_type: str, text: str, content: dict[str, Any], **fields) -> Message:
    """A row as it was before: Meta's shape in ``content``, nothing in ``raw``."""
    inbound = fields.get("direction", "in") == "in"
    row = {
        "direction": "in" if inbound else "out",
        "sender_type": "contact" if inbound else "agent",
        "status": "received" if inbound else "sent",
        **fields,
    }
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        type=message_type,
        text=text,
        content=content,
        **row,
    )


def every_fixture(conversation: Conversation) -> list[tuple[Message, dict[str, Any], dict[str, Any]]]:
    """One old-shape row per inbound fixture: (row, its old content, the neutral content expected)."""
    rows = []
    for case in CASES:
        if case.message_type is None:
            continue
        message_type, text, content, media = old_shape_of(case.fixture, case.fill)
        # The hand-written old shape of each case is what the processing really stored.
        assert (message_type, text, content) == (case.message_type, case.text, case.stored_before)
        message = store_old(conversation, message_type, text, content)
        if media is not None:
            Attachment.objects.create(
                tenant_id=conversation.tenant_id,
                message=message,
                kind=message_type,
                external_media_id=media.media_id,
                mime_type=media.mime_type,
                filename=media.filename or "",
            )
        rows.append((message, content, case.content))
    for fixture, expected in COMMERCE_CASES.items():
        assert (FIXTURES / fixture).exists()
        message_type, text, content, _media = old_shape_of(fixture)
        rows.append((store_old(conversation, message_type, text, content), content, expected))
    return rows


def convert(**kwargs: Any) -> dict[str, int]:
    return messages_convert(message_model=Message, attachment_model=Attachment, **kwargs)


def test_every_fixture_message_becomes_its_exact_neutral_content_with_meta_shape_kept_as_raw(conversation):
    rows = every_fixture(conversation)
    assert len(rows) == len([c for c in CASES if c.message_type]) + 3

    result = convert(batch_size=7)

    assert result == {"converted": len(rows), "skipped": 0, "batches": -(-len(rows) // 7), "last_id": rows[-1][0].pk}
    for message, old, expected in rows:
        message.refresh_from_db()
        assert (message.pk, message.content, message.raw) == (message.pk, expected, old)


def test_outbound_rows_become_neutral_and_are_sent_as_before(conversation):
    rows = []
    for message_type, text, old, expected in OUTBOUND:
        message = store_old(conversation, message_type, text, old, direction="out", status="queued")
        # What Meta would have been sent for the row as it was.
        before = build_payload(message, to="5511987654321", client=None, channel=conversation.inbox.whatsapp_channel)
        rows.append((message, old, {"v": 1, **expected}, before))

    assert convert()["converted"] == len(OUTBOUND)

    for message, old, expected, before in rows:
        message.refresh_from_db()
        assert (message.type, message.content, message.raw) == (message.type, expected, old)
        after = build_payload(message, to="5511987654321", client=None, channel=conversation.inbox.whatsapp_channel)
        assert after == before


def test_notes_system_lines_and_unreadable_rows_are_converted_and_never_fail(conversation):
    note = store_old(conversation, "text", "@Ana look", {"mentions": [7, 9]}, direction="out", private=True)
    line = store_old(conversation, "system", "Ana resolved this", {}, direction="out", private=True)
    Message.objects.filter(pk=line.pk).update(sender_type="system")
    broken = store_old(conversation, "location", "", {"latitude": "north", "longitude": None})
    odd_order = store_old(
        conversation, "order", "", {"product_items": [{"product_retailer_id": "x", "quantity": "lots"}]}
    )

    assert convert()["converted"] == 4

    contents = {m.pk: (m.content, m.raw) for m in Message.objects.all()}
    assert contents[note.pk] == (
        {"v": 1, "kind": "text", "body": "@Ana look", "mentions": [7, 9]},
        {"mentions": [7, 9]},
    )
    assert contents[line.pk] == ({"v": 1, "kind": "system", "event": "activity", "body": "Ana resolved this"}, {})
    assert contents[broken.pk] == (
        {"v": 1, "kind": "unsupported", "channel_type": "location"},
        {"latitude": "north", "longitude": None},
    )
    assert contents[odd_order.pk][0] == {"v": 1, "kind": "unsupported", "channel_type": "order"}


def test_a_second_run_changes_nothing(conversation):
    rows = every_fixture(conversation)
    convert(batch_size=10)
    after_first = list(Message.objects.order_by("pk").values_list("pk", "content", "raw", "updated_at"))

    result = convert(batch_size=10)

    assert result["converted"] == 0
    assert result["skipped"] == len(rows)
    assert list(Message.objects.order_by("pk").values_list("pk", "content", "raw", "updated_at")) == after_first


def test_an_interrupted_conversion_resumes_where_it_stopped(conversation):
    rows = every_fixture(conversation)
    ids = [message.pk for message, _old, _expected in rows]

    first = convert(batch_size=5, max_batches=1)

    assert first == {"converted": 5, "skipped": 0, "batches": 1, "last_id": ids[4]}
    converted = {pk for pk, content in Message.objects.values_list("pk", "content") if is_current(content)}
    assert converted == set(ids[:5])
    # Run again from the start, as the migration does after a crash: the converted rows are skipped.
    second = convert(batch_size=5)
    assert (second["converted"], second["skipped"]) == (len(ids) - 5, 5)
    for message, old, expected in rows:
        message.refresh_from_db()
        assert (message.content, message.raw) == (expected, old)


def test_the_migration_runs_outside_one_transaction_in_batches(conversation):
    migration = importlib.import_module("whatsapp.migrations.0005_message_content_neutral")
    assert migration.Migration.atomic is False
    store_old(conversation, "text", "hello", {})

    migration.convert(apps, connection.schema_editor())

    assert Message.objects.get().content == {"v": 1, "kind": "text", "body": "hello"}
