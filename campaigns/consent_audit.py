"""How the audit log shows consent entries: the purpose by name, the answer and its source in words, the settings'
fields and whether answers are confirmed (the actions are ``AuditLogEntry.Action``'s ``CONSENT_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy, pgettext_lazy

from campaigns.consent import purpose_label
from campaigns.models import ConsentEvent, ConsentPurpose
from tenants import audit_display
from tenants.models import AuditLogEntry

Action = AuditLogEntry.Action

LABELS = {
    "purpose": gettext_lazy("purpose"),
    "kind": gettext_lazy("answer"),
    "source": pgettext_lazy("consent", "source"),
    "consent_event_id": gettext_lazy("consent change"),
    "key": gettext_lazy("key"),
    "fields": gettext_lazy("fields changed"),
    "opt_out_keywords": gettext_lazy("words that stop marketing"),
    "opt_in_keywords": gettext_lazy("words that resume marketing"),
    "confirm": gettext_lazy("confirm to the customer"),
}
FIELDS = [
    ("name", gettext_lazy("name")),
    ("description", gettext_lazy("description")),
    ("opt_out_keywords", gettext_lazy("words that stop marketing")),
    ("opt_in_keywords", gettext_lazy("words that resume marketing")),
    ("confirm", gettext_lazy("confirm to the customer")),
]
SWITCH = [("on", pgettext_lazy("switch", "on")), ("off", pgettext_lazy("switch", "off"))]


def _purpose_names(tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    keys = {value for value in values if isinstance(value, str)}
    return {p.key: purpose_label(p) for p in ConsentPurpose.objects.filter(tenant_id=tenant_id, key__in=keys)}


def register_consent_audit_display() -> None:
    """Called from the app's ``ready()``."""
    audit_display.register_kind("consent_purpose", _purpose_names)
    audit_display.register_kind("consent_kind", audit_display.choices_kind(ConsentEvent.Kind.choices))
    audit_display.register_kind("consent_source", audit_display.choices_kind(ConsentEvent.Source.choices))
    audit_display.register_kind("consent_field", audit_display.choices_kind(FIELDS))
    audit_display.register_kind("consent_switch", audit_display.choices_kind(SWITCH))
    keys = {
        "purpose": "consent_purpose",
        "kind": "consent_kind",
        "source": "consent_source",
        "fields": "consent_field",
        "confirm": "consent_switch",
    }
    for action in (
        Action.CONSENT_RECORDED,
        Action.CONSENT_SETTINGS_CHANGED,
        Action.CONSENT_PURPOSE_CREATED,
        Action.CONSENT_PURPOSE_CHANGED,
        Action.CONSENT_PURPOSE_DELETED,
    ):
        audit_display.register_keys(keys, action=action)
        audit_display.register_labels(LABELS, action=action)
