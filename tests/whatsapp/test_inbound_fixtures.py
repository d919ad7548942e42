"""Every inbound webhook fixture, signed and posted through the real endpoint, and the exact rows it leaves.

The expected values are written out by hand from the fixtures (CONTRACT §2.4), never recomputed from the parser.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conversations.models import Attachment, Contact, ContactInbox, Conversation, Message, Reaction
from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from tests.whatsapp.conftest import FIXTURES, load_fixture, retarget, wa_id_of
from whatsapp import client as whatsapp_client
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.django_db

SHEENA = {"wa_id": "16505551234", "profile_name": "Sheena Nelson", "phone_e164": "+16505551234"}
TEST_NAME = {"wa_id": "972987654321", "profile_name": "Test Name", "phone_e164": "+972987654321"}
SHEENA_TEXT_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
UNSUPPORTED_ERROR = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "details": "Message type is currently not supported.",
}
LOOKASIDE = "https://lookaside.fbsbx.com/whatsapp_business/attachments/"


def media_bytes(media_id: str) -> bytes:
    """What the fake Cloud API serves for a media id: distinct per id, so a mix-up would show."""
    return f"binary content of media {media_id}\n".encode() * 7


@pytest.fixture
def cloud_api(settings, tmp_path):
    """Meta's two-hop media download (GET /{version}/{media-id}, then the lookaside URL); keeps every request."""
    settings.MEDIA_ROOT = str(tmp_path)
    seen: list[httpx.Request] = []
    template = load_fixture("media_url_response_real.json")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "lookaside.fbsbx.com":
            return httpx.Response(200, content=media_bytes(request.url.params["mid"]))
        match = re.fullmatch(r"/v\d+\.\d+/(\d+)", request.url.path)
        if request.method == "GET" and match:
            media_id = match.group(1)
            body = template | {
                "id": media_id,
                "url": f"{LOOKASIDE}?mid={media_id}&ext=1672849737&hash=ATsyMpSaV_WxR3Br",
                "file_size": len(media_bytes(media_id)),
            }
            return httpx.Response(200, json=body)
        return httpx.Response(404, json={"error": {"message": "Unknown path", "type": "OAuthException", "code": 100}})

    previous = whatsapp_client._transport_override.get("transport")
    whatsapp_client._transport_override["transport"] = httpx.MockTransport(handler)
    yield seen
    if previous is None:
        whatsapp_client._transport_override.pop("transport", None)
    else:
        whatsapp_client._transport_override["transport"] = previous


@dataclass(frozen=True)
class Case:
    """What one fixture must leave behind. ``message_type=None``: it must store no message at all."""

    fixture: str
    contact: dict[str, str]
    at: datetime
    message_type: str | None
    external_id: str
    text: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    # What ``Message.content`` held before it became neutral (Meta's shape): the data migration's input.
    stored_before: dict[str, Any] = field(default_factory=dict)
    reply_to_external_id: str = ""
    forwarded: bool = False
    frequently_forwarded: bool = False
    referral: dict[str, Any] | None = None
    attachment: dict[str, str] | None = None
    summary: str = "1 message"
    # Placeholders some official examples keep verbatim, filled with concrete values before posting.
    fill: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "inbound_audio_file.json",
        TEST_NAME,
        datetime(2023, 10, 11, 16, 58, 29, tzinfo=UTC),
        "audio",
        "wamid.xyzxyz",
        content={"v": 1, "kind": "media", "media_kind": "audio", "mime_type": "audio/ogg; codecs=opus"},
        forwarded=True,
        attachment={
            "kind": "audio",
            "external_media_id": "1234567890987654321",
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "E3dxS/PdYZE7ppA3pQ4mpCFaXBJ8pX4SRN/dsfvds/iPGA=",
            "filename": "",
        },
    ),
    Case(
        "inbound_audio_voice.json",
        TEST_NAME,
        datetime(2023, 10, 11, 16, 57, 53, tzinfo=UTC),
        "audio",
        "wamid.xyzxyz",
        content={"v": 1, "kind": "media", "media_kind": "audio", "mime_type": "audio/ogg; codecs=opus", "voice": True},
        stored_before={"voice": True},
        attachment={
            "kind": "audio",
            "external_media_id": "1234567890987654321",
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
            "filename": "",
        },
    ),
    Case(
        "inbound_audio_voice_meta.json",
        SHEENA,
        datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC),
        "audio",
        SHEENA_TEXT_WAMID,
        content={"v": 1, "kind": "media", "media_kind": "audio", "mime_type": "audio/ogg; codecs=opus", "voice": True},
        stored_before={"voice": True},
        attachment={
            "kind": "audio",
            "external_media_id": "1908647269898587",
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
            "filename": "",
        },
    ),
    Case(
        "inbound_button_template_quick_reply.json",
        SHEENA,
        datetime(2025, 6, 16, 16, 24, 5, tzinfo=UTC),
        "button",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
        text="Unsubscribe",
        content={"v": 1, "kind": "reply", "reply_type": "template_button", "id": "Unsubscribe", "title": "Unsubscribe"},
        stored_before={"payload": "Unsubscribe", "text": "Unsubscribe"},
        reply_to_external_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
    ),
    Case(
        "inbound_button_template_quick_reply_pywa.json",
        TEST_NAME,
        datetime(2023, 10, 25, 21, 23, 47, tzinfo=UTC),
        "button",
        "wamid.xsidjw",
        text="title",
        content={"v": 1, "kind": "reply", "reply_type": "template_button", "id": "callback_data", "title": "title"},
        stored_before={"payload": "callback_data", "text": "title"},
        reply_to_external_id="wamid.xyzxyz==",
    ),
    Case(
        "inbound_contacts.json",
        SHEENA,
        datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC),
        "contacts",
        SHEENA_TEXT_WAMID,
        text="Lucía Gómez",
        content={
            "v": 1,
            "kind": "contacts",
            "cards": [
                {
                    "name": "Lucía Gómez",
                    "first_name": "Lucía",
                    "last_name": "Gómez",
                    "company": "Google",
                    "phones": [{"number": "+1 (983) 555-2319", "type": "MOBILE", "messaging_id": "19835552319"}],
                }
            ],
        },
        stored_before={
            "contacts": [
                {
                    "name": {"first_name": "Lucía", "last_name": "Gómez", "formatted_name": "Lucía Gómez"},
                    "org": {"company": "Google"},
                    "phones": [{"phone": "+1 (983) 555-2319", "wa_id": "19835552319", "type": "MOBILE"}],
                }
            ]
        },
    ),
    Case(
        "inbound_document.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 1, 6, tzinfo=UTC),
        "document",
        "wamid.xyzxyz",
        text="caption",
        content={
            "v": 1,
            "kind": "media",
            "media_kind": "document",
            "caption": "caption",
            "filename": "filename.pdf",
            "mime_type": "application/pdf",
        },
        stored_before={"caption": "caption"},
        forwarded=True,
        attachment={
            "kind": "document",
            "external_media_id": "1234567890987654321",
            "mime_type": "application/pdf",
            "sha256": "grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY=",
            "filename": "filename.pdf",
        },
    ),
    Case(
        "inbound_document_meta.json",
        SHEENA,
        datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC),
        "document",
        SHEENA_TEXT_WAMID,
        text="my receipt",
        content={
            "v": 1,
            "kind": "media",
            "media_kind": "document",
            "caption": "my receipt",
            "filename": "receipt.pdf",
            "mime_type": "application/pdf",
        },
        stored_before={"caption": "my receipt"},
        attachment={
            "kind": "document",
            "external_media_id": "622684793477189",
            "mime_type": "application/pdf",
            "sha256": "V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
            "filename": "receipt.pdf",
        },
    ),
    Case(
        "inbound_image.json",
        SHEENA,
        datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC),
        "image",
        SHEENA_TEXT_WAMID,
        text="Taj Mahal",
        content={"v": 1, "kind": "media", "media_kind": "image", "caption": "Taj Mahal", "mime_type": "image/jpeg"},
        stored_before={"caption": "Taj Mahal"},
        attachment={
            "kind": "image",
            "external_media_id": "1003383421387256",
            "mime_type": "image/jpeg",
            "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            "filename": "",
        },
    ),
    Case(
        "inbound_image_with_url.json",
        TEST_NAME,
        datetime(2023, 10, 11, 16, 56, 19, tzinfo=UTC),
        "image",
        "wamid.xyzxyz",
        content={"v": 1, "kind": "media", "media_kind": "image", "mime_type": "image/jpeg"},
        attachment={
            "kind": "image",
            "external_media_id": "65463453",
            "mime_type": "image/jpeg",
            "sha256": "4654+8g=",
            "filename": "",
        },
    ),
    Case(
        "inbound_interactive_button_reply.json",
        SHEENA,
        datetime(2025, 6, 15, 22, 5, 36, tzinfo=UTC),
        "interactive",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
        text="Cancel",
        content={"v": 1, "kind": "reply", "reply_type": "button", "id": "cancel-button", "title": "Cancel"},
        stored_before={"interactive_type": "button_reply", "id": "cancel-button", "title": "Cancel"},
        reply_to_external_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
    ),
    Case(
        "inbound_interactive_button_reply_meta.json",
        {"wa_id": "16505551234", "profile_name": "Pablo Morales", "phone_e164": "+16505551234"},
        datetime(2024, 4, 30, 20, 46, 43, tzinfo=UTC),
        "interactive",
        "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQThBREYwNzc2RDc2QjA1QTIwMgA=",
        text="Change",
        content={"v": 1, "kind": "reply", "reply_type": "button", "id": "change-button", "title": "Change"},
        stored_before={"interactive_type": "button_reply", "id": "change-button", "title": "Change"},
        reply_to_external_id="wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJBM0Y4RUU0RUNFQkFDMjYzQUMA",
    ),
    Case(
        "inbound_interactive_list_reply.json",
        SHEENA,
        datetime(2025, 6, 13, 22, 42, 55, tzinfo=UTC),
        "interactive",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA=",
        text="Priority Mail Express",
        content={
            "v": 1,
            "kind": "reply",
            "reply_type": "list",
            "id": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        stored_before={
            "interactive_type": "list_reply",
            "id": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        reply_to_external_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA",
    ),
    Case(
        "inbound_interactive_list_reply_meta.json",
        SHEENA,
        datetime(2025, 6, 13, 22, 42, 55, tzinfo=UTC),
        "interactive",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
        text="Priority Mail Express",
        content={
            "v": 1,
            "kind": "reply",
            "reply_type": "list",
            "id": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        stored_before={
            "interactive_type": "list_reply",
            "id": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        reply_to_external_id="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
    ),
    Case(
        "inbound_interactive_nfm_reply_flow.json",
        TEST_NAME,
        datetime(2023, 12, 13, 21, 21, 13, tzinfo=UTC),
        "interactive",
        "wamid.wegrchytvwcggt==",
        text="Sent",
        content={
            "v": 1,
            "kind": "reply",
            "reply_type": "flow",
            "flow_name": "flow",
            "response": {
                "comment_text": "Comment Text",
                "delivery_rating": "4",
                "flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
                "purchase_rating": "2",
                "recommend_radio": "0",
                "cs_rating": "0",
            },
        },
        stored_before={
            "interactive_type": "nfm_reply",
            "body": "Sent",
            "name": "flow",
            "response": {
                "comment_text": "Comment Text",
                "delivery_rating": "4",
                "flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
                "purchase_rating": "2",
                "recommend_radio": "0",
                "cs_rating": "0",
            },
        },
        reply_to_external_id="wamid.gvwegfretge==",
    ),
    Case(
        "inbound_interactive_payment_method_br_one_click.json",
        # A Brazilian mobile without its ninth digit: stored with it.
        {"wa_id": "5511987654321", "profile_name": "Joana Silva", "phone_e164": "+5511987654321"},
        datetime(2024, 9, 12, 19, 42, 2, tzinfo=UTC),
        "interactive",
        "wamid.HBgMNTUxMTg3NjU0MzIxFQIAEhgUM0E1QjFDMDAwMDAwMDAwMDAwMDEA",
        content={
            "v": 1,
            "kind": "reply",
            "reply_type": "payment_method",
            "details": {
                "payment_method": "offsite_card_pay",
                "payment_timestamp": 1726170122,
                "reference_id": "pix_test_webhook",
                "last_four_digits": "5235",
                "credential_id": "1234567",
            },
        },
        stored_before={
            "interactive_type": "payment_method",
            "payment_method": "offsite_card_pay",
            "payment_timestamp": 1726170122,
            "reference_id": "pix_test_webhook",
            "last_four_digits": "5235",
            "credential_id": "1234567",
        },
        fill={
            "<WHATSAPP_USER_PHONE_NUMBER>": "551187654321",
            "<WHATSAPP_USER_ID>": "551187654321",
            "<WHATSAPP_USER_NAME>": "Joana Silva",
            "<WHATSAPP_MESSAGE_ID>": "wamid.HBgMNTUxMTg3NjU0MzIxFQIAEhgUM0E1QjFDMDAwMDAwMDAwMDAwMDEA",
            "<WEBHOOK_SENT_TIMESTAMP>": "1726170122",
            "<BUSINESS_DISPLAY_PHONE_NUMBER>": "5511900000001",
        },
    ),
    Case(
        "inbound_location.json",
        SHEENA,
        datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC),
        "location",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=",
        text="Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301",
        content={
            "v": 1,
            "kind": "location",
            "latitude": "37.44221496582",
            "longitude": "-122.16165924072",
            "name": "Philz Coffee",
            "address": "101 Forest Ave, Palo Alto, CA 94301",
            "url": "https://philzcoffee.com/",
        },
        stored_before={
            "latitude": 37.44221496582,
            "longitude": -122.16165924072,
            "name": "Philz Coffee",
            "address": "101 Forest Ave, Palo Alto, CA 94301",
            "url": "https://philzcoffee.com/",
        },
    ),
    Case(
        "inbound_location_current.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 15, 57, tzinfo=UTC),
        "location",
        "wamid.xyzxyz",
        text="12.25089, 43.90539",
        content={"v": 1, "kind": "location", "latitude": "12.25089", "longitude": "43.90539"},
        stored_before={"latitude": 12.25089, "longitude": 43.90539},
        forwarded=True,
    ),
    Case(
        "inbound_order.json",
        SHEENA,
        datetime(2025, 6, 16, 17, 52, 5, tzinfo=UTC),
        "order",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=",
        content={
            "v": 1,
            "kind": "order",
            "catalog_id": "194836987003835",
            "items": [
                {"sku": "di9ozbzfi4", "quantity": 2, "unit_price": 3000, "currency": "USD"},
                {"sku": "nqryix03ez", "quantity": 1, "unit_price": 2500, "currency": "USD"},
            ],
        },
        stored_before={
            "catalog_id": "194836987003835",
            "text": "",
            "product_items": [
                {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "USD"},
                {"product_retailer_id": "nqryix03ez", "quantity": 1, "item_price": 25, "currency": "USD"},
            ],
        },
    ),
    # The message reacted to is not stored here: the reaction is kept as a message, not lost.
    Case(
        "inbound_reaction.json",
        SHEENA,
        datetime(2025, 6, 8, 21, 52, 24, tzinfo=UTC),
        "reaction",
        SHEENA_TEXT_WAMID,
        text="👍",
        content={
            "v": 1,
            "kind": "reaction",
            "emoji": "👍",
            "target_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
        },
        stored_before={"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA", "emoji": "👍"},
    ),
    # Taking back a reaction to a message we never stored has nothing to show: no blank message, no conversation.
    Case(
        "inbound_reaction_removed.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 14, 16, tzinfo=UTC),
        None,
        "wamid.xyzxyz",
    ),
    Case(
        "inbound_sticker_animated.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 3, 5, tzinfo=UTC),
        "sticker",
        "wamid.xyzxyz",
        content={"v": 1, "kind": "media", "media_kind": "sticker", "mime_type": "image/webp", "animated": True},
        stored_before={"animated": True},
        attachment={
            "kind": "sticker",
            "external_media_id": "1234567890987654321",
            "mime_type": "image/webp",
            "sha256": "HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw=",
            "filename": "",
        },
    ),
    Case(
        "inbound_sticker_static.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 2, 40, tzinfo=UTC),
        "sticker",
        "wamid.xyzxyz",
        content={"v": 1, "kind": "media", "media_kind": "sticker", "mime_type": "image/webp"},
        attachment={
            "kind": "sticker",
            "external_media_id": "1234567890987654321",
            "mime_type": "image/webp",
            "sha256": "OmT4nhjUhCMIPNmj7eeOZeCYjTXkLxoOv85OMCFwSuc=",
            "filename": "",
        },
    ),
    Case(
        "inbound_system_identity_change.json",
        {"wa_id": "972987654321", "profile_name": "User A", "phone_e164": "+972987654321"},
        datetime(2023, 10, 11, 17, 18, 26, tzinfo=UTC),
        "system",
        "wamid.xyzxyz",
        text="User identity changed",
        content={"v": 1, "kind": "system", "event": "identity_changed", "body": "User identity changed"},
        stored_before={
            "system_type": "customer_identity_changed",
            "body": "User identity changed",
            "identity": {"acknowledged": True, "created_timestamp": "1697044706", "hash": "xyzxyz"},
        },
    ),
    # System messages carry no contacts[]: the contact is known by number only. After a number
    # change the contact is known by the new number.
    Case(
        "inbound_system_user_changed_number.json",
        {"wa_id": "12195555358", "profile_name": "", "phone_e164": "+12195555358"},
        datetime(2025, 6, 18, 17, 55, 42, tzinfo=UTC),
        "system",
        "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==",
        text="User Sheena Nelson changed from 16505551234 to 12195555358",
        content={
            "v": 1,
            "kind": "system",
            "event": "number_changed",
            "body": "User Sheena Nelson changed from 16505551234 to 12195555358",
            "new_number": "12195555358",
        },
        stored_before={
            "system_type": "user_changed_number",
            "body": "User Sheena Nelson changed from 16505551234 to 12195555358",
            "wa_id": "12195555358",
            "new_wa_id": "12195555358",
        },
    ),
    Case(
        "inbound_text.json",
        SHEENA,
        datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
        "text",
        SHEENA_TEXT_WAMID,
        text="Does it come in another color?",
        content={"v": 1, "kind": "text", "body": "Does it come in another color?"},
    ),
    Case(
        "inbound_text_forwarded.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 20, 15, tzinfo=UTC),
        "text",
        "wamid.xyzxyz",
        text="forwarded text",
        content={"v": 1, "kind": "text", "body": "forwarded text"},
        forwarded=True,
    ),
    Case(
        "inbound_text_frequently_forwarded.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 22, 48, tzinfo=UTC),
        "text",
        "wamid.xyzxyz",
        text="text forwarded many times",
        content={"v": 1, "kind": "text", "body": "text forwarded many times"},
        forwarded=True,  # a frequently forwarded message is a forwarded one
        frequently_forwarded=True,
    ),
    Case(
        "inbound_text_product_inquiry_context.json",
        SHEENA,
        datetime(2025, 6, 15, 19, 46, 40, tzinfo=UTC),
        "text",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
        text="Is this still available?",
        content={
            "v": 1,
            "kind": "text",
            "product": {"sku": "di9ozbzfi4", "catalog_id": "194836987003835"},
            "body": "Is this still available?",
        },
        stored_before={"referred_product": {"catalog_id": "194836987003835", "product_retailer_id": "di9ozbzfi4"}},
        reply_to_external_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
    ),
    Case(
        "inbound_text_referral_ctwa_ad.json",
        SHEENA,
        datetime(2025, 6, 18, 19, 46, 32, tzinfo=UTC),
        "text",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
        text="Hello! Can I get more info on this?",
        content={"v": 1, "kind": "text", "body": "Hello! Can I get more info on this?"},
        referral={
            "source_url": "https://fb.me/3cr4Wqqkv",
            "source_id": "120226305854810726",
            "source_type": "ad",
            "body": "Summer Succulents are here!",
            "headline": "Chat with us",
            "media_type": "image",
            "image_url": "https://scontent.xx.fbcdn.net/v/t45.1...",
            "ctwa_clid": (
                "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKCqTrJ5n"
                "W1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50"
            ),
            "welcome_message": {"text": "Hi there! Let us know how we can help!"},
        },
    ),
    Case(
        "inbound_text_reply_context.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 19, 6, tzinfo=UTC),
        "text",
        "wamid.xyzxyz",
        text="replied text",
        content={"v": 1, "kind": "text", "body": "replied text"},
        reply_to_external_id="wamid.xyzxyz==",
    ),
    Case(
        "inbound_unsupported.json",
        SHEENA,
        datetime(2025, 6, 16, 16, 18, 22, tzinfo=UTC),
        "unsupported",
        "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
        content={
            "v": 1,
            "kind": "unsupported",
            "errors": [
                {
                    "code": "131051",
                    "title": "Message type unknown",
                    "details": "Message type is currently not supported.",
                }
            ],
        },
        stored_before={"errors": [UNSUPPORTED_ERROR]},
    ),
    Case(
        "inbound_unsupported_with_type.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 18, 26, tzinfo=UTC),
        "unsupported",
        "wamid.xyzxyz",
        content={
            "v": 1,
            "kind": "unsupported",
            "errors": [
                {
                    "code": "131051",
                    "title": "Message type unknown",
                    "details": "Message type is currently not supported.",
                }
            ],
            "channel_type": "pool",
        },
        stored_before={"unsupported_type": "pool", "errors": [UNSUPPORTED_ERROR]},
    ),
    # An interactive message without its node, with the reason at value level: stored as unsupported.
    Case(
        "inbound_value_level_errors.json",
        TEST_NAME,
        datetime(2023, 11, 20, 18, 38, 14, tzinfo=UTC),
        "unsupported",
        "wamid.wegrchytvwcggt=",
        content={"v": 1, "kind": "unsupported", "channel_type": "interactive"},
        stored_before={"unsupported_type": "interactive", "raw_type": "interactive"},
        reply_to_external_id="wamid.gvwegfretge==",
        summary="1 message; 1 error",
    ),
    Case(
        "inbound_video.json",
        TEST_NAME,
        datetime(2023, 10, 11, 17, 12, 42, tzinfo=UTC),
        "video",
        "wamid.xyzxyz",
        text="caption",
        content={"v": 1, "kind": "media", "media_kind": "video", "caption": "caption", "mime_type": "video/mp4"},
        stored_before={"caption": "caption"},
        forwarded=True,
        attachment={
            "kind": "video",
            "external_media_id": "765756756",
            "mime_type": "video/mp4",
            "sha256": "Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=",
            "filename": "",
        },
    ),
]


def fixture_payload(channel, name: str, *, fill: dict[str, str] | None = None, **message_changes) -> dict[str, Any]:
    """A fixture addressed to ``channel``, placeholders filled, first message's fields replaced."""
    payload = retarget(load_fixture(name), phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)
    if fill:
        text = json.dumps(payload)
        for placeholder, value in fill.items():
            text = text.replace(placeholder, value)
        payload = json.loads(text)
    if message_changes:
        payload["entry"][0]["changes"][0]["value"]["messages"][0].update(message_changes)
    return payload


def text_payload(channel, *, wamid: str, wa_id: str = "16505551234", timestamp: int = 1749416383, body: str = "hi"):
    payload = fixture_payload(
        channel, "inbound_text.json", id=wamid, timestamp=str(timestamp), text={"body": body}, **{"from": wa_id}
    )
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = wa_id
    return payload


def post_ok(webhook, channel, payload) -> WebhookEvent:
    before = set(WebhookEvent.objects.values_list("pk", flat=True))
    response = webhook.post(channel, payload)
    assert (response.status_code, response.content) == (200, b"ok")
    event = WebhookEvent.objects.exclude(pk__in=before).get()
    # An error WhatsApp itself reported in the payload is recorded on the (processed) event.
    reported = [
        f"WhatsApp reported error {error['code']} ({error['title']}): {error['error_data']['details']}"
        f" for number {channel.phone_number_id}"
        for entry in payload["entry"]
        for change in entry["changes"]
        for error in change["value"].get("errors", [])
    ]
    assert (event.status, event.error) == ("processed", "\n".join(reported))
    return event


ATTACHMENT_FIELDS = [
    "tenant_id",
    "message_id",
    "kind",
    "external_media_id",
    "mime_type",
    "sha256",
    "filename",
    "download_status",
    "download_error",
    "file_size",
]


def values(obj, names: list[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def test_every_inbound_fixture_has_expectations():
    on_disk = {path.name for path in FIXTURES.glob("inbound_*.json")}
    assert on_disk == {case.fixture for case in CASES}


@pytest.mark.parametrize("case", [pytest.param(case, id=case.fixture.removesuffix(".json")) for case in CASES])
def test_inbound_fixture_stores_exact_rows(webhook, channel, cloud_api, case):
    payload = fixture_payload(channel, case.fixture, fill=case.fill)
    event = post_ok(webhook, channel, payload)
    assert (event.summary, event.attempts, event.tenant_id) == (case.summary, 1, channel.tenant_id)

    if case.message_type is None:
        assert not Message.objects.exists()
        assert not Conversation.objects.exists()
        assert not Contact.objects.exists()
        assert not Reaction.objects.exists()
        return

    contact = Contact.objects.get()
    assert {
        **values(contact, ["tenant_id", "profile_name", "phone_e164", "marketing_consent"]),
        "wa_id": wa_id_of(contact),
    } == {
        "tenant_id": channel.tenant_id,
        **case.contact,
        # The customer's "Unsubscribe" button is an opt-out (the consent ledger's keywords, campaigns/keywords.py).
        "marketing_consent": "opted_out" if case.fixture == "inbound_button_template_quick_reply.json" else "unknown",
    }
    contact_inbox = ContactInbox.objects.get()
    assert (contact_inbox.source_id, contact_inbox.contact_id, contact_inbox.inbox_id) == (
        case.contact["wa_id"],
        contact.pk,
        channel.inbox_id,
    )
    conversation = Conversation.objects.get()
    assert values(conversation, ["display_id", "status", "last_inbound_at", "contact_id", "contact_inbox_id"]) == {
        "display_id": 1,
        "status": "open",
        "last_inbound_at": case.at,
        "contact_id": contact.pk,
        "contact_inbox_id": contact_inbox.pk,
    }
    message = Message.objects.get()
    assert values(
        message,
        [
            "tenant_id",
            "conversation_id",
            "inbox_id",
            "direction",
            "sender_type",
            "type",
            "text",
            "content",
            "external_id",
            "status",
            "reply_to_id",
            "reply_to_external_id",
            "forwarded",
            "frequently_forwarded",
            "referral",
            "external_timestamp",
        ],
    ) == {
        "tenant_id": channel.tenant_id,
        "conversation_id": conversation.pk,
        "inbox_id": channel.inbox_id,
        "direction": "in",
        "sender_type": "contact",
        "type": case.message_type,
        "text": case.text,
        "content": case.content,
        "external_id": case.external_id,
        "status": "received",
        "reply_to_id": None,
        "reply_to_external_id": case.reply_to_external_id,
        "forwarded": case.forwarded,
        "frequently_forwarded": case.frequently_forwarded,
        "referral": case.referral,
        "external_timestamp": case.at,
    }
    # Meta's message object is kept as it came, beside the neutral content, for support.
    assert message.raw == payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert not Reaction.objects.exists()

    if case.attachment is None:
        assert not Attachment.objects.exists()
        assert cloud_api == []
        return
    attachment = Attachment.objects.get()
    expected_bytes = media_bytes(case.attachment["external_media_id"])
    assert values(attachment, ATTACHMENT_FIELDS) == {
        "tenant_id": channel.tenant_id,
        "message_id": message.pk,
        **case.attachment,
        "download_status": "stored",
        "download_error": "",
        "file_size": len(expected_bytes),
    }
    with attachment.file.open("rb") as fh:
        assert fh.read() == expected_bytes
    media_id = case.attachment["external_media_id"]
    assert [(r.method, r.url.host, r.url.path) for r in cloud_api] == [
        ("GET", "fake-cloud-api.invalid", f"/{channel.api_version}/{media_id}"),
        ("GET", "lookaside.fbsbx.com", "/whatsapp_business/attachments/"),
    ]
    assert all(r.headers["Authorization"] == "Bearer test-access-token" for r in cloud_api)


def test_example_with_placeholders_is_kept_failed_with_a_readable_error(webhook, channel):
    payload = fixture_payload(channel, "inbound_interactive_payment_method_br_one_click.json")
    response = webhook.post(channel, payload)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.error) == (
        "failed",
        "Cannot parse: entry[0].changes[0].value.messages[0].timestamp '<WEBHOOK_SENT_TIMESTAMP>' "
        "is not a Unix time in seconds.",
    )
    assert not Message.objects.exists()
    assert not Contact.objects.exists()


def test_reaction_to_a_stored_message_becomes_a_reaction_row(webhook, channel):
    target_wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"
    post_ok(webhook, channel, text_payload(channel, wamid=target_wamid))
    target = Message.objects.get()

    event = post_ok(webhook, channel, fixture_payload(channel, "inbound_reaction.json"))

    assert event.summary == "1 message"
    assert list(Message.objects.values_list("pk", flat=True)) == [target.pk]
    reaction = Reaction.objects.get()
    assert values(reaction, ["tenant_id", "message_id", "contact_id", "user_id", "emoji", "external_id"]) == {
        "tenant_id": channel.tenant_id,
        "message_id": target.pk,
        "contact_id": Contact.objects.get(identities__address="16505551234").pk,
        "user_id": None,
        "emoji": "👍",
        "external_id": SHEENA_TEXT_WAMID,
    }


def test_reaction_changed_then_removed(webhook, channel):
    post_ok(webhook, channel, fixture_payload(channel, "inbound_text_forwarded.json", id="wamid.yzxyzx="))
    target = Message.objects.get()
    post_ok(
        webhook,
        channel,
        fixture_payload(
            channel,
            "inbound_reaction_removed.json",
            id="wamid.r1",
            reaction={"message_id": "wamid.yzxyzx=", "emoji": "😂"},
        ),
    )
    post_ok(
        webhook,
        channel,
        fixture_payload(
            channel,
            "inbound_reaction_removed.json",
            id="wamid.r2",
            reaction={"message_id": "wamid.yzxyzx=", "emoji": "❤️"},
        ),
    )
    assert list(Reaction.objects.values_list("message_id", "emoji", "external_id")) == [(target.pk, "❤️", "wamid.r2")]

    post_ok(webhook, channel, fixture_payload(channel, "inbound_reaction_removed.json"))

    assert not Reaction.objects.exists()
    assert list(Message.objects.values_list("pk", flat=True)) == [target.pk]


def test_reply_context_links_the_quoted_message_when_it_is_stored(webhook, channel):
    contact_inbox = contact_inbox_get_or_create(inbox=channel.inbox, source_id="972987654321")
    conversation, _opened = conversation_get_or_open(contact_inbox=contact_inbox)
    quoted = Message.objects.create(
        tenant_id=channel.tenant_id,
        conversation=conversation,
        inbox=channel.inbox,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        text="Which colour?",
        external_id="wamid.xyzxyz==",
        status=Message.Status.READ,
    )

    post_ok(webhook, channel, fixture_payload(channel, "inbound_text_reply_context.json"))

    reply = Message.objects.get(direction="in")
    assert (reply.reply_to_id, reply.reply_to_external_id, reply.conversation_id) == (
        quoted.pk,
        "wamid.xyzxyz==",
        conversation.pk,
    )


def test_batch_of_entries_changes_and_messages_is_processed_whole(webhook, channel, cloud_api):
    text = fixture_payload(channel, "inbound_text.json")
    location = fixture_payload(channel, "inbound_location.json")
    order = fixture_payload(channel, "inbound_order.json")
    forwarded = fixture_payload(channel, "inbound_text_forwarded.json")
    flow = fixture_payload(channel, "inbound_interactive_nfm_reply_flow.json")
    image = fixture_payload(channel, "inbound_image.json", id="wamid.batch-image")
    batch = copy.deepcopy(text)
    first_value = batch["entry"][0]["changes"][0]["value"]
    # One change with three messages, a second change in the same entry, a second entry with two messages.
    first_value["messages"] += location["entry"][0]["changes"][0]["value"]["messages"]
    first_value["messages"] += image["entry"][0]["changes"][0]["value"]["messages"]
    batch["entry"][0]["changes"].append(order["entry"][0]["changes"][0])
    second_entry = copy.deepcopy(forwarded["entry"][0])
    second_entry["changes"][0]["value"]["messages"] += flow["entry"][0]["changes"][0]["value"]["messages"]
    batch["entry"].append(second_entry)

    event = post_ok(webhook, channel, batch)

    assert event.summary == "6 messages"
    assert sorted(
        Message.objects.values_list("external_id", "type", "conversation__contact__identities__address")
    ) == sorted(
        [
            (SHEENA_TEXT_WAMID, "text", "16505551234"),
            ("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=", "location", "16505551234"),
            ("wamid.batch-image", "image", "16505551234"),
            ("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=", "order", "16505551234"),
            ("wamid.xyzxyz", "text", "972987654321"),
            ("wamid.wegrchytvwcggt==", "interactive", "972987654321"),
        ]
    )
    assert sorted(
        Conversation.objects.values_list("display_id", "contact__identities__address", "last_inbound_at")
    ) == [
        (1, "16505551234", datetime(2025, 6, 16, 17, 52, 5, tzinfo=UTC)),
        (2, "972987654321", datetime(2023, 12, 13, 21, 21, 13, tzinfo=UTC)),
    ]
    assert Contact.objects.count() == 2
    assert list(Attachment.objects.values_list("external_media_id", "download_status")) == [
        ("1003383421387256", "stored")
    ]


def test_second_message_reuses_the_conversation(webhook, channel):
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.first", timestamp=1749416383))
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.second", timestamp=1749416500, body="again"))

    conversation = Conversation.objects.get()
    assert (conversation.display_id, conversation.status, conversation.last_inbound_at) == (
        1,
        "open",
        datetime(2025, 6, 8, 21, 1, 40, tzinfo=UTC),
    )
    assert list(conversation.messages.order_by("id").values_list("external_id", "text")) == [
        ("wamid.first", "hi"),
        ("wamid.second", "again"),
    ]
    assert (Contact.objects.count(), ContactInbox.objects.count()) == (1, 1)


def test_message_after_resolve_opens_a_new_conversation(webhook, channel):
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.first"))
    Conversation.objects.update(status=Conversation.Status.RESOLVED)

    post_ok(webhook, channel, text_payload(channel, wamid="wamid.second", timestamp=1749500000))

    assert list(Conversation.objects.order_by("display_id").values_list("display_id", "status")) == [
        (1, "resolved"),
        (2, "open"),
    ]
    new = Conversation.objects.get(display_id=2)
    assert list(new.messages.values_list("external_id", flat=True)) == ["wamid.second"]
    assert new.last_inbound_at == datetime(2025, 6, 9, 20, 13, 20, tzinfo=UTC)
    assert (Contact.objects.count(), ContactInbox.objects.count()) == (1, 1)


def test_snoozed_conversation_reopens_on_a_new_message(webhook, channel):
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.first"))
    Conversation.objects.update(status=Conversation.Status.SNOOZED, snoozed_until=datetime(2030, 1, 1, tzinfo=UTC))

    post_ok(webhook, channel, text_payload(channel, wamid="wamid.second", timestamp=1749500000))

    conversation = Conversation.objects.get()
    assert (conversation.display_id, conversation.status, conversation.snoozed_until) == (1, "open", None)
    assert conversation.messages.count() == 2


def test_brazilian_number_with_and_without_ninth_digit_is_one_contact(webhook, channel):
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.br-old", wa_id="551187654321"))
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.br-new", wa_id="5511987654321", timestamp=1749416400))

    contact = Contact.objects.get()
    assert (wa_id_of(contact), contact.phone_e164) == ("5511987654321", "+5511987654321")
    assert list(ContactInbox.objects.values_list("source_id", flat=True)) == ["5511987654321"]
    conversation = Conversation.objects.get()
    assert sorted(conversation.messages.values_list("external_id", flat=True)) == ["wamid.br-new", "wamid.br-old"]


def test_redelivered_message_is_stored_once(webhook, channel):
    payload = fixture_payload(channel, "inbound_text.json")
    post_ok(webhook, channel, payload)
    webhook.post(channel, payload)  # Meta's retry: the very same body
    payload["entry"][0]["time"] = 1749416390  # the same message in another envelope
    post_ok(webhook, channel, payload)

    assert WebhookEvent.objects.count() == 2
    assert Message.objects.count() == 1


def test_one_text_message_takes_a_fixed_number_of_queries(webhook, channel, django_assert_num_queries):
    # A known customer with an open conversation: the steady state of a busy inbox.
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.warm-up"))
    # Storing the event (an insert in its savepoint); processing it in its savepoints: the event read
    # back, the duplicate check, the customer and the open conversation, the message inserted, the
    # conversation locked (in id order) and moved on, the event marked processed: 9 statements and 8
    # savepoint commands; and
    # the MessageReceived domain event written to the outbox with its deliveries to its subscribers (two
    # inserts, whatever their number). Then, without a worker, each subscriber's job runs here after the
    # commit, in a savepoint, its delivery claimed first and marked done last, with nothing set up to act:
    # the greeting reads the inbox's settings (5); the SLA clocks look for a policy and the conversation's
    # clock (6); auto-assignment checks the conversation is unassigned and reads the inbox's policy (6);
    # the satisfaction survey reads the message (5); automation rules read the workspace's rules (5); orders
    # from carts read nothing for a text (4); bot flows find the workspace has none (5); consent keywords read
    # the message and the workspace's keywords (6); broadcast replies read the message's time and mark the
    # recipient of a broadcast it answers (6).
    with django_assert_num_queries(19 + 5 + 6 + 6 + 5 + 5 + 4 + 5 + 6 + 6):
        webhook.post(channel, text_payload(channel, wamid="wamid.measured", timestamp=1749416400))
    assert Message.objects.count() == 2


def _number_change_payload(channel):
    return fixture_payload(channel, "inbound_system_user_changed_number.json")


def test_number_change_moves_the_contact_and_its_conversation_to_the_new_number(webhook, channel):
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.old", wa_id="16505551234"))
    post_ok(webhook, channel, _number_change_payload(channel))
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.new", wa_id="12195555358", timestamp=1750269400))

    contact = Contact.objects.get()
    assert (wa_id_of(contact), contact.phone_e164) == ("12195555358", "+12195555358")
    assert list(ContactInbox.objects.values_list("source_id", flat=True)) == ["12195555358"]
    conversation = Conversation.objects.get()
    assert list(conversation.messages.order_by("id").values_list("external_id", "type")) == [
        ("wamid.old", "text"),
        ("wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==", "system"),
        ("wamid.new", "text"),
    ]


def test_number_change_to_a_number_that_already_wrote_keeps_both_contacts(webhook, channel):
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.old", wa_id="16505551234"))
    post_ok(webhook, channel, text_payload(channel, wamid="wamid.other", wa_id="12195555358"))
    post_ok(webhook, channel, _number_change_payload(channel))

    assert sorted(Contact.objects.values_list("identities__address", flat=True)) == ["12195555358", "16505551234"]
    assert sorted(ContactInbox.objects.values_list("source_id", flat=True)) == ["12195555358", "16505551234"]
    assert Conversation.objects.count() == 2


def test_number_change_of_a_new_customer_stores_the_notice_and_follows_the_number(webhook, channel):
    post_ok(webhook, channel, _number_change_payload(channel))

    contact = Contact.objects.get()
    assert (wa_id_of(contact), contact.phone_e164) == ("12195555358", "+12195555358")
    assert Message.objects.get().type == "system"
