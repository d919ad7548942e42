"""Template drafts: Meta's rules checked before submitting (exact messages), and the create/edit bodies Meta's
own examples show (fixtures template_create_*_request.json)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from helpdesk.exceptions import ValidationFailed
from whatsapp.authoring import (
    ButtonDraft,
    TemplateDraft,
    create_payload,
    draft_errors,
    draft_from_components,
    draft_validate,
    edit_payload,
    header_sample_check,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def marketing() -> TemplateDraft:
    """Meta's "seasonal_promotion_text_only" example as a draft."""
    return TemplateDraft(
        name="seasonal_promotion_text_only",
        language="en",
        category="MARKETING",
        header_format="TEXT",
        header_text="Our {{1}} is on!",
        header_example="Summer Sale",
        body="Shop now through {{1}} and use code {{2}} to get {{3}} off of all merchandise.",
        body_examples={"1": "the end of August", "2": "25OFF", "3": "25%"},
        footer="Use the buttons below to manage your marketing subscriptions",
        buttons=[
            ButtonDraft(type="QUICK_REPLY", text="Unsubcribe from Promos"),
            ButtonDraft(type="QUICK_REPLY", text="Unsubscribe from All"),
        ],
    )


UTILITY_HANDLE = fixture("template_create_utility_request.json")["components"][0]["example"]["header_handle"][0]


def utility() -> TemplateDraft:
    """Meta's "order_confirmation" example (document header, phone and website buttons) as a draft."""
    return TemplateDraft(
        name="order_confirmation",
        language="en_US",
        category="UTILITY",
        header_format="DOCUMENT",
        header_handle=UTILITY_HANDLE,
        body=(
            "Thank you for your order, {{1}}! Your order number is {{2}}. Tap the PDF linked above to view your "
            "receipt. If you have any questions, please use the buttons below to contact support. Thanks again!"
        ),
        body_examples={"1": "Mark", "2": "860198-230332"},
        buttons=[
            ButtonDraft(type="PHONE_NUMBER", text="Call", phone_number="16467043595"),
            ButtonDraft(type="URL", text="Contact Support", url="https://www.examplesite.com/support"),
        ],
    )


def authentication() -> TemplateDraft:
    return TemplateDraft(
        name="authentication_code_copy_code_button",
        language="en_US",
        category="AUTHENTICATION",
        add_security_recommendation=True,
        code_expiration_minutes=10,
        buttons=[ButtonDraft(type="OTP", otp_type="COPY_CODE", text="Copy Code")],
    )


def named() -> TemplateDraft:
    return TemplateDraft(
        name="order_ready",
        language="pt_BR",
        category="UTILITY",
        parameter_format="NAMED",
        header_format="TEXT",
        header_text="Pedido {{order_id}}",
        header_example="#1234",
        body="Olá {{first_name}}, seu pedido está pronto. Retire até {{due_date}}, {{first_name}}!",
        body_examples={"first_name": "Maria", "due_date": "sexta"},
    )


@pytest.mark.parametrize(
    ("draft", "fixture_name"),
    [
        (marketing(), "template_create_marketing_request.json"),
        (utility(), "template_create_utility_request.json"),
        (authentication(), "template_create_authentication_request.json"),
    ],
    ids=["marketing text header", "utility document header", "authentication copy code"],
)
def test_a_draft_of_metas_example_builds_exactly_metas_create_body(draft: TemplateDraft, fixture_name: str):
    assert draft_errors(draft).by_field == {}

    assert create_payload(draft) == fixture(fixture_name)


def test_named_variables_are_sent_with_named_examples_and_the_parameter_format():
    draft = named()
    assert draft_errors(draft).by_field == {}

    assert create_payload(draft) == {
        "name": "order_ready",
        "language": "pt_BR",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Pedido {{order_id}}",
                "example": {"header_text_named_params": [{"param_name": "order_id", "example": "#1234"}]},
            },
            {
                "type": "BODY",
                "text": "Olá {{first_name}}, seu pedido está pronto. Retire até {{due_date}}, {{first_name}}!",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Maria"},
                        {"param_name": "due_date", "example": "sexta"},
                    ]
                },
            },
        ],
    }


def test_url_button_with_a_variable_and_copy_code_and_one_tap_buttons():
    draft = replace(
        marketing(),
        header_format="IMAGE",
        header_handle="4::aW1hZ2UvanBn:handle",
        header_text="",
        header_example="",
        buttons=[
            ButtonDraft(
                type="URL",
                text="Shop Now",
                url="https://shop.example.com/promo?code={{1}}",
                url_example="https://shop.example.com/promo?code=summer2025",
            ),
            ButtonDraft(type="COPY_CODE", example="25OFF"),
            ButtonDraft(type="PHONE_NUMBER", text="Call", phone_number="+55 11 91234-5678"),
        ],
    )
    assert draft_errors(draft).by_field == {}

    built = create_payload(draft)["components"]
    assert built[0] == {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBn:handle"]}}
    assert built[-1] == {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Shop Now",
                "url": "https://shop.example.com/promo?code={{1}}",
                "example": ["https://shop.example.com/promo?code=summer2025"],
            },
            {"type": "COPY_CODE", "example": "25OFF"},
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "5511912345678"},
        ],
    }

    one_tap = replace(
        authentication(),
        code_expiration_minutes=None,
        add_security_recommendation=False,
        buttons=[
            ButtonDraft(
                type="OTP",
                otp_type="ONE_TAP",
                text="Copy Code",
                autofill_text="Autofill",
                package_name="com.example.luckyshrub",
                signature_hash="K8a%2FAINcGX7",
            )
        ],
    )
    assert draft_errors(one_tap).by_field == {}
    assert create_payload(one_tap)["components"] == [
        {"type": "BODY"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "OTP",
                    "otp_type": "ONE_TAP",
                    "text": "Copy Code",
                    "autofill_text": "Autofill",
                    "package_name": "com.example.luckyshrub",
                    "signature_hash": "K8a%2FAINcGX7",
                }
            ],
        },
    ]


def test_an_edit_sends_only_the_components_and_the_category():
    assert edit_payload(marketing()) == {
        "category": "MARKETING",
        "components": fixture("template_create_marketing_request.json")["components"],
    }


def quick(n: int) -> list[ButtonDraft]:
    return [ButtonDraft(type="QUICK_REPLY", text=f"Option {i}") for i in range(n)]


def url(text: str = "Open", address: str = "https://example.com/") -> ButtonDraft:
    return ButtonDraft(type="URL", text=text, url=address)


INVALID: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    ("empty name", {"name": ""}, {"name": ["Enter a name."]}),
    (
        "uppercase name",
        {"name": "Summer-Sale"},
        {"name": ["The name may contain only lowercase letters, digits and underscores."]},
    ),
    ("name too long", {"name": "a" * 513}, {"name": ["The name may have at most 512 characters."]}),
    ("bad language", {"language": "portuguese"}, {"language": ["Choose a language, such as pt_BR or en_US."]}),
    (
        "body too long",
        {"body": "x" * 1025, "body_examples": {}},
        {"body": ["The message text may have at most 1024 characters (it has 1025)."]},
    ),
    ("empty body", {"body": " ", "body_examples": {}}, {"body": ["Enter the message text."]}),
    (
        "header too long",
        {"header_text": "H" * 61, "header_example": ""},
        {"header_text": ["The header may have at most 60 characters (it has 61)."]},
    ),
    (
        "two header variables",
        {"header_text": "{{1}} and {{2}} sale"},
        {"header_text": ["The header may have at most one variable."]},
    ),
    (
        "header variable without example",
        {"header_example": ""},
        {"header_example": ["Give an example for the header's variable."]},
    ),
    (
        "footer with a variable",
        {"footer": "Bye {{1}}"},
        {"footer": ["The footer may not have variables."]},
    ),
    (
        "footer too long",
        {"footer": "f" * 61},
        {"footer": ["The footer may have at most 60 characters (it has 61)."]},
    ),
    (
        "gap in numbering",
        {"body": "Shop through {{1}} with code {{3}} today.", "body_examples": {"1": "a", "3": "b"}},
        {"body": ["Variables in the message text must be numbered {{1}}, {{2}}, {{3}}... in order, without gaps."]},
    ),
    (
        "named variable in a positional template",
        {"body": "Hi {{first_name}}, welcome.", "body_examples": {}},
        {"body": ["Variables in the message text must be numbers such as {{1}}: {{first_name}}."]},
    ),
    (
        "missing examples",
        {"body_examples": {"1": "the end of August"}},
        {"body_examples": ["Give an example for each of the variables {{2}}, {{3}}."]},
    ),
    (
        "missing one example",
        {"body_examples": {"1": "a", "2": "b", "3": " "}},
        {"body_examples": ["Give an example for the variable {{3}}."]},
    ),
    (
        "body starts with a variable (2388299)",
        {"body": "{{1}} is on until {{2}}.", "body_examples": {"1": "a", "2": "b"}},
        {"body": ["The message text must not start or end with a variable."]},
    ),
    (
        "body ends with a variable (2388299)",
        {"body": "Your code is {{1}}", "body_examples": {"1": "a"}},
        {"body": ["The message text must not start or end with a variable."]},
    ),
    (
        "adjacent variables",
        {"body": "Hello {{1}}{{2}} and welcome.", "body_examples": {"1": "a", "2": "b"}},
        {"body": ["Put some text between two variables, such as {{1}} and {{2}}."]},
    ),
    ("eleven buttons", {"buttons": quick(11)}, {"buttons": ["A template may have at most 10 buttons."]}),
    (
        "three url buttons",
        {"buttons": [url("A"), url("B"), url("C")]},
        {"buttons": ["A template may have at most 2 website buttons."]},
    ),
    (
        "two phone buttons",
        {"buttons": [ButtonDraft(type="PHONE_NUMBER", text=t, phone_number="5511912345678") for t in "AB"]},
        {"buttons": ["A template may have at most 1 phone number button."]},
    ),
    (
        "two copy code buttons",
        {"buttons": [ButtonDraft(type="COPY_CODE", example="A1"), ButtonDraft(type="COPY_CODE", example="B2")]},
        {"buttons": ["A template may have at most 1 copy code button."]},
    ),
    (
        "interleaved quick replies",
        {"buttons": [*quick(1), url(), *quick(1)]},
        {"buttons": ["Quick reply buttons must be next to each other, not mixed with other buttons."]},
    ),
    (
        "button text too long",
        {"buttons": [ButtonDraft(type="QUICK_REPLY", text="x" * 26)]},
        {"buttons.0.text": ["A button's text may have at most 25 characters."]},
    ),
    (
        "http url",
        {"buttons": [url(address="http://example.com/")]},
        {"buttons.0.url": ["Enter a website address starting with https://."]},
    ),
    (
        "url variable not at the end",
        {"buttons": [url(address="https://example.com/{{1}}/page")]},
        {"buttons.0.url": ["A website address may only end with one variable, {{1}}."]},
    ),
    (
        "url variable without example",
        {"buttons": [url(address="https://example.com/?c={{1}}")]},
        {"buttons.0.url_example": ["Give an example of the whole website address, with {{1}} filled in."]},
    ),
    (
        "url example of another site",
        {
            "buttons": [
                ButtonDraft(
                    type="URL", text="Go", url="https://example.com/?c={{1}}", url_example="https://evil.test/?c=1"
                )
            ]
        },
        {
            "buttons.0.url_example": [
                "The example must be the website address with {{1}} replaced, such as https://example.com/?c=summer2025."
            ]
        },
    ),
    (
        "otp button in marketing",
        {"buttons": [ButtonDraft(type="OTP", otp_type="COPY_CODE")]},
        {"buttons.0.type": ["One-time password buttons are only for authentication templates."]},
    ),
    (
        "media header without sample",
        {"header_format": "VIDEO", "header_text": "", "header_example": ""},
        {"header_sample": ["Upload a sample file for the header."]},
    ),
    (
        "bad phone",
        {"buttons": [ButtonDraft(type="PHONE_NUMBER", text="Call", phone_number="call me")]},
        {"buttons.0.phone_number": ["Enter the phone number with country code, digits only, such as +5511912345678."]},
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_an_invalid_draft_is_refused_with_exact_messages(changes: dict[str, Any], expected: dict[str, list[str]]):
    draft = replace(marketing(), **changes)

    assert draft_errors(draft).by_field == expected
    with pytest.raises(ValidationFailed) as caught:
        draft_validate(draft)
    assert caught.value.details == expected
    assert caught.value.code == "template_invalid"


NAMED_INVALID: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    (
        "uppercase name",
        {"body": "Hi {{FirstName}}, ready.", "body_examples": {"FirstName": "a"}},
        {
            "body": [
                "Variables in the message text must be names of lowercase letters and underscores, "
                "such as {{first_name}}: {{FirstName}}."
            ]
        },
    ),
    (
        "missing named example",
        {"body_examples": {"first_name": "Maria"}},
        {"body_examples": ["Give an example for the variable {{due_date}}."]},
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [case[1:] for case in NAMED_INVALID], ids=[case[0] for case in NAMED_INVALID]
)
def test_named_variables_follow_metas_naming(changes: dict[str, Any], expected: dict[str, list[str]]):
    assert draft_errors(replace(named(), **changes)).by_field == expected


AUTH_INVALID: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    (
        "media header",
        {"header_format": "IMAGE", "header_handle": "h"},
        {"header_format": ["Authentication templates have no header."]},
    ),
    (
        "own body",
        {"body": "Your code is {{1}}."},
        {"body": ["Meta writes the text of authentication templates; leave the message text and footer empty."]},
    ),
    (
        "no otp button",
        {"buttons": [ButtonDraft(type="QUICK_REPLY", text="Ok")]},
        {"buttons": ["Authentication templates have exactly one button: the one-time password button."]},
    ),
    (
        "expiry too long",
        {"code_expiration_minutes": 91},
        {"code_expiration_minutes": ["The code may expire after 1 to 90 minutes."]},
    ),
    (
        "one tap without app",
        {"buttons": [ButtonDraft(type="OTP", otp_type="ONE_TAP", package_name="luckyshrub", signature_hash="x")]},
        {
            "buttons.0.package_name": ["Enter your Android app's package name, such as com.example.app."],
            "buttons.0.signature_hash": ["Enter your Android app's 11-character signing key hash."],
        },
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [case[1:] for case in AUTH_INVALID], ids=[case[0] for case in AUTH_INVALID]
)
def test_authentication_templates_take_only_metas_options(changes: dict[str, Any], expected: dict[str, list[str]]):
    assert draft_errors(replace(authentication(), **changes)).by_field == expected


def test_messages_are_translated_to_portuguese():
    with translation.override("pt-br"):
        errors = draft_errors(replace(marketing(), name="", footer="Tchau {{1}}"))

    assert errors.by_field == {"name": ["Informe um nome."], "footer": ["O rodapé não pode ter variáveis."]}


@pytest.mark.parametrize(
    ("fixture_name", "draft"),
    [
        ("template_create_marketing_request.json", marketing()),
        ("template_create_authentication_request.json", authentication()),
    ],
)
def test_a_stored_templates_components_come_back_as_the_same_draft(fixture_name: str, draft: TemplateDraft):
    body = fixture(fixture_name)

    back = draft_from_components(
        name=body["name"],
        language=body["language"],
        category=body["category"],
        parameter_format="POSITIONAL",
        components_=body["components"],
    )

    assert back == draft


@pytest.mark.parametrize(
    ("header_format", "content_type", "size", "message"),
    [
        ("IMAGE", "image/gif", 10, "This header takes image/jpeg, image/png files, not image/gif."),
        ("IMAGE", "image/png", 5 * 1024 * 1024 + 1, "The sample file may be at most 5 MB."),
        ("VIDEO", "video/mp4", 16 * 1024 * 1024 + 1, "The sample file may be at most 16 MB."),
        ("DOCUMENT", "image/png", 10, "This header takes application/pdf files, not image/png."),
        ("DOCUMENT", "application/pdf", 0, "The sample file is empty."),
        ("TEXT", "image/png", 10, "Only image, video and document headers take a sample file."),
    ],
)
def test_a_header_sample_of_the_wrong_type_or_size_is_refused(
    header_format: str, content_type: str, size: int, message: str
):
    with pytest.raises(ValidationFailed) as caught:
        header_sample_check(header_format=header_format, content_type=content_type, size=size)

    assert caught.value.message == message
    assert caught.value.details == {"header_sample": [message]}


def test_a_header_sample_within_limits_passes():
    assert header_sample_check(header_format="IMAGE", content_type="image/jpeg", size=5 * 1024 * 1024) is None
    assert header_sample_check(header_format="VIDEO", content_type="video/mp4", size=1) is None
