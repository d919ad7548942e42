"""The audit log as people read it: ids and codes in an entry's ``extra`` shown as names.

Stored entries are never changed; this only reads them. References are resolved in bulk (one query
per kind of reference for a whole page of entries). Apps that write entries about their own objects
(an inbox, a conversation's status) register how to name them in ``AppConfig.ready()``, so this
module depends on no app but its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.models import AuditLogEntry, Membership, Role, Tenant, User
from tenants.permissions import Perm

Action = AuditLogEntry.Action
# Bulk resolver of one kind of reference: (tenant id, values) -> {value: name}.
Resolver = Callable[[int, set[Any]], Mapping[Any, str]]


NONE = gettext_lazy("none")


@dataclass(frozen=True)
class Kind:
    resolve: Resolver
    empty: str | Promise = NONE


_KINDS: dict[str, Kind] = {}
# Which keys of an entry's extra name which kind of thing: for every action, and per action.
_KEYS: dict[str, str] = {}
_ACTION_KEYS: dict[str, dict[str, str]] = {}

_KEY_LABELS: dict[str, str | Promise] = {
    "from": gettext_lazy("from"),
    "to": gettext_lazy("to"),
    "inbox_id": gettext_lazy("inbox"),
    "labels_added": gettext_lazy("labels added"),
    "labels_removed": gettext_lazy("labels removed"),
    "added": gettext_lazy("added"),
    "removed": gettext_lazy("removed"),
    "snoozed_until": gettext_lazy("until"),
    "text_length": gettext_lazy("text length"),
    "mfa_policy": gettext_lazy("MFA policy"),
    "timezone": gettext_lazy("time zone"),
}


# Details in a fixed order (PostgreSQL's jsonb does not keep the order keys were written in).
_FIRST = ("from", "to", "name", "shortcut", "scope", "inbox_id", "role", "email", "added", "removed")


def _ordered(keys: Iterable[str]) -> list[str]:
    rank = {key: i for i, key in enumerate(_FIRST)}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def register_kind(name: str, resolve: Resolver, *, empty: str | Promise = NONE) -> None:
    _KINDS[name] = Kind(resolve=resolve, empty=empty)


def register_keys(keys: Mapping[str, str], *, action: str | None = None) -> None:
    """Say that ``extra[key]`` holds a reference of a registered kind (for one action, or for all)."""
    (_ACTION_KEYS.setdefault(action, {}) if action else _KEYS).update(keys)


def choices_kind(choices: Iterable[tuple[Any, Any]]) -> Resolver:
    labels = dict(choices)
    return lambda _tenant_id, values: {v: str(labels[v]) for v in values if v in labels}


@dataclass
class AuditRow:
    """One entry and its details as ``(label, text)`` pairs, in the order stored."""

    entry: AuditLogEntry
    details: list[tuple[str, str]] = field(default_factory=list)


def _kind_of(action: str, key: str) -> str | None:
    return _ACTION_KEYS.get(action, {}).get(key) or _KEYS.get(key)


def _walk(action: str, key: str, value: Any, found: dict[str, set[Any]]) -> None:
    """Collect the references in one value (lists, before/after pairs and nested changes too)."""
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            _walk(action, sub_key, sub_value, found)
        return
    if isinstance(value, list):
        for item in value:
            _walk(action, key, item, found)
        return
    kind = _kind_of(action, key)
    if kind is not None and value is not None and not isinstance(value, bool):
        found[kind].add(value)


def _show(action: str, key: str, value: Any, names: dict[str, Mapping[Any, str]]) -> str:
    kind = _kind_of(action, key)
    if isinstance(value, list):
        return ", ".join(_show(action, key, item, names) for item in value) or _("none")
    if value is None or value == "":
        return str(_KINDS[kind].empty) if kind in _KINDS else _("none")
    if isinstance(value, bool):
        return _("changed") if value else _("unchanged")
    if kind is not None:
        name = names.get(kind, {}).get(value)
        if name is not None:
            return name
        if kind == "user" and isinstance(value, int):
            return _("a former member")
    return str(value)


def _label(key: str) -> str:
    return str(_KEY_LABELS.get(key, key.replace("_", " ")))


def _change(action: str, key: str, before: Any, after: Any, names: dict[str, Mapping[Any, str]]) -> str:
    return _("from %(before)s to %(after)s") % {
        "before": _show(action, key, before, names),
        "after": _show(action, key, after, names),
    }


def _details(entry: AuditLogEntry, names: dict[str, Mapping[Any, str]]) -> list[tuple[str, str]]:
    action, extra = entry.action, entry.extra if isinstance(entry.extra, Mapping) else {}
    details: list[tuple[str, str]] = []
    for key in _ordered(extra):
        value = extra[key]
        if key == "changes" and isinstance(value, Mapping):
            for sub_key in _ordered(value):
                pair = value[sub_key]
                if isinstance(pair, list) and len(pair) == 2:
                    details.append((_label(sub_key), _change(action, sub_key, pair[0], pair[1], names)))
                else:
                    details.append((_label(sub_key), _show(action, sub_key, pair, names)))
        elif key == "before" and isinstance(value, Mapping) and isinstance(extra.get("after"), Mapping):
            after = extra["after"]
            for sub_key in _ordered({*value, *after}):
                if value.get(sub_key) != after.get(sub_key):
                    details.append(
                        (_label(sub_key), _change(action, sub_key, value.get(sub_key), after.get(sub_key), names))
                    )
        elif key == "after" and isinstance(value, Mapping) and isinstance(extra.get("before"), Mapping):
            continue  # shown with "before"
        else:
            details.append((_label(key), _show(action, key, value, names)))
    return details


def audit_rows(*, tenant_id: int, entries: Iterable[AuditLogEntry]) -> list[AuditRow]:
    """The entries with readable details; one query per kind of reference on the whole page."""
    entries = list(entries)
    found: dict[str, set[Any]] = defaultdict(set)
    for entry in entries:
        if isinstance(entry.extra, Mapping):
            for key, value in entry.extra.items():
                _walk(entry.action, key, value, found)
    names = {kind: _KINDS[kind].resolve(tenant_id, values) for kind, values in found.items() if kind in _KINDS}
    return [AuditRow(entry=entry, details=_details(entry, names)) for entry in entries]


# --- what tenants itself names ------------------------------------------------------------------


def _user_names(tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    ids = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
    # Only people who are or were members of this workspace: an id never names anyone else's account.
    members = Membership.objects.filter(tenant_id=tenant_id, user_id__in=ids).values_list("user_id", flat=True)
    users = User.objects.filter(pk__in=members).only("pk", "name", "email")
    return {u.pk: u.display_name for u in users}


def _moments(tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    from tenants.templatetags.dates import local_datetime

    shown = {}
    for value in values:
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is not None:
            shown[value] = local_datetime(moment)
    return shown


def _role_names(tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    keys = {v for v in values if isinstance(v, str)}
    roles = Role.objects.filter(tenant_id=tenant_id, key__in=keys).only("key", "name", "builtin")
    return {role.key: role.display_name for role in roles}


register_kind("user", _user_names, empty=gettext_lazy("Unassigned"))
register_kind("role", _role_names)
register_kind("moment", _moments, empty="—")
register_kind("permission", choices_kind(Perm.choices))
register_kind("availability", choices_kind(Membership.Availability.choices))
register_kind("mfa_policy", choices_kind(Tenant.MfaPolicy.choices))
register_keys({"role": "role", "roles": "role", "permissions": "permission", "mfa_policy": "mfa_policy"})
register_keys({"from": "role", "to": "role"}, action=Action.MEMBER_ROLE_CHANGED)
register_keys({"from": "availability", "to": "availability"}, action=Action.AVAILABILITY_CHANGED)
