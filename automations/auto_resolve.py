"""Auto-resolve, per inbox: whether it is on, after how many hours without customer activity, the label it
adds, whether it also resolves conversations waiting for an agent, and the closing message per language
(the workspace's customer text ``closing_key(inbox)``). Reads for the pages and the API, and the one write,
checked against "Manage automations" and audited. The job that resolves is ``auto_resolve_run``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from automations.models import AUTO_RESOLVE_HOURS_MAX, AUTO_RESOLVE_HOURS_MIN, AutoResolution, AutoResolveSettings
from conversations.actors import Actor, actor_audit_record
from conversations.customer_texts import customer_text_languages, language_normalise
from conversations.models import CustomerText, CustomerTextVariant, Inbox, Label
from conversations.selectors import inbox_list, labels_from_ids
from conversations.services.customer_texts import customer_text_delete, customer_text_set
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

# How far back the pages count the conversations each inbox resolved.
RECENT = timedelta(days=7)


def closing_key(inbox_id: int) -> str:
    """The customer text holding an inbox's closing message, one variant per language."""
    return f"auto_resolve_inbox_{inbox_id}"


@dataclass(frozen=True, kw_only=True)
class AutoResolveSpec:
    """An inbox's auto-resolve, as the pages and the API hand it to ``auto_resolve_update``."""

    enabled: bool = False
    after_hours: int = 24
    label_id: int | None = None
    include_waiting: bool = False
    # Language -> wording; empty: no closing message.
    closing_message: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AutoResolveRow:
    """One inbox on the settings page and in the API."""

    inbox: Inbox
    settings: AutoResolveSettings  # unsaved defaults for an inbox never set up
    closing_message: dict[str, str]
    resolved_recently: int = 0

    @property
    def spec(self) -> AutoResolveSpec:
        return auto_resolve_spec(self.settings, self.closing_message)


def auto_resolve_spec(settings: AutoResolveSettings, closing_message: Mapping[str, str]) -> AutoResolveSpec:
    return AutoResolveSpec(
        enabled=settings.enabled,
        after_hours=settings.after_hours,
        label_id=settings.label_id,
        include_waiting=settings.include_waiting,
        closing_message=dict(closing_message),
    )


# --- reads ---------------------------------------------------------------------------------------------


def inbox_get(*, tenant: Tenant, inbox_id: int) -> Inbox:
    """One of the workspace's inboxes; another workspace's is as missing as one that never was."""
    inbox = inbox_list(tenant=tenant).filter(pk=inbox_id).first()
    if inbox is None:
        raise Http404("No such inbox.")
    return inbox


def closing_messages(*, tenant_id: int, inbox_ids: list[int]) -> dict[int, dict[str, str]]:
    """Each inbox's closing message by language (one query); an inbox without one is left out."""
    keys = {closing_key(pk): pk for pk in inbox_ids}
    found: dict[int, dict[str, str]] = {}
    rows = CustomerTextVariant.objects.filter(tenant_id=tenant_id, text__tenant_id=tenant_id, text__key__in=keys)
    for key, language, body in rows.order_by("language").values_list("text__key", "language", "body"):
        found.setdefault(keys[key], {})[language] = body
    return found


def _defaults(inbox: Inbox) -> AutoResolveSettings:
    return AutoResolveSettings(tenant_id=inbox.tenant_id, inbox=inbox)


def auto_resolve_rows(*, tenant: Tenant) -> list[AutoResolveRow]:
    """Every inbox of the workspace with its auto-resolve, closing message and the conversations it resolved
    in the last seven days, by inbox name (four queries)."""
    inboxes = list(inbox_list(tenant=tenant).order_by("name", "id"))
    ids = [inbox.pk for inbox in inboxes]
    saved = {
        row.inbox_id: row
        for row in AutoResolveSettings.objects.filter(tenant_id=tenant.pk, inbox_id__in=ids).select_related("label")
    }
    texts = closing_messages(tenant_id=tenant.pk, inbox_ids=ids)
    since = timezone.now() - RECENT
    counts = dict(
        AutoResolution.objects.filter(tenant_id=tenant.pk, inbox_id__in=ids, created_at__gte=since)
        .values_list("inbox_id")
        .annotate(n=Count("id"))
        .values_list("inbox_id", "n")
    )
    return [
        AutoResolveRow(
            inbox=inbox,
            settings=saved.get(inbox.pk) or _defaults(inbox),
            closing_message=texts.get(inbox.pk, {}),
            resolved_recently=counts.get(inbox.pk, 0),
        )
        for inbox in inboxes
    ]


def auto_resolve_row(*, tenant: Tenant, inbox_id: int) -> AutoResolveRow:
    """One inbox's auto-resolve (404 for an inbox not of this workspace)."""
    inbox = inbox_get(tenant=tenant, inbox_id=inbox_id)
    settings = AutoResolveSettings.objects.filter(tenant_id=tenant.pk, inbox=inbox).select_related("label").first()
    texts = closing_messages(tenant_id=tenant.pk, inbox_ids=[inbox.pk])
    resolved = AutoResolution.objects.filter(
        tenant_id=tenant.pk, inbox=inbox, created_at__gte=timezone.now() - RECENT
    ).count()
    return AutoResolveRow(
        inbox=inbox,
        settings=settings or _defaults(inbox),
        closing_message=texts.get(inbox.pk, {}),
        resolved_recently=resolved,
    )


# --- checks --------------------------------------------------------------------------------------------


def _invalid(message: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field, **details})


def _clean_hours(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (AUTO_RESOLVE_HOURS_MIN <= value <= AUTO_RESOLVE_HOURS_MAX)
    ):
        raise _invalid(
            _("Resolve after %(min)s to %(max)s hours without customer activity.")
            % {"min": AUTO_RESOLVE_HOURS_MIN, "max": AUTO_RESOLVE_HOURS_MAX},
            "after_hours",
            min=AUTO_RESOLVE_HOURS_MIN,
            max=AUTO_RESOLVE_HOURS_MAX,
        )
    return value


def _clean_label(tenant_id: int, label_id: int | None) -> Label | None:
    if label_id is None:
        return None
    return labels_from_ids(tenant=tenant_id, ids=[label_id], field="label_id")[0]


def _clean_closing(closing: Mapping[str, str]) -> dict[str, str]:
    """The wording by language, blank ones left out; the customer texts' own checks come on saving."""
    allowed = customer_text_languages()
    cleaned: dict[str, str] = {}
    for given, body in closing.items():
        language = language_normalise(given)
        if language is None or language not in allowed:
            raise _invalid(
                _("Texts can be written in %(languages)s; “%(language)s” is not one of them.")
                % {"languages": ", ".join(sorted(allowed)), "language": given},
                "closing_message",
                language=str(given),
            )
        if not isinstance(body, str):
            raise _invalid(_("The closing message must be text."), "closing_message", language=language)
        if body.strip():
            cleaned[language] = body.strip()
    return cleaned


# --- the write ----------------------------------------------------------------------------------------


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _audit_values(spec: AutoResolveSpec, label: Label | None) -> dict[str, Any]:
    """What the audit log keeps: codes and names, shown in the viewer's language later."""
    return {
        "enabled": _switch(spec.enabled),
        "after_hours": spec.after_hours,
        "label": label.name if label is not None else "",
        "include_waiting": _switch(spec.include_waiting),
        "closing_message": sorted(spec.closing_message),
    }


def _closing_write(
    *, actor: Actor, inbox: Inbox, before: Mapping[str, str], after: dict[str, str], request: Any
) -> None:
    key = closing_key(inbox.pk)
    if after == dict(before):
        return
    if not after:
        if CustomerText.objects.filter(tenant_id=inbox.tenant_id, key=key).exists():
            customer_text_delete(actor=actor, key=key, request=request)
        return
    try:
        customer_text_set(actor=actor, key=key, variants=after, request=request)
    except ValidationFailed as exc:
        # The customer texts' own refusal (a body too long, a NUL), told as this form's field.
        raise _invalid(exc.message, "closing_message", language=exc.details.get("language")) from None


@transaction.atomic
def auto_resolve_update(*, actor: Actor, inbox: Inbox, spec: AutoResolveSpec, request: Any = None) -> AutoResolveRow:
    """Make the inbox's auto-resolve read ``spec``. Everything is checked before anything is written, and a
    refusal leaves it (and the closing message) exactly as it was; an unchanged one records nothing."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if inbox.tenant_id != actor.tenant_id:
        raise NotFound(_("No such inbox."))
    after_hours = _clean_hours(spec.after_hours)
    label = _clean_label(inbox.tenant_id, spec.label_id)
    closing = _clean_closing(spec.closing_message)
    spec = AutoResolveSpec(
        enabled=bool(spec.enabled),
        after_hours=after_hours,
        label_id=label.pk if label is not None else None,
        include_waiting=bool(spec.include_waiting),
        closing_message=closing,
    )
    settings = (
        AutoResolveSettings.objects.select_for_update(no_key=True, of=("self",))
        .filter(tenant_id=inbox.tenant_id, inbox=inbox)
        .select_related("label")
        .first()
    ) or _defaults(inbox)
    before_closing = closing_messages(tenant_id=inbox.tenant_id, inbox_ids=[inbox.pk]).get(inbox.pk, {})
    before = auto_resolve_spec(settings, before_closing)
    old, new = _audit_values(before, settings.label), _audit_values(spec, label)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    reworded = sorted(lang for lang, body in closing.items() if lang in before_closing and before_closing[lang] != body)
    if not changes and not reworded:
        return AutoResolveRow(inbox=inbox, settings=settings, closing_message=before_closing)
    settings.enabled = spec.enabled
    settings.after_hours = spec.after_hours
    settings.label = label
    settings.include_waiting = spec.include_waiting
    if settings.pk is None:
        settings.save()
    else:
        settings.save(update_fields=["enabled", "after_hours", "label", "include_waiting", "updated_at"])
    _closing_write(actor=actor, inbox=inbox, before=before_closing, after=closing, request=request)
    extra: dict[str, Any] = {"inbox_id": inbox.pk, "changes": changes}
    if reworded:
        extra["closing_message_reworded"] = reworded
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.AUTO_RESOLVE_CHANGED,
        tenant=inbox.tenant,
        target=inbox,
        target_label=inbox.name,
        request=request,
        extra=extra,
    )
    return AutoResolveRow(inbox=inbox, settings=settings, closing_message=closing)


def due_filter(settings: AutoResolveSettings, *, now: Any) -> Q:
    """The conversations of ``settings``' inbox due now, status aside: quiet for its hours since the
    conversation's last message, and, unless it says so, not waiting for an agent."""
    due = Q(inbox_id=settings.inbox_id, last_activity_at__lte=now - timedelta(hours=settings.after_hours))
    if not settings.include_waiting:
        due &= Q(waiting_since__isnull=True)
    return due
