"""The consent ledger's services: every source, replays, out-of-order answers, the derived state, the contact's
marketing consent, permissions, audit, purposes and keyword settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.consent import (
    consent_history,
    consent_purpose_create,
    consent_purpose_delete,
    consent_purpose_update,
    consent_record,
    consent_settings_get,
    consent_settings_update,
    consent_states,
    keyword_normalise,
    marketing_purpose,
)
from campaigns.models import ConsentEvent, ConsentPurpose, ConsentState
from conversations.actors import AutomationActor, SystemActor
from conversations.models import Contact
from helpdesk.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.conversations.factories import make_conversation, make_inbox, make_role, make_token
from tests.factories import add_member

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
Kind = ConsentEvent.Kind
Source = ConsentEvent.Source


@pytest.fixture
def contact(tenant) -> Contact:
    return make_conversation(make_inbox(tenant), name="Maria").contact


def state(contact: Contact, purpose: ConsentPurpose) -> tuple[str, datetime] | None:
    row = ConsentState.objects.filter(contact=contact, purpose=purpose).first()
    return (row.kind, row.occurred_at) if row else None


def consent_of(contact: Contact) -> tuple[str, datetime | None]:
    contact.refresh_from_db()
    return contact.marketing_consent, contact.marketing_consent_at


def test_marketing_purpose_is_created_once_per_workspace_in_its_language(tenant, other_tenant):
    tenant.locale = "pt-br"
    tenant.save(update_fields=["locale"])

    first = marketing_purpose(tenant_id=tenant.pk)
    again = marketing_purpose(tenant_id=tenant.pk)
    theirs = marketing_purpose(tenant_id=other_tenant.pk)

    assert first.pk == again.pk != theirs.pk
    assert (first.key, first.is_marketing, first.name) == ("marketing", True, "Mensagens de marketing")
    assert theirs.name == "Marketing messages"
    assert ConsentPurpose.objects.filter(key="marketing").count() == 2


def test_an_agent_records_an_opt_in_with_a_note_and_it_is_audited(tenant, owner, contact):
    purpose = marketing_purpose(tenant_id=tenant.pk)

    event, created = consent_record(
        actor=owner, contact=contact, purpose=purpose, kind=Kind.OPT_IN, source=Source.AGENT, occurred_at=T0,
        note="Asked on the phone on 2 Nov.",
    )  # fmt: skip

    assert created is True
    assert (event.kind, event.source, event.actor_user_id, event.actor_label, event.note) == (
        "opt_in", "agent", owner.user_id, owner.user.email, "Asked on the phone on 2 Nov.",
    )  # fmt: skip
    assert state(contact, purpose) == ("opt_in", T0)
    assert consent_of(contact) == ("opted_in", T0)
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.CONSENT_RECORDED)
    assert (entry.tenant_id, entry.actor_id, entry.target_id, entry.extra) == (
        tenant.pk,
        owner.user_id,
        str(contact.pk),
        {"purpose": "marketing", "kind": "opt_in", "source": "agent", "consent_event_id": event.pk},
    )


def test_an_agent_must_give_a_note(tenant, owner, contact):
    with pytest.raises(ValidationFailed) as exc:
        consent_record(
            actor=owner, contact=contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind=Kind.OPT_IN,
            source=Source.AGENT, note="   ",
        )  # fmt: skip

    assert exc.value.details == {"field": "note"}
    assert not ConsentEvent.objects.exists()
    assert consent_of(contact) == ("unknown", None)


@pytest.mark.parametrize("source", [Source.API, Source.IMPORT])
def test_the_api_and_imports_need_evidence(tenant, owner, contact, source):
    purpose = marketing_purpose(tenant_id=tenant.pk)
    token = make_token(tenant, make_role(tenant, [Perm.MANAGE_CONTACTS]))

    with pytest.raises(ValidationFailed) as exc:
        consent_record(actor=token, contact=contact, purpose=purpose, kind=Kind.OPT_IN, source=source, evidence={})
    assert exc.value.details == {"field": "evidence"}
    assert not ConsentEvent.objects.exists()

    event, _created = consent_record(
        actor=token, contact=contact, purpose=purpose, kind=Kind.OPT_IN, source=source,
        evidence={"url": "https://example.com/form/77"}, occurred_at=T0,
    )  # fmt: skip
    assert (event.evidence, event.actor_user_id, event.actor_label) == (
        {"url": "https://example.com/form/77"}, None, "API token Integration",
    )  # fmt: skip
    assert (
        AuditLogEntry.objects.filter(
            action=AuditLogEntry.Action.CONSENT_RECORDED, actor_label="API token Integration"
        ).count()
        == 1
    )


@pytest.mark.parametrize("source", [Source.KEYWORD, Source.BUTTON, Source.WEB_FORM, Source.WHATSAPP, Source.FLOW])
def test_every_automatic_source_records_without_an_audit_entry(tenant, contact, source):
    purpose = marketing_purpose(tenant_id=tenant.pk)
    actor = AutomationActor(tenant_id=tenant.pk, automation_id=7, name="Form", kind="consent")

    event, created = consent_record(
        actor=actor, contact=contact, purpose=purpose, kind=Kind.OPT_OUT, source=source, occurred_at=T0,
        evidence={"ref": "x"},
    )  # fmt: skip

    assert (created, event.source, event.actor_label) == (True, source, "automation 'Form' (#7)")
    assert consent_of(contact) == ("opted_out", T0)
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.CONSENT_RECORDED).exists()


def test_a_replay_with_the_same_key_records_once(tenant, contact):
    purpose = marketing_purpose(tenant_id=tenant.pk)
    system = SystemActor(tenant_id=tenant.pk)

    first, created = consent_record(
        actor=system, contact=contact, purpose=purpose, kind=Kind.OPT_OUT, source=Source.WHATSAPP,
        occurred_at=T0, dedupe_key="wa:1",
    )  # fmt: skip
    again, again_created = consent_record(
        actor=system, contact=contact, purpose=purpose, kind=Kind.OPT_IN, source=Source.WHATSAPP,
        occurred_at=T0 + timedelta(hours=1), dedupe_key="wa:1",
    )  # fmt: skip

    assert (created, again_created, again.pk, again.kind) == (True, False, first.pk, "opt_out")
    assert ConsentEvent.objects.count() == 1
    assert consent_of(contact) == ("opted_out", T0)


def test_an_older_answer_recorded_later_is_kept_but_does_not_change_the_state(tenant, contact):
    purpose = marketing_purpose(tenant_id=tenant.pk)
    system = SystemActor(tenant_id=tenant.pk)

    consent_record(actor=system, contact=contact, purpose=purpose, kind=Kind.OPT_OUT, source=Source.WHATSAPP,
                   occurred_at=T0 + timedelta(minutes=5))  # fmt: skip
    consent_record(actor=system, contact=contact, purpose=purpose, kind=Kind.OPT_IN, source=Source.WEB_FORM,
                   occurred_at=T0)  # fmt: skip

    assert [e.kind for e in consent_history(contact=contact)] == ["opt_out", "opt_in"]
    assert state(contact, purpose) == ("opt_out", T0 + timedelta(minutes=5))
    assert consent_of(contact) == ("opted_out", T0 + timedelta(minutes=5))


def test_a_lifted_stop_leaves_consent_unknown(tenant, contact):
    purpose = marketing_purpose(tenant_id=tenant.pk)
    system = SystemActor(tenant_id=tenant.pk)
    consent_record(actor=system, contact=contact, purpose=purpose, kind=Kind.OPT_OUT, source=Source.WHATSAPP,
                   occurred_at=T0)  # fmt: skip

    consent_record(actor=system, contact=contact, purpose=purpose, kind=Kind.RESUME, source=Source.WHATSAPP,
                   occurred_at=T0 + timedelta(days=1))  # fmt: skip

    assert state(contact, purpose) == ("resume", T0 + timedelta(days=1))
    assert consent_of(contact) == ("unknown", T0 + timedelta(days=1))
    [marketing] = [s for s in consent_states(contact=contact) if s.purpose.is_marketing]
    assert marketing.label == "Unknown"


def test_another_purpose_has_its_own_state_and_leaves_marketing_alone(tenant, owner, contact):
    newsletter = consent_purpose_create(actor=owner, name="Newsletter", description="Monthly news")

    consent_record(actor=owner, contact=contact, purpose=newsletter, kind=Kind.OPT_IN, source=Source.AGENT,
                   occurred_at=T0, note="Signed at the shop")  # fmt: skip

    assert state(contact, newsletter) == ("opt_in", T0)
    assert consent_of(contact) == ("unknown", None)
    assert [(s.purpose.key, s.kind) for s in consent_states(contact=contact)] == [
        ("marketing", ""), ("newsletter", "opt_in"),
    ]  # fmt: skip


def test_an_agent_without_manage_contacts_cannot_record(tenant, contact):
    member = add_member(tenant, make_role(tenant, [Perm.REPLY]))

    with pytest.raises(PermissionDenied):
        consent_record(
            actor=member, contact=contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind=Kind.OPT_IN,
            source=Source.AGENT, note="Asked",
        )  # fmt: skip

    assert not ConsentEvent.objects.exists()
    assert consent_of(contact) == ("unknown", None)


def test_another_workspace_contact_is_not_found(tenant, other_tenant, contact):
    theirs = add_member(other_tenant, "admin")

    with pytest.raises(NotFound):
        consent_record(
            actor=theirs, contact=contact, purpose=marketing_purpose(tenant_id=other_tenant.pk), kind=Kind.OPT_IN,
            source=Source.AGENT, note="Asked",
        )  # fmt: skip

    assert not ConsentEvent.objects.exists()


def test_an_answer_in_the_future_is_refused(tenant, owner, contact):
    with pytest.raises(ValidationFailed) as exc:
        consent_record(
            actor=owner, contact=contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind=Kind.OPT_IN,
            source=Source.AGENT, note="x", occurred_at=datetime.now(tz=UTC) + timedelta(hours=1),
        )  # fmt: skip
    assert exc.value.details == {"field": "occurred_at"}


def test_the_ledger_is_append_only(tenant, owner, contact):
    event, _created = consent_record(
        actor=owner, contact=contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind=Kind.OPT_IN,
        source=Source.AGENT, note="Asked",
    )  # fmt: skip

    event.note = "changed"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        ConsentEvent.objects.filter(pk=event.pk).update(note="changed")
    with pytest.raises(TypeError):
        ConsentEvent.objects.filter(pk=event.pk).delete()

    assert ConsentEvent.objects.values_list("note", flat=True).get() == "Asked"


def test_erasing_a_contact_removes_its_ledger_and_state(tenant, owner, contact):
    consent_record(actor=owner, contact=contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind=Kind.OPT_IN,
                   source=Source.AGENT, note="Asked")  # fmt: skip
    other = make_conversation(make_inbox(tenant)).contact
    consent_record(actor=owner, contact=other, purpose=marketing_purpose(tenant_id=tenant.pk), kind=Kind.OPT_IN,
                   source=Source.AGENT, note="Asked")  # fmt: skip

    Contact.objects.filter(pk=contact.pk).delete()

    assert list(ConsentEvent.objects.values_list("contact_id", flat=True)) == [other.pk]
    assert list(ConsentState.objects.values_list("contact_id", flat=True)) == [other.pk]


# --- purposes -------------------------------------------------------------------------------------------------


def test_purposes_are_created_changed_and_deleted_with_manage_broadcasts_and_audited(tenant, owner):
    purpose = consent_purpose_create(actor=owner, name="Order updates")
    purpose = consent_purpose_update(actor=owner, purpose=purpose, name="Order news", description="Shipping")
    consent_purpose_delete(actor=owner, purpose=purpose)

    assert not ConsentPurpose.objects.filter(key="order-updates").exists()
    assert list(
        AuditLogEntry.objects.filter(action__startswith="consent_purpose.")
        .order_by("pk")
        .values_list("action", "extra")
    ) == [
        ("consent_purpose.created", {"key": "order-updates"}),
        ("consent_purpose.changed", {"fields": ["name", "description"]}),
        ("consent_purpose.deleted", {"key": "order-updates"}),
    ]


def test_the_marketing_purpose_cannot_be_deleted_nor_one_with_answers(tenant, owner, contact):
    marketing = marketing_purpose(tenant_id=tenant.pk)
    newsletter = consent_purpose_create(actor=owner, name="Newsletter")
    consent_record(actor=owner, contact=contact, purpose=newsletter, kind=Kind.OPT_IN, source=Source.AGENT,
                   note="Asked")  # fmt: skip

    with pytest.raises(Conflict):
        consent_purpose_delete(actor=owner, purpose=marketing)
    with pytest.raises(Conflict):
        consent_purpose_delete(actor=owner, purpose=newsletter)

    assert set(ConsentPurpose.objects.values_list("key", flat=True)) == {"marketing", "newsletter"}


def test_purposes_need_manage_broadcasts(tenant):
    agent = add_member(tenant, "agent")

    with pytest.raises(PermissionDenied):
        consent_purpose_create(actor=agent, name="Newsletter")

    assert not ConsentPurpose.objects.filter(key="newsletter").exists()


def test_a_purpose_key_is_unique_and_marketing_is_reserved(tenant, owner):
    consent_purpose_create(actor=owner, name="Newsletter")

    with pytest.raises(ValidationFailed):
        consent_purpose_create(actor=owner, name="newsletter")
    with pytest.raises(ValidationFailed):
        consent_purpose_create(actor=owner, name="Marketing")

    assert ConsentPurpose.objects.filter(tenant=tenant).count() == 2


# --- settings -------------------------------------------------------------------------------------------------


def test_keyword_settings_default_and_change_audited(tenant, owner):
    defaults = consent_settings_get(tenant_id=tenant.pk)
    assert (defaults.pk, defaults.opt_out_keywords, defaults.opt_in_keywords, defaults.confirm) == (
        None, ["PARAR", "SAIR", "STOP", "CANCELAR", "DESCADASTRAR", "UNSUBSCRIBE"], ["VOLTAR", "START"], True,
    )  # fmt: skip

    saved = consent_settings_update(actor=owner, opt_out_keywords="parar, Chega ,parar", opt_in_keywords=["volto"],
                                    confirm=False)  # fmt: skip

    assert (saved.opt_out_keywords, saved.opt_in_keywords, saved.confirm) == (["PARAR", "CHEGA"], ["VOLTO"], False)
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.CONSENT_SETTINGS_CHANGED)
    assert entry.extra == {
        "fields": ["opt_out_keywords", "opt_in_keywords", "confirm"],
        "opt_out_keywords": ["PARAR", "CHEGA"],
        "opt_in_keywords": ["VOLTO"],
        "confirm": "off",
    }


def test_keyword_settings_refuse_no_stop_word_and_a_word_in_both_lists(tenant, owner):
    with pytest.raises(ValidationFailed):
        consent_settings_update(actor=owner, opt_out_keywords=[], opt_in_keywords=["VOLTAR"], confirm=True)
    with pytest.raises(ValidationFailed):
        consent_settings_update(actor=owner, opt_out_keywords=["Sáir"], opt_in_keywords=["SAIR"], confirm=True)
    with pytest.raises(PermissionDenied):
        consent_settings_update(actor=add_member(tenant, "agent"), opt_out_keywords=["X"], opt_in_keywords=[],
                                confirm=True)  # fmt: skip

    assert consent_settings_get(tenant_id=tenant.pk).pk is None
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.CONSENT_SETTINGS_CHANGED).exists()


@pytest.mark.parametrize(
    ("said", "normal"),
    [("Parar", "parar"), ("  parar!!", "parar"), ("SAÍR", "sair"), ("saír.", "sair"),
     ("Parar   promoções", "parar promocoes"), ("¡STOP!", "stop"), ("...", "")],
)  # fmt: skip
def test_keyword_normalise(said, normal):
    assert keyword_normalise(said) == normal
