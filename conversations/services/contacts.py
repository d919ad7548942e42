"""Changes agents make to a contact from the inbox sidebar, and the contact's current marketing consent."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import phonenumbers
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record, actor_id, actor_kind, actor_type, actor_user
from conversations.events import ContactUpdated
from conversations.events.outbox import events_record
from conversations.models import Contact, ContactLabel, Label
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm

ATTRIBUTE_LIMIT = 50
ATTRIBUTE_KEY_MAX = 50
ATTRIBUTE_VALUE_MAX = 500
_UNSET: Any = object()


def phone_normalise(raw: str, *, default_region: str = "BR") -> str:
    """E.164 for a number typed by a person; ``ValidationFailed`` when it is not a possible number."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(
            _("Enter a phone number such as +55 11 91234-5678."), details={"field": "phone"}
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationFailed(_("Enter a phone number such as +55 11 91234-5678."), details={"field": "phone"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _attributes_clean(attributes: Any) -> dict[str, str]:
    if not isinstance(attributes, dict):
        raise ValidationFailed(
            _("Custom attributes must be pairs of a name and a value."), details={"field": "attributes"}
        )
    if len(attributes) > ATTRIBUTE_LIMIT:
        raise ValidationFailed(
            _("A contact can have %(n)s custom attributes at most.") % {"n": ATTRIBUTE_LIMIT},
            details={"field": "attributes"},
        )
    cleaned: dict[str, str] = {}
    for key, value in attributes.items():
        key = str(key).strip()
        if not key or len(key) > ATTRIBUTE_KEY_MAX:
            raise ValidationFailed(
                _("Attribute names must be 1 to %(n)s characters long.") % {"n": ATTRIBUTE_KEY_MAX},
                details={"field": "attributes"},
            )
        if not isinstance(value, str | int | float | bool) or len(str(value)) > ATTRIBUTE_VALUE_MAX:
            raise ValidationFailed(
                _("The value of %(key)s must be text of at most %(n)s characters.")
                % {"key": key, "n": ATTRIBUTE_VALUE_MAX},
                details={"field": "attributes", "key": key},
            )
        cleaned[key] = str(value)
    return cleaned


@transaction.atomic
def contact_update(
    *,
    actor: Actor,
    contact: Contact,
    name: str = _UNSET,
    phone: str = _UNSET,
    custom_attributes: dict[str, Any] = _UNSET,
    labels: list[Label] = _UNSET,
) -> Contact:
    """Change what agents may change about a contact; its channel identities and profile name stay the channel's."""
    if actor.tenant_id != contact.tenant_id or not actor.has_perm(Perm.MANAGE_CONTACTS):
        raise PermissionDenied(_("You do not have permission to change contacts."))
    contact = Contact.objects.select_for_update(no_key=True).get(pk=contact.pk)
    changed: dict[str, Any] = {}
    if name is not _UNSET:
        name = name.strip()
        if len(name) > 255:
            raise ValidationFailed(_("The name can be 255 characters long at most."), details={"field": "name"})
        if name != contact.name:
            changed["name"] = name
    if phone is not _UNSET:
        phone = phone_normalise(phone)
        if phone != contact.phone_e164:
            changed["phone_e164"] = phone
    if custom_attributes is not _UNSET:
        attributes = _attributes_clean(custom_attributes)
        if attributes != contact.custom_attributes:
            changed["custom_attributes"] = attributes
    for field, value in changed.items():
        setattr(contact, field, value)
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    label_change: dict[str, list[str]] = {}
    if labels is not _UNSET:
        if any(label.tenant_id != contact.tenant_id for label in labels):
            raise ValidationFailed(_("Unknown label."), details={"field": "labels"})
        current = {cl.label_id: cl for cl in ContactLabel.objects.filter(contact=contact).select_related("label")}
        wanted = {label.pk: label for label in labels}
        removed = [cl.label.name for pk, cl in current.items() if pk not in wanted]
        added = [label for pk, label in wanted.items() if pk not in current]
        ContactLabel.objects.filter(contact=contact).exclude(label_id__in=list(wanted)).delete()
        ContactLabel.objects.bulk_create(
            [ContactLabel(tenant_id=contact.tenant_id, contact=contact, label=label) for label in added],
            ignore_conflicts=True,
        )
        if added or removed:
            label_change = {"labels_added": [label.name for label in added], "labels_removed": removed}
    if changed or label_change:
        person = actor_user(actor)
        events_record(
            [
                ContactUpdated(
                    tenant_id=contact.tenant_id,
                    contact_id=contact.pk,
                    changed_fields=tuple(sorted([*changed, *(["labels"] if label_change else [])])),
                    actor_user_id=person.pk if person else None,
                    actor_type=actor_type(actor),
                    actor_id=actor_id(actor),
                    actor_kind=actor_kind(actor),
                )
            ]
        )
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.CONTACT_UPDATED,
            tenant=contact.tenant,
            target=contact,
            target_label=contact.display_name,
            extra={"fields": sorted(changed), **label_change},
        )
    return contact


def contacts_marketing_consent_set(*, tenant_id: int, contact_ids: Collection[int], consent: str, at: datetime) -> int:
    """``contact_marketing_consent_set`` for many contacts of one workspace given the same answer at the same
    time (an import's opt-ins), in one UPDATE; returns how many changed."""
    if consent not in Contact.MarketingConsent.values:
        raise ValidationFailed(_("Unknown marketing consent."), details={"field": "marketing_consent"})
    if not contact_ids:
        return 0
    return (
        Contact.objects.filter(tenant_id=tenant_id, pk__in=list(contact_ids))
        .filter(Q(marketing_consent_at__isnull=True) | Q(marketing_consent_at__lte=at))
        .exclude(marketing_consent=consent, marketing_consent_at=at)
        .update(marketing_consent=consent, marketing_consent_at=at, updated_at=timezone.now())
    )


def contact_marketing_consent_set(*, contact: Contact, consent: str, at: datetime) -> bool:
    """Set the contact's current marketing consent (what the channel's sender reads), as of ``at``.

    A feature that keeps the history of a customer's answers (the consent ledger) calls this with its
    latest one. Answers arrive out of order: one older than the consent already recorded changes nothing.
    Returns whether the contact changed.
    """
    changed = contacts_marketing_consent_set(
        tenant_id=contact.tenant_id, contact_ids=[contact.pk], consent=consent, at=at
    )
    if changed:
        contact.marketing_consent, contact.marketing_consent_at = consent, at
    return bool(changed)
