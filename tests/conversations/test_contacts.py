"""Agents change a contact's name, phone, custom attributes and labels; WhatsApp's own fields stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations.models import Contact, ContactIdentity, ContactLabel
from conversations.services.contacts import contact_update, contacts_marketing_consent_set, phone_normalise
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole, Perm
from tests.conversations.factories import make_label, make_role, make_token
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def contact(tenant):
    contact = Contact.objects.create(
        tenant=tenant,
        name="Maria",
        profile_name="Mari WhatsApp",
        phone_e164="+5511912345678",
        custom_attributes={"plano": "ouro"},
    )
    ContactIdentity.objects.create(tenant=tenant, contact=contact, channel_type="whatsapp", address="5511912345678")
    return contact


def _audit(tenant) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(tenant=tenant, action="contact.updated").order_by("id"))


def _snapshot(contact) -> tuple:
    contact.refresh_from_db()
    labels = sorted(ContactLabel.objects.filter(contact=contact).values_list("label__name", flat=True))
    identities = list(contact.identities.values_list("channel_type", "address"))
    return (contact.name, contact.profile_name, contact.phone_e164, identities, contact.custom_attributes, labels)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(11) 91234-5678", "+5511912345678"),
        ("11 91234 5678", "+5511912345678"),
        ("11912345678", "+5511912345678"),
        ("+55 11 91234-5678", "+5511912345678"),
        ("+55 (21) 3456-7890", "+552134567890"),  # a landline
        ("  +1 202-555-0100 ", "+12025550100"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_phone_normalise_returns_e164(raw, e164):
    assert phone_normalise(raw) == e164


@pytest.mark.parametrize("raw", ["abc", "123", "+55 11", "+55 11 91234-5678-9999-0000", "not a phone 11"])
def test_phone_normalise_refuses_what_is_not_a_number(raw):
    with pytest.raises(ValidationFailed) as excinfo:
        phone_normalise(raw)
    assert excinfo.value.details == {"field": "phone"}


def test_name_phone_and_attributes_are_changed_and_audited(tenant, contact):
    owner = owner_of(tenant)
    updated = contact_update(
        actor=owner,
        contact=contact,
        name="  Maria Souza ",
        phone="(21) 98888-7777",
        custom_attributes={"plano": "prata", "cidade": "Rio", "pedidos": 3, "vip": True},
    )
    assert _snapshot(updated) == (
        "Maria Souza",
        "Mari WhatsApp",  # WhatsApp's
        "+5521988887777",
        [("whatsapp", "5511912345678")],  # the channel's
        {"plano": "prata", "cidade": "Rio", "pedidos": "3", "vip": "True"},
        [],
    )
    [entry] = _audit(tenant)
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.target_label) == (
        owner.user_id,
        "conversations.contact",
        str(contact.pk),
        "Maria Souza",
    )
    assert entry.extra == {"fields": ["custom_attributes", "name", "phone_e164"]}


def test_labels_are_set_to_the_given_list(tenant, contact):
    owner = owner_of(tenant)
    vip = make_label(tenant, "vip")
    late = make_label(tenant, "atrasado")
    contact_update(actor=owner, contact=contact, labels=[vip, late])
    contact_update(actor=owner, contact=contact, labels=[vip, late])  # the same again: nothing
    contact_update(actor=owner, contact=contact, labels=[vip])
    assert _snapshot(contact)[-1] == ["vip"]
    assert [e.extra for e in _audit(tenant)] == [
        {"fields": [], "labels_added": ["vip", "atrasado"], "labels_removed": []},
        {"fields": [], "labels_added": [], "labels_removed": ["atrasado"]},
    ]


def test_unchanged_values_write_no_audit_entry(tenant, contact):
    contact_update(
        actor=owner_of(tenant),
        contact=contact,
        name="Maria",
        phone="+55 11 91234-5678",
        custom_attributes={"plano": "ouro"},
        labels=[],
    )
    assert _audit(tenant) == []


def test_an_empty_phone_clears_it(tenant, contact):
    contact_update(actor=owner_of(tenant), contact=contact, phone="")
    assert _snapshot(contact)[2] == ""
    assert _audit(tenant)[0].extra == {"fields": ["phone_e164"]}


def test_an_invalid_phone_changes_nothing_not_even_the_name_given_with_it(tenant, contact):
    before = _snapshot(contact)
    with pytest.raises(ValidationFailed) as excinfo:
        contact_update(actor=owner_of(tenant), contact=contact, name="Outra", phone="12")
    assert excinfo.value.details == {"field": "phone"}
    assert _snapshot(contact) == before
    assert _audit(tenant) == []


def test_a_label_of_another_tenant_rolls_back_the_other_changes(tenant, other_tenant, contact):
    before = _snapshot(contact)
    with pytest.raises(ValidationFailed) as excinfo:
        contact_update(actor=owner_of(tenant), contact=contact, name="Outra", labels=[make_label(other_tenant, "vip")])
    assert excinfo.value.details == {"field": "labels"}
    assert _snapshot(contact) == before
    assert _audit(tenant) == []


def test_a_name_longer_than_255_characters_is_refused(tenant, contact):
    before = _snapshot(contact)
    with pytest.raises(ValidationFailed) as excinfo:
        contact_update(actor=owner_of(tenant), contact=contact, name="x" * 256)
    assert excinfo.value.details == {"field": "name"}
    assert _snapshot(contact) == before
    assert _audit(tenant) == []


def test_a_name_of_255_characters_is_accepted(tenant, contact):
    contact_update(actor=owner_of(tenant), contact=contact, name="x" * 255)
    assert _snapshot(contact)[0] == "x" * 255
    assert _audit(tenant)[0].extra == {"fields": ["name"]}


def _attrs(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


@pytest.mark.parametrize(
    "attributes",
    [
        _attrs(51),
        {"": "empty name"},
        {"   ": "blank name"},
        {"k" * 51: "v"},
        {"nota": "v" * 501},
        {"nota": None},
        {"nota": ["a", "b"]},
        {"nota": {"nested": 1}},
        ["plano", "ouro"],
        "plano=ouro",
    ],
)
def test_attributes_beyond_the_limits_are_refused_and_nothing_changes(tenant, contact, attributes):
    before = _snapshot(contact)
    with pytest.raises(ValidationFailed) as excinfo:
        contact_update(actor=owner_of(tenant), contact=contact, name="Outra", custom_attributes=attributes)
    assert excinfo.value.details["field"] == "attributes"
    assert _snapshot(contact) == before
    assert _audit(tenant) == []


def test_attributes_at_the_limits_are_accepted(tenant, contact):
    attributes = {**_attrs(48), "k" * 50: "v" * 500, " espaços ": "x"}
    contact_update(actor=owner_of(tenant), contact=contact, custom_attributes=attributes)
    stored = _snapshot(contact)[4]
    assert len(stored) == 50
    assert stored["k" * 50] == "v" * 500
    assert stored["espaços"] == "x"  # names are trimmed


def test_an_empty_dict_clears_the_attributes(tenant, contact):
    contact_update(actor=owner_of(tenant), contact=contact, custom_attributes={})
    assert _snapshot(contact)[4] == {}


def test_a_role_without_manage_contacts_changes_nothing(tenant, contact):
    member = add_member(tenant, make_role(tenant, [Perm.REPLY, Perm.VIEW_UNASSIGNED]))
    before = _snapshot(contact)
    with pytest.raises(PermissionDenied):
        contact_update(actor=member, contact=contact, name="Outra", labels=[make_label(tenant, "vip")])
    assert _snapshot(contact) == before
    assert _audit(tenant) == []


def test_a_member_of_another_tenant_changes_nothing(tenant, other_tenant, contact):
    before = _snapshot(contact)
    with pytest.raises(PermissionDenied):
        contact_update(actor=owner_of(other_tenant), contact=contact, name="Outra")
    assert _snapshot(contact) == before
    assert AuditLogEntry.objects.filter(action="contact.updated").count() == 0


def test_an_agent_may_change_contacts(tenant, contact):
    agent = add_member(tenant, BuiltinRole.AGENT)
    contact_update(actor=agent, contact=contact, name="Maria S.")
    assert _snapshot(contact)[0] == "Maria S."
    assert _audit(tenant)[0].actor_label == agent.user.email


def test_an_api_token_is_named_in_the_audit(tenant, contact):
    token = make_token(tenant, make_role(tenant, [Perm.MANAGE_CONTACTS]), name="ERP")
    contact_update(actor=token, contact=contact, name="Maria API")
    [entry] = _audit(tenant)
    assert (entry.actor_id, entry.actor_label) == (None, "API token ERP")


def test_many_contacts_take_one_marketing_answer_unless_theirs_is_newer_or_in_another_workspace(tenant, other_tenant):
    now = timezone.now()
    older, newer, unknown = (
        Contact.objects.create(tenant=tenant, name=name, marketing_consent="opted_out", marketing_consent_at=at)
        for name, at in (("Ana", now - timedelta(days=1)), ("Bia", now + timedelta(minutes=1)), ("Caio", None))
    )
    elsewhere = Contact.objects.create(tenant=other_tenant, name="Dora", marketing_consent="opted_out")

    changed = contacts_marketing_consent_set(
        tenant_id=tenant.pk, contact_ids=[older.pk, newer.pk, unknown.pk, elsewhere.pk], consent="opted_in", at=now
    )

    assert changed == 2
    assert dict(Contact.objects.values_list("name", "marketing_consent")) == {
        "Ana": "opted_in",
        "Bia": "opted_out",
        "Caio": "opted_in",
        "Dora": "opted_out",
    }
    with pytest.raises(ValidationFailed):
        contacts_marketing_consent_set(tenant_id=tenant.pk, contact_ids=[older.pk], consent="maybe", at=now)
