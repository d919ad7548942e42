"""Outbound builders and template parameters: equal to Meta's example requests and valid per its OpenAPI spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.whatsapp.openapi import (
    assert_valid_mark_read_request,
    assert_valid_send_request,
    errors_of,
    send_examples,
    send_validator,
)
from whatsapp import outbound_payloads as out
from whatsapp.outbound_payloads import PayloadError
from whatsapp.templates_validation import (
    ParameterSpec,
    TemplateParamError,
    build_components,
    parameter_spec,
    render_preview,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
TO = "{{Recipient-Phone-Number}}"


def load(name: str, **placeholders: str) -> Any:
    """A fixture, with placeholders that are not valid values (e.g. "http(s)://image-url") replaced."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for old, new in placeholders.items():
        text = text.replace(old, new)
    return json.loads(text)


MESSAGE_KEYS = ("text", "image", "audio", "video", "document", "sticker", "location", "contacts", "interactive",
                "reaction", "template")  # fmt: skip


def as_sent(request: dict[str, Any]) -> dict[str, Any]:
    """Some of Meta's examples omit fields with defaults: recipient_type ("individual") and type (the content key)."""
    request = dict(request)
    request.setdefault("recipient_type", "individual")
    if "type" not in request:
        keys = [key for key in MESSAGE_KEYS if key in request]
        if len(keys) == 1:
            request["type"] = keys[0]
    return request


IMAGE_URL = "https://cdn.example.com.br/banner.jpg"
DOC_URL = "https://cdn.example.com.br/boleto.pdf"
VIDEO_URL = "https://cdn.example.com.br/tutorial.mp4"

# (fixture, placeholder replacements, builder call producing the same request)
FIXTURE_CASES = [
    ("outbound_text_request.json", {}, lambda: out.text(TO, "text-message-content")),
    (
        "outbound_text_reply_context_request.json",
        {},
        lambda: out.text(TO, "<TEXT_MSG_CONTENT>", reply_to="<MSGID_OF_PREV_MSG>"),
    ),
    (
        "outbound_text_preview_url_request.json",
        {},
        lambda: out.text(TO, "Please visit https://youtu.be/hpltvTEiRrY.", preview_url=True),
    ),
    ("outbound_image_by_id_request.json", {}, lambda: out.media(TO, "image", media_id="<IMAGE_OBJECT_ID>")),
    (
        "outbound_image_by_link_request.json",
        {"http(s)://image-url": IMAGE_URL},
        lambda: out.media(TO, "image", link=IMAGE_URL),
    ),
    ("outbound_audio_by_id_request.json", {}, lambda: out.media(TO, "audio", media_id="<AUDIO_OBJECT_ID>")),
    ("outbound_sticker_by_id_request.json", {}, lambda: out.media(TO, "sticker", media_id="<MEDIA_OBJECT_ID>")),
    (
        "outbound_document_by_id_request.json",
        {},
        lambda: out.media(
            TO,
            "document",
            media_id="<DOCUMENT_OBJECT_ID>",
            caption="<DOCUMENT_CAPTION_TO_SEND>",
            filename="<DOCUMENT_FILENAME>",
        ),
    ),
    (
        "outbound_document_by_link_request.json",
        {"<http(s)://document-url>": DOC_URL},
        lambda: out.media(TO, "document", link=DOC_URL, caption="<DOCUMENT-CAPTION-TEXT>"),
    ),
    (
        "outbound_video_by_link_request.json",
        {"<http(s)://video-url>": VIDEO_URL},
        lambda: out.media(TO, "video", link=VIDEO_URL, caption="<VIDEO_CAPTION_TEXT>"),
    ),
    (
        "outbound_location_request.json",
        {},
        lambda: out.location(TO, 37.758056, -122.425332, name="META HQ", address="1 Hacker Way, Menlo Park, CA 94025"),
    ),
    ("outbound_reaction_request.json", {}, lambda: out.reaction(TO, "wamid.HBgLM...", "😀")),
    (
        "outbound_contacts_request.json",
        {},
        lambda: out.contacts(TO, load("outbound_contacts_request.json")["contacts"]),
    ),
    (
        "outbound_interactive_button_request.json",
        {},
        lambda: out.interactive_buttons(
            TO,
            "<BUTTON_TEXT>",
            [("<UNIQUE_BUTTON_ID_1>", "<BUTTON_TITLE_1>"), ("<UNIQUE_BUTTON_ID_2>", "<BUTTON_TITLE_2>")],
        ),
    ),
    (
        "outbound_interactive_button_request_meta.json",
        {},
        lambda: out.interactive_buttons(
            "+16505551234",
            "Hi Pablo! Your gardening workshop is scheduled for 9am tomorrow. Use the buttons if you need to "
            "reschedule. Thank you!",
            [("change-button", "Change"), ("cancel-button", "Cancel")],
            header=out.media_header("image", media_id="2762702990552401"),
            footer="Lucky Shrub: Your gateway to succulents!™",
        ),
    ),
    (
        "outbound_interactive_list_request.json",
        {},
        lambda: out.interactive_list(
            TO,
            "<BODY_TEXT>",
            "<BUTTON_TEXT>",
            [
                {
                    "title": f"<LIST_SECTION_{s}_TITLE>",
                    "rows": [
                        (
                            f"<LIST_SECTION_{s}_ROW_{r}_ID>",
                            f"<SECTION_{s}_ROW_{r}_TITLE>",
                            f"<SECTION_{s}_ROW_{r}_DESC>",
                        )
                        for r in (1, 2)
                    ],
                }
                for s in (1, 2)
            ],
            header="<HEADER_TEXT>",
            footer="<FOOTER_TEXT>",
        ),
    ),
    (
        "outbound_interactive_list_request_meta.json",
        {},
        lambda: out.interactive_list(
            "+16505551234",
            "Which shipping option do you prefer?",
            "Shipping Options",
            [
                {
                    "title": "I want it ASAP!",
                    "rows": [
                        {
                            "id": "priority_express",
                            "title": "Priority Mail Express",
                            "description": "Next Day to 2 Days",
                        },
                        {"id": "priority_mail", "title": "Priority Mail", "description": "1\u20133 Days"},
                    ],
                },
                {
                    "title": "I can wait a bit",
                    "rows": [
                        {
                            "id": "usps_ground_advantage",
                            "title": "USPS Ground Advantage",
                            "description": "2\u20135 Days",
                        },
                        {"id": "media_mail", "title": "Media Mail", "description": "2\u20138 Days"},
                    ],
                },
            ],
            header="Choose Shipping Option",
            footer="Lucky Shrub: Your gateway to succulents™",
        ),
    ),
    (
        "outbound_interactive_cta_url_request.json",
        {},
        lambda: out.interactive_cta_url(
            "+16505551234",
            "Tap the button below to see available dates.",
            "See Dates",
            "https://www.luckyshrub.com?clickID=kqDGWd24Q5TRwoEQTICY7W1JKoXvaZOXWAS7h1P76s0R7Paec4",
            header=out.media_header("image", link="https://www.luckyshrub.com/assets/lucky-shrub-banner-logo-v1.png"),
            footer="Dates subject to change.",
        ),
    ),
    ("outbound_template_hello_world_request.json", {}, lambda: out.template(TO, "hello_world", "en_US", [])),
]


@pytest.mark.parametrize(("fixture", "placeholders", "build"), FIXTURE_CASES, ids=[c[0] for c in FIXTURE_CASES])
def test_builder_output_equals_meta_example(fixture, placeholders, build):
    assert build() == as_sent(load(fixture, **placeholders))


@pytest.mark.parametrize(("fixture", "placeholders", "build"), FIXTURE_CASES, ids=[c[0] for c in FIXTURE_CASES])
def test_builder_output_is_valid_per_openapi(fixture, placeholders, build):
    assert_valid_send_request(build())


def test_mark_read_equals_meta_examples_and_is_valid():
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA="
    assert out.mark_read(wamid) == load("outbound_mark_as_read_request.json")
    assert out.mark_read(wamid, typing=True) == load("outbound_mark_as_read_typing_request.json")
    assert_valid_mark_read_request(out.mark_read(wamid))
    assert_valid_mark_read_request(out.mark_read(wamid, typing=True))


def test_reply_context_and_callback_data_are_added_and_valid():
    payload = out.media(
        "5511991234567",
        "audio",
        media_id="1013859600285441",
        voice=True,
        reply_to="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
        callback_data="message:42",
    )
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511991234567",
        "type": "audio",
        "context": {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"},
        "biz_opaque_callback_data": "message:42",
        "audio": {"id": "1013859600285441", "voice": True},
    }
    assert_valid_send_request(payload)


def test_reaction_with_empty_emoji_removes_it():
    payload = out.reaction("5511991234567", "wamid.abc", "")
    assert payload["reaction"] == {"message_id": "wamid.abc", "emoji": ""}
    assert_valid_send_request(payload)


def test_every_builder_at_its_limits_is_valid_per_openapi():
    to = "5511991234567"
    payloads = [
        out.text(to, "a" * 4096, callback_data="x" * 512),
        out.media(to, "image", media_id="1", caption="c" * 1024),
        out.media(to, "video", link=VIDEO_URL, caption="c" * 1024, reply_to="wamid.q"),
        out.media(to, "document", media_id="2", filename="nota-fiscal.pdf"),
        out.media(to, "sticker", link="https://cdn.example.com.br/s.webp"),
        out.interactive_buttons(
            to,
            "b" * 1024,
            [("i" * 256, "t" * 20), ("2", "Dois"), ("3", "Três")],
            header="h" * 60,
            footer="f" * 60,
        ),
        out.interactive_buttons(to, "Seu boleto", [("ok", "OK")], header=out.media_header("document", link=DOC_URL)),
        out.interactive_list(
            to,
            "Escolha",
            "b" * 20,
            [
                {"title": "s" * 24, "rows": [(f"r{n}", "t" * 24, "d" * 72) for n in range(5)]},
                {"title": "Outros", "rows": [{"id": "x" * 200, "title": "Mais"}, *[(f"q{n}", "Q") for n in range(4)]]},
            ],
        ),
        out.interactive_list(to, "Uma seção", "Ver", [{"rows": [("a", "A")]}]),
        out.interactive_cta_url(to, "Pague com Pix", "d" * 20, "https://pay.example.com.br/p/123"),
        out.location(to, -23.561414, -46.655881, name="MASP"),
        out.location(to, 90, -180),
        out.contacts(to, [{"name": {"formatted_name": "Ana Souza"}, "phones": [{"phone": "+55 11 99123-4567"}]}] * 5),
    ]
    for payload in payloads:
        assert_valid_send_request(payload)


LIMITS = [
    (lambda: out.text("5511991234567", "a" * 4097), "The message text is 4097 characters; WhatsApp allows 4096."),
    (lambda: out.text("5511991234567", "   "), "The message text is empty."),
    (lambda: out.text("", "hi"), "The recipient ('to') is empty."),
    (lambda: out.text("5511991234567", "hi", callback_data="x" * 513), "513 characters; WhatsApp allows 512"),
    (lambda: out.media("5511991234567", "image", media_id="1", caption="c" * 1025), "caption is 1025 characters"),
    (lambda: out.media("5511991234567", "audio", media_id="1", caption="hi"), "Audio messages cannot have a caption"),
    (lambda: out.media("5511991234567", "image", media_id="1", link=IMAGE_URL), "exactly one of media_id or link"),
    (lambda: out.media("5511991234567", "image"), "exactly one of media_id or link"),
    (lambda: out.media("5511991234567", "image", link="ftp://x/y.jpg"), "must be an http(s) URL"),
    (lambda: out.media("5511991234567", "image", media_id="1", filename="a.jpg"), "Only documents have a filename"),
    (lambda: out.media("5511991234567", "video", media_id="1", voice=True), "Only audio can be sent as a voice"),
    (lambda: out.media("5511991234567", "gif", media_id="1"), "Media kind must be one of"),
    (lambda: out.interactive_buttons("5511991234567", "b", []), "needs at least one button"),
    (
        lambda: out.interactive_buttons("5511991234567", "b", [(str(n), f"B{n}") for n in range(4)]),
        "has 4 buttons; WhatsApp allows 3",
    ),
    (
        lambda: out.interactive_buttons("5511991234567", "b", [("1", "t" * 21)]),
        "Button 1 title is 21 characters; WhatsApp allows 20.",
    ),
    (lambda: out.interactive_buttons("5511991234567", "b", [("i" * 257, "ok")]), "Button 1 id is 257 characters"),
    (
        lambda: out.interactive_buttons("5511991234567", "b", [("1", "Sim"), ("2", "Sim")]),
        "Button title 'Sim' is used twice",
    ),
    (lambda: out.interactive_buttons("5511991234567", "b" * 1025, [("1", "ok")]), "body is 1025 characters"),
    (lambda: out.interactive_buttons("5511991234567", "b", [("1", "ok")], footer="f" * 61), "footer is 61 characters"),
    (lambda: out.interactive_buttons("5511991234567", "b", [("1", "ok")], header="h" * 61), "header is 61 characters"),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"rows": [(str(n), "t") for n in range(11)]}]),
        "11 rows in all; WhatsApp allows 10",
    ),
    (
        lambda: out.interactive_list(
            "5511991234567",
            "b",
            "Ver",
            [
                {"title": "A", "rows": [(f"a{n}", "t") for n in range(6)]},
                {"title": "B", "rows": [(f"b{n}", "t") for n in range(5)]},
            ],
        ),
        "11 rows in all",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"title": "s" * 25, "rows": [("1", "t")]}]),
        "Section 1 title is 25 characters; WhatsApp allows 24.",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"rows": [("1", "t" * 25)]}]),
        "Section 1 row 1 title is 25 characters; WhatsApp allows 24.",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"rows": [("1", "t", "d" * 73)]}]),
        "Section 1 row 1 description is 73 characters; WhatsApp allows 72.",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"rows": [("r" * 201, "t")]}]),
        "row 1 id is 201 characters",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "b" * 21, [{"rows": [("1", "t")]}]),
        "list button label is 21 characters; WhatsApp allows 20.",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"rows": [("1", "a")]}, {"rows": [("2", "b")]}]),
        "Section 1 needs a title",
    ),
    (
        lambda: out.interactive_list("5511991234567", "b", "Ver", [{"rows": [("1", "a"), ("1", "b")]}]),
        "Row id '1' is used twice",
    ),
    (
        lambda: out.interactive_list(
            "5511991234567", "b", "Ver", [{"title": str(n), "rows": [("x", "y")]} for n in range(11)]
        ),
        "11 sections; WhatsApp allows 10",
    ),
    (
        lambda: out.interactive_list(
            "5511991234567", "b", "Ver", [{"rows": [("1", "a")]}], header=out.media_header("image", media_id="1")
        ),
        "only a text header",
    ),
    (lambda: out.interactive_list("5511991234567", "b", "Ver", []), "needs at least one section"),
    (
        lambda: out.interactive_cta_url("5511991234567", "b", "d" * 21, "https://example.com"),
        "The button label is 21 characters; WhatsApp allows 20.",
    ),
    (lambda: out.interactive_cta_url("5511991234567", "b", "Pagar", "javascript:alert(1)"), "must be an http(s) URL"),
    (lambda: out.location("5511991234567", 91, 0), "Latitude must be a number between -90 and 90"),
    (lambda: out.location("5511991234567", 0, "10"), "Longitude must be a number"),
    (lambda: out.contacts("5511991234567", [{"phones": [{"phone": "+5511"}]}]), "needs name.formatted_name"),
    (lambda: out.contacts("5511991234567", [{"name": {"formatted_name": "A"}}] * 6), "6 contact cards"),
    (lambda: out.template("5511991234567", "", "pt_BR", []), "The template name is empty."),
    (lambda: out.template("5511991234567", "boas_vindas", "pt_BR", [{"type": "footer"}]), "header, body or button"),
    (
        lambda: out.template("5511991234567", "boas_vindas", "pt_BR", [{"type": "button", "parameters": []}]),
        "needs sub_type and index",
    ),
    (lambda: out.mark_read(""), "The message id to mark as read is empty."),
]


@pytest.mark.parametrize(("build", "message"), LIMITS, ids=[m for _b, m in LIMITS])
def test_limits_raise_payload_error_naming_the_limit(build, message):
    with pytest.raises(PayloadError) as excinfo:
        build()
    assert message in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


# -- Meta's own examples against Meta's own spec ----------------------------------------------------------

SEND_FIXTURES = sorted(p.name for p in FIXTURES.glob("outbound_*_request*.json") if "mark_as_read" not in p.name)
# Meta's "Send Sample Issue Resolution Template" example sends index 0 as a number and text true/false as booleans.
ISSUE_RESOLUTION_ERRORS = [
    "template/components/1/index: 0 is not of type 'string'",
    "template/components/1/parameters/0/text: True is not of type 'string'",
    "template/components/2/index: 1 is not of type 'string'",
    "template/components/2/parameters/0/text: False is not of type 'string'",
]
SPEC_VIOLATING_FIXTURES = {"outbound_template_issue_resolution_request.json": ISSUE_RESOLUTION_ERRORS}
INTERACTIVE_TYPES = (
    "['button', 'call_permission_request', 'catalog_message', 'list', 'product', 'product_list', 'flow', 'cta_url']"
)
# Examples in the spec that its own (repaired) schema rejects, and why.
SPEC_VIOLATING_EXAMPLES = {
    "Send Sample Issue Resolution Template": ISSUE_RESOLUTION_ERRORS,
    "Send Catalog Template Message": [
        "template/components/1/index: 0 is not of type 'string'",
        "template/components/1/sub_type: 'CATALOG' is not one of "
        "['quick_reply', 'url', 'catalog', 'flow', 'copy_code']",
    ],
    "Send Multi-Product Message": [  # an unfilled placeholder
        "interactive/header/type: '<HEADER_TYPE>' is not one of ['text', 'video', 'image', 'document']"
    ],
    # Payments messages are not described by the spec's InteractiveObject at all (not checked; see openapi.py).
    "Send Order Details Message": [
        "interactive/action: 'buttons' is a required property",
        f"interactive/type: 'order_details' is not one of {INTERACTIVE_TYPES}",
    ],
    "Send Order Status Message": [
        "interactive/action: 'buttons' is a required property",
        f"interactive/type: 'order_status' is not one of {INTERACTIVE_TYPES}",
    ],
}
MARK_READ_EXAMPLE = "Send typing indicator and read receipt"


@pytest.mark.parametrize("name", sorted(set(send_examples()) - {MARK_READ_EXAMPLE}))
def test_metas_send_examples_validate_against_the_repaired_schema(name):
    assert errors_of(send_validator(), as_sent(send_examples()[name])) == SPEC_VIOLATING_EXAMPLES.get(name, [])


def test_metas_mark_read_example_is_a_mark_message_request():
    assert_valid_mark_read_request(send_examples()[MARK_READ_EXAMPLE])


@pytest.mark.parametrize("name", SEND_FIXTURES)
def test_outbound_fixture_requests_validate_against_the_openapi_schema(name):
    problems = errors_of(send_validator(), as_sent(load(name)))
    assert problems == SPEC_VIOLATING_FIXTURES.get(name, [])


def test_examples_without_recipient_type_are_rejected_by_the_spec_as_published():
    assert errors_of(send_validator(), load("outbound_contacts_request.json")) == [
        "<root>: 'recipient_type' is a required property"
    ]


def test_unrepaired_spec_rejects_even_its_simplest_example():
    """Why tests/whatsapp/openapi.py repairs the spec: read literally, nothing validates."""
    example = send_examples()["Send Text Message"]
    assert errors_of(send_validator(repaired=False), example)
    assert errors_of(send_validator(), example) == []


def test_repaired_spec_still_rejects_what_meta_would_reject():
    bad = out.text("5511991234567", "hi")
    bad["text"]["unknown"] = 1
    assert errors_of(send_validator(), bad) == [
        "text: Additional properties are not allowed ('unknown' was unexpected)"
    ]
    both = out.media("5511991234567", "image", media_id="1")
    both["image"]["link"] = IMAGE_URL
    assert errors_of(send_validator(), both)
    four_buttons = out.interactive_buttons("5511991234567", "b", [("1", "a")])
    four_buttons["interactive"]["action"]["buttons"] *= 4
    assert errors_of(send_validator(), four_buttons)


# -- templates --------------------------------------------------------------------------------------------


def template_definition(name: str) -> dict[str, Any]:
    for template in load("template_list_response.json")["data"]:
        if template["name"] == name:
            return template
    raise KeyError(name)


LANGUAGE = {"language-and-locale-code": "en_US"}
TEXT_CURRENCY_DATE_BODY = {"type": "BODY", "text": "Hi {{1}}, your total is {{2}}, due on {{3}}."}
CURRENCY = {"type": "currency", "currency": {"amount_1000": 100990, "code": "USD", "fallback_value": "$100.99"}}
DATE_TIME = {
    "type": "date_time",
    "date_time": {
        "calendar": "GREGORIAN",
        "day_of_month": 25,
        "day_of_week": 5,
        "fallback_value": "February 25, 1977",
        "hour": 15,
        "minute": 33,
        "month": 2,
        "year": 1977,
    },
}


def test_template_without_placeholders_needs_no_components():
    hello = template_definition("hello_world")
    assert build_components(hello["components"], hello.get("parameter_format"), {}) == []
    assert build_components(hello["components"], None, None) == []
    payload = out.template(TO, "hello_world", "en_US", [])
    assert payload == as_sent(load("outbound_template_hello_world_request.json"))


def test_positional_template_from_the_list_response():
    promo = template_definition("2023_april_promo")
    components = build_components(promo["components"], "POSITIONAL", {"body": ["Mark", "FALL25"]})
    assert components == [
        {"type": "body", "parameters": [{"type": "text", "text": "Mark"}, {"type": "text", "text": "FALL25"}]}
    ]
    assert render_preview(promo["components"], {"body": ["Mark", "FALL25"]}) == (
        "Hi Mark, our Fall Sale is on! Use promo code FALL25 Get an extra 25% off every order above $350!"
    )
    assert_valid_send_request(out.template("5511991234567", promo["name"], promo["language"], components))


def test_quick_reply_payload_is_optional_and_sent_when_given():
    promo = template_definition("2023_april_promo")
    components = build_components(promo["components"], "POSITIONAL", {"body": ["Ana", "OUT25"], "buttons": {0: "STOP"}})
    assert components[-1] == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "0",
        "parameters": [{"type": "payload", "payload": "STOP"}],
    }


def test_text_currency_and_date_time_parameters_equal_metas_example():
    components = build_components(
        [TEXT_CURRENCY_DATE_BODY], "POSITIONAL", {"body": ["text-string", CURRENCY, DATE_TIME]}
    )
    expected = load("outbound_template_request.json", **LANGUAGE)
    assert components == expected["template"]["components"]
    assert out.template(TO, "template-name", "en_US", components) == expected
    assert render_preview([TEXT_CURRENCY_DATE_BODY], {"body": ["Ana", CURRENCY, DATE_TIME]}) == (
        "Hi Ana, your total is $100.99, due on February 25, 1977."
    )


def test_image_header_and_quick_reply_payloads_equal_metas_example():
    definition = [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW..."]}},
        TEXT_CURRENCY_DATE_BODY,
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes"}, {"type": "QUICK_REPLY", "text": "No"}]},
    ]
    params = {
        "header": [{"type": "image", "link": "http(s)://the-image-url"}],
        "body": ["text-string", CURRENCY, DATE_TIME],
        "buttons": {"0": "aGlzIHRoaXMgaXMgY29v", "1": "9rwnB8RbYmPF5t2Mn09x4h"},
    }
    components = build_components(definition, "POSITIONAL", params)
    expected = load("outbound_template_quick_reply_buttons_request.json", **LANGUAGE)
    assert out.template(TO, "template-name", "en_US", components) == expected
    media_only = build_components(definition[:2], "POSITIONAL", {**params, "buttons": {}})
    assert out.template(TO, "template-name", "en_US", media_only) == load(
        "outbound_template_media_header_request.json", **LANGUAGE
    )
    assert_valid_send_request(expected)


def test_url_button_parameter_equals_the_documented_request():
    definition = [
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://example.com/track/{{1}}"}]},
    ]
    components = build_components(definition, "POSITIONAL", {"body": ["Priya", "AC-10294"], "buttons": {0: "AC-10294"}})
    payload = out.template("+16505551234", "order_shipped", "en_US", components)
    assert payload == load("outbound_template_url_button_request.json")
    assert_valid_send_request(payload)


def test_named_parameters_equal_the_documented_request():
    definition = [{"type": "BODY", "text": "Your table is booked for {{day}}. See you then!"}]
    components = build_components(definition, "NAMED", {"body": {"day": "Saturday"}})
    payload = out.template("9715XXXXXXXX", "reservation_confirmation", "ar", components)
    assert payload == load("outbound_template_named_params_request.json")
    assert_valid_send_request(payload)
    assert (
        render_preview(definition, {"body": {"day": "Saturday"}}) == "Your table is booked for Saturday. See you then!"
    )


def test_flow_button_action_equals_metas_example():
    definition = [{"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Open", "flow_id": "1"}]}]
    action = {"flow_action_data": {"<CUSTOM_KEY>": "<CUSTOM_VALUE>"}, "flow_token": "<FLOW_TOKEN>"}
    components = build_components(definition, "POSITIONAL", {"buttons": {0: action}})
    payload = out.template(TO, "<TEMPLATE_NAME>", "en_US", components)
    assert payload == as_sent(load("outbound_template_flow_button_request.json"))
    assert_valid_send_request(payload)


def test_marketing_create_request_shape_with_text_header():
    definition = load("template_create_marketing_request.json")["components"]
    params = {"header": ["Summer Sale"], "body": ["the end of August", "25OFF", "25%"]}
    components = build_components(definition, "POSITIONAL", params)
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "Summer Sale"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "the end of August"},
                {"type": "text", "text": "25OFF"},
                {"type": "text", "text": "25%"},
            ],
        },
    ]
    assert render_preview(definition, params) == (
        "Shop now through the end of August and use code 25OFF to get 25% off of all merchandise."
    )
    assert_valid_send_request(out.template("5511991234567", "seasonal_promotion_text_only", "en", components))


def test_utility_create_request_shape_with_document_header():
    definition = load("template_create_utility_request.json")["components"]
    spec = parameter_spec(definition, "POSITIONAL")
    assert spec == ParameterSpec(
        parameter_format="POSITIONAL",
        header_format="DOCUMENT",
        body_placeholders=("1", "2"),
        body_text=definition[1]["text"],
    )
    params = {"header": [{"link": DOC_URL, "filename": "recibo.pdf"}], "body": ["Mark", "860198-230332"]}
    components = build_components(definition, "POSITIONAL", params)
    assert components[0] == {
        "type": "header",
        "parameters": [{"type": "document", "document": {"link": DOC_URL, "filename": "recibo.pdf"}}],
    }
    assert_valid_send_request(out.template("5511991234567", "order_confirmation", "en_US", components))


def test_authentication_create_request_shape_takes_the_code_twice():
    definition = load("template_create_authentication_request.json")["components"]
    components = build_components(definition, "POSITIONAL", {"body": ["482913"], "buttons": {0: "482913"}})
    assert components == [
        {"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "482913"}]},
    ]
    assert render_preview(definition, {"body": ["482913"]}) == "*482913* is your verification code."
    assert_valid_send_request(
        out.template("5511991234567", "authentication_code_copy_code_button", "en_US", components)
    )


def test_copy_code_button_sends_a_coupon_code():
    definition = [
        {"type": "BODY", "text": "Use o cupom!"},
        {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "X"}]},
    ]
    components = build_components(definition, "POSITIONAL", {"buttons": {0: "BLACK25"}})
    assert components == [
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "0",
            "parameters": [{"type": "coupon_code", "coupon_code": "BLACK25"}],
        }
    ]
    assert_valid_send_request(out.template("5511991234567", "cupom", "pt_BR", components))


def test_render_preview_leaves_missing_values_visible():
    promo = template_definition("2023_april_promo")
    assert render_preview(promo["components"], {"body": ["Mark"]}).startswith(
        "Hi Mark, our Fall Sale is on! Use promo code {{2}}"
    )
    assert render_preview(promo["components"], None).startswith("Hi {{1}},")


PROMO = template_definition("2023_april_promo")["components"]
UTILITY = load("template_create_utility_request.json")["components"]
MARKETING = load("template_create_marketing_request.json")["components"]
NAMED_BODY = [{"type": "BODY", "text": "Olá {{first_name}}, seu pedido {{order_id}} foi enviado."}]

TEMPLATE_ERRORS = [
    (PROMO, "POSITIONAL", {"body": ["Mark"]}, "The template body needs 2 values. 1 was given."),
    (PROMO, "POSITIONAL", {"body": ["a", "b", "c"]}, "The template body needs 2 values. 3 were given."),
    (PROMO, "POSITIONAL", {}, "The template body needs 2 values; none were given."),
    (PROMO, "POSITIONAL", {"body": ["Mark", ""]}, "Body value {{2}} is empty."),
    (PROMO, "POSITIONAL", {"body": ["Mark", "linha\nquebrada"]}, "cannot contain line breaks, tabs"),
    (PROMO, "POSITIONAL", {"body": ["Mark", "a     b"]}, "more than four spaces in a row"),
    (PROMO, "POSITIONAL", {"body": ["Mark", None]}, "Body value {{2}} must be text"),
    (PROMO, "POSITIONAL", {"body": ["Mark", "x" * 1000]}, "The filled body is"),
    (PROMO, "POSITIONAL", {"body": ["a", "b"], "buttons": {1: "x"}}, "Button 1 of this template takes no value."),
    (PROMO, "POSITIONAL", {"body": ["a", "b"], "buttons": {"first": "x"}}, "Button index 'first' is not a number."),
    (PROMO, "POSITIONAL", {"body": ["a", "b"], "footer": "x"}, "Unknown template value group: footer."),
    (PROMO, "POSITIONAL", {"body": ["a", "b"], "header": ["x"]}, "The template header takes no parameters"),
    (PROMO, "POSITIONAL", {"body": ["a", {"type": "currency", "currency": {"code": "BRL"}}]}, "(currency) needs"),
    (PROMO, "WHATEVER", {}, "parameter_format must be POSITIONAL or NAMED"),
    (MARKETING, "POSITIONAL", {"body": ["a", "b", "c"]}, "The template header needs 1 value; none were given."),
    (MARKETING, "POSITIONAL", {"header": ["h" * 60], "body": ["a", "b", "c"]}, "The filled header is"),
    (UTILITY, "POSITIONAL", {"body": ["a", "b"]}, "The template has a document header: give it as a dict."),
    (
        UTILITY,
        "POSITIONAL",
        {"header": [{"type": "image", "link": IMAGE_URL}], "body": ["a", "b"]},
        "The template header is a document, but an image was given.",
    ),
    (
        UTILITY,
        "POSITIONAL",
        {"header": [{}], "body": ["a", "b"]},
        "The document header needs exactly one of 'id' or 'link'.",
    ),
    (
        UTILITY,
        "POSITIONAL",
        {"header": [{"id": "1"}], "body": ["a", "b"], "buttons": {0: "x"}},
        "Button 0 of this template takes no value.",
    ),
    (NAMED_BODY, "NAMED", {"body": ["Ana", "A-1"]}, "uses named parameters: give a mapping of first_name, order_id."),
    (NAMED_BODY, "NAMED", {"body": {"first_name": "Ana"}}, "The template body is missing: {{order_id}}."),
    (
        NAMED_BODY,
        "NAMED",
        {"body": {"first_name": "Ana", "order_id": "1", "city": "SP"}},
        "The template body has no {{city}}.",
    ),
    (NAMED_BODY, "POSITIONAL", {}, "The body uses named placeholders but the template is POSITIONAL."),
    ([{"type": "BODY", "text": "{{1}} e {{3}}"}], "POSITIONAL", {}, "placeholders must be {{1}}..{{n}} in sequence"),
    (
        [{"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://x.com/{{1}}"}]}],
        "POSITIONAL",
        {},
        "Button 0 (url) needs a value.",
    ),
    (
        [{"type": "BUTTONS", "buttons": [{"type": "COPY_CODE"}]}],
        "POSITIONAL",
        {"buttons": {0: "CODE-TOO-LONG-123"}},
        "coupon code is 17 characters; WhatsApp allows 15.",
    ),
]


@pytest.mark.parametrize(
    ("definition", "fmt", "params", "message"), TEMPLATE_ERRORS, ids=[e[3] for e in TEMPLATE_ERRORS]
)
def test_template_parameter_errors_are_clear(definition, fmt, params, message):
    with pytest.raises(TemplateParamError) as excinfo:
        build_components(definition, fmt, params)
    assert message in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_named_parameters_carry_parameter_name():
    components = build_components(NAMED_BODY, "NAMED", {"body": {"order_id": "A-1", "first_name": "Ana"}})
    assert components == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Ana", "parameter_name": "first_name"},
                {"type": "text", "text": "A-1", "parameter_name": "order_id"},
            ],
        }
    ]
    assert render_preview(NAMED_BODY, {"body": {"first_name": "Ana", "order_id": "A-1"}}) == (
        "Olá Ana, seu pedido A-1 foi enviado."
    )


def test_location_header():
    definition = [{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Retire seu pedido aqui."}]
    location = {
        "latitude": -23.561414,
        "longitude": -46.655881,
        "name": "Loja Paulista",
        "address": "Av. Paulista, 1578",
    }
    components = build_components(definition, "POSITIONAL", {"header": [location]})
    assert components == [{"type": "header", "parameters": [{"type": "location", "location": location}]}]
    assert_valid_send_request(out.template("5511991234567", "retirada", "pt_BR", components))


def test_named_text_header_accepts_its_single_value_as_a_list():
    definition = [
        {"type": "HEADER", "format": "TEXT", "text": "Pedido {{order_id}}"},
        {"type": "BODY", "text": "Obrigado, {{first_name}}!"},
    ]
    components = build_components(definition, "NAMED", {"header": ["A-1"], "body": {"first_name": "Ana"}})
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "A-1", "parameter_name": "order_id"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]},
    ]
    assert_valid_send_request(out.template("5511991234567", "pedido", "pt_BR", components))
