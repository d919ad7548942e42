"""The consent ledger: who agreed (or stopped agreeing) to be written to, for what, when, and the proof.

Every answer is a row of ``ConsentEvent`` (append-only); ``ConsentState`` holds each contact's latest answer per
purpose, and for the ``marketing`` purpose the core's ``Contact.marketing_consent`` (what the channel's sender
reads before a marketing template) is kept equal to it through the core's ``contact_marketing_consent_set``.
Answers arrive out of order (WhatsApp's webhooks, imports of old forms): the latest by ``occurred_at`` wins,
whatever the order they were recorded in. A replayed source (the same message, webhook or import row) carries the
same ``dedupe_key`` and records nothing more.

Agents and API callers need "Manage contacts" and are audited; purposes and the keywords need "Manage broadcasts".
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import MARKETING, ConsentEvent, ConsentPurpose, ConsentSettings, ConsentState
from conversations.actors import Actor, actor_audit_label, actor_audit_label_display, actor_audit_record, actor_user
from conversations.models import Contact
from conversations.selectors import conversation_list
from conversations.services.contacts import contact_marketing_consent_set
from helpdesk.exceptions import Conflict, NotFound, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership, Tenant
from tenants.permissions import Perm, require_perm

Kind = ConsentEvent.Kind
Source = ConsentEvent.Source

# The name the marketing purpose is created with (in the workspace's language) and shown with (in the reader's).
MARKETING_NAME = gettext_lazy("Marketing messages")
MARKETING_DESCRIPTION = gettext_lazy("Offers, news and other messages of WhatsApp's marketing category.")

NOTE_MAX = 1000
EVIDENCE_MAX_BYTES = 4000
KEYWORD_MAX = 40
KEYWORDS_MAX = 20
# A moment a little ahead of our clock is a clock's drift; further ahead is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)

# The contact's marketing consent each answer leaves (a lifted stop: consent has to be asked for again).
MARKETING_CONSENT_OF: dict[str, str] = {
    Kind.OPT_IN: Contact.MarketingConsent.OPTED_IN,
    Kind.OPT_OUT: Contact.MarketingConsent.OPTED_OUT,
    Kind.RESUME: Contact.MarketingConsent.UNKNOWN,
}


# --- purposes ---------------------------------------------------------------------------------------------------


def purpose_label(purpose: ConsentPurpose) -> str:
    """How pages name a purpose: the marketing purpose in the reader's language, the others as written."""
    return str(MARKETING_NAME) if purpose.is_marketing else purpose.name


def marketing_purpose(*, tenant_id: int) -> ConsentPurpose:
    """The workspace's ``marketing`` purpose, created the first time it is needed (named in its language)."""
    purpose = ConsentPurpose.objects.filter(tenant_id=tenant_id, key=MARKETING).first()
    if purpose is not None:
        return purpose
    locale = Tenant.objects.filter(pk=tenant_id).values_list("locale", flat=True).first() or "pt-br"
    with translation.override(locale):
        name, description = str(MARKETING_NAME), str(MARKETING_DESCRIPTION)
    purpose, _created = ConsentPurpose.objects.get_or_create(
        tenant_id=tenant_id,
        key=MARKETING,
        defaults={"name": name[:80], "description": description[:255], "is_marketing": True},
    )
    return purpose


def consent_purpose_list(*, tenant_id: int) -> list[ConsentPurpose]:
    """The workspace's purposes, marketing first (created if it was not yet)."""
    marketing_purpose(tenant_id=tenant_id)
    return list(ConsentPurpose.objects.filter(tenant_id=tenant_id).order_by("-is_marketing", "name", "pk"))


def consent_purpose_get(*, tenant_id: int, purpose_id: int) -> ConsentPurpose:
    purpose = ConsentPurpose.objects.filter(tenant_id=tenant_id, pk=purpose_id).first()
    if purpose is None:
        raise NotFound(_("No such consent purpose."))
    return purpose


def consent_purpose_by_key(*, tenant_id: int, key: str) -> ConsentPurpose:
    if key == MARKETING:
        return marketing_purpose(tenant_id=tenant_id)
    purpose = ConsentPurpose.objects.filter(tenant_id=tenant_id, key=key).first()
    if purpose is None:
        raise ValidationFailed(_("There is no consent purpose %(key)s.") % {"key": key}, details={"field": "purpose"})
    return purpose


def _purpose_fields_clean(name: Any, description: Any) -> tuple[str, str]:
    name = str(name or "").strip()
    description = str(description or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed(_("The name must be 1 to 80 characters long."), details={"field": "name"})
    if len(description) > 255:
        raise ValidationFailed(
            _("The description can be 255 characters long at most."), details={"field": "description"}
        )
    return name, description


@transaction.atomic
def consent_purpose_create(
    *, actor: Membership | ApiToken, name: str, description: str = "", key: str = "", request: HttpRequest | None = None
) -> ConsentPurpose:
    require_perm(actor, Perm.MANAGE_BROADCASTS)
    name, description = _purpose_fields_clean(name, description)
    key = slugify(key or name)[:40].strip("-")
    if not key:
        raise ValidationFailed(_("The key must have letters or digits."), details={"field": "key"})
    if key == MARKETING:
        raise ValidationFailed(_("The key marketing is the built-in purpose's."), details={"field": "key"})
    marketing_purpose(tenant_id=actor.tenant_id)
    try:
        with transaction.atomic():
            purpose = ConsentPurpose.objects.create(
                tenant_id=actor.tenant_id, key=key, name=name, description=description
            )
    except IntegrityError:
        raise ValidationFailed(
            _("There is already a purpose with the key %(key)s.") % {"key": key}, details={"field": "key"}
        ) from None
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.CONSENT_PURPOSE_CREATED,
        tenant=actor.tenant,
        target=purpose,
        target_label=purpose.name,
        request=request,
        extra={"key": key},
    )
    return purpose


@transaction.atomic
def consent_purpose_update(
    *,
    actor: Membership | ApiToken,
    purpose: ConsentPurpose,
    name: str,
    description: str = "",
    request: HttpRequest | None = None,
) -> ConsentPurpose:
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=purpose.tenant_id)
    if purpose.is_marketing:
        raise Conflict(_("The marketing purpose is built in: it cannot be changed."))
    name, description = _purpose_fields_clean(name, description)
    changed = [f for f, v in (("name", name), ("description", description)) if getattr(purpose, f) != v]
    if not changed:
        return purpose
    purpose.name, purpose.description = name, description
    purpose.save(update_fields=[*changed, "updated_at"])
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.CONSENT_PURPOSE_CHANGED,
        tenant=actor.tenant,
        target=purpose,
        target_label=purpose.name,
        request=request,
        extra={"fields": changed},
    )
    return purpose


@transaction.atomic
def consent_purpose_delete(
    *, actor: Membership | ApiToken, purpose: ConsentPurpose, request: HttpRequest | None = None
) -> None:
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=purpose.tenant_id)
    if purpose.is_marketing:
        raise Conflict(_("The marketing purpose is built in: it cannot be deleted."))
    # The ledger keeps every answer: a purpose someone answered for stays.
    if ConsentEvent.objects.filter(tenant_id=purpose.tenant_id, purpose=purpose).exists():
        raise Conflict(_("Customers have answered for this purpose: it cannot be deleted, their answers are kept."))
    label = purpose.name
    ConsentPurpose.objects.filter(tenant_id=purpose.tenant_id, pk=purpose.pk).delete()
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.CONSENT_PURPOSE_DELETED,
        tenant=actor.tenant,
        target=purpose,
        target_label=label,
        request=request,
        extra={"key": purpose.key},
    )


# --- settings (keywords) ----------------------------------------------------------------------------------------


def keyword_normalise(text: str) -> str:
    """A message or keyword as compared: without accents, case, surrounding punctuation or repeated spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = plain.split()
    joined = " ".join(words)
    start, end = 0, len(joined)
    while start < end and not joined[start].isalnum():
        start += 1
    while end > start and not joined[end - 1].isalnum():
        end -= 1
    return joined[start:end]


def consent_settings_get(*, tenant_id: int) -> ConsentSettings:
    """The workspace's settings, or the defaults (unsaved) when it never changed them."""
    found = ConsentSettings.objects.filter(tenant_id=tenant_id).first()
    return found if found is not None else ConsentSettings(tenant_id=tenant_id)


def _keywords_clean(words: Any, field: str) -> list[str]:
    if isinstance(words, str):
        words = words.replace("\n", ",").split(",")
    if not isinstance(words, list | tuple):
        raise ValidationFailed(_("Give the words as a list."), details={"field": field})
    cleaned: list[str] = []
    seen: set[str] = set()
    for word in words:
        word = " ".join(str(word).split())
        if not word:
            continue
        if len(word) > KEYWORD_MAX or not keyword_normalise(word):
            raise ValidationFailed(
                _("Each word must have letters or digits and be %(n)s characters long at most.") % {"n": KEYWORD_MAX},
                details={"field": field},
            )
        key = keyword_normalise(word)
        if key not in seen:
            seen.add(key)
            cleaned.append(word.upper())
    if len(cleaned) > KEYWORDS_MAX:
        raise ValidationFailed(_("Give %(n)s words at most.") % {"n": KEYWORDS_MAX}, details={"field": field})
    return cleaned


def _audited(value: Any) -> Any:
    # Whether answers are confirmed reads "on" or "off" in the audit log (a bare boolean reads "changed").
    return ("on" if value else "off") if isinstance(value, bool) else value


@transaction.atomic
def consent_settings_update(
    *,
    actor: Membership | ApiToken,
    opt_out_keywords: Any,
    opt_in_keywords: Any,
    confirm: bool,
    request: HttpRequest | None = None,
) -> ConsentSettings:
    require_perm(actor, Perm.MANAGE_BROADCASTS)
    out_words = _keywords_clean(opt_out_keywords, "opt_out_keywords")
    in_words = _keywords_clean(opt_in_keywords, "opt_in_keywords")
    if not out_words:
        raise ValidationFailed(
            _("Keep at least one word that stops marketing: customers must be able to say stop."),
            details={"field": "opt_out_keywords"},
        )
    both = {keyword_normalise(w) for w in out_words} & {keyword_normalise(w) for w in in_words}
    if both:
        raise ValidationFailed(
            _("A word cannot both stop and resume marketing: %(words)s.") % {"words": ", ".join(sorted(both))},
            details={"field": "opt_in_keywords"},
        )
    settings, _created = ConsentSettings.objects.select_for_update().get_or_create(tenant_id=actor.tenant_id)
    before = {"opt_out_keywords": settings.opt_out_keywords, "opt_in_keywords": settings.opt_in_keywords}
    before["confirm"] = settings.confirm
    after = {"opt_out_keywords": out_words, "opt_in_keywords": in_words, "confirm": bool(confirm)}
    changed = [field for field in after if before[field] != after[field]]
    if not changed:
        return settings
    for field in changed:
        setattr(settings, field, after[field])
    settings.save(update_fields=[*changed, "updated_at"])
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.CONSENT_SETTINGS_CHANGED,
        tenant=actor.tenant,
        target=settings,
        target_label=str(_("Consent keywords")),
        request=request,
        extra={"fields": changed, **{field: _audited(after[field]) for field in changed}},
    )
    return settings


# --- recording ------------------------------------------------------------------------------------------------


def _evidence_clean(evidence: Any) -> dict[str, Any]:
    if evidence is None:
        return {}
    if not isinstance(evidence, dict):
        raise ValidationFailed(_("The evidence must be an object."), details={"field": "evidence"})
    if len(json.dumps(evidence, default=str)) > EVIDENCE_MAX_BYTES:
        raise ValidationFailed(
            _("The evidence can be %(n)s characters long at most.") % {"n": EVIDENCE_MAX_BYTES},
            details={"field": "evidence"},
        )
    return {str(k): v for k, v in evidence.items()}


def _checks(*, actor: Actor, source: str, kind: str, evidence: dict[str, Any], note: str) -> None:
    if kind not in Kind.values:
        raise ValidationFailed(_("Unknown consent change."), details={"field": "kind"})
    if source not in Source.values:
        raise ValidationFailed(_("Unknown consent source."), details={"field": "source"})
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _("The note can be %(n)s characters long at most.") % {"n": NOTE_MAX}, details={"field": "note"}
        )
    if source == Source.AGENT:
        if not isinstance(actor, Membership):
            raise ValidationFailed(_("Only a member records consent as an agent."), details={"field": "source"})
        if not note:
            raise ValidationFailed(_("Say how the customer answered (a note is required)."), details={"field": "note"})
    if source in (Source.API, Source.IMPORT) and not any(str(v).strip() for v in evidence.values()):
        raise ValidationFailed(
            _("Give the evidence of the customer's answer (the text they agreed to, a link, a reference)."),
            details={"field": "evidence"},
        )


def consent_record(
    *,
    actor: Actor,
    contact: Contact,
    purpose: ConsentPurpose,
    kind: str,
    source: str,
    occurred_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    note: str = "",
    dedupe_key: str | None = None,
    request: HttpRequest | None = None,
) -> tuple[ConsentEvent, bool]:
    """Append an answer to the ledger and bring the contact's current state up to date.

    Returns the row and whether it is new: a ``dedupe_key`` already recorded returns the first row and changes
    nothing. An answer older than the latest one is kept in the history but does not change the current state.
    """
    if contact.tenant_id != actor.tenant_id or purpose.tenant_id != actor.tenant_id:
        raise NotFound(_("No such contact."))
    require_perm(actor, Perm.MANAGE_CONTACTS, message=_("You do not have permission to change contacts."))
    note = (note or "").strip()
    cleaned = _evidence_clean(evidence)
    _checks(actor=actor, source=source, kind=kind, evidence=cleaned, note=note)
    now = timezone.now()
    occurred_at = occurred_at or now
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed(_("The answer cannot be in the future."), details={"field": "occurred_at"})
    if dedupe_key is not None:
        dedupe_key = dedupe_key[:160]
    person = actor_user(actor)
    with transaction.atomic():
        # One answer of a contact at a time: the current state is computed from everything committed before.
        locked = Contact.objects.select_for_update(no_key=True).filter(tenant_id=contact.tenant_id, pk=contact.pk)
        if locked.values_list("pk", flat=True).first() is None:
            raise NotFound(_("No such contact."))
        try:
            with transaction.atomic():
                event = ConsentEvent.objects.create(
                    tenant_id=contact.tenant_id,
                    contact=contact,
                    purpose=purpose,
                    kind=kind,
                    source=source,
                    occurred_at=occurred_at,
                    actor_user=person,
                    actor_label=actor_audit_label(actor)[:255],
                    evidence=cleaned,
                    note=note,
                    dedupe_key=dedupe_key,
                )
        except IntegrityError:
            if dedupe_key is None:
                raise
            return ConsentEvent.objects.get(tenant_id=contact.tenant_id, dedupe_key=dedupe_key), False
        consent_state_recompute(contact=contact, purpose=purpose)
        if isinstance(actor, Membership | ApiToken):
            actor_audit_record(
                actor,
                action=AuditLogEntry.Action.CONSENT_RECORDED,
                tenant=actor.tenant,
                target=contact,
                target_label=contact.display_name,
                request=request,
                extra={"purpose": purpose.key, "kind": kind, "source": source, "consent_event_id": event.pk},
            )
    return event, True


def consent_state_recompute(*, contact: Contact, purpose: ConsentPurpose) -> ConsentState | None:
    """The contact's state for the purpose from its latest answer (and, for marketing, the contact's consent)."""
    latest = (
        ConsentEvent.objects.filter(tenant_id=contact.tenant_id, contact_id=contact.pk, purpose_id=purpose.pk)
        .order_by("-occurred_at", "-id")
        .first()
    )
    if latest is None:
        return None
    state, _created = ConsentState.objects.update_or_create(
        tenant_id=contact.tenant_id,
        contact_id=contact.pk,
        purpose_id=purpose.pk,
        defaults={"kind": latest.kind, "occurred_at": latest.occurred_at, "event": latest},
    )
    if purpose.is_marketing:
        contact_marketing_consent_set(contact=contact, consent=MARKETING_CONSENT_OF[latest.kind], at=latest.occurred_at)
    return state


# --- reading --------------------------------------------------------------------------------------------------


def contact_visible(*, principal: Membership | ApiToken, contact_id: int) -> Contact:
    """A contact of a conversation the caller may see, or any contact of the workspace for one who sees every
    conversation (an imported contact has none yet); 404 otherwise (another workspace's too)."""
    contacts = Contact.objects.filter(tenant_id=principal.tenant_id, pk=contact_id)
    if not principal.has_perm(Perm.VIEW_ALL_CONVERSATIONS):
        visible = conversation_list(membership=principal).filter(contact_id=OuterRef("pk"))
        contacts = contacts.filter(Exists(visible))
    contact = contacts.first()
    if contact is None:
        raise NotFound(_("No such contact."))
    return contact


def consent_history(*, contact: Contact, limit: int | None = None) -> QuerySet[ConsentEvent]:
    """The contact's answers, newest first."""
    rows = (
        ConsentEvent.objects.filter(tenant_id=contact.tenant_id, contact_id=contact.pk)
        .select_related("purpose", "actor_user")
        .order_by("-occurred_at", "-id")
    )
    return rows[:limit] if limit is not None else rows


@dataclass(frozen=True)
class PurposeState:
    """A purpose and the contact's current answer for it (None: never asked)."""

    purpose: ConsentPurpose
    state: ConsentState | None

    @property
    def kind(self) -> str:
        return self.state.kind if self.state is not None else ""

    @property
    def label(self) -> str:
        if self.state is None or self.state.kind == Kind.RESUME:
            return str(Contact.MarketingConsent.UNKNOWN.label)
        return str(Kind(self.state.kind).label)


def consent_states(*, contact: Contact) -> list[PurposeState]:
    """Every purpose of the workspace with the contact's current answer (reads only: the marketing purpose of a
    workspace that never recorded an answer is shown unsaved)."""
    purposes = list(ConsentPurpose.objects.filter(tenant_id=contact.tenant_id).order_by("-is_marketing", "name", "pk"))
    if not any(p.is_marketing for p in purposes):
        unsaved = ConsentPurpose(
            tenant_id=contact.tenant_id, key=MARKETING, name=str(MARKETING_NAME), is_marketing=True
        )
        purposes.insert(0, unsaved)
    states = {s.purpose_id: s for s in ConsentState.objects.filter(tenant_id=contact.tenant_id, contact_id=contact.pk)}
    return [PurposeState(purpose=p, state=states.get(p.pk)) for p in purposes]


def consent_actor_display(event: ConsentEvent) -> str:
    """Who recorded an answer, in the reader's language: the member, the API token, the automation, the system."""
    if event.actor_user is not None:
        return event.actor_user.display_name
    if not event.actor_label:
        return ""
    return actor_audit_label_display(event.actor_label) or event.actor_label
