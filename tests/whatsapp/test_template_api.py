"""The template authoring API against the fake Cloud API over HTTP: submit (with a base64 header sample), list,
read, edit, delete; refusals with the draft field named; Manage broadcasts required; other workspaces 404."""
# ruff: noqa: F811  (the shared fixtures are imported by name and taken as arguments of the same name)

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of
from tests.whatsapp.template_fixtures import APP_ID, PNID, TOKEN, WABA, channel, fake, fake_server  # noqa: F401  (fixtures)
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def api(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def base(tenant, channel) -> str:
    return f"/api/v1/t/{tenant.slug}/channels/{channel.pk}/templates/"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "summer_sale",
        "language": "pt_BR",
        "category": "MARKETING",
        "header_format": "IMAGE",
        "header_sample": {
            "file_name": "praia.png",
            "content_type": "image/png",
            "content_base64": base64.b64encode(PNG).decode(),
        },
        "body": "Olá {{1}}, aproveite a liquidação!",
        "body_examples": {"1": "Maria"},
        "buttons": [{"type": "QUICK_REPLY", "text": "Parar promoções"}],
    } | changes


def test_submit_list_read_edit_and_delete_through_the_api(tenant, channel, fake):
    client = api(owner_of(tenant))

    created = client.post(base(tenant, channel), body(), content_type="application/json")

    assert created.status_code == 201, created.content
    data = created.json()
    template = MessageTemplate.objects.get(pk=data["id"])
    assert {k: data[k] for k in ("name", "language", "category", "status", "meta_id", "has_header_sample")} == {
        "name": "summer_sale",
        "language": "pt_BR",
        "category": "MARKETING",
        "status": "PENDING",
        "meta_id": fake.templates(WABA)[0]["id"],
        "has_header_sample": True,
    }
    assert data["components"] == template.components
    assert [t["id"] for t in client.get(base(tenant, channel)).json()] == [template.pk]
    detail = f"{base(tenant, channel)}{template.pk}/"
    assert client.get(detail).json()["name"] == "summer_sale"

    fake.approve_template(template.meta_id)
    MessageTemplate.objects.filter(pk=template.pk).update(status="APPROVED")
    edited = client.patch(
        detail,
        {k: v for k, v in body(footer="Loja Centro").items() if k not in ("name", "language", "header_sample")},
        content_type="application/json",
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["status"] == "PENDING"
    assert {"type": "FOOTER", "text": "Loja Centro"} in edited.json()["components"]

    deleted = client.delete(detail)
    assert deleted.status_code == 204
    assert fake.templates(WABA) == []
    assert client.get(detail).status_code == 404


def test_refusals_name_the_draft_field_and_nothing_is_sent(tenant, channel, fake):
    fake.clear_requests()

    response = api(owner_of(tenant)).post(
        base(tenant, channel),
        body(
            category="PROMO", header_sample={"file_name": "a.png", "content_type": "image/png", "content_base64": "%%"}
        ),
        content_type="application/json",
    )
    footer = api(owner_of(tenant)).post(
        base(tenant, channel), body(header_format="NONE", footer="Tchau {{1}}"), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"header_sample": ["The sample file is not valid base64."]}
    assert footer.status_code == 400
    assert footer.json()["error"]["code"] == "template_invalid"
    assert footer.json()["error"]["details"] == {"footer": ["The footer may not have variables."]}
    assert fake.requests() == []
    assert not MessageTemplate.objects.exists()


def test_an_agent_gets_403_and_another_workspace_404(tenant, channel, fake):
    template = MessageTemplate.objects.create(
        tenant=tenant, waba_id=WABA, name="mine", language="pt_BR", status="APPROVED", meta_id="1"
    )
    agent = api(add_member(tenant, BuiltinRole.AGENT))
    other = make_tenant("Other", slug="other")
    stranger = api(owner_of(other))
    fake.clear_requests()

    assert agent.get(base(tenant, channel)).status_code == 403
    assert agent.post(base(tenant, channel), body(), content_type="application/json").status_code == 403
    assert agent.delete(f"{base(tenant, channel)}{template.pk}/").status_code == 403
    own_slug_other_channel = f"/api/v1/t/other/channels/{channel.pk}/templates/"
    assert stranger.get(own_slug_other_channel).status_code == 404
    assert stranger.delete(f"{own_slug_other_channel}{template.pk}/").status_code == 404
    assert fake.requests() == []
    template.refresh_from_db()
    assert template.status == "APPROVED"
