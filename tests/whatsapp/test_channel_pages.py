"""Connecting a number in the settings pages, testing it, and the channel status API."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from conversations.models import Inbox
from tenants.models import AuditLogEntry
from tests.whatsapp.conftest import make_channel
from whatsapp import client as wa_client
from whatsapp.models import MessageTemplate, WebhookEvent, WhatsAppChannel

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Vendas",
    "display_phone_number": "+55 11 91234-5678",
    "phone_number_id": "123456789012345",
    "waba_id": "987654321098765",
    "access_token": "EAAG-very-secret-token",
    "app_secret": "app-secret-value",
    "throughput_per_second": "80",
}


@pytest.fixture
def admin_client(client, owner):
    client.force_login(owner.user)
    return client


NUMBER = {
    "verified_name": "Acme Vendas",
    "display_phone_number": "+55 11 91234-5678",
    "quality_rating": "GREEN",
    "id": FORM["phone_number_id"],
}
UNKNOWN_OBJECT = {
    "error": {
        "message": "Unsupported get request. Object with ID '123456789012345' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "fbtrace_id": "AbC",
    }
}
REFUSED = (
    "Meta did not let this access token read phone number id 123456789012345. Check the id and that the "
    "token&#x27;s system user has access to the number&#x27;s WhatsApp Business Account."
)


def meta_answers(answer) -> list[httpx.Request]:
    """Meta's Graph API for this test: ``answer(request)`` is its response; returns the requests it saw."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    wa_client._transport_override["transport"] = httpx.MockTransport(handler)
    return seen


@pytest.fixture
def meta_knows_the_number() -> list[httpx.Request]:
    """Meta shows FORM's number to FORM's token only."""

    def answer(request: httpx.Request) -> httpx.Response:
        if (request.url.path, request.headers["Authorization"]) == (
            f"/v23.0/{FORM['phone_number_id']}",
            f"Bearer {FORM['access_token']}",
        ):
            return httpx.Response(200, json=NUMBER)
        if request.url.path.endswith("/message_templates"):
            return httpx.Response(200, json={"data": [], "paging": {}})
        return httpx.Response(400, json=UNKNOWN_OBJECT)

    return meta_answers(answer)


def assert_nothing_connected(tenant) -> None:
    assert not WhatsAppChannel.objects.filter(tenant=tenant).exists()
    assert not Inbox.objects.filter(tenant=tenant).exists()
    assert not AuditLogEntry.objects.filter(tenant=tenant, action="channel.connected").exists()


def test_connecting_a_number_stores_secrets_encrypted_and_never_shows_them(admin_client, tenant, meta_knows_the_number):
    response = admin_client.post("/t/acme/settings/whatsapp/new/", FORM)
    channel = WhatsAppChannel.objects.get()
    assert response["Location"] == f"/t/acme/settings/whatsapp/{channel.pk}/"
    assert (channel.display_phone_number, channel.phone_number_id, channel.waba_id) == (
        "5511912345678",
        "123456789012345",
        "987654321098765",
    )
    assert "EAAG-very-secret-token" not in channel.access_token_encrypted
    assert "app-secret-value" not in channel.app_secret_encrypted
    assert (channel.access_token, channel.app_secret) == ("EAAG-very-secret-token", "app-secret-value")
    assert channel.inbox.name == "Vendas"
    page = admin_client.get(response["Location"]).content.decode()
    assert f"/webhooks/whatsapp/{channel.webhook_key}/" in page
    assert channel.verify_token in page
    assert "EAAG-very-secret-token" not in page and "app-secret-value" not in page
    entry = AuditLogEntry.objects.get(tenant=tenant, action="channel.connected")
    assert entry.extra == {"phone_number_id": "123456789012345", "display_phone_number": "5511912345678"}
    assert "secret" not in str(entry.extra).lower() and "EAAG" not in str(entry.extra)


def test_connecting_reads_the_number_at_meta_with_its_token_and_records_it(admin_client, tenant, meta_knows_the_number):
    admin_client.post("/t/acme/settings/whatsapp/new/", FORM)
    channel = WhatsAppChannel.objects.get(tenant=tenant)
    assert (channel.health, channel.verified_name, channel.health_detail) == (
        "ok",
        "Acme Vendas",
        "Connected as Acme Vendas (+55 11 91234-5678), quality GREEN.",
    )
    first = meta_knows_the_number[0]
    assert (first.method, str(first.url), first.headers["Authorization"]) == (
        "GET",
        "http://fake-cloud-api.invalid/v23.0/123456789012345",
        "Bearer EAAG-very-secret-token",
    )


def test_the_api_address_comes_from_the_deployment_not_the_form(admin_client, tenant, meta_knows_the_number):
    page = admin_client.get("/t/acme/settings/whatsapp/new/").content.decode()
    assert 'name="access_token"' in page and "api_base_url" not in page
    admin_client.post("/t/acme/settings/whatsapp/new/", {**FORM, "api_base_url": "http://127.0.0.1:8001"})
    channel = WhatsAppChannel.objects.get(tenant=tenant)
    assert wa_client.client_for(channel).base_url == "http://fake-cloud-api.invalid"
    assert {r.url.host for r in meta_knows_the_number} == {"fake-cloud-api.invalid"}


def test_a_token_that_cannot_read_the_number_connects_nothing(admin_client, tenant, meta_knows_the_number):
    response = admin_client.post("/t/acme/settings/whatsapp/new/", {**FORM, "access_token": "EAAG-someone-else"})
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert_nothing_connected(tenant)
    assert [(r.url.path, r.headers["Authorization"]) for r in meta_knows_the_number] == [
        ("/v23.0/123456789012345", "Bearer EAAG-someone-else")
    ]


def test_an_answer_about_another_number_connects_nothing(admin_client, tenant):
    meta_answers(lambda request: httpx.Response(200, json=NUMBER | {"id": "555555555555555"}))
    response = admin_client.post("/t/acme/settings/whatsapp/new/", FORM)
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert_nothing_connected(tenant)


def test_meta_out_of_reach_at_connect_connects_nothing(admin_client, tenant):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    meta_answers(down)
    response = admin_client.post("/t/acme/settings/whatsapp/new/", FORM)
    assert response.status_code == 400
    assert "Could not reach Meta to check the number" in response.content.decode()
    assert_nothing_connected(tenant)


def test_a_number_connected_in_another_workspace_is_refused_without_naming_it(
    admin_client, tenant, other_tenant, meta_knows_the_number
):
    theirs = make_channel(other_tenant, phone_number_id=FORM["phone_number_id"], name="Globex Vendas", verify=False)
    response = admin_client.post("/t/acme/settings/whatsapp/new/", FORM)
    page = response.content.decode()
    assert response.status_code == 400
    assert "This phone number id is already connected." in page
    for revealing in ("Globex", "globex", theirs.display_phone_number, theirs.webhook_key, theirs.verify_token):
        assert revealing not in page
    assert_nothing_connected(tenant)
    assert list(WhatsAppChannel.objects.values_list("tenant__slug", flat=True)) == ["globex"]


def test_without_access_to_the_number_nothing_tells_it_is_connected_elsewhere(
    admin_client, tenant, other_tenant, meta_knows_the_number
):
    make_channel(other_tenant, phone_number_id=FORM["phone_number_id"], verify=False)
    response = admin_client.post("/t/acme/settings/whatsapp/new/", {**FORM, "access_token": "EAAG-guess"})
    page = response.content.decode()
    assert response.status_code == 400
    assert REFUSED in page
    assert "already connected" not in page
    assert_nothing_connected(tenant)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone_number_id", "12-34", "The phone number ID must contain digits only."),
        ("waba_id", "abc", "The WhatsApp Business Account ID must contain digits only."),
        ("display_phone_number", "123", "Enter the number with country and area code"),
        ("throughput_per_second", "0", "Ensure this value is greater than or equal to 1."),
    ],
)
def test_invalid_numbers_are_refused_with_a_message(admin_client, field, value, message, meta_knows_the_number):
    response = admin_client.post("/t/acme/settings/whatsapp/new/", {**FORM, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WhatsAppChannel.objects.exists()
    assert meta_knows_the_number == []


def test_the_same_phone_number_id_cannot_be_connected_twice(admin_client, meta_knows_the_number):
    admin_client.post("/t/acme/settings/whatsapp/new/", FORM)
    again = admin_client.post("/t/acme/settings/whatsapp/new/", {**FORM, "name": "Outra"})
    assert again.status_code == 400
    assert "This phone number id is already connected." in again.content.decode()
    assert WhatsAppChannel.objects.count() == 1


def test_test_connection_records_health(admin_client, channel):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("Authorization")))
        return httpx.Response(
            200,
            json={
                "verified_name": "Acme Recargas",
                "display_phone_number": "+55 11 90000-0001",
                "quality_rating": "GREEN",
                "id": channel.phone_number_id,
            },
        )

    wa_client._transport_override["transport"] = httpx.MockTransport(handler)
    response = admin_client.post(f"/t/acme/settings/whatsapp/{channel.pk}/test/", follow=True)
    channel.refresh_from_db()
    assert (channel.health, channel.verified_name) == ("ok", "Acme Recargas")
    assert "Connected as Acme Recargas (+55 11 90000-0001), quality GREEN." in response.content.decode()
    assert seen == [("GET", f"/v23.0/{channel.phone_number_id}", "Bearer test-access-token")]


def test_a_failed_connection_test_shows_metas_error(admin_client, channel):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json={
                "error": {
                    "message": "Invalid OAuth access token",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 463,
                    "fbtrace_id": "x",
                }
            },
        )

    wa_client._transport_override["transport"] = httpx.MockTransport(handler)
    admin_client.post(f"/t/acme/settings/whatsapp/{channel.pk}/test/")
    channel.refresh_from_db()
    assert channel.health == "error"
    assert channel.health_detail.startswith("190 ")


def test_template_table_shows_each_status_and_the_event_beside_it_when_it_differs(admin_client, channel):
    for name, status, event in [
        ("a_flagged", "APPROVED", "FLAGGED"),
        ("b_approved", "APPROVED", "APPROVED"),
        ("c_reinstated", "APPROVED", "REINSTATED"),
        ("d_gone", "DELETED", ""),
    ]:
        MessageTemplate.objects.create(
            tenant=channel.tenant,
            waba_id=channel.waba_id,
            name=name,
            language="en_US",
            status=status,
            status_event=event,
        )

    page = admin_client.get(f"/t/acme/settings/whatsapp/{channel.pk}/").content.decode()

    rows = re.findall(r'<tr><td class="cell-title">(.*?)</tr>', page, re.S)
    assert [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows] == [
        "a_flagged en_US Approved Flagged",
        "b_approved en_US Approved",
        "c_reinstated en_US Approved Reinstated",
        "d_gone en_US Deleted",
    ]


def test_channel_status_api(client, owner, channel):
    WebhookEvent.objects.create(
        tenant=channel.tenant, channel=channel, body=b"{}", body_sha256="1" * 64, status="failed"
    )
    client.force_login(owner.user)
    body = client.get("/api/v1/t/acme/channels/").json()
    assert body["results"] == [
        {
            "id": channel.pk,
            "inbox_id": channel.inbox_id,
            "name": "Support",
            "type": "whatsapp",
            "display_phone_number": "5511900000001",
            "phone_number_id": channel.phone_number_id,
            "health": "unknown",
            "health_detail": "",
            "health_checked_at": None,
            "throughput_per_second": 80,
            "templates_synced_at": None,
            "failed_webhook_events": 1,
        }
    ]


def test_secrets_never_reach_the_logs(webhook, channel, caplog):
    from tests.whatsapp.conftest import load_fixture, retarget

    caplog.set_level(logging.DEBUG)
    webhook.post(channel, retarget(load_fixture("inbound_text.json"), phone_number_id=channel.phone_number_id))
    webhook.post(channel, b"{}", secret="wrong")
    assert "test-access-token" not in caplog.text
    assert "test-app-secret" not in caplog.text


def test_the_business_number_is_shown_nationally_in_its_country_and_internationally_elsewhere(
    admin_client, tenant, channel
):
    detail = f"/t/acme/settings/whatsapp/{channel.pk}/"
    assert channel.phone_e164 == "+5511900000001"
    assert '<td class="nowrap">(11) 90000-0001</td>' in admin_client.get("/t/acme/settings/whatsapp/").content.decode()
    assert '<span class="muted">(11) 90000-0001</span>' in admin_client.get(detail).content.decode()
    tenant.country = "PT"
    tenant.save(update_fields=["country"])
    assert '<span class="muted">+55 11 90000-0001</span>' in admin_client.get(detail).content.decode()
