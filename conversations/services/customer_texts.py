"""Writing the workspace's customer texts (``conversations.customer_texts``): who may, what is accepted,
what is recorded. Changing them needs "Manage automations": they are what automations send."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record
from conversations.customer_texts import KEY_MAX, KEY_RE, customer_text_languages, language_normalise
from conversations.models import CustomerText, CustomerTextVariant
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm, require_perm

BODY_MAX = CustomerTextVariant.BODY_MAX


def _require_manage(actor: Actor, perm: str) -> None:
    require_perm(actor, perm, message=_("You do not have permission to change customer texts."))


def _key_clean(key: Any) -> str:
    key = key.strip() if isinstance(key, str) else ""
    if len(key) > KEY_MAX or not KEY_RE.fullmatch(key):
        raise ValidationFailed(
            _("A text's key has 1 to %(max)s lower-case letters, digits, hyphens or underscores, such as “greeting”.")
            % {"max": KEY_MAX},
            details={"field": "key"},
        )
    return key


def _variants_clean(variants: Any) -> dict[str, str]:
    if not isinstance(variants, dict) or not variants:
        raise ValidationFailed(_("Write the text in at least one language."), details={"field": "variants"})
    allowed = customer_text_languages()
    cleaned: dict[str, str] = {}
    for given, body in variants.items():
        language = language_normalise(given)
        if language is None or language not in allowed:
            raise ValidationFailed(
                _("Texts can be written in %(languages)s; “%(language)s” is not one of them.")
                % {"languages": ", ".join(sorted(allowed)), "language": given},
                details={"field": "variants", "language": str(given), "allowed": sorted(allowed)},
            )
        if language in cleaned:
            raise ValidationFailed(
                _("The text is given twice in %(language)s.") % {"language": language},
                details={"field": "variants", "language": language},
            )
        body = body.strip() if isinstance(body, str) else ""
        if not body:
            raise ValidationFailed(
                _("The text in %(language)s is empty.") % {"language": language},
                details={"field": "variants", "language": language},
            )
        if len(body) > BODY_MAX:
            raise ValidationFailed(
                _("The text in %(language)s has more than %(max)s characters.")
                % {"language": language, "max": BODY_MAX},
                details={"field": "variants", "language": language, "length": len(body)},
            )
        # PostgreSQL refuses NUL in text columns; refuse it here as bad input rather than fail on save.
        if "\x00" in body:
            raise ValidationFailed(
                _("The text contains a null character."), details={"field": "variants", "language": language}
            )
        cleaned[language] = body
    return cleaned


def _text_locked(*, tenant_id: int, key: str) -> tuple[CustomerText, bool]:
    """The workspace's text ``key``, locked, created if missing; two concurrent first writes make one row."""
    locked = CustomerText.objects.select_for_update(no_key=True)
    text = locked.filter(tenant_id=tenant_id, key=key).first()
    if text is not None:
        return text, False
    try:
        with transaction.atomic():
            return CustomerText.objects.create(tenant_id=tenant_id, key=key), True
    except IntegrityError:
        return locked.get(tenant_id=tenant_id, key=key), False


def _audit(*, actor: Actor, action: str, text: CustomerText, request: Any, extra: dict[str, Any]) -> None:
    actor_audit_record(
        actor, action=action, tenant=text.tenant, target=text, target_label=text.key, request=request, extra=extra
    )


@transaction.atomic
def customer_text_set(
    *, actor: Actor, key: str, variants: dict[str, str], request: Any = None, perm: str = Perm.MANAGE_AUTOMATIONS
) -> CustomerText:
    """Make the workspace's text ``key`` read exactly ``variants`` (language → body): languages left out
    lose their wording. Every body must have words; an unchanged text records nothing. ``perm`` is what the
    actor needs: the feature's own permission for the texts it sends (consent confirmations: broadcasts)."""
    _require_manage(actor, perm)
    key = _key_clean(key)
    wanted = _variants_clean(variants)
    text, created = _text_locked(tenant_id=actor.tenant_id, key=key)
    current = {v.language: v for v in CustomerTextVariant.objects.filter(tenant_id=actor.tenant_id, text=text)}
    added = sorted(set(wanted) - set(current))
    removed = sorted(set(current) - set(wanted))
    changed = sorted(
        language for language in wanted if language in current and current[language].body != wanted[language]
    )
    if not (created or added or removed or changed):
        return text
    CustomerTextVariant.objects.filter(tenant_id=actor.tenant_id, text=text, language__in=removed).delete()
    for language in changed:
        variant = current[language]
        variant.body = wanted[language]
        variant.save(update_fields=["body", "updated_at"])
    CustomerTextVariant.objects.bulk_create(
        [
            CustomerTextVariant(tenant_id=actor.tenant_id, text=text, language=language, body=wanted[language])
            for language in added
        ]
    )
    if created:
        _audit(
            actor=actor,
            action=AuditLogEntry.Action.CUSTOMER_TEXT_CREATED,
            text=text,
            request=request,
            extra={"key": key, "languages": added},
        )
    else:
        text.save(update_fields=["updated_at"])
        _audit(
            actor=actor,
            action=AuditLogEntry.Action.CUSTOMER_TEXT_CHANGED,
            text=text,
            request=request,
            extra={"key": key, "added": added, "removed": removed, "changed": changed},
        )
    return text


@transaction.atomic
def customer_text_delete(*, actor: Actor, key: str, request: Any = None, perm: str = Perm.MANAGE_AUTOMATIONS) -> None:
    """Delete the workspace's text ``key`` in every language: features then send nothing for it (or their own)."""
    _require_manage(actor, perm)
    text = (
        CustomerText.objects.select_for_update().filter(tenant_id=actor.tenant_id, key=key).first()
        if isinstance(key, str)
        else None
    )
    if text is None:
        raise NotFound(_("No such customer text."))
    languages = sorted(
        CustomerTextVariant.objects.filter(tenant_id=actor.tenant_id, text=text).values_list("language", flat=True)
    )
    _audit(
        actor=actor,
        action=AuditLogEntry.Action.CUSTOMER_TEXT_DELETED,
        text=text,
        request=request,
        extra={"key": text.key, "languages": languages},
    )
    text.delete()
