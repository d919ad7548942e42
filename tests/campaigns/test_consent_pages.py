"""Consent pages: the contact panel's section, an agent recording an answer with a note, Settings > Consent."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns.consent import consent_record, consent_settings_get, marketing_purpose
from campaigns.models import ConsentEvent, ConsentPurpose
from conversations.models import Contact, CustomerTextVariant
from conversations.services.customer_texts import BODY_MAX
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.conversations.factories import make_conversation, make_inbox, make_role
from tests.factories import add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(tenant, owner):
    inbox = make_inbox(tenant, members=[owner])
    return make_conversation(inbox, name="Maria")


def logged_in(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def test_the_contact_panel_shows_the_state_the_history_and_the_form(tenant, owner, conversation):
    consent_record(
        actor=owner, contact=conversation.contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind="opt_in",
        source="agent", note="Disse <b>sim</b> na loja",
    )  # fmt: skip

    html = logged_in(owner).get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").json()["html"]
    section = html.split("data-contact-consent", 1)[1].split("</section>", 1)[0]

    assert "Marketing messages" in section and "Opted in" in section
    assert "Disse &lt;b&gt;sim&lt;/b&gt; na loja" in section  # a note is text, never markup
    assert owner.user.display_name in section
    assert "data-consent-form" in section and 'name="note"' in section


def test_a_member_without_manage_contacts_sees_no_form(tenant, conversation):
    member = add_member(tenant, make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY]))
    conversation.inbox.members.add(member.user)

    html = logged_in(member).get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").json()["html"]

    assert "data-contact-consent" in html
    assert "data-consent-form" not in html


def test_an_agent_records_an_opt_out_with_a_note_and_returns_to_the_conversation(tenant, owner, conversation):
    response = logged_in(owner).post(
        f"/t/acme/contacts/{conversation.contact_id}/consent/record/",
        {
            "purpose": "marketing",
            "kind": "opt_out",
            "note": "Pediu por telefone",
            "display_id": conversation.display_id,
        },
    )

    assert (response.status_code, response.headers["Location"]) == (302, f"/t/acme/inbox/c/{conversation.display_id}/")
    event = ConsentEvent.objects.get()
    assert (event.kind, event.source, event.note, event.actor_user_id) == (
        "opt_out", "agent", "Pediu por telefone", owner.user_id,
    )  # fmt: skip
    assert Contact.objects.values_list("marketing_consent", flat=True).get(pk=conversation.contact_id) == "opted_out"
    assert AuditLogEntry.objects.filter(action="consent.recorded").count() == 1


def test_an_agent_must_write_a_note(tenant, owner, conversation):
    client = logged_in(owner)
    response = client.post(
        f"/t/acme/contacts/{conversation.contact_id}/consent/record/",
        {"purpose": "marketing", "kind": "opt_in", "note": ""},
    )

    assert response.status_code == 302
    assert not ConsentEvent.objects.exists()
    page = client.get(response.headers["Location"])
    assert "say how the customer answered" in page.content.decode()


def test_without_manage_contacts_the_form_is_refused(tenant, conversation):
    member = add_member(tenant, make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY]))

    response = logged_in(member).post(
        f"/t/acme/contacts/{conversation.contact_id}/consent/record/",
        {"purpose": "marketing", "kind": "opt_in", "note": "x"},
    )

    assert response.status_code == 403
    assert not ConsentEvent.objects.exists()


def test_another_workspace_contact_is_404(tenant, other_tenant, conversation):
    theirs = add_member(other_tenant, "admin")
    client = logged_in(theirs)

    page = client.get(f"/t/globex/contacts/{conversation.contact_id}/consent/")
    record = client.post(
        f"/t/globex/contacts/{conversation.contact_id}/consent/record/",
        {"purpose": "marketing", "kind": "opt_in", "note": "x"},
    )

    assert (page.status_code, record.status_code) == (404, 404)
    assert not ConsentEvent.objects.exists()


def test_settings_change_keywords_and_purposes(tenant, owner):
    client = logged_in(owner)

    page = client.get("/t/acme/settings/consent/")
    saved = client.post(
        "/t/acme/settings/consent/", {"opt_out_keywords": "PARAR, chega", "opt_in_keywords": "VOLTAR", "confirm": ""}
    )
    created = client.post("/t/acme/settings/consent/purposes/", {"name": "Newsletter", "description": "Mensal"})
    purpose = ConsentPurpose.objects.get(key="newsletter")
    edited = client.post(f"/t/acme/settings/consent/purposes/{purpose.pk}/", {"name": "Novidades", "description": ""})
    marketing = ConsentPurpose.objects.get(key="marketing")
    refused = client.post(f"/t/acme/settings/consent/purposes/{marketing.pk}/delete/")
    deleted = client.post(f"/t/acme/settings/consent/purposes/{purpose.pk}/delete/")

    assert page.status_code == 200
    assert [r.status_code for r in (saved, created, edited, refused, deleted)] == [302] * 5
    settings = consent_settings_get(tenant_id=tenant.pk)
    assert (settings.opt_out_keywords, settings.opt_in_keywords, settings.confirm) == (
        ["PARAR", "CHEGA"],
        ["VOLTAR"],
        False,
    )
    assert list(ConsentPurpose.objects.values_list("key", flat=True)) == ["marketing"]
    assert list(
        AuditLogEntry.objects.filter(action__startswith="consent").order_by("pk").values_list("action", flat=True)
    ) == [
        "consent_settings.changed",
        "consent_purpose.created",
        "consent_purpose.changed",
        "consent_purpose.deleted",
    ]


KEYWORDS = {"opt_out_keywords": "PARAR, STOP", "opt_in_keywords": "VOLTAR, START", "confirm": "on"}


def wordings(tenant) -> list[tuple[str, str, str]]:
    return sorted(
        CustomerTextVariant.objects.filter(tenant=tenant, text__key__startswith="consent_").values_list(
            "text__key", "language", "body"
        )
    )


def test_settings_show_the_built_in_confirmations_in_each_language_as_hints(tenant, owner):
    page = logged_in(owner).get("/t/acme/settings/consent/").content.decode()

    texts = page.split("Confirmation messages", 1)[1]
    assert texts.count("data-consent-texts") == 2
    assert 'name="opt_out_pt-br"' in texts and 'name="opt_in_en"' in texts
    assert (
        'placeholder="Done: you will not receive our marketing messages any more. To receive them again, reply START."'
        in texts
    )
    assert (
        'placeholder="Pronto: você não receberá mais nossas mensagens de marketing. Para voltar a recebê-las, '
        'responda VOLTAR."' in texts
    )


def test_settings_write_the_confirmations_per_language_and_a_blank_one_goes_back_to_the_built_in(tenant, owner):
    client = logged_in(owner)
    saved = client.post(
        "/t/acme/settings/consent/",
        {**KEYWORDS, "opt_out_pt-br": "Pronto, sem promoções. Para voltar, VOLTAR.", "opt_in_en": " Welcome back! "},
    )
    assert saved.status_code == 302
    assert wordings(tenant) == [
        ("consent_opted_in", "en", "Welcome back!"),
        ("consent_opted_out", "pt-br", "Pronto, sem promoções. Para voltar, VOLTAR."),
    ]
    page = client.get("/t/acme/settings/consent/").content.decode()
    assert "Pronto, sem promoções. Para voltar, VOLTAR.</textarea>" in page

    cleared = client.post("/t/acme/settings/consent/", {**KEYWORDS, "opt_out_pt-br": "Pronto, sem promoções."})

    assert cleared.status_code == 302
    assert wordings(tenant) == [("consent_opted_out", "pt-br", "Pronto, sem promoções.")]
    assert list(
        AuditLogEntry.objects.filter(action__startswith="customer_text").order_by("pk").values_list("action", flat=True)
    ) == ["customer_text.created", "customer_text.created", "customer_text.changed", "customer_text.deleted"]


def test_a_supervisor_who_manages_broadcasts_writes_the_confirmations(tenant):
    supervisor = add_member(tenant, "supervisor")

    saved = logged_in(supervisor).post("/t/acme/settings/consent/", {**KEYWORDS, "opt_out_en": "Unsubscribed."})

    assert saved.status_code == 302
    assert wordings(tenant) == [("consent_opted_out", "en", "Unsubscribed.")]


def test_a_confirmation_too_long_is_refused_on_its_field_and_nothing_is_saved(tenant, owner):
    too_long = "x" * (BODY_MAX + 1)

    response = logged_in(owner).post(
        "/t/acme/settings/consent/", {**KEYWORDS, "opt_in_keywords": "VOLTAR", "opt_out_en": too_long}
    )

    assert response.status_code == 400
    assert response.context["form"].errors["opt_out_en"]
    assert wordings(tenant) == []
    assert consent_settings_get(tenant_id=tenant.pk).opt_in_keywords == ["VOLTAR", "START"]  # the defaults


def test_settings_refuse_an_agent_their_confirmations_too(tenant):
    agent = add_member(tenant, "agent")

    response = logged_in(agent).post("/t/acme/settings/consent/", {**KEYWORDS, "opt_out_en": "Bye"})

    assert response.status_code == 403
    assert wordings(tenant) == []


def test_settings_refuse_an_agent(tenant):
    agent = add_member(tenant, "agent")

    assert logged_in(agent).get("/t/acme/settings/consent/").status_code == 403
    assert logged_in(agent).post("/t/acme/settings/consent/purposes/", {"name": "X"}).status_code == 403
    assert not ConsentPurpose.objects.filter(key="x").exists()


def test_the_audit_log_names_the_purpose_the_answer_and_the_source(tenant, owner, conversation):
    consent_record(
        actor=owner, contact=conversation.contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind="opt_out",
        source="agent", note="Ao telefone",
    )  # fmt: skip
    client = logged_in(owner)
    client.post("/t/acme/settings/consent/", {"opt_out_keywords": "PARAR", "opt_in_keywords": "", "confirm": ""})

    html = client.get("/t/acme/settings/audit-log/").content.decode()

    for shown in ("Marketing messages", "Opted out", "Agent", "words that stop marketing", "PARAR", "off"):
        assert shown in html, shown
