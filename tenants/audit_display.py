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

from allauth.mfa.models import Authenticator
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from tenants.models import AuditLogEntry, Membership, Role, Tenant, User
from tenants.permissions import Perm

Action = AuditLogEntry.Action
# Bulk resolver of one kind of reference: (tenant id, values) -> {value: name}.
Resolver = Callable[[int, set[Any]], Mapping[Any, str]]


# An empty value, when what it would name has no word of its own for "none" (Portuguese says "nenhum" or
# "nenhuma" by the noun's gender, so each kind of thing gives its own, with a context naming the thing).
NONE = pgettext_lazy("value", "none")


@dataclass(frozen=True)
class Kind:
    resolve: Resolver
    empty: str | Promise = NONE


_KINDS: dict[str, Kind] = {}
# Which keys of an entry's extra name which kind of thing: for every action, and per action.
_KEYS: dict[str, str] = {}
_ACTION_KEYS: dict[str, dict[str, str]] = {}

# How each key of an entry's extra is labelled: for every action, and per action where one word names
# different things ("added" labels of a conversation, "added" languages of a customer text).
_KEY_LABELS: dict[str, str | Promise] = {
    "from": gettext_lazy("from"),
    "to": gettext_lazy("to"),
    "name": gettext_lazy("name"),
    "description": gettext_lazy("description"),
    "email": gettext_lazy("e-mail"),
    "role": gettext_lazy("role"),
    "roles": gettext_lazy("roles"),
    "permissions": gettext_lazy("permissions"),
    "mfa_policy": gettext_lazy("MFA policy"),
    "timezone": gettext_lazy("time zone"),
    "prefix": gettext_lazy("prefix"),
    "type": gettext_lazy("type"),
    "stage": gettext_lazy("step"),
    "area": gettext_lazy("area"),
    "remaining": gettext_lazy("recovery codes left"),
    "authenticators_removed": gettext_lazy("second factors removed"),
}
_ACTION_KEY_LABELS: dict[str, dict[str, str | Promise]] = {}
# Readers of the actor names apps store in English ("system"): each says one in the viewer's language, or None.
_ACTOR_READERS: list[Callable[[str], str | None]] = []


# Details in a fixed order (PostgreSQL's jsonb does not keep the order keys were written in).
_FIRST = ("key", "from", "to", "name", "shortcut", "scope", "inbox_id", "role", "email", "added", "removed")


def _ordered(keys: Iterable[str]) -> list[str]:
    rank = {key: i for i, key in enumerate(_FIRST)}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def register_kind(name: str, resolve: Resolver, *, empty: str | Promise = NONE) -> None:
    _KINDS[name] = Kind(resolve=resolve, empty=empty)


def register_keys(keys: Mapping[str, str], *, action: str | None = None) -> None:
    """Say that ``extra[key]`` holds a reference of a registered kind (for one action, or for all)."""
    (_ACTION_KEYS.setdefault(action, {}) if action else _KEYS).update(keys)


def register_labels(labels: Mapping[str, str | Promise], *, action: str | None = None) -> None:
    """Say how ``extra[key]`` is labelled (for one action, or for all); an unlabelled key shows as written."""
    (_ACTION_KEY_LABELS.setdefault(action, {}) if action else _KEY_LABELS).update(labels)


def register_actor_reader(reader: Callable[[str], str | None]) -> None:
    """Say how to show an ``actor_label`` an app stores in a fixed English form (None: not one of its)."""
    _ACTOR_READERS.append(reader)


def choices_kind(choices: Iterable[tuple[Any, Any]]) -> Resolver:
    labels = dict(choices)
    return lambda _tenant_id, values: {v: str(labels[v]) for v in values if v in labels}


def as_written(_tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    """A kind whose values are shown as stored (names, file names): it only gives its own "none"."""
    return {v: str(v) for v in values}


@dataclass
class AuditRow:
    """One entry and its details as ``(label, text)`` pairs, in the order stored."""

    entry: AuditLogEntry
    details: list[tuple[str, str]] = field(default_factory=list)
    actor: str = ""


def _kind_of(action: str, key: str) -> str | None:
    return _ACTION_KEYS.get(action, {}).get(key) or _KEYS.get(key)


def _walk(action: str, key: str, value: Any, found: dict[str, set[Any]]) -> None:
    """Collect the references in one value (lists, before/after pairs and nested changes too)."""
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            # A change {"from": …, "to": …} names what its key names.
            _walk(action, key if sub_key in ("from", "to") else sub_key, sub_value, found)
        return
    if isinstance(value, list):
        for item in value:
            _walk(action, key, item, found)
        return
    kind = _kind_of(action, key)
    if kind is not None and value is not None and not isinstance(value, bool):
        found[kind].add(value)


def _empty(kind: str | None) -> str:
    return str(_KINDS[kind].empty if kind in _KINDS else NONE)


def _show(action: str, key: str, value: Any, names: dict[str, Mapping[Any, str]]) -> str:
    kind = _kind_of(action, key)
    if isinstance(value, list):
        return ", ".join(_show(action, key, item, names) for item in value) or _empty(kind)
    if value is None or value == "":
        return _empty(kind)
    if isinstance(value, bool):
        return _("changed") if value else _("unchanged")
    if isinstance(value, Mapping):
        if value and set(value) <= {"from", "to"}:  # one field's change: {"from": before, "to": after}
            return _change(action, key, value.get("from"), value.get("to"), names)
        return ", ".join(f"{_label(action, k)}: {_show(action, k, v, names)}" for k, v in value.items())
    if kind is not None:
        name = names.get(kind, {}).get(value)
        if name is not None:
            return name
        if kind == "user" and isinstance(value, int):
            return _("a former member")
    return str(value)


def _label(action: str, key: str) -> str:
    label = _ACTION_KEY_LABELS.get(action, {}).get(key) or _KEY_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ")


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
                    details.append((_label(action, sub_key), _change(action, sub_key, pair[0], pair[1], names)))
                else:
                    details.append((_label(action, sub_key), _show(action, sub_key, pair, names)))
        elif key == "before" and isinstance(value, Mapping) and isinstance(extra.get("after"), Mapping):
            after = extra["after"]
            for sub_key in _ordered({*value, *after}):
                if value.get(sub_key) != after.get(sub_key):
                    change = _change(action, sub_key, value.get(sub_key), after.get(sub_key), names)
                    details.append((_label(action, sub_key), change))
        elif key == "after" and isinstance(value, Mapping) and isinstance(extra.get("before"), Mapping):
            continue  # shown with "before"
        else:
            details.append((_label(action, key), _show(action, key, value, names)))
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
    return [AuditRow(entry=entry, details=_details(entry, names), actor=_actor(entry.actor_label)) for entry in entries]


def _actor(label: str) -> str:
    for reader in _ACTOR_READERS:
        if (shown := reader(label)) is not None:
            return shown
    return label


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


LOGIN_STAGES = (("password", gettext_lazy("password")), ("mfa", gettext_lazy("second factor")))
AREAS = (("admin", gettext_lazy("admin site")),)

register_kind("user", _user_names, empty=gettext_lazy("Unassigned"))
register_kind("role", _role_names, empty=pgettext_lazy("roles", "none"))
register_kind("moment", _moments, empty="—")
register_kind("permission", choices_kind(Perm.choices), empty=pgettext_lazy("permissions", "none"))
register_kind("availability", choices_kind(Membership.Availability.choices))
register_kind("mfa_policy", choices_kind(Tenant.MfaPolicy.choices))
register_kind("authenticator", choices_kind(Authenticator.Type.choices))
register_kind("login_stage", choices_kind(LOGIN_STAGES))
register_kind("area", choices_kind(AREAS))
register_keys({"role": "role", "roles": "role", "permissions": "permission", "mfa_policy": "mfa_policy"})
register_keys({"from": "role", "to": "role"}, action=Action.MEMBER_ROLE_CHANGED)
register_keys({"from": "availability", "to": "availability"}, action=Action.AVAILABILITY_CHANGED)
for _action in (Action.MFA_ENABLED, Action.MFA_DISABLED, Action.LOGIN_FAILED):
    register_keys({"type": "authenticator"}, action=_action)
register_keys({"stage": "login_stage"}, action=Action.LOGIN_FAILED)
register_keys({"area": "area"}, action=Action.LOGIN_SUCCEEDED)
