"""Customer texts: which wording a contact gets, what may be written, who may write it, what is recorded."""

from __future__ import annotations

import pytest

from conversations.actors import AutomationActor
from conversations.customer_texts import CustomerTextChoice, contact_language, customer_text_pick
from conversations.models import Contact, CustomerText, CustomerTextVariant, Message
from conversations.services.customer_texts import customer_text_delete, customer_text_set
from helpdesk.exceptions import NotFound, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry, Tenant
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_tenant, owner_of

pytestmark = pytest.mark.django_db

Action = AuditLogEntry.Action

GREETING = {"pt-br": "Olá! Já vamos atender.", "en": "Hi! We'll be right with you."}


@pytest.fixture
def tenant(db):
    """A workspace in Portuguese, the product's default."""
    return make_tenant("Acme", slug="acme", locale="pt-br")


def _contact(tenant: Tenant, language: object = None) -> Contact:
    contact = make_conversation(make_inbox(tenant)).contact
    if language is not None:
        contact.custom_attributes = {"language": language}
        contact.save(update_fields=["custom_attributes"])
    return contact


def _template_sent(contact: Contact, language: str, *, status: str = Message.Status.SENT) -> Message:
    conversation = contact.conversations.get()
    return Message.objects.create(
        tenant_id=contact.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        type=Message.Type.TEMPLATE,
        content={"v": 1, "kind": "template", "name": "order_update", "language": language, "body": "…"},
        status=status,
    )


def _variants(tenant: Tenant, key: str) -> dict[str, str]:
    rows = CustomerTextVariant.objects.filter(tenant=tenant, text__key=key).values_list("language", "body")
    return dict(rows)


def _audits(tenant: Tenant, action: str) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(tenant=tenant, action=action).order_by("id"))


def _pick(tenant: Tenant, contact: Contact, key: str = "greeting") -> tuple[str, str] | None:
    choice = customer_text_pick(tenant=tenant, key=key, contact=contact)
    return None if choice is None else (choice.language, choice.body)


# --- the contact's language --------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("pt-BR", "pt-br"), ("pt_BR", "pt-br"), (" EN ", "en"), ("es", "es")])
def test_contact_language_comes_from_the_language_attribute_normalised(tenant, given, expected):
    assert contact_language(contact=_contact(tenant, given), tenant=tenant) == expected


@pytest.mark.parametrize("given", ["English", "xx", "pt br", "", 42])
def test_contact_language_ignores_an_attribute_that_is_no_known_language(tenant, given):
    contact = _contact(tenant, given)

    assert contact_language(contact=contact, tenant=tenant) == "pt-br"


def test_contact_language_falls_back_to_the_last_template_sent_to_the_contact(tenant):
    contact = _contact(tenant)
    _template_sent(contact, "es")
    _template_sent(contact, "en_US")
    _template_sent(contact, "pt_BR", status=Message.Status.FAILED)

    assert contact_language(contact=contact, tenant=tenant) == "en-us"


def test_contact_language_attribute_wins_over_the_template_language(tenant):
    contact = _contact(tenant, "es")
    _template_sent(contact, "en_US")

    assert contact_language(contact=contact, tenant=tenant) == "es"


def test_contact_language_is_the_workspace_locale_when_nothing_else_is_known(tenant):
    tenant.locale = "en"
    tenant.save(update_fields=["locale"])

    assert contact_language(contact=_contact(tenant), tenant=tenant) == "en"


def test_contact_language_of_another_workspaces_contact_is_not_found(tenant, other_tenant):
    with pytest.raises(NotFound):
        contact_language(contact=_contact(other_tenant, "en"), tenant=tenant)


# --- the picker ----------------------------------------------------------------------------------


def test_pick_returns_the_contacts_exact_language(tenant, owner):
    customer_text_set(actor=owner, key="greeting", variants={**GREETING, "pt": "Olá (pt)"})

    choice = customer_text_pick(tenant=tenant, key="greeting", contact=_contact(tenant, "en"))

    assert choice == CustomerTextChoice(key="greeting", language="en", body="Hi! We'll be right with you.")
    assert _pick(tenant, _contact(tenant, "pt-BR")) == ("pt-br", "Olá! Já vamos atender.")
    assert _pick(tenant, _contact(tenant, "pt")) == ("pt", "Olá (pt)")


def test_pick_falls_back_to_the_same_base_language_both_ways(tenant, owner):
    customer_text_set(actor=owner, key="greeting", variants={"pt-br": "Olá!", "en": "Hi!"})
    customer_text_set(actor=owner, key="away", variants={"pt": "Estamos fora.", "en": "We are away."})

    assert _pick(tenant, _contact(tenant, "pt")) == ("pt-br", "Olá!")
    assert _pick(tenant, _contact(tenant, "en-GB")) == ("en", "Hi!")
    assert _pick(tenant, _contact(tenant, "pt-BR"), key="away") == ("pt", "Estamos fora.")


def test_pick_uses_the_template_language_when_the_contact_has_no_attribute(tenant, owner):
    customer_text_set(actor=owner, key="greeting", variants=GREETING)
    contact = _contact(tenant)
    _template_sent(contact, "en_US")

    assert _pick(tenant, contact) == ("en", "Hi! We'll be right with you.")


def test_pick_falls_back_to_the_workspace_default_locale(tenant, owner):
    customer_text_set(actor=owner, key="greeting", variants=GREETING)
    spanish = _contact(tenant, "es")

    assert _pick(tenant, spanish) == ("pt-br", "Olá! Já vamos atender.")
    tenant.locale = "en"
    tenant.save(update_fields=["locale"])
    assert _pick(tenant, spanish) == ("en", "Hi! We'll be right with you.")


def test_pick_falls_back_to_the_first_variant_by_language_code(tenant, owner):
    tenant.locale = "en"
    tenant.save(update_fields=["locale"])
    customer_text_set(actor=owner, key="greeting", variants={"pt-br": "Olá (pt-br)", "pt": "Olá (pt)"})

    assert _pick(tenant, _contact(tenant, "es")) == ("pt", "Olá (pt)")


def test_pick_is_none_when_the_workspace_has_no_such_text(tenant, owner):
    customer_text_set(actor=owner, key="greeting", variants=GREETING)
    CustomerText.objects.create(tenant=tenant, key="away")

    assert _pick(tenant, _contact(tenant, "en"), key="csat_question") is None
    assert _pick(tenant, _contact(tenant, "en"), key="away") is None


def test_a_variant_without_words_is_never_picked(tenant, owner):
    # Written behind the services' back: the picker still never sends an empty message.
    text = CustomerText.objects.create(tenant=tenant, key="greeting")
    CustomerTextVariant.objects.create(tenant=tenant, text=text, language="pt-br", body=" \n\t ")
    CustomerTextVariant.objects.create(tenant=tenant, text=text, language="en", body="Hi!")
    blank = CustomerText.objects.create(tenant=tenant, key="away")
    CustomerTextVariant.objects.create(tenant=tenant, text=blank, language="pt-br", body="   ")

    assert _pick(tenant, _contact(tenant, "pt-br")) == ("en", "Hi!")
    assert _pick(tenant, _contact(tenant, "pt-br"), key="away") is None


def test_another_workspaces_text_is_never_picked(tenant, other_tenant):
    customer_text_set(actor=owner_of(other_tenant), key="greeting", variants={"en": "Globex says hi"})
    contact = _contact(tenant, "en")

    assert _pick(tenant, contact) is None
    customer_text_set(actor=owner_of(tenant), key="greeting", variants={"pt-br": "Olá da Acme"})
    assert _pick(tenant, contact) == ("pt-br", "Olá da Acme")


def test_pick_for_another_workspaces_contact_is_not_found(tenant, other_tenant):
    customer_text_set(actor=owner_of(tenant), key="greeting", variants=GREETING)

    with pytest.raises(NotFound):
        customer_text_pick(tenant=tenant, key="greeting", contact=_contact(other_tenant, "en"))


def test_pick_reads_the_variants_in_one_query_when_the_contact_names_a_language(
    tenant, owner, django_assert_num_queries
):
    customer_text_set(actor=owner, key="greeting", variants=GREETING)
    contact = _contact(tenant, "en")

    with django_assert_num_queries(1):
        customer_text_pick(tenant=tenant, key="greeting", contact=contact)


def test_pick_looks_up_the_template_language_in_one_more_query(tenant, owner, django_assert_num_queries):
    customer_text_set(actor=owner, key="greeting", variants=GREETING)
    contact = _contact(tenant)
    _template_sent(contact, "en_US")

    with django_assert_num_queries(2):
        choice = customer_text_pick(tenant=tenant, key="greeting", contact=contact)

    assert choice == CustomerTextChoice(key="greeting", language="en", body="Hi! We'll be right with you.")


# --- writing texts -------------------------------------------------------------------------------


def test_admin_sets_a_text_normalised_and_it_is_audited(tenant, admin):
    text = customer_text_set(
        actor=admin, key=" greeting ", variants={"pt_BR": "  Olá!  ", "EN": "Hi!\n", "pt": "Olá (pt)"}
    )

    assert (text.tenant_id, text.key) == (tenant.pk, "greeting")
    assert _variants(tenant, "greeting") == {"pt-br": "Olá!", "en": "Hi!", "pt": "Olá (pt)"}
    [entry] = _audits(tenant, Action.CUSTOMER_TEXT_CREATED)
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.target_label, entry.extra) == (
        admin.user_id,
        "conversations.customertext",
        str(text.pk),
        "greeting",
        {"key": "greeting", "languages": ["en", "pt", "pt-br"]},
    )


def test_setting_a_text_again_replaces_its_variants_and_records_the_change(tenant, owner):
    first = customer_text_set(actor=owner, key="away", variants={"pt-br": "Fora", "en": "Away", "pt": "Fora (pt)"})

    again = customer_text_set(actor=owner, key="away", variants={"pt-br": "Fora do horário", "en": "Away"})

    assert again.pk == first.pk
    assert _variants(tenant, "away") == {"pt-br": "Fora do horário", "en": "Away"}
    [entry] = _audits(tenant, Action.CUSTOMER_TEXT_CHANGED)
    assert entry.extra == {"key": "away", "added": [], "removed": ["pt"], "changed": ["pt-br"]}


def test_setting_an_unchanged_text_records_nothing(tenant, owner):
    customer_text_set(actor=owner, key="away", variants={"en": "Away"})

    customer_text_set(actor=owner, key="away", variants={"en": " Away "})

    assert _audits(tenant, Action.CUSTOMER_TEXT_CHANGED) == []
    assert len(_audits(tenant, Action.CUSTOMER_TEXT_CREATED)) == 1


def test_a_body_of_exactly_4096_characters_is_accepted(tenant, owner):
    customer_text_set(actor=owner, key="away", variants={"en": "a" * 4096})

    assert len(_variants(tenant, "away")["en"]) == 4096


@pytest.mark.parametrize(
    ("key", "variants", "details"),
    [
        ("greeting", {}, {"field": "variants"}),
        ("greeting", {"en": "  ", "pt-br": ""}, {"field": "variants", "language": "en"}),
        ("greeting", {"pt-br": "Olá", "en": " \n "}, {"field": "variants", "language": "en"}),
        ("greeting", {"en": "a" * 4097}, {"field": "variants", "language": "en", "length": 4097}),
        ("greeting", {"en": "Hi\x00"}, {"field": "variants", "language": "en"}),
        ("greeting", {"pt_BR": "Olá", "pt-br": "Oi"}, {"field": "variants", "language": "pt-br"}),
        ("greeting", {"es": "Hola"}, {"field": "variants", "language": "es", "allowed": ["en", "pt", "pt-br"]}),
        (
            "greeting",
            {"klingon": "nuqneH"},
            {"field": "variants", "language": "klingon", "allowed": ["en", "pt", "pt-br"]},
        ),
        ("Greeting!", {"en": "Hi"}, {"field": "key"}),
        ("", {"en": "Hi"}, {"field": "key"}),
        ("g" * 61, {"en": "Hi"}, {"field": "key"}),
    ],
)
def test_invalid_texts_are_refused_and_nothing_is_stored(tenant, owner, key, variants, details):
    with pytest.raises(ValidationFailed) as refused:
        customer_text_set(actor=owner, key=key, variants=variants)

    assert refused.value.details == details
    assert refused.value.message
    assert CustomerText.objects.filter(tenant=tenant).count() == 0
    assert _audits(tenant, Action.CUSTOMER_TEXT_CREATED) == []


def test_refusal_messages_say_what_is_wrong(tenant, owner):
    with pytest.raises(ValidationFailed) as empty:
        customer_text_set(actor=owner, key="greeting", variants={"en": " "})
    with pytest.raises(ValidationFailed) as too_long:
        customer_text_set(actor=owner, key="greeting", variants={"en": "a" * 4097})
    with pytest.raises(ValidationFailed) as unknown:
        customer_text_set(actor=owner, key="greeting", variants={"es": "Hola"})

    assert empty.value.message == "The text in en is empty."
    assert too_long.value.message == "The text in en has more than 4096 characters."
    assert unknown.value.message == "Texts can be written in en, pt, pt-br; “es” is not one of them."


def test_a_refused_change_leaves_the_text_as_it_was(tenant, owner):
    customer_text_set(actor=owner, key="greeting", variants=GREETING)

    with pytest.raises(ValidationFailed):
        customer_text_set(actor=owner, key="greeting", variants={"pt-br": "Oi", "en": ""})

    assert _variants(tenant, "greeting") == GREETING


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_members_without_manage_automations_cannot_set_or_delete_texts(tenant, owner, role):
    member = add_member(tenant, role)
    customer_text_set(actor=owner, key="greeting", variants=GREETING)

    with pytest.raises(PermissionDenied):
        customer_text_set(actor=member, key="greeting", variants={"en": "Changed"})
    with pytest.raises(PermissionDenied):
        customer_text_set(actor=member, key="away", variants={"en": "Away"})
    with pytest.raises(PermissionDenied):
        customer_text_delete(actor=member, key="greeting")

    assert _variants(tenant, "greeting") == GREETING
    assert list(CustomerText.objects.filter(tenant=tenant).values_list("key", flat=True)) == ["greeting"]


def test_an_automation_cannot_change_texts(tenant):
    automation = AutomationActor(tenant_id=tenant.pk, automation_id=7, name="Boas-vindas", kind="greeting")

    with pytest.raises(PermissionDenied):
        customer_text_set(actor=automation, key="greeting", variants={"en": "Hi"})

    assert CustomerText.objects.filter(tenant=tenant).count() == 0


def test_the_same_key_in_two_workspaces_is_two_texts(tenant, other_tenant):
    customer_text_set(actor=owner_of(tenant), key="greeting", variants=GREETING)

    customer_text_set(actor=owner_of(other_tenant), key="greeting", variants={"en": "Globex says hi"})

    assert _variants(tenant, "greeting") == GREETING
    assert _variants(other_tenant, "greeting") == {"en": "Globex says hi"}
    assert _audits(tenant, Action.CUSTOMER_TEXT_CHANGED) == []


def test_deleting_a_text_removes_every_variant_and_is_audited(tenant, owner):
    text = customer_text_set(actor=owner, key="away", variants=GREETING)

    customer_text_delete(actor=owner, key="away")

    assert CustomerText.objects.filter(tenant=tenant).count() == 0
    assert CustomerTextVariant.objects.filter(tenant=tenant).count() == 0
    [entry] = _audits(tenant, Action.CUSTOMER_TEXT_DELETED)
    assert (entry.actor_id, entry.target_id, entry.extra) == (
        owner.user_id,
        str(text.pk),
        {"key": "away", "languages": ["en", "pt-br"]},
    )
    assert _pick(tenant, _contact(tenant, "en"), key="away") is None


def test_deleting_another_workspaces_text_is_not_found(tenant, other_tenant):
    customer_text_set(actor=owner_of(other_tenant), key="greeting", variants={"en": "Globex says hi"})

    with pytest.raises(NotFound):
        customer_text_delete(actor=owner_of(tenant), key="greeting")

    assert _variants(other_tenant, "greeting") == {"en": "Globex says hi"}
    assert _audits(tenant, Action.CUSTOMER_TEXT_DELETED) == []
    assert _audits(other_tenant, Action.CUSTOMER_TEXT_DELETED) == []
