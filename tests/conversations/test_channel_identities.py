"""A contact has one identity per channel: received through a second channel that only the tests define,
matched per tenant and channel type, shown by the API and the contact panel, found by the search."""

from __future__ import annotations

import ast
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client

from conversations.models import Contact, ContactIdentity, ContactInbox, Conversation, Inbox, Message, OutboxEvent
from conversations.services.inbound import contact_identify
from tests.conversations.channel_inbound_double import (
    CHANNEL_TYPE,
    REPLY_WINDOW,
    InboundTestChannel,
    inbound_test_channel,
)
from tests.conversations.factories import make_inbox
from tests.factories import owner_of
from tests.prerequisites import require_postgresql

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
API = "/api/v1/t/acme"


@pytest.fixture
def channel() -> Iterator[InboundTestChannel]:
    with inbound_test_channel() as backend:
        yield backend


def channel_inbox(tenant, name: str = "Test channel") -> Inbox:
    return Inbox.objects.create(tenant=tenant, name=name, channel_type=CHANNEL_TYPE)


def identities(contact: Contact) -> list[tuple[int, str, str]]:
    return list(contact.identities.values_list("tenant_id", "channel_type", "address"))


def test_the_double_and_these_tests_never_import_whatsapp():
    for path in (Path(__file__), Path(__file__).with_name("channel_inbound_double.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] == "whatsapp"}, path.name


def test_a_message_on_the_test_channel_creates_the_contact_with_its_identity(tenant, channel):
    inbox = channel_inbox(tenant)

    message, created = channel.receive(inbox, handle="@ana", message_id="1", text="Oi", at=T0, name="Ana")

    assert created is True
    contact = message.conversation.contact
    assert (contact.tenant_id, contact.profile_name, contact.phone_e164, contact.display_name) == (
        tenant.pk,
        "Ana",
        "",
        "Ana",
    )
    assert identities(contact) == [(tenant.pk, "test", "@ana")]
    link = ContactInbox.objects.get()
    assert (link.tenant_id, link.contact_id, link.inbox_id, link.source_id) == (tenant.pk, contact.pk, inbox.pk, "@ana")
    conversation = Conversation.objects.get()
    assert (
        conversation.inbox_id,
        conversation.contact_id,
        conversation.contact_inbox_id,
        conversation.status,
        conversation.last_inbound_at,
        conversation.reply_window_closes_at,
    ) == (inbox.pk, contact.pk, link.pk, "open", T0, T0 + REPLY_WINDOW)
    stored = Message.objects.get()
    assert (stored.direction, stored.sender_type, stored.text, stored.external_id, stored.occurred_at) == (
        "in",
        "contact",
        "Oi",
        "test:1",
        T0,
    )
    recorded = {e.event_type: e.payload for e in OutboxEvent.objects.filter(tenant=tenant)}
    assert sorted(recorded) == ["contact.created", "conversation.created", "message.received"]
    assert (recorded["contact.created"]["contact_id"], recorded["contact.created"]["inbox_id"]) == (
        contact.pk,
        inbox.pk,
    )
    received = recorded["message.received"]
    assert (received["message_id"], received["conversation_id"], received["inbox_id"], received["contact_id"]) == (
        stored.pk,
        conversation.pk,
        inbox.pk,
        contact.pk,
    )


def test_the_same_message_twice_is_stored_once(tenant, channel):
    inbox = channel_inbox(tenant)
    first, created = channel.receive(inbox, handle="@ana", message_id="1", text="Oi", at=T0)
    again, created_again = channel.receive(inbox, handle="@ana", message_id="1", text="Oi", at=T0)

    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert (Contact.objects.count(), ContactIdentity.objects.count(), Message.objects.count()) == (1, 1, 1)
    assert OutboxEvent.objects.filter(event_type="message.received").count() == 1


def test_two_inboxes_of_one_channel_know_the_same_contact(tenant, channel):
    first_inbox, second_inbox = channel_inbox(tenant, "One"), channel_inbox(tenant, "Two")

    first, _ = channel.receive(first_inbox, handle="@ana", message_id="1", text="Oi", at=T0)
    second, _ = channel.receive(second_inbox, handle="@ana", message_id="2", text="Oi de novo", at=T0)

    assert first.conversation.contact_id == second.conversation.contact_id
    assert first.conversation_id != second.conversation_id
    assert ContactIdentity.objects.count() == 1
    assert sorted(ContactInbox.objects.values_list("inbox_id", "source_id")) == [
        (first_inbox.pk, "@ana"),
        (second_inbox.pk, "@ana"),
    ]
    assert OutboxEvent.objects.filter(event_type="contact.created").count() == 1


def test_the_same_address_on_whatsapp_and_on_the_test_channel_are_two_contacts(tenant, channel):
    address = "5511912345678"
    on_test, _ = channel.receive(channel_inbox(tenant), handle=address, message_id="1", text="Oi", at=T0)
    # The WhatsApp inbox as the core knows it: an inbox of that channel type, fed through the same service.
    whatsapp_contact, created = contact_identify(
        tenant_id=tenant.pk, channel_type=make_inbox(tenant).channel_type, address=address, profile_name="Bia"
    )

    assert created is True
    assert whatsapp_contact.pk != on_test.conversation.contact_id
    assert sorted(ContactIdentity.objects.values_list("contact_id", "channel_type", "address")) == sorted(
        [(on_test.conversation.contact_id, "test", address), (whatsapp_contact.pk, "whatsapp", address)]
    )


def test_another_tenants_same_address_is_another_contact(tenant, other_tenant, channel):
    mine, _ = channel.receive(channel_inbox(tenant), handle="@ana", message_id="1", text="Oi", at=T0)
    theirs, _ = channel.receive(channel_inbox(other_tenant), handle="@ana", message_id="1", text="Oi", at=T0)

    assert mine.conversation.contact_id != theirs.conversation.contact_id
    assert identities(mine.conversation.contact) == [(tenant.pk, "test", "@ana")]
    assert identities(theirs.conversation.contact) == [(other_tenant.pk, "test", "@ana")]
    # Each tenant's message is its own, under the same channel message id.
    assert sorted(Message.objects.values_list("tenant_id", "external_id")) == sorted(
        [(tenant.pk, "test:1"), (other_tenant.pk, "test:1")]
    )


def test_contact_identify_finds_the_contact_it_created(tenant):
    contact, created = contact_identify(tenant_id=tenant.pk, channel_type="test", address="@ana", profile_name="Ana")
    again, created_again = contact_identify(
        tenant_id=tenant.pk, channel_type="test", address="@ana", profile_name="Outro nome"
    )

    assert (created, created_again, again.pk) == (True, False, contact.pk)
    # Found, not changed: a new profile name comes with a message, through the inbound path.
    assert Contact.objects.get(pk=contact.pk).profile_name == "Ana"
    assert OutboxEvent.objects.filter(event_type="contact.created").count() == 1


@pytest.mark.parametrize(("channel_type", "address"), [("", "@ana"), ("test", "")])
def test_contact_identify_refuses_a_missing_channel_or_address(tenant, channel_type, address):
    with pytest.raises(ValueError, match="channel type and an address"):
        contact_identify(tenant_id=tenant.pk, channel_type=channel_type, address=address)
    assert not Contact.objects.exists()


# --- the API, the contact panel and the search ----------------------------------------------------


@pytest.fixture
def owner_client(tenant) -> Client:
    client = Client()
    client.force_login(owner_of(tenant).user)
    return client


def test_the_api_shows_a_contacts_identities_and_no_channel_specific_field(tenant, channel, owner_client):
    message, _ = channel.receive(channel_inbox(tenant), handle="@ana", message_id="1", text="Oi", at=T0, name="Ana")
    contact = message.conversation.contact
    contact_identify(tenant_id=tenant.pk, channel_type="test", address="@ana")
    ContactIdentity.objects.create(tenant=tenant, contact=contact, channel_type="whatsapp", address="5511912345678")

    body = owner_client.get(f"{API}/contacts/{contact.pk}/").json()

    assert body == {
        "id": contact.pk,
        "name": "",
        "profile_name": "Ana",
        "display_name": "Ana",
        "phone": "",
        "identities": [
            {"channel": "test", "address": "@ana"},
            {"channel": "whatsapp", "address": "5511912345678"},
        ],
        "custom_attributes": {},
        "labels": [],
        "marketing_consent": "unknown",
        "created_at": body["created_at"],
    }
    row = owner_client.get(f"{API}/conversations/").json()["results"][0]
    assert row["contact"] == {"id": contact.pk, "name": "Ana", "phone": ""}


def test_another_tenants_contact_is_a_404_by_api(tenant, other_tenant, channel, owner_client):
    theirs, _ = channel.receive(channel_inbox(other_tenant), handle="@ana", message_id="1", text="Oi", at=T0)
    contact_id = theirs.conversation.contact_id

    response = owner_client.get(f"{API}/contacts/{contact_id}/")
    changed = owner_client.patch(f"{API}/contacts/{contact_id}/", {"name": "Roubado"}, content_type="application/json")

    assert (response.status_code, changed.status_code) == (404, 404)
    assert Contact.objects.get(pk=contact_id).name == ""


def test_the_contact_panel_lists_the_identities(tenant, channel, owner_client):
    message, _ = channel.receive(channel_inbox(tenant), handle="@ana", message_id="1", text="Oi", at=T0, name="Ana")
    display_id = message.conversation.display_id

    html = owner_client.get(f"/t/acme/inbox/c/{display_id}/sidebar/").json()["html"]

    assert "Profile name: Ana" in html
    assert "Address on test: @ana" in html
    assert "WhatsApp" not in html


def test_the_search_finds_a_contact_by_a_channel_address_only_in_its_own_tenant(tenant, other_tenant, channel):
    client = Client()
    client.force_login(owner_of(tenant).user)
    mine, _ = channel.receive(channel_inbox(tenant), handle="77001122", message_id="1", text="Oi", at=T0)
    channel.receive(channel_inbox(other_tenant), handle="77001122", message_id="1", text="Oi", at=T0)
    channel.receive(channel_inbox(tenant), handle="66001122", message_id="2", text="Oi", at=T0)

    found = client.get(f"{API}/conversations/", {"q": "7700112"}).json()["results"]

    assert [row["id"] for row in found] == [mine.conversation_id]


@pytest.mark.django_db(transaction=True)
def test_two_writers_identifying_the_same_new_address_at_once_make_one_contact(tenant, monkeypatch):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    # Both writers look the address up, find nothing and create a contact before either adds its identity.
    barrier = threading.Barrier(2)
    original = ContactIdentity.objects.bulk_create
    first_attempts = itertools.count()

    def bulk_create_after_both_looked(*args, **kwargs):
        if next(first_attempts) < 2:
            barrier.wait(timeout=10)
        return original(*args, **kwargs)

    monkeypatch.setattr(ContactIdentity.objects, "bulk_create", bulk_create_after_both_looked)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def identify() -> None:
        try:
            contact, created = contact_identify(tenant_id=tenant.pk, channel_type="test", address="@ana")
            results.append((contact.pk, created))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=identify) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    [contact_id] = Contact.objects.filter(tenant=tenant).values_list("pk", flat=True)
    assert sorted(results, key=lambda r: r[1]) == [(contact_id, False), (contact_id, True)]
    assert list(ContactIdentity.objects.values_list("contact_id", "channel_type", "address")) == [
        (contact_id, "test", "@ana")
    ]
    assert OutboxEvent.objects.filter(event_type="contact.created").count() == 1
