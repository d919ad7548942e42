"""The message template pages of a number: list, new (with the preview's script and words), edit, delete; against
the fake Cloud API over HTTP. Permissions, other workspaces and untrusted strings too."""
# ruff: noqa: F811  (the shared fixtures are imported by name and taken as arguments of the same name)

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of
from tests.whatsapp.conftest import make_channel
from tests.whatsapp.template_fixtures import APP_ID, PNID, TOKEN, WABA, channel, fake, fake_server  # noqa: F401  (fixtures)
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(300)


@pytest.fixture
def admin_client(tenant) -> Client:
    client = Client()
    client.force_login(owner_of(tenant).user)
    return client


def url(name: str, tenant, channel, **kwargs) -> str:
    return reverse(name, kwargs={"tenant_slug": tenant.slug, "channel_id": channel.pk, **kwargs})


def form_data(**changes: str) -> dict[str, str]:
    data = {
        "name": "summer_sale",
        "language": "pt_BR",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "header_format": "IMAGE",
        "header_text": "",
        "header_example": "",
        "body": "Olá {{1}}, a liquidação vai até {{2}}. Aproveite!",
        "body_examples": "Maria\ndomingo",
        "footer": "Loja Centro",
        "otp_type": "COPY_CODE",
        "otp_text": "Copy code",
        "form-TOTAL_FORMS": "10",
        "form-INITIAL_FORMS": "0",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "10",
        "form-0-type": "URL",
        "form-0-text": "Ver ofertas",
        "form-0-url": "https://loja.example.com/ofertas/{{1}}",
        "form-0-url_example": "https://loja.example.com/ofertas/verao",
    }
    data.update(changes)
    return data


def stored_template(channel, **fields) -> MessageTemplate:
    values = {
        "tenant_id": channel.tenant_id,
        "waba_id": channel.waba_id,
        "name": "order_update",
        "language": "pt_BR",
        "category": "UTILITY",
        "status": "APPROVED",
        "meta_id": "1689556908129832",
        "components": [
            {"type": "BODY", "text": "Olá {{1}}, seu pedido saiu.", "example": {"body_text": [["Maria"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Falar com atendente"}]},
        ],
    } | fields
    return MessageTemplate.objects.create(**values)


def test_the_list_shows_status_meta_reasons_and_quality_with_untrusted_text_escaped(tenant, channel, admin_client):
    stored_template(channel, quality_score="YELLOW")
    stored_template(
        channel,
        name="bad_promo",
        meta_id="2",
        status="REJECTED",
        status_reason="INVALID_FORMAT",
        status_detail="<script>alert(1)</script>\n\nSeparate the parameters.",
    )
    stored_template(channel, name="gone", meta_id="3", status="DELETED")

    response = admin_client.get(url("channel_template_list", tenant, channel))

    assert response.status_code == 200
    html = response.content.decode()
    assert [m for m in re.findall(r'data-template="([^"]+)"', html)] == ["bad_promo", "order_update"]
    assert "Invalid format" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br><br>Separate the parameters." in html
    assert "<script>alert(1)" not in html
    assert "Medium" in html
    assert url("channel_template_create", tenant, channel) in html


def test_the_new_template_page_loads_its_script_and_preview_words_without_inline_code(tenant, channel, admin_client):
    response = admin_client.get(url("channel_template_create", tenant, channel))

    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html) == []
    assert not re.search(r"<[^>]+\son[a-z]+=", html)
    assert '/static/js/template_editor.js"' in html
    words = json.loads(re.search(r'id="template-preview-text"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert words["COPY_CODE"] == "Copy offer code"
    assert "data-preview-body" in html


def test_submitting_the_form_uploads_the_sample_and_sends_the_template(tenant, channel, admin_client, fake):
    data = form_data() | {"header_sample": SimpleUploadedFile("praia.png", PNG, content_type="image/png")}

    response = admin_client.post(url("channel_template_create", tenant, channel), data)

    assert response.status_code == 302
    assert response.headers["Location"] == url("channel_template_list", tenant, channel)
    template = MessageTemplate.objects.get(name="summer_sale")
    sent = next(r for r in fake.requests() if r["path"] == f"/v23.0/{WABA}/message_templates")["json"]
    assert sent["components"][1:] == [
        {
            "type": "BODY",
            "text": "Olá {{1}}, a liquidação vai até {{2}}. Aproveite!",
            "example": {"body_text": [["Maria", "domingo"]]},
        },
        {"type": "FOOTER", "text": "Loja Centro"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Ver ofertas",
                    "url": "https://loja.example.com/ofertas/{{1}}",
                    "example": ["https://loja.example.com/ofertas/verao"],
                }
            ],
        },
    ]
    assert sent["components"][0]["format"] == "IMAGE"
    assert (template.status, template.meta_id) == ("PENDING", fake.templates(WABA)[0]["id"])
    listed = admin_client.get(response.headers["Location"]).content.decode()
    assert "Template summer_sale (pt_BR) sent to Meta for review." in listed


def test_refusals_are_shown_beside_their_fields_and_nothing_is_sent(tenant, channel, admin_client, fake):
    fake.clear_requests()
    data = form_data(header_format="NONE", body="{{1}} e {{2}}", **{"form-0-url": "http://loja.example.com/"})

    response = admin_client.post(url("channel_template_create", tenant, channel), data)

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {"body": ["The message text must not start or end with a variable."]}
    assert response.context["buttons"].forms[0].errors == {"url": ["Enter a website address starting with https://."]}
    assert fake.requests() == []
    assert not MessageTemplate.objects.exists()


def test_editing_prefills_the_form_and_sends_the_new_components(tenant, channel, admin_client, fake):
    created = fake.add_template(
        waba_id=WABA,
        name="order_update",
        language="pt_BR",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Olá!"}],
    )
    template = stored_template(channel, meta_id=created["id"])
    edit_url = url("channel_template_edit", tenant, channel, template_id=template.pk)

    page = admin_client.get(edit_url)
    assert page.status_code == 200
    initial = page.context["form"].initial
    assert (initial["body"], initial["body_examples"], initial["header_format"]) == (
        "Olá {{1}}, seu pedido saiu.",
        "Maria",
        "NONE",
    )
    assert page.context["buttons"].initial == [
        {"type": "QUICK_REPLY", "text": "Falar com atendente", "url": "", "url_example": "", "phone_number": "",
         "example": ""}
    ]  # fmt: skip

    data = form_data(
        name="renamed",
        category="UTILITY",
        header_format="NONE",
        body="Olá {{1}}, seu pedido chegou.",
        body_examples="Maria",
        footer="",
        **{"form-0-type": "QUICK_REPLY", "form-0-text": "Obrigado"},
    )
    response = admin_client.post(edit_url, data)

    assert response.status_code == 302
    body = next(r for r in fake.requests() if r["path"] == f"/v23.0/{created['id']}")["json"]
    assert body == {
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Olá {{1}}, seu pedido chegou.", "example": {"body_text": [["Maria"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Obrigado"}]},
        ],
    }
    template.refresh_from_db()
    assert (template.name, template.status) == ("order_update", "PENDING")


def test_deleting_asks_first_then_deletes_at_meta(tenant, channel, admin_client, fake):
    created = fake.add_template(
        waba_id=WABA,
        name="order_update",
        language="pt_BR",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Oi"}],
    )
    template = stored_template(channel, meta_id=created["id"])
    delete_url = url("channel_template_delete", tenant, channel, template_id=template.pk)

    confirm = admin_client.get(delete_url)
    assert confirm.status_code == 200
    assert "Delete template order_update (pt_BR)?" in confirm.content.decode()
    template.refresh_from_db()
    assert template.status == "APPROVED"

    response = admin_client.post(delete_url)

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.status == "DELETED"
    assert fake.templates(WABA) == []
    assert admin_client.get(delete_url).status_code == 404


def test_an_agent_gets_403_on_every_template_page(tenant, channel, fake):
    template = stored_template(channel)
    agent = Client()
    agent.force_login(add_member(tenant, BuiltinRole.AGENT).user)
    fake.clear_requests()

    pages = [
        url("channel_template_list", tenant, channel),
        url("channel_template_create", tenant, channel),
        url("channel_template_edit", tenant, channel, template_id=template.pk),
        url("channel_template_delete", tenant, channel, template_id=template.pk),
    ]
    assert [agent.get(page).status_code for page in pages] == [403, 403, 403, 403]
    assert [agent.post(page, form_data()).status_code for page in pages[1:]] == [403, 403, 403]
    template.refresh_from_db()
    assert template.status == "APPROVED"
    assert fake.requests() == []


def test_another_workspaces_number_or_template_is_404(tenant, channel, admin_client, fake):
    other = make_tenant("Other", slug="other")
    other_channel = make_channel(other, phone_number_id="999000111", waba_id="999000112")
    theirs = stored_template(other_channel, tenant_id=other.pk, waba_id=other_channel.waba_id)
    mine = stored_template(channel, name="mine")

    assert admin_client.get(url("channel_template_list", tenant, other_channel)).status_code == 404
    assert admin_client.get(url("channel_template_create", tenant, other_channel)).status_code == 404
    for name in ("channel_template_edit", "channel_template_delete"):
        assert admin_client.get(url(name, tenant, channel, template_id=theirs.pk)).status_code == 404
        assert admin_client.post(url(name, tenant, channel, template_id=theirs.pk)).status_code == 404
        assert admin_client.get(url(name, tenant, other_channel, template_id=mine.pk)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "APPROVED"


def test_a_template_with_parts_a_draft_cannot_hold_is_not_offered_for_editing(tenant, channel, admin_client):
    located = stored_template(
        channel,
        name="order_delivery_update",
        components=[{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Your order is on its way."}],
    )

    listed = admin_client.get(url("channel_template_list", tenant, channel)).content.decode()
    response = admin_client.get(url("channel_template_edit", tenant, channel, template_id=located.pk))

    assert url("channel_template_edit", tenant, channel, template_id=located.pk) not in listed
    assert response.status_code == 302
    assert (
        "only be edited in Meta&#x27;s WhatsApp Manager"
        in admin_client.get(response.headers["Location"]).content.decode()
    )
