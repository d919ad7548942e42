"""A broadcast of a template with a media header: the draft asks for the file's https address, and the channel
gets it as the header's link."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaigns.broadcasts import BroadcastSpec, broadcast_create, template_parameters
from campaigns.models import Broadcast
from campaigns.sending import _params
from helpdesk.exceptions import ValidationFailed
from tests.campaigns.broadcasting import PROMO, fake_channel, make_inbox, make_segment
from whatsapp.templates_validation import build_components

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
IMAGE_PROMO = {
    **PROMO,
    "name": "promo_foto",
    "header_format": "IMAGE",
    "header_text": "",
    "header_placeholders": [],
    "header_params": [],
}
COMPONENTS = [
    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U="]}},
    {"type": "BODY", "text": "Olá {{1}}, use o cupom {{2}}!", "example": {"body_text": [["Maria", "BF10"]]}},
    {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Ver oferta", "url": "https://loja.example/{{1}}",
                                     "example": ["https://loja.example/bf"]}]},
]  # fmt: skip
VARIABLES = {
    "body.1": {"attribute": "name", "fallback": "cliente"},
    "body.2": {"value": "BF10"},
    "button.0": {"value": "bf"},
}


@pytest.fixture(autouse=True)
def _channel():
    with fake_channel() as backend:
        backend.templates_for = lambda inbox: [IMAGE_PROMO]  # type: ignore[method-assign]
        yield backend


def draft(owner, **variables):
    inbox, segment = make_inbox(owner.tenant), make_segment(owner.tenant)
    spec = BroadcastSpec(
        name="Fotos",
        inbox_id=inbox.pk,
        template_name="promo_foto",
        template_language="pt_BR",
        segment_id=segment.pk,
        variables={**VARIABLES, **variables},
    )
    return broadcast_create(actor=owner, tenant=owner.tenant, spec=spec, now=NOW)


def test_the_header_image_is_asked_for_first():
    assert [p.key for p in template_parameters(IMAGE_PROMO)] == ["header.link", "body.1", "body.2", "button.0"]
    assert str(template_parameters(IMAGE_PROMO)[0].label) == "Header image (its https address)"


@pytest.mark.parametrize(
    ("link", "message"),
    [
        (None, "Choose what fills “Header image (its https address)”."),
        ("http://loja.example/foto.png", "“Header image (its https address)”: give the file's full https:// address."),
        ("foto.png", "“Header image (its https address)”: give the file's full https:// address."),
    ],
)
def test_a_draft_without_an_https_address_for_the_image_is_refused(owner, link, message):
    variables = {} if link is None else {"header.link": {"value": link}}
    with pytest.raises(ValidationFailed) as refused:
        draft(owner, **variables)

    assert refused.value.message == message
    assert refused.value.details["field"] == "variables.header.link"
    assert not Broadcast.objects.exists()


def test_the_image_address_reaches_the_channel_as_the_headers_link(owner):
    broadcast = draft(owner, **{"header.link": {"value": "https://loja.example/foto.png"}})
    assert broadcast.variables["header.link"] == {"value": "https://loja.example/foto.png"}

    params = _params(
        {"header.link": "https://loja.example/foto.png", "body.1": "Ana", "body.2": "BF10", "button.0": "bf"}
    )
    assert build_components(COMPONENTS, "POSITIONAL", params) == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://loja.example/foto.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "BF10"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "bf"}]},
    ]
