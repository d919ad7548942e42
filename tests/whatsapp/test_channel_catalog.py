"""A number's Meta catalog ID, set when connecting it or on its settings page: digits only, audited, only with
"Manage channels" and only for the workspace's own numbers."""

from __future__ import annotations

import httpx
import pytest

from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of
from whatsapp import client as wa_client
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, owner):
    client.force_login(owner.user)
    return client


def catalog_url(channel: WhatsAppChannel, slug: str = "acme") -> str:
    return f"/t/{slug}/settings/whatsapp/{channel.pk}/catalog/"


def test_an_admin_sets_and_clears_the_catalog_id_and_it_is_audited(admin_client, tenant, channel):
    response = admin_client.post(catalog_url(channel), {"catalog_id": " 194836987003835 "})
    assert (response.status_code, response["Location"]) == (302, f"/t/acme/settings/whatsapp/{channel.pk}/")
    channel.refresh_from_db()
    assert channel.catalog_id == "194836987003835"
    entry = AuditLogEntry.objects.get(tenant=tenant, action="channel.updated")
    assert entry.extra == {"catalog_id": {"from": "", "to": "194836987003835"}}
    page = admin_client.get(f"/t/acme/settings/whatsapp/{channel.pk}/").content.decode()
    assert 'value="194836987003835"' in page

    admin_client.post(catalog_url(channel), {"catalog_id": ""})
    channel.refresh_from_db()
    assert channel.catalog_id == ""
    # The same value again changes nothing and records nothing.
    admin_client.post(catalog_url(channel), {"catalog_id": ""})
    assert AuditLogEntry.objects.filter(tenant=tenant, action="channel.updated").count() == 2


@pytest.mark.parametrize("value", ["abc", "12-34", "1" * 33, "١٢٣"])
def test_a_catalog_id_that_is_not_digits_is_refused_and_changes_nothing(admin_client, tenant, channel, value):
    response = admin_client.post(catalog_url(channel), {"catalog_id": value})
    assert response.status_code == 400
    channel.refresh_from_db()
    assert channel.catalog_id == ""
    assert not AuditLogEntry.objects.filter(tenant=tenant, action="channel.updated").exists()


def test_an_agent_cannot_set_the_catalog(client, tenant, channel):
    agent = add_member(tenant, BuiltinRole.AGENT)
    client.force_login(agent.user)
    assert client.post(catalog_url(channel), {"catalog_id": "123"}).status_code == 403
    channel.refresh_from_db()
    assert channel.catalog_id == ""


def test_another_workspace_cannot_set_this_numbers_catalog(client, tenant, channel):
    other = make_tenant("Globex", slug="globex")
    client.force_login(owner_of(other).user)
    assert client.post(catalog_url(channel), {"catalog_id": "123"}).status_code == 404
    assert client.post(catalog_url(channel, "globex"), {"catalog_id": "123"}).status_code == 404
    channel.refresh_from_db()
    assert channel.catalog_id == ""


def test_the_catalog_can_be_given_when_connecting_a_number(admin_client, tenant):
    number = {"verified_name": "Acme", "display_phone_number": "+55 11 91234-5678", "id": "123456789012345"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v23.0/123456789012345":
            return httpx.Response(200, json=number)
        return httpx.Response(200, json={"data": [], "paging": {}})

    wa_client._transport_override["transport"] = httpx.MockTransport(answer)
    form = {
        "name": "Vendas",
        "display_phone_number": "+55 11 91234-5678",
        "phone_number_id": "123456789012345",
        "waba_id": "987654321098765",
        "access_token": "EAAG-token",
        "app_secret": "secret",
        "throughput_per_second": "80",
    }
    refused = admin_client.post("/t/acme/settings/whatsapp/new/", {**form, "catalog_id": "x1"})
    assert refused.status_code == 400
    assert not WhatsAppChannel.objects.filter(tenant=tenant).exists()

    response = admin_client.post("/t/acme/settings/whatsapp/new/", {**form, "catalog_id": "194836987003835"})
    assert response.status_code == 302
    assert WhatsAppChannel.objects.get(tenant=tenant).catalog_id == "194836987003835"
