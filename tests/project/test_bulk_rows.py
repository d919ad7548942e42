"""``helpdesk.bulk.rows_update``: many rows' own values in one statement, as ``bulk_update`` would write them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Contact, Conversation
from helpdesk.bulk import rows_update
from tests.conversations.factories import make_conversation, make_inbox

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_of_every_type(tenant):
    contacts = Contact.objects.bulk_create(
        [Contact(tenant=tenant, name=f"C{i}", phone_e164=f"+551190000{i:04d}") for i in range(3)]
    )
    contacts[0].name, contacts[0].custom_attributes, contacts[0].marketing_consent = (
        "Ana",
        {"plano": "ouro"},
        "opted_in",
    )
    contacts[1].name, contacts[1].custom_attributes = "Bia ' ; DROP TABLE x", {"n": [1, 2]}
    contacts[2].name = None if Contact._meta.get_field("name").null else ""
    with CaptureQueriesContext(connection) as queries:
        written = rows_update(Contact, contacts, ["name", "custom_attributes", "marketing_consent"])
    assert written == 3
    assert len(queries) == 1
    rows = {c.pk: (c.name, c.custom_attributes, c.marketing_consent) for c in Contact.objects.all()}
    assert rows[contacts[0].pk] == ("Ana", {"plano": "ouro"}, "opted_in")
    assert rows[contacts[1].pk] == ("Bia ' ; DROP TABLE x", {"n": [1, 2]}, contacts[1].marketing_consent)
    assert rows[contacts[2].pk][0] == contacts[2].name


def test_a_condition_leaves_the_rows_that_do_not_meet_it(tenant):
    inbox = make_inbox(tenant)
    old, new = make_conversation(inbox), make_conversation(inbox)
    early, late = datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC)
    Conversation.objects.filter(pk=old.pk).update(last_message_at=early)
    Conversation.objects.filter(pk=new.pk).update(last_message_at=late)
    middle = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    written = rows_update(
        Conversation,
        [Conversation(pk=old.pk, last_message_at=middle), Conversation(pk=new.pk, last_message_at=middle)],
        ["last_message_at"],
        when="t.last_message_at IS NULL OR t.last_message_at < v.last_message_at",
    )
    assert written == 1
    assert dict(Conversation.objects.values_list("pk", "last_message_at")) == {old.pk: middle, new.pk: late}


def test_more_values_than_sqlite_takes_in_one_statement_are_written_all(tenant):
    contacts = Contact.objects.bulk_create(
        [Contact(tenant=tenant, name=f"C{i}", phone_e164=f"+55119{i:08d}") for i in range(600)]
    )
    for contact in contacts:
        contact.name = f"Novo {contact.pk}"
        contact.marketing_consent = "opted_out"
    assert rows_update(Contact, contacts, ["name", "marketing_consent"]) == 600
    assert set(Contact.objects.values_list("marketing_consent", flat=True)) == {"opted_out"}
    assert all(name == f"Novo {pk}" for pk, name in Contact.objects.values_list("pk", "name"))


def test_nothing_to_write_runs_no_statement(tenant):
    with CaptureQueriesContext(connection) as queries:
        assert rows_update(Contact, [], ["name"]) == 0
    assert len(queries) == 0
