"""Submitting, editing and deleting templates through the fake Cloud API over HTTP: what Meta receives, field by
field; the Resumable Upload API end to end; permissions, audit, Meta's refusals and an unreachable Meta leaving
nothing stored; the review webhooks the fake sends coming back through our endpoint."""
# ruff: noqa: F811  (the shared fixtures are imported by name and taken as arguments of the same name)

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, owner_of
from tests.whatsapp.template_fixtures import APP_ID, PNID, TOKEN, WABA, channel, fake, fake_server  # noqa: F401  (fixtures)
from whatsapp.authoring import ButtonDraft, TemplateDraft
from whatsapp.fake import FakeAdminClient
from whatsapp.models import MessageTemplate
from whatsapp.template_services import template_delete, template_edit, template_submit

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


def promo(**changes: Any) -> TemplateDraft:
    draft = TemplateDraft(
        name="summer_sale",
        language="pt_BR",
        category="MARKETING",
        header_format="IMAGE",
        body="Olá {{1}}, nossa liquidação de verão vai até {{2}}. Aproveite!",
        body_examples={"1": "Maria", "2": "domingo"},
        footer="Loja Centro",
        buttons=[
            ButtonDraft(
                type="URL",
                text="Ver ofertas",
                url="https://loja.example.com/ofertas/{{1}}",
                url_example="https://loja.example.com/ofertas/verao",
            ),
            ButtonDraft(type="QUICK_REPLY", text="Parar promoções"),
        ],
    )
    return replace(draft, **changes)


def jpeg(name: str = "praia.jpg", content: bytes = JPEG, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def graph_requests(fake: FakeAdminClient) -> list[dict[str, Any]]:
    return [r for r in fake.requests() if not r["path"].endswith(f"/{PNID}")]


def audit(action: str) -> list[tuple[str, str, str]]:
    return list(AuditLogEntry.objects.filter(action=action).values_list("actor_label", "target_label", "target_id"))


def relay_webhooks(fake: FakeAdminClient, webhook, channel, field: str) -> None:
    """Deliver the fake's stored webhooks of ``field`` to our endpoint, byte for byte (signed with the app secret)."""
    for delivery in fake.webhooks(field=field):
        response = webhook.post(channel, delivery["body"].encode("ascii"))
        assert response.status_code == 200


def test_a_marketing_template_with_an_image_header_is_uploaded_and_submitted(tenant, channel, fake):
    owner = owner_of(tenant)
    fake.clear_requests()

    template = template_submit(actor=owner, channel=channel, draft=promo(), header_sample=jpeg())

    requests = graph_requests(fake)
    assert [(r["method"], r["path"]) for r in requests] == [
        ("POST", f"/v23.0/{APP_ID}/uploads"),
        ("POST", requests[1]["path"]),
        ("POST", f"/v23.0/{WABA}/message_templates"),
    ]
    session = requests[1]["path"].removeprefix("/v23.0/")
    assert session.startswith("upload:")
    assert requests[0]["query"] == f"file_name=praia.jpg&file_length={len(JPEG)}&file_type=image%2Fjpeg"
    assert requests[1]["headers"]["file_offset"] == "0"
    assert requests[1]["authorization_present"] is True
    handle = fake.templates(WABA)[0]["components"][0]["example"]["header_handle"][0]
    assert handle.startswith("4::aW1hZ2UvanBlZw==:")
    assert requests[2]["json"] == {
        "name": "summer_sale",
        "language": "pt_BR",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
            {
                "type": "BODY",
                "text": "Olá {{1}}, nossa liquidação de verão vai até {{2}}. Aproveite!",
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
                    },
                    {"type": "QUICK_REPLY", "text": "Parar promoções"},
                ],
            },
        ],
    }
    at_meta = fake.templates(WABA)[0]
    template.refresh_from_db()
    assert (template.meta_id, template.status, template.category) == (at_meta["id"], "PENDING", "MARKETING")
    assert (template.name, template.language, template.parameter_format) == ("summer_sale", "pt_BR", "POSITIONAL")
    assert template.components == requests[2]["json"]["components"]
    assert template.submitted_by == owner.user
    assert (template.status_reason, template.status_detail, template.quality_score) == ("", "", "")
    with template.header_sample.open("rb") as stored:
        assert stored.read() == JPEG
    assert audit(AuditLogEntry.Action.TEMPLATE_SUBMITTED) == [
        (owner.user.email, "summer_sale (pt_BR)", str(template.pk))
    ]


def test_an_agent_may_not_submit_and_nothing_reaches_meta(tenant, channel, fake):
    agent = add_member(tenant, BuiltinRole.AGENT)
    fake.clear_requests()

    with pytest.raises(PermissionDenied):
        template_submit(actor=agent, channel=channel, draft=promo(), header_sample=jpeg())

    assert graph_requests(fake) == []
    assert not MessageTemplate.objects.exists()
    assert audit(AuditLogEntry.Action.TEMPLATE_SUBMITTED) == []


def test_an_invalid_draft_or_sample_is_refused_before_meta_is_asked(tenant, channel, fake):
    fake.clear_requests()

    with pytest.raises(ValidationFailed) as invalid:
        template_submit(
            actor=owner_of(tenant), channel=channel, draft=promo(body="{{1}} chegou {{2}}"), header_sample=jpeg()
        )
    with pytest.raises(ValidationFailed) as gif:
        template_submit(
            actor=owner_of(tenant),
            channel=channel,
            draft=promo(),
            header_sample=jpeg("a.gif", b"GIF89a", "image/gif"),
        )

    assert invalid.value.details == {"body": ["The message text must not start or end with a variable."]}
    assert gif.value.details == {"header_sample": ["This header takes image/jpeg, image/png files, not image/gif."]}
    assert graph_requests(fake) == []
    assert not MessageTemplate.objects.exists()


def test_metas_refusal_is_explained_and_nothing_is_stored(tenant, channel, fake):
    fake.add_template(waba_id=WABA, name="summer_sale", language="pt_BR", category="MARKETING",
                      components=[{"type": "BODY", "text": "Olá!"}])  # fmt: skip

    with pytest.raises(ValidationFailed) as caught:
        template_submit(actor=owner_of(tenant), channel=channel, draft=promo(), header_sample=jpeg())

    assert caught.value.message == (
        "A template with this name already exists in this language at Meta. Choose another name."
    )
    assert caught.value.details == {"meta_code": 100, "meta_subcode": 2388024}
    assert not MessageTemplate.objects.exists()
    assert audit(AuditLogEntry.Action.TEMPLATE_SUBMITTED) == []


def test_an_unreachable_meta_is_a_clear_error_and_nothing_is_stored(tenant, channel, fake, settings):
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"  # the discard port: nothing listens

    with pytest.raises(ValidationFailed) as caught:
        template_submit(actor=owner_of(tenant), channel=channel, draft=promo(), header_sample=jpeg())

    assert caught.value.code == "meta_unreachable"
    assert caught.value.message == (
        "Could not reach Meta (Could not reach the Cloud API for POST /v23.0/634974688087057/uploads: "
        "ConnectError.). Nothing was changed; try again in a moment."
    )
    assert not MessageTemplate.objects.exists()


def test_a_media_header_needs_the_app_id(tenant, channel, fake, settings):
    settings.WHATSAPP_APP_ID = ""
    fake.clear_requests()

    with pytest.raises(ValidationFailed) as caught:
        template_submit(actor=owner_of(tenant), channel=channel, draft=promo(), header_sample=jpeg())

    assert caught.value.message == (
        "Media headers need the ID of the deployment's Meta app (the WHATSAPP_APP_ID setting)."
    )
    assert graph_requests(fake) == []


def test_review_webhooks_from_the_fake_reach_the_template(tenant, channel, fake, webhook):
    text_only = promo(header_format="NONE")
    template = template_submit(actor=owner_of(tenant), channel=channel, draft=text_only)

    fake.reject_template(
        template.meta_id,
        rejection_info={"reason": "Parameters are next to each other.", "recommendation": "Add text between them."},
    )
    relay_webhooks(fake, webhook, channel, "message_template_status_update")
    template.refresh_from_db()
    assert (template.status, template.status_reason, template.status_detail) == (
        "REJECTED",
        "INVALID_FORMAT",
        "Parameters are next to each other.\n\nAdd text between them.",
    )

    template_edit(actor=owner_of(tenant), template=template, channel=channel, draft=text_only)
    fake.approve_template(template.meta_id)
    fake.set_template_quality(template.meta_id, "YELLOW")
    fake.pause_template(template.meta_id, "FIRST_PAUSE")
    relay_webhooks(fake, webhook, channel, "message_template_status_update")
    relay_webhooks(fake, webhook, channel, "message_template_quality_update")

    template.refresh_from_db()
    assert (template.status, template.status_event, template.status_reason) == ("PAUSED", "PAUSED", "")
    assert template.status_detail == "Your message template has been paused for 3 hours due to low quality."
    assert template.quality_score == "YELLOW"


def test_an_edit_sends_components_and_category_and_goes_back_to_review(tenant, channel, fake, webhook):
    owner = owner_of(tenant)
    template = template_submit(actor=owner, channel=channel, draft=promo(), header_sample=jpeg())
    fake.approve_template(template.meta_id)
    relay_webhooks(fake, webhook, channel, "message_template_status_update")
    template.refresh_from_db()
    fake.clear_requests()

    edited = template_edit(
        actor=owner,
        template=template,
        channel=channel,
        draft=promo(name="ignored", language="en_US", category="UTILITY", footer="Loja Norte"),
    )

    requests = graph_requests(fake)
    # The stored sample is uploaded again (handles expire), then the template is edited at its id.
    assert [(r["method"], r["path"].split(":")[0]) for r in requests] == [
        ("POST", f"/v23.0/{APP_ID}/uploads"),
        ("POST", "/v23.0/upload"),
        ("POST", f"/v23.0/{template.meta_id}"),
    ]
    body = requests[2]["json"]
    assert list(body) == ["category", "components"]
    assert body["category"] == "UTILITY"
    assert body["components"][2] == {"type": "FOOTER", "text": "Loja Norte"}
    edited.refresh_from_db()
    assert (edited.name, edited.language, edited.category, edited.status) == (
        "summer_sale",
        "pt_BR",
        "UTILITY",
        "PENDING",
    )
    assert edited.components == body["components"]
    assert audit(AuditLogEntry.Action.TEMPLATE_EDITED) == [(owner.user.email, "summer_sale (pt_BR)", str(edited.pk))]


def test_a_template_in_review_cannot_be_edited(tenant, channel, fake):
    template = template_submit(actor=owner_of(tenant), channel=channel, draft=promo(header_format="NONE"))
    fake.clear_requests()

    with pytest.raises(ValidationFailed) as caught:
        template_edit(actor=owner_of(tenant), template=template, channel=channel, draft=promo(header_format="NONE"))

    assert (
        caught.value.message == "Meta lets you edit only approved, rejected or paused templates; this one is In review."
    )
    assert graph_requests(fake) == []


def test_delete_removes_the_language_at_meta_and_marks_it_deleted(tenant, channel, fake):
    owner = owner_of(tenant)
    template = template_submit(actor=owner, channel=channel, draft=promo(header_format="NONE"))
    fake.clear_requests()

    template_delete(actor=owner, template=template, channel=channel)

    assert [(r["method"], r["path"], r["query"]) for r in graph_requests(fake)] == [
        ("DELETE", f"/v23.0/{WABA}/message_templates", f"name=summer_sale&hsm_id={template.meta_id}")
    ]
    assert fake.templates(WABA) == []
    template.refresh_from_db()
    assert template.status == "DELETED"
    assert audit(AuditLogEntry.Action.TEMPLATE_DELETED) == [(owner.user.email, "summer_sale (pt_BR)", str(template.pk))]


def test_an_agent_may_not_delete(tenant, channel, fake):
    template = template_submit(actor=owner_of(tenant), channel=channel, draft=promo(header_format="NONE"))
    fake.clear_requests()

    with pytest.raises(PermissionDenied):
        template_delete(actor=add_member(tenant, BuiltinRole.AGENT), template=template, channel=channel)

    assert graph_requests(fake) == []
    template.refresh_from_db()
    assert template.status == "PENDING"
    assert json.dumps(fake.templates(WABA)[0]["name"]) == '"summer_sale"'
