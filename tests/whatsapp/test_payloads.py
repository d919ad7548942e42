"""parse_webhook on every webhook fixture, on batches, and on bodies it must refuse."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from whatsapp.payloads import MESSAGE_TYPES, WebhookParseError, parse_webhook
from whatsapp.signature import encode_like_meta
from whatsapp.types import (
    ErrorInfo,
    InboundContact,
    InboundMessage,
    MediaRef,
    MessageContext,
    ParsedWebhook,
    StatusUpdate,
    TemplateStatusUpdate,
    UserPreferenceUpdate,
    ValueLevelError,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"

# The two business numbers the fixtures use: Meta's docs/OpenAPI examples and pywa's test data.
META_PNID, META_DISPLAY = "106540352242922", "15550783881"
PYWA_PNID, PYWA_DISPLAY = "1122334455667", "972123456789"
SHEENA = InboundContact(wa_id="16505551234", profile_name="Sheena Nelson")
PYWA_USER = InboundContact(wa_id="972987654321", profile_name="Test Name", user_id="US.13491208655302741918")
ERROR_131051 = ErrorInfo(
    code=131051,
    title="Message type unknown",
    message="Message type unknown",
    details="Message type is currently not supported.",
)


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def parse_fixture(name: str) -> ParsedWebhook:
    return parse_webhook((FIXTURES / name).read_bytes())


def only_message(name: str) -> InboundMessage:
    parsed = parse_fixture(name)
    assert (len(parsed.messages), parsed.statuses, parsed.ignored_fields) == (1, [], [])
    return parsed.messages[0]


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def meta_message(**fields: Any) -> InboundMessage:
    defaults = {"phone_number_id": META_PNID, "display_phone_number": META_DISPLAY, "contact": SHEENA}
    return InboundMessage(**{**defaults, "from_wa_id": "16505551234", **fields})


def pywa_message(**fields: Any) -> InboundMessage:
    defaults = {"phone_number_id": PYWA_PNID, "display_phone_number": PYWA_DISPLAY, "contact": PYWA_USER}
    return InboundMessage(**{**defaults, "from_wa_id": "972987654321", **fields})


FORWARDED = MessageContext(forwarded=True)
SAME_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="

INBOUND_EXPECTED: dict[str, InboundMessage] = {
    "inbound_text.json": meta_message(
        wamid=SAME_WAMID,
        timestamp=ts(1749416383),
        type="text",
        raw_type="text",
        text="Does it come in another color?",
    ),
    "inbound_text_forwarded.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044815),
        type="text",
        raw_type="text",
        text="forwarded text",
        context=FORWARDED,
    ),
    "inbound_text_frequently_forwarded.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044968),
        type="text",
        raw_type="text",
        text="text forwarded many times",
        context=MessageContext(frequently_forwarded=True),
    ),
    "inbound_text_reply_context.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044746),
        type="text",
        raw_type="text",
        text="replied text",
        context=MessageContext(quoted_wamid="wamid.xyzxyz==", quoted_from="972123456789"),
    ),
    "inbound_text_product_inquiry_context.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
        timestamp=ts(1750016800),
        type="text",
        raw_type="text",
        text="Is this still available?",
        context=MessageContext(
            quoted_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
            quoted_from="15550783881",
            referred_product={"catalog_id": "194836987003835", "product_retailer_id": "di9ozbzfi4"},
        ),
    ),
    "inbound_text_referral_ctwa_ad.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
        timestamp=ts(1750275992),
        type="text",
        raw_type="text",
        text="Hello! Can I get more info on this?",
        referral={
            "source_url": "https://fb.me/3cr4Wqqkv",
            "source_id": "120226305854810726",
            "source_type": "ad",
            "body": "Summer Succulents are here!",
            "headline": "Chat with us",
            "media_type": "image",
            "image_url": "https://scontent.xx.fbcdn.net/v/t45.1...",
            "ctwa_clid": "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKC"
            "qTrJ5nW1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50",
            "welcome_message": {"text": "Hi there! Let us know how we can help!"},
        },
    ),
    "inbound_image.json": meta_message(
        wamid=SAME_WAMID,
        timestamp=ts(1744344496),
        type="image",
        raw_type="image",
        text="Taj Mahal",
        media=MediaRef(
            media_id="1003383421387256",
            mime_type="image/jpeg",
            sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            caption="Taj Mahal",
        ),
    ),
    "inbound_image_with_url.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697043379),
        type="image",
        raw_type="image",
        media=MediaRef(
            media_id="65463453",
            mime_type="image/jpeg",
            sha256="4654+8g=",
            url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook"
            "&ext=487r9re&hash=heiwchueowbcew-dnedcw",
        ),
    ),
    "inbound_audio_file.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697043509),
        type="audio",
        raw_type="audio",
        context=FORWARDED,
        media=MediaRef(
            media_id="1234567890987654321",
            mime_type="audio/ogg; codecs=opus",
            sha256="E3dxS/PdYZE7ppA3pQ4mpCFaXBJ8pX4SRN/dsfvds/iPGA=",
        ),
    ),
    "inbound_audio_voice.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697043473),
        type="audio",
        raw_type="audio",
        media=MediaRef(
            media_id="1234567890987654321",
            mime_type="audio/ogg; codecs=opus",
            sha256="m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
            voice=True,
        ),
    ),
    "inbound_audio_voice_meta.json": meta_message(
        wamid=SAME_WAMID,
        timestamp=ts(1744344496),
        type="audio",
        raw_type="audio",
        media=MediaRef(
            media_id="1908647269898587",
            mime_type="audio/ogg; codecs=opus",
            sha256="wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
            url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
            voice=True,
        ),
    ),
    "inbound_video.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044362),
        type="video",
        raw_type="video",
        text="caption",
        context=FORWARDED,
        media=MediaRef(
            media_id="765756756",
            mime_type="video/mp4",
            sha256="Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=",
            caption="caption",
        ),
    ),
    "inbound_document.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697043666),
        type="document",
        raw_type="document",
        text="caption",
        context=FORWARDED,
        media=MediaRef(
            media_id="1234567890987654321",
            mime_type="application/pdf",
            sha256="grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY=",
            caption="caption",
            filename="filename.pdf",
        ),
    ),
    "inbound_document_meta.json": meta_message(
        wamid=SAME_WAMID,
        timestamp=ts(1744344496),
        type="document",
        raw_type="document",
        text="my receipt",
        media=MediaRef(
            media_id="622684793477189",
            mime_type="application/pdf",
            sha256="V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
            url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
            caption="my receipt",
            filename="receipt.pdf",
        ),
    ),
    "inbound_sticker_animated.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697043785),
        type="sticker",
        raw_type="sticker",
        media=MediaRef(
            media_id="1234567890987654321",
            mime_type="image/webp",
            sha256="HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw=",
            animated=True,
        ),
    ),
    "inbound_sticker_static.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697043760),
        type="sticker",
        raw_type="sticker",
        media=MediaRef(
            media_id="1234567890987654321",
            mime_type="image/webp",
            sha256="OmT4nhjUhCMIPNmj7eeOZeCYjTXkLxoOv85OMCFwSuc=",
        ),
    ),
    "inbound_location.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=",
        timestamp=ts(1744344496),
        type="location",
        raw_type="location",
        text="Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301",
        content={
            "latitude": 37.44221496582,
            "longitude": -122.16165924072,
            "name": "Philz Coffee",
            "address": "101 Forest Ave, Palo Alto, CA 94301",
            "url": "https://philzcoffee.com/",
        },
    ),
    "inbound_location_current.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044557),
        type="location",
        raw_type="location",
        text="12.25089, 43.90539",
        content={"latitude": 12.25089, "longitude": 43.90539},
        context=FORWARDED,
    ),
    "inbound_contacts.json": meta_message(
        wamid=SAME_WAMID,
        timestamp=ts(1744344496),
        type="contacts",
        raw_type="contacts",
        text="Lucía Gómez",
        content={
            "contacts": [
                {
                    "name": {"first_name": "Lucía", "last_name": "Gómez", "formatted_name": "Lucía Gómez"},
                    "org": {"company": "Google"},
                    "phones": [{"phone": "+1 (983) 555-2319", "wa_id": "19835552319", "type": "MOBILE"}],
                }
            ]
        },
    ),
    "inbound_interactive_button_reply.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
        timestamp=ts(1750025136),
        type="interactive",
        raw_type="interactive",
        text="Cancel",
        content={"interactive_type": "button_reply", "id": "cancel-button", "title": "Cancel"},
        context=MessageContext(
            quoted_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA", quoted_from="15550783881"
        ),
    ),
    "inbound_interactive_button_reply_meta.json": meta_message(
        wamid="wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQThBREYwNzc2RDc2QjA1QTIwMgA=",
        timestamp=ts(1714510003),
        type="interactive",
        raw_type="interactive",
        text="Change",
        content={"interactive_type": "button_reply", "id": "change-button", "title": "Change"},
        context=MessageContext(
            quoted_wamid="wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJBM0Y4RUU0RUNFQkFDMjYzQUMA", quoted_from="15550783881"
        ),
        contact=InboundContact(wa_id="16505551234", profile_name="Pablo Morales"),
    ),
    "inbound_interactive_list_reply.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA=",
        timestamp=ts(1749854575),
        type="interactive",
        raw_type="interactive",
        text="Priority Mail Express",
        content={
            "interactive_type": "list_reply",
            "id": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        context=MessageContext(
            quoted_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA", quoted_from="15550783881"
        ),
    ),
    "inbound_interactive_list_reply_meta.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
        timestamp=ts(1749854575),
        type="interactive",
        raw_type="interactive",
        text="Priority Mail Express",
        content={
            "interactive_type": "list_reply",
            "id": "priority_express",
            "title": "Priority Mail Express",
            "description": "Next Day to 2 Days",
        },
        context=MessageContext(
            quoted_wamid="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=", quoted_from="15550783881"
        ),
    ),
    "inbound_interactive_nfm_reply_flow.json": pywa_message(
        wamid="wamid.wegrchytvwcggt==",
        timestamp=ts(1702502473),
        type="interactive",
        raw_type="interactive",
        text="Sent",
        content={
            "interactive_type": "nfm_reply",
            "name": "flow",
            "body": "Sent",
            "response": {
                "comment_text": "Comment Text",
                "delivery_rating": "4",
                "flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
                "purchase_rating": "2",
                "recommend_radio": "0",
                "cs_rating": "0",
            },
        },
        context=MessageContext(quoted_wamid="wamid.gvwegfretge==", quoted_from="972123456789"),
    ),
    "inbound_button_template_quick_reply.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
        timestamp=ts(1750091045),
        type="button",
        raw_type="button",
        text="Unsubscribe",
        content={"payload": "Unsubscribe", "text": "Unsubscribe"},
        context=MessageContext(
            quoted_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA", quoted_from="15550783881"
        ),
    ),
    "inbound_button_template_quick_reply_pywa.json": pywa_message(
        wamid="wamid.xsidjw",
        timestamp=ts(1698269027),
        type="button",
        raw_type="button",
        text="title",
        content={"payload": "callback_data", "text": "title"},
        context=MessageContext(quoted_wamid="wamid.xyzxyz==", quoted_from="972123456789"),
    ),
    "inbound_reaction.json": meta_message(
        wamid=SAME_WAMID,
        timestamp=ts(1749419544),
        type="reaction",
        raw_type="reaction",
        text="👍",
        content={"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA", "emoji": "👍"},
    ),
    "inbound_reaction_removed.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044456),
        type="reaction",
        raw_type="reaction",
        content={"message_id": "wamid.yzxyzx=", "emoji": ""},
    ),
    "inbound_order.json": meta_message(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=",
        timestamp=ts(1750096325),
        type="order",
        raw_type="order",
        content={
            "catalog_id": "194836987003835",
            "text": "",
            "product_items": [
                {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "USD"},
                {"product_retailer_id": "nqryix03ez", "quantity": 1, "item_price": 25, "currency": "USD"},
            ],
        },
    ),
    "inbound_system_user_changed_number.json": meta_message(
        wamid="wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==",
        timestamp=ts(1750269342),
        type="system",
        raw_type="system",
        text="User Sheena Nelson changed from 16505551234 to 12195555358",
        content={
            "system_type": "user_changed_number",
            "body": "User Sheena Nelson changed from 16505551234 to 12195555358",
            "wa_id": "12195555358",
            "new_wa_id": "12195555358",
        },
        contact=None,  # system messages carry no contacts[]
    ),
    "inbound_system_identity_change.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044706),
        type="system",
        raw_type="system",
        text="User identity changed",
        content={
            "system_type": "customer_identity_changed",
            "body": "User identity changed",
            "identity": {"acknowledged": True, "created_timestamp": "1697044706", "hash": "xyzxyz"},
        },
        contact=InboundContact(wa_id="972987654321", profile_name="User A"),
    ),
    "inbound_unsupported.json": meta_message(
        wamid="wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
        timestamp=ts(1750090702),
        type="unsupported",
        raw_type="unsupported",
        errors=(ERROR_131051,),
    ),
    "inbound_unsupported_with_type.json": pywa_message(
        wamid="wamid.xyzxyz",
        timestamp=ts(1697044706),
        type="unsupported",
        raw_type="unsupported",
        content={"unsupported_type": "pool"},
        errors=(ERROR_131051,),
    ),
}


def test_every_inbound_fixture_has_an_expectation():
    inbound = {p.name for p in FIXTURES.glob("inbound_*.json")}
    special = {"inbound_value_level_errors.json", "inbound_interactive_payment_method_br_one_click.json"}
    assert inbound - special == set(INBOUND_EXPECTED)


@pytest.mark.parametrize("name", sorted(INBOUND_EXPECTED))
def test_inbound_fixture_parses_to_expected_message(name):
    message = only_message(name)
    assert message == INBOUND_EXPECTED[name]
    assert message.type in MESSAGE_TYPES
    assert message.timestamp.tzinfo is UTC


def test_inbound_fixture_envelope_is_reported():
    parsed = parse_fixture("inbound_text.json")
    assert parsed.waba_ids == ["419561257915477"]
    assert (parsed.template_updates, parsed.user_preferences, parsed.errors) == ([], [], [])


def test_payment_method_fixture_parses_once_its_placeholders_are_filled():
    raw = (FIXTURES / "inbound_interactive_payment_method_br_one_click.json").read_text(encoding="utf-8")
    body = raw.replace("<WEBHOOK_SENT_TIMESTAMP>", "1726170122").encode()
    parsed = parse_webhook(body)
    assert parsed.waba_ids == ["<WHATSAPP_BUSINESS_ACCOUNT_ID>"]
    assert parsed.messages == [
        InboundMessage(
            phone_number_id="<BUSINESS_PHONE_NUMBER_ID>",
            display_phone_number="<BUSINESS_DISPLAY_PHONE_NUMBER>",
            wamid="<WHATSAPP_MESSAGE_ID>",
            from_wa_id="<WHATSAPP_USER_PHONE_NUMBER>",
            timestamp=ts(1726170122),
            type="interactive",
            raw_type="interactive",
            content={
                "interactive_type": "payment_method",
                "payment_method": "offsite_card_pay",
                "payment_timestamp": 1726170122,
                "reference_id": "pix_test_webhook",
                "last_four_digits": "5235",
                "credential_id": "1234567",
            },
            # No contact matches the placeholder sender, so the first (only) contact is used.
            contact=InboundContact(wa_id="<WHATSAPP_USER_ID>", profile_name="<WHATSAPP_USER_NAME>"),
        )
    ]


def test_payment_method_fixture_as_published_is_refused_for_its_placeholder_timestamp():
    with pytest.raises(WebhookParseError) as excinfo:
        parse_fixture("inbound_interactive_payment_method_br_one_click.json")
    assert str(excinfo.value) == (
        "entry[0].changes[0].value.messages[0].timestamp '<WEBHOOK_SENT_TIMESTAMP>' is not a Unix time in seconds."
    )


def test_value_level_errors_are_reported_and_the_bodiless_message_is_unsupported():
    parsed = parse_fixture("inbound_value_level_errors.json")
    assert parsed.errors == [
        ValueLevelError(
            phone_number_id=PYWA_PNID,
            error=ErrorInfo(
                code=131000,
                title="Something went wrong",
                message="Something went wrong",
                details="Unsupported webhook payload",
            ),
        )
    ]
    assert parsed.messages == [
        pywa_message(
            wamid="wamid.wegrchytvwcggt=",
            timestamp=ts(1700505494),
            type="unsupported",
            raw_type="interactive",
            content={"unsupported_type": "interactive"},
            context=MessageContext(quoted_wamid="wamid.gvwegfretge==", quoted_from="972123456789"),
        )
    ]


def test_raw_escaped_capture_parses_with_unicode_restored():
    parsed = parse_fixture("raw_webhook_inbound_image_escaped.json")
    assert parsed.waba_ids == ["952399544271620"]
    assert parsed.messages == [
        InboundMessage(
            phone_number_id="1025723653965602",
            display_phone_number="15556393799",
            wamid="wamid.HBgLNTE5MjAxNTUwMzIVAgASGCBBQ0Y5NUJBQkZDRkJDM0NCMjdCNDk4MDQwRjhFRkJGNgA=",
            from_wa_id="5511999990000",
            timestamp=ts(1778766865),
            type="image",
            raw_type="image",
            text="Hola quiero un café 👍",
            media=MediaRef(
                media_id="27251809591111687",
                mime_type="image/jpeg",
                sha256="HCaHabZ6gVq4V/SPmMzBTWkoEUI8NgjfVshSveeWM3c=",
                url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=27251809591111687"
                "&source=webhook&ext=1778767167&hash=ARkmzY3OC-p0F9jJeqlf0KxeMiqXaSp1p4Om4x3WbooRFw",
                caption="Hola quiero un café 👍",
            ),
            contact=InboundContact(wa_id="5511999990000", profile_name="João Teste", user_id="BR.967744529547245"),
        )
    ]


def test_contact_is_matched_by_canonical_brazilian_number():
    body = load("inbound_text.json")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"] = [
        {"profile": {"name": "Someone else"}, "wa_id": "16505550000"},
        {"profile": {"name": "Ana"}, "wa_id": "5511991234567"},
    ]
    value["messages"][0]["from"] = "551191234567"
    message = parse_webhook(json.dumps(body).encode()).messages[0]
    assert message.contact == InboundContact(wa_id="5511991234567", profile_name="Ana")


def test_nfm_reply_with_invalid_response_json_keeps_the_raw_string():
    body = load("inbound_interactive_nfm_reply_flow.json")
    node = body["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["nfm_reply"]
    node["response_json"] = "{not json"
    message = parse_webhook(json.dumps(body).encode()).messages[0]
    assert message.content == {"interactive_type": "nfm_reply", "name": "flow", "body": "Sent", "response": "{not json"}


def test_reaction_without_emoji_means_removed():
    body = load("inbound_reaction.json")
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["emoji"]
    message = parse_webhook(json.dumps(body).encode()).messages[0]
    reacted_to = INBOUND_EXPECTED["inbound_reaction.json"].content["message_id"]
    assert (message.content, message.text) == ({"message_id": reacted_to, "emoji": ""}, "")


def test_unknown_message_type_is_unsupported_with_its_meta_type():
    body = load("inbound_text.json")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "request_welcome"
    del message["text"]
    parsed = parse_webhook(json.dumps(body).encode()).messages[0]
    assert (parsed.type, parsed.raw_type, parsed.content, parsed.text) == (
        "unsupported",
        "request_welcome",
        {"unsupported_type": "request_welcome"},
        "",
    )


# -- statuses ---------------------------------------------------------------------------------------------

PMP_MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
CBP_SERVICE = {"billable": True, "pricing_model": "CBP", "category": "service"}
SERVICE_CONVERSATION = {"id": "7270432eae37498234f4444b35ffc5", "origin": {"type": "service"}}
STATUS_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
FAILED_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"


def meta_status(**fields: Any) -> StatusUpdate:
    return StatusUpdate(**{"phone_number_id": META_PNID, "recipient_id": "16505551234", **fields})


def pywa_status(**fields: Any) -> StatusUpdate:
    return StatusUpdate(
        **{"phone_number_id": PYWA_PNID, "recipient_id": "972987654321", "wamid": "wamid.xyzxyz", **fields}
    )


STATUS_EXPECTED: dict[str, StatusUpdate] = {
    "status_sent.json": meta_status(
        wamid=STATUS_WAMID,
        status="sent",
        timestamp=ts(1750030073),
        pricing=PMP_MARKETING,
        conversation={
            "id": "72b14d6bd5407799e66f64d1b338e567",
            "expiration_timestamp": "1750116480",
            "origin": {"type": "marketing"},
        },
    ),
    "status_delivered.json": meta_status(
        wamid=STATUS_WAMID, status="delivered", timestamp=ts(1750030073), pricing=PMP_MARKETING
    ),
    "status_read.json": meta_status(wamid=STATUS_WAMID, status="read", timestamp=ts(1750030073)),
    # Meta's v24 doc example literally says "sent" (CONTRACT §10); kept as given.
    "status_minimal_v24_doc.json": meta_status(wamid=STATUS_WAMID, status="sent", timestamp=ts(1750030073)),
    "status_sent_cbp_legacy.json": pywa_status(
        status="sent",
        timestamp=ts(1698266945),
        pricing=CBP_SERVICE,
        conversation={**SERVICE_CONVERSATION, "expiration_timestamp": "1698339900"},
    ),
    "status_delivered_cbp_legacy.json": pywa_status(
        status="delivered", timestamp=ts(1698266945), pricing=CBP_SERVICE, conversation=SERVICE_CONVERSATION
    ),
    "status_read_cbp_legacy.json": pywa_status(
        status="read", timestamp=ts(1689380458), pricing=CBP_SERVICE, conversation=SERVICE_CONVERSATION
    ),
    "status_played.json": pywa_status(
        status="played", timestamp=ts(1689380458), pricing=CBP_SERVICE, conversation=SERVICE_CONVERSATION
    ),
    "status_sent_biz_opaque_callback_data.json": pywa_status(
        status="sent",
        timestamp=ts(1698266945),
        biz_opaque_callback_data="some data",
        pricing=CBP_SERVICE,
        conversation={**SERVICE_CONVERSATION, "expiration_timestamp": "1698339900"},
    ),
    "status_read_group.json": StatusUpdate(
        phone_number_id="<BUSINESS_PHONE_NUMBER_ID>",
        wamid="<WHATSAPP_MESSAGE_ID>",
        status="read",
        timestamp=ts(1698266945),
        recipient_id="fowefinoewcnw",
    ),
    "status_failed_130472.json": pywa_status(
        status="failed",
        timestamp=ts(1689380458),
        errors=(
            ErrorInfo(
                code=130472,
                title="User's number is part of an experiment",
                message="User's number is part of an experiment",
                details="Failed to send message because this user's phone number is part of an experiment",
            ),
        ),
    ),
    "status_failed_131026.json": meta_status(
        wamid=FAILED_WAMID,
        status="failed",
        timestamp=ts(1751142888),
        errors=(
            ErrorInfo(
                code=131026,
                title="Message undeliverable",
                message="Message undeliverable",
                details="Message Undeliverable.",
            ),
        ),
    ),
    "status_failed_131047.json": meta_status(
        wamid="wamid.HBgNNDkxNTE1NjA4MDY5OBUCABEYEjNFQjBDMUM4M0I5NDRFNThBMUQA",
        status="failed",
        timestamp=ts(1708603746),
        recipient_id="4915156080698",
        errors=(
            ErrorInfo(
                code=131047,
                title="Re-engagement message",
                message="Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since the customer last "
                "replied to this number.",
            ),
        ),
    ),
    "status_failed_131049.json": meta_status(
        wamid=FAILED_WAMID,
        status="failed",
        timestamp=ts(1751142888),
        errors=(
            ErrorInfo(
                code=131049,
                title="This message was not delivered to maintain healthy ecosystem engagement.",
                message="This message was not delivered to maintain healthy ecosystem engagement.",
                details="In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            ),
        ),
    ),
    "status_failed_131053_media.json": meta_status(
        wamid=FAILED_WAMID,
        status="failed",
        timestamp=ts(1751142888),
        errors=(
            ErrorInfo(
                code=131053,
                title="Media upload error",
                message="Media upload error",
                details="Downloading media from weblink failed with http code 429, status message Too Many Requests",
            ),
        ),
    ),
}


def test_every_status_fixture_has_an_expectation():
    statuses = {p.name for p in FIXTURES.glob("status_*.json")}
    assert statuses - {"status_payment_india.json"} == set(STATUS_EXPECTED)


@pytest.mark.parametrize("name", sorted(STATUS_EXPECTED))
def test_status_fixture_parses_to_expected_status(name):
    parsed = parse_fixture(name)
    assert (parsed.messages, parsed.ignored_fields, parsed.errors) == ([], [], [])
    assert parsed.statuses == [STATUS_EXPECTED[name]]


def test_payment_status_is_not_a_delivery_status():
    parsed = parse_fixture("status_payment_india.json")
    assert (parsed.statuses, parsed.messages) == ([], [])
    assert parsed.ignored_fields == ["statuses:payment"]
    assert parsed.waba_ids == ["WHATSAPP-BUSINESS-ACCOUNT-ID"]


# -- template status, user preferences, ignored fields ----------------------------------------------------


def test_template_approved_fixture():
    parsed = parse_fixture("template_status_approved.json")
    assert parsed.template_updates == [
        TemplateStatusUpdate(
            waba_id="102290129340398",
            template_id="1689556908129832",  # a JSON number in the webhook, kept as a string like the API ids
            name="order_confirmation",
            language="en-US",
            event="APPROVED",
            reason="NONE",
            category="UTILITY",
        )
    ]
    assert (parsed.messages, parsed.statuses, parsed.ignored_fields) == ([], [], [])


def test_template_rejected_fixture_keeps_rejection_info():
    parsed = parse_fixture("template_status_rejected.json")
    assert parsed.template_updates == [
        TemplateStatusUpdate(
            waba_id="102290129340398",
            template_id="1689556908129835",
            name="abandoned_cart",
            language="en",
            event="REJECTED",
            reason="INVALID_FORMAT",
            category="MARKETING",
            details={
                "rejection_info": {
                    "reason": "Your template has parameters placed next to each other (like {{1}}{{2}}) without "
                    "text or punctuation between them.",
                    "recommendation": "Separate parameters with descriptive text and ensure each parameter is "
                    "clearly contextualized.",
                }
            },
        )
    ]


def test_template_update_with_null_reason_and_pause_info():
    body = load("template_status_approved.json")
    value = body["entry"][0]["changes"][0]["value"]
    value.update(
        event="PAUSED",
        reason=None,
        other_info={"title": "FIRST_PAUSE", "description": "Paused for 3 hours due to low quality."},
    )
    update = parse_webhook(json.dumps(body).encode()).template_updates[0]
    assert (update.event, update.reason, update.details) == (
        "PAUSED",
        None,
        {"other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours due to low quality."}},
    )


def test_user_preferences_fixture():
    parsed = parse_fixture("user_preferences_resume_marketing.json")
    assert parsed.user_preferences == [
        UserPreferenceUpdate(
            phone_number_id=META_PNID,
            wa_id="16505551234",
            category="marketing_messages",
            value="resume",
            detail="User requested to resume marketing messages",
            timestamp=ts(1731705721),
        )
    ]
    assert (parsed.messages, parsed.statuses, parsed.ignored_fields) == ([], [], [])


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("account_update_restriction.json", "account_update"),
    ],
)
def test_fields_we_do_not_handle_are_listed_not_refused(name, field):
    parsed = parse_fixture(name)
    assert parsed.ignored_fields == [field]
    assert parsed.waba_ids == ["102290129340398"]
    assert (parsed.messages, parsed.statuses, parsed.template_updates, parsed.user_preferences) == ([], [], [], [])


# -- batches ----------------------------------------------------------------------------------------------


def _change(name: str) -> dict[str, Any]:
    return copy.deepcopy(load(name)["entry"][0]["changes"][0])


def test_batch_of_entries_and_changes_yields_every_item_in_order():
    two_messages = _change("inbound_text.json")
    two_messages["value"]["messages"].append(_change("inbound_image.json")["value"]["messages"][0])
    mixed = _change("status_sent.json")
    mixed["value"]["statuses"].append(_change("status_failed_131026.json")["value"]["statuses"][0])
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "419561257915477", "changes": [two_messages, mixed, _change("account_update_restriction.json")]},
            {
                "id": "102290129340398",
                "time": 1751247548,
                "changes": [
                    _change("template_status_approved.json"),
                    _change("user_preferences_resume_marketing.json"),
                    _change("inbound_value_level_errors.json"),
                    _change("phone_number_quality_update.json"),
                    _change("account_update_restriction.json"),
                ],
            },
            {"id": "419561257915477", "changes": [_change("inbound_reaction.json")]},
        ],
    }
    parsed = parse_webhook(encode_like_meta(body))
    assert parsed.waba_ids == ["419561257915477", "102290129340398"]
    assert [(m.type, m.wamid) for m in parsed.messages] == [
        ("text", SAME_WAMID),
        ("image", SAME_WAMID),
        ("unsupported", "wamid.wegrchytvwcggt="),
        ("reaction", SAME_WAMID),
    ]
    assert [(s.status, s.wamid) for s in parsed.statuses] == [("sent", STATUS_WAMID), ("failed", FAILED_WAMID)]
    assert [(t.waba_id, t.event) for t in parsed.template_updates] == [("102290129340398", "APPROVED")]
    assert [(u.wa_id, u.value) for u in parsed.user_preferences] == [("16505551234", "resume")]
    assert [e.error.code for e in parsed.errors] == [131000]
    assert parsed.ignored_fields == ["account_update"]
    assert [(u.kind, u.event, u.current_limit) for u in parsed.account_updates] == [
        ("quality", "THROUGHPUT_UPGRADE", "TIER_UNLIMITED")
    ]


def test_empty_entry_list_is_an_empty_result():
    assert parse_webhook(b'{"object":"whatsapp_business_account","entry":[]}') == ParsedWebhook()


# -- refusals ---------------------------------------------------------------------------------------------


def _mutated(name: str, mutate) -> bytes:
    body = load(name)
    mutate(body)
    return json.dumps(body).encode()


def _first_message(body: dict[str, Any]) -> dict[str, Any]:
    return body["entry"][0]["changes"][0]["value"]["messages"][0]


def _first_status(body: dict[str, Any]) -> dict[str, Any]:
    return body["entry"][0]["changes"][0]["value"]["statuses"][0]


MALFORMED = [
    (b"", "The body is not valid JSON"),
    (b"<html>502 Bad Gateway</html>", "The body is not valid JSON"),
    (b"\xff\xfe\x00garbage", "The body is not valid JSON"),
    (b"[]", "The body must be a JSON object, got a list."),
    (b'{"object":"page","entry":[]}', "'object' is 'page'; a WhatsApp webhook has 'whatsapp_business_account'"),
    (b'{"entry":[]}', "'object' is None"),
    (b'{"object":"whatsapp_business_account"}', "The body has no 'entry' list."),
    (b'{"object":"whatsapp_business_account","entry":{}}', "The body.entry must be a list, got an object."),
    (b'{"object":"whatsapp_business_account","entry":[{"changes":[]}]}', "entry[0] has no 'id'"),
    (b'{"object":"whatsapp_business_account","entry":[{"id":"1"}]}', "entry[0] has no 'changes' list."),
    (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{}}]}]}',
        "entry[0].changes[0] has no 'field'",
    ),
    (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}',
        "entry[0].changes[0] (messages) has no 'value'.",
    ),
    (
        _mutated("inbound_text.json", lambda b: b["entry"][0]["changes"][0]["value"].pop("metadata")),
        "entry[0].changes[0].value.metadata must be a JSON object, got null.",
    ),
    (
        _mutated("inbound_text.json", lambda b: _first_message(b).pop("id")),
        "entry[0].changes[0].value.messages[0] has no 'id' (the message id).",
    ),
    (
        _mutated("inbound_text.json", lambda b: _first_message(b).pop("from")),
        "entry[0].changes[0].value.messages[0] has no 'from' (the sender's WhatsApp id).",
    ),
    (
        _mutated("inbound_text.json", lambda b: _first_message(b).pop("type")),
        "entry[0].changes[0].value.messages[0] has no 'type'.",
    ),
    (
        _mutated("inbound_text.json", lambda b: _first_message(b).pop("timestamp")),
        "entry[0].changes[0].value.messages[0] has no 'timestamp'.",
    ),
    (
        _mutated("inbound_image.json", lambda b: _first_message(b)["image"].pop("id")),
        "entry[0].changes[0].value.messages[0].image has no 'id' (the media id to download).",
    ),
    (
        _mutated("inbound_text.json", lambda b: b["entry"][0]["changes"][0]["value"].update(messages={})),
        "entry[0].changes[0].value.messages must be a list, got an object.",
    ),
    (
        _mutated("status_sent.json", lambda b: _first_status(b).pop("id")),
        "entry[0].changes[0].value.statuses[0] has no 'id'",
    ),
    (
        _mutated("status_sent.json", lambda b: _first_status(b).pop("status")),
        "entry[0].changes[0].value.statuses[0] has no 'status' (sent, delivered, read, played or failed).",
    ),
    (
        _mutated("status_failed_131026.json", lambda b: _first_status(b)["errors"][0].pop("code")),
        "entry[0].changes[0].value.statuses[0].errors[0] has no numeric 'code'.",
    ),
    (
        _mutated(
            "template_status_approved.json",
            lambda b: b["entry"][0]["changes"][0]["value"].pop("message_template_id"),
        ),
        "entry[0].changes[0].value has no 'message_template_id' (the template id).",
    ),
    (
        _mutated(
            "user_preferences_resume_marketing.json",
            lambda b: b["entry"][0]["changes"][0]["value"].pop("user_preferences"),
        ),
        "entry[0].changes[0].value has no 'user_preferences' list.",
    ),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED, ids=[m for _b, m in MALFORMED])
def test_malformed_body_is_refused_with_a_specific_message(body, message):
    with pytest.raises(WebhookParseError) as excinfo:
        parse_webhook(body)
    assert message in str(excinfo.value)


def test_parse_error_is_a_value_error():
    assert issubclass(WebhookParseError, ValueError)
