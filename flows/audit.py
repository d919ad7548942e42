"""The audit entries of wa.me links (created, changed, archived or restored) and how the audit log shows them:
the inbox and the flow by name, the kind of source in words (the actions are ``AuditLogEntry.Action``'s)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy, pgettext_lazy

from flows.models import EntryLink, Flow
from tenants import audit_display

LINK_CREATED = "entry_link.created"
LINK_CHANGED = "entry_link.changed"
LINK_ARCHIVED = "entry_link.archived"
LINK_RESTORED = "entry_link.restored"
LINK_ACTIONS = (LINK_CREATED, LINK_CHANGED, LINK_ARCHIVED, LINK_RESTORED)

LINK_LABELS = {
    "name": gettext_lazy("name"),
    "kind": gettext_lazy("source"),
    "inbox_id": gettext_lazy("inbox"),
    "ref": gettext_lazy("reference"),
    "text": gettext_lazy("prefilled text"),
    "flow_id": gettext_lazy("bot flow"),
}


def _flow_names(tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    ids = {value for value in values if isinstance(value, int) and not isinstance(value, bool)}
    return dict(Flow.objects.filter(tenant_id=tenant_id, pk__in=ids).values_list("pk", "name"))


def register_link_audit_display() -> None:
    """Called from the app's ``ready()``: names the inbox, the flow and the kind in the links' entries."""
    audit_display.register_kind("entry_link_flow", _flow_names, empty=pgettext_lazy("bot flow", "none"))
    audit_display.register_kind("entry_link_kind", audit_display.choices_kind(EntryLink.Kind.choices))
    keys = {"inbox_id": "inbox", "flow_id": "entry_link_flow", "kind": "entry_link_kind"}
    for action in LINK_ACTIONS:
        audit_display.register_keys(keys, action=action)
        audit_display.register_labels(LINK_LABELS, action=action)
