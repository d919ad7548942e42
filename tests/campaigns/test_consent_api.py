"""The consent API: a contact's states and history, recording with evidence, permissions and another workspace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from campaigns.consent import consent_purpose_create, consent_record, marketing_purpose
from campaigns.models import ConsentEvent
from conversations.models import Contact
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_conversation, make_inbox, make_role
from tests.factories import owner_of

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def token_client(tenant, perms) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=make_role(tenant, perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def contact(tenant) -> Contact:
    return make_conversation(make_inbox(tenant), name="Maria").contact


def url(contact: Contact, slug: str = "acme") -> str:
    return f"/api/v1/t/{slug}/contacts/{contact.pk}/consent/"


def test_the_api_records_an_opt_in_with_evidence_and_answers_the_history(tenant, contact):
    client = token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.MANAGE_CONTACTS])
    body = {"kind": "opt_in", "occurred_at": "2026-11-02T09:00:00-03:00",
            "evidence": {"text": "Quero receber ofertas", "url": "https://example.com/form/77"}}  # fmt: skip

    response = client.post(url(contact), body, content_type="application/json")

    assert response.status_code == 201, response.content
    event = ConsentEvent.objects.get()
    assert response.json() == {
        "contact_id": contact.pk,
        "marketing_consent": "opted_in",
        "states": [
            {"purpose": "marketing", "purpose_name": "Marketing messages", "state": "opt_in",
             "since": "2026-11-02T12:00:00Z"},
        ],
        "history": [
            {"id": event.pk, "purpose": "marketing", "kind": "opt_in", "source": "api",
             "occurred_at": "2026-11-02T12:00:00Z", "recorded_at": response.json()["history"][0]["recorded_at"],
             "recorded_by": "API token CRM",
             "evidence": {"text": "Quero receber ofertas", "url": "https://example.com/form/77"}, "note": ""},
        ],
    }  # fmt: skip
    assert AuditLogEntry.objects.filter(action="consent.recorded", actor_label="API token CRM").count() == 1


def test_the_api_needs_evidence_and_a_known_purpose(tenant, contact):
    client = token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.MANAGE_CONTACTS])

    empty = client.post(url(contact), {"kind": "opt_in", "evidence": {}}, content_type="application/json")
    missing = client.post(url(contact), {"kind": "opt_in"}, content_type="application/json")
    unknown = client.post(
        url(contact), {"kind": "opt_in", "purpose": "nope", "evidence": {"text": "x"}}, content_type="application/json"
    )
    resume = client.post(url(contact), {"kind": "resume", "evidence": {"text": "x"}}, content_type="application/json")

    assert [r.status_code for r in (empty, missing, unknown, resume)] == [400, 400, 400, 400]
    assert empty.json()["error"]["details"] == {"field": "evidence"}
    assert unknown.json()["error"]["details"] == {"field": "purpose"}
    assert not ConsentEvent.objects.exists()


def test_another_purpose_by_its_key(tenant, contact):
    consent_purpose_create(actor=owner_of(tenant), name="Newsletter")
    client = token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.MANAGE_CONTACTS])

    response = client.post(
        url(contact), {"purpose": "newsletter", "kind": "opt_out", "evidence": {"text": "Pediu para sair"}},
        content_type="application/json",
    )  # fmt: skip

    assert response.status_code == 201
    assert {s["purpose"]: s["state"] for s in response.json()["states"]} == {
        "marketing": "unknown",
        "newsletter": "opt_out",
    }
    assert response.json()["marketing_consent"] == "unknown"


def test_a_caller_without_manage_contacts_reads_but_cannot_record(tenant, contact):
    consent_record(
        actor=owner_of(tenant), contact=contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind="opt_in",
        source="agent", note="Ao telefone", occurred_at=T0,
    )  # fmt: skip
    client = token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])

    read = client.get(url(contact))
    refused = client.post(url(contact), {"kind": "opt_out", "evidence": {"text": "x"}}, content_type="application/json")

    assert read.status_code == 200
    assert [(h["kind"], h["source"], h["note"]) for h in read.json()["history"]] == [("opt_in", "agent", "Ao telefone")]
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert ConsentEvent.objects.count() == 1


def test_another_workspace_contact_is_404(tenant, other_tenant, contact):
    theirs = token_client(other_tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.MANAGE_CONTACTS])

    own_slug = theirs.post(
        url(contact, "globex"), {"kind": "opt_in", "evidence": {"text": "x"}}, content_type="application/json"
    )
    read = theirs.get(url(contact, "globex"))
    victim_slug = theirs.get(url(contact, "acme"))

    assert [own_slug.status_code, read.status_code, victim_slug.status_code] == [404, 404, 404]
    assert not ConsentEvent.objects.exists()


def test_a_contact_the_caller_cannot_see_is_404(tenant, contact):
    client = token_client(tenant, [Perm.MANAGE_CONTACTS])  # sees no conversation

    assert client.get(url(contact)).status_code == 404


def test_the_schema_describes_the_consent_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()

    operations = schema["paths"]["/api/v1/t/{tenant_slug}/contacts/{contact_id}/consent/"]
    assert operations["get"]["operationId"] == "contacts_consent_retrieve"
    assert operations["post"]["operationId"] == "contacts_consent_record"
    assert set(operations["post"]["responses"]) == {"201", "400", "403", "404", "415"}


def test_a_contact_without_a_conversation_is_read_by_who_sees_every_conversation(tenant):
    imported = Contact.objects.create(tenant=tenant, name="Carla", phone_e164="+5521988887777")

    everything = token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.MANAGE_CONTACTS])
    unassigned_only = token_client(tenant, [Perm.VIEW_UNASSIGNED, Perm.MANAGE_CONTACTS])

    assert everything.get(url(imported)).json()["states"][0]["state"] == "unknown"
    assert unassigned_only.get(url(imported)).status_code == 404
