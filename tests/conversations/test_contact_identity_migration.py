"""Migrations 0012-0014: each contact's channel address moves from ``Contact.wa_id`` to its identities."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.migrations

BEFORE = [("conversations", "0014_outbox_purge_indexes")]
AFTER = [("conversations", "0017_contact_drop_wa_id")]
FILL = importlib.import_module("conversations.migrations.0016_contact_identity_fill")


@pytest.fixture
def executor(transactional_db: None) -> Iterator[MigrationExecutor]:
    """The database taken back to ``BEFORE``, and forward to the latest migrations afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_every_wa_id_becomes_a_whatsapp_identity_and_links_fill_the_other_channels(executor, monkeypatch):
    # Two rows per batch, so the fill walks several batches of contacts and of links.
    monkeypatch.setattr(FILL, "BATCH", 2)
    apps = executor.loader.project_state(BEFORE).apps
    Tenant = apps.get_model("tenants", "Tenant")
    Inbox = apps.get_model("conversations", "Inbox")
    Contact = apps.get_model("conversations", "Contact")
    ContactInbox = apps.get_model("conversations", "ContactInbox")
    acme = Tenant.objects.create(name="Acme", slug="acme-identity")
    other = Tenant.objects.create(name="Other", slug="other-identity")
    number_a = Inbox.objects.create(tenant=acme, name="A", channel_type="whatsapp")
    number_b = Inbox.objects.create(tenant=acme, name="B", channel_type="whatsapp")
    test_inbox = Inbox.objects.create(tenant=acme, name="T", channel_type="test")
    other_inbox = Inbox.objects.create(tenant=other, name="O", channel_type="whatsapp")

    def contact(tenant, wa_id: str, *links: tuple) -> int:
        row = Contact.objects.create(tenant=tenant, wa_id=wa_id, phone_e164=f"+{wa_id}" if wa_id else "")
        for inbox, source_id in links:
            ContactInbox.objects.create(tenant=tenant, contact=row, inbox=inbox, source_id=source_id)
        return row.pk

    # Wrote to both numbers of the tenant.
    maria = contact(acme, "5511900000001", (number_a, "5511900000001"), (number_b, "5511900000001"))
    # Known by their number (imported), never wrote: no link at all.
    joao = contact(acme, "5511900000002")
    # Only on another channel, no wa_id.
    tester = contact(acme, "", (test_inbox, "t-42"))
    # Changed number on one inbox; the other inbox's link still has the old number: the column wins.
    ana = contact(acme, "5511900000004", (number_a, "5511900000004"), (number_b, "5511900000099"))
    # A link naming an address that is already another contact's: left out, the migration goes on.
    stray = contact(acme, "", (number_b, "5511900000002"))
    # The same number in another tenant is another contact's identity.
    elsewhere = contact(other, "5511900000001", (other_inbox, "5511900000001"))

    executor.loader.build_graph()
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    ContactIdentity = apps.get_model("conversations", "ContactIdentity")
    assert sorted(ContactIdentity.objects.values_list("tenant_id", "contact_id", "channel_type", "address")) == sorted(
        [
            (acme.pk, maria, "whatsapp", "5511900000001"),
            (acme.pk, joao, "whatsapp", "5511900000002"),
            (acme.pk, tester, "test", "t-42"),
            (acme.pk, ana, "whatsapp", "5511900000004"),
            (other.pk, elsewhere, "whatsapp", "5511900000001"),
        ]
    )
    assert not ContactIdentity.objects.filter(contact_id=stray).exists()
    assert "wa_id" not in {f.name for f in apps.get_model("conversations", "Contact")._meta.get_fields()}
    # The links are untouched: each inbox still knows the customer by the address it had.
    assert sorted(apps.get_model("conversations", "ContactInbox").objects.values_list("contact_id", "source_id")) == (
        sorted(
            [
                (maria, "5511900000001"),
                (maria, "5511900000001"),
                (tester, "t-42"),
                (ana, "5511900000004"),
                (ana, "5511900000099"),
                (stray, "5511900000002"),
                (elsewhere, "5511900000001"),
            ]
        )
    )

    # Going back restores the column from the WhatsApp identities.
    executor.loader.build_graph()
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    assert dict(apps.get_model("conversations", "Contact").objects.values_list("pk", "wa_id")) == {
        maria: "5511900000001",
        joao: "5511900000002",
        tester: "",
        ana: "5511900000004",
        stray: "",
        elsewhere: "5511900000001",
    }


def test_the_fill_run_twice_adds_nothing(executor):
    apps = executor.loader.project_state(BEFORE).apps
    acme = apps.get_model("tenants", "Tenant").objects.create(name="Acme", slug="acme-identity-twice")
    inbox = apps.get_model("conversations", "Inbox").objects.create(tenant=acme, name="A", channel_type="whatsapp")
    maria = apps.get_model("conversations", "Contact").objects.create(tenant=acme, wa_id="5511900000001")
    apps.get_model("conversations", "ContactInbox").objects.create(
        tenant=acme, contact=maria, inbox=inbox, source_id="5511900000001"
    )
    executor.loader.build_graph()
    executor.migrate([("conversations", "0016_contact_identity_fill")])
    apps = executor.loader.project_state([("conversations", "0016_contact_identity_fill")]).apps
    # Interrupted and run again (a resumed deploy): what exists is skipped.
    FILL.fill(apps, connection.schema_editor())
    assert list(apps.get_model("conversations", "ContactIdentity").objects.values_list("contact_id", "address")) == [
        (maria.pk, "5511900000001")
    ]


def test_a_contact_written_between_the_fill_and_the_drop_keeps_its_number(executor):
    filled = [("conversations", "0016_contact_identity_fill")]
    executor.loader.build_graph()
    executor.migrate(filled)
    apps = executor.loader.project_state(filled).apps
    acme = apps.get_model("tenants", "Tenant").objects.create(name="Acme", slug="acme-identity-late")
    inbox = apps.get_model("conversations", "Inbox").objects.create(tenant=acme, name="A", channel_type="whatsapp")
    # The previous release, still serving during the deploy, stores a new customer the old way.
    late = apps.get_model("conversations", "Contact").objects.create(tenant=acme, wa_id="5511900000007")
    apps.get_model("conversations", "ContactInbox").objects.create(
        tenant=acme, contact=late, inbox=inbox, source_id="5511900000007"
    )

    executor.loader.build_graph()
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    assert list(
        apps.get_model("conversations", "ContactIdentity").objects.values_list(
            "tenant_id", "contact_id", "channel_type", "address"
        )
    ) == [(acme.pk, late.pk, "whatsapp", "5511900000007")]
