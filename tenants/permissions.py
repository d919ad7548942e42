"""The permission catalogue and the built-in roles. Checked only through an actor's ``has_perm``."""

from __future__ import annotations

from typing import Protocol

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from helpdesk.exceptions import PermissionDenied


class Perm(models.TextChoices):
    VIEW_ALL_CONVERSATIONS = "conversations.view_all", _("View all conversations")
    VIEW_UNASSIGNED = "conversations.view_unassigned", _("View unassigned conversations")
    REPLY = "conversations.reply", _("Reply to customers")
    SEND_TEMPLATES = "conversations.send_templates", _("Send message templates")
    MANAGE_BROADCASTS = "campaigns.manage", _("Manage broadcasts")
    MANAGE_CONTACTS = "contacts.manage", _("Manage contacts")
    EXPORT_CONTACTS = "contacts.export", _("Export contacts")
    DELETE_CONTACTS = "contacts.delete", _("Delete contacts")
    MANAGE_LABELS = "labels.manage", _("Manage labels and quick replies")
    MANAGE_AUTOMATIONS = "automations.manage", _("Manage automations")
    MANAGE_CHANNELS = "channels.manage", _("Manage channels")
    MANAGE_MEMBERS = "members.manage", _("Manage members")
    MANAGE_ROLES = "roles.manage", _("Manage roles and security")
    MANAGE_PAYMENTS = "payments.manage", _("Manage payments and catalog")
    VIEW_REPORTS = "reports.view", _("View reports")
    VIEW_AUDIT_LOG = "audit.view", _("View audit log")


ALL_PERMS: frozenset[str] = frozenset(Perm.values)


class BuiltinRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    SUPERVISOR = "supervisor", _("Supervisor")
    AGENT = "agent", _("Agent")


# Built-in roles are shown with these (in the viewer's language), not with the name and description stored.
BUILTIN_ROLE_DESCRIPTIONS: dict[str, str | Promise] = {
    BuiltinRole.OWNER: _("Everything, including other owners and deleting the workspace."),
    BuiltinRole.ADMIN: _("Everything except changing owners."),
    BuiltinRole.SUPERVISOR: _("All conversations, contacts, broadcasts and reports."),
    BuiltinRole.AGENT: _("Their own and unassigned conversations."),
}


BUILTIN_ROLE_PERMS: dict[str, frozenset[str]] = {
    BuiltinRole.OWNER: ALL_PERMS,
    BuiltinRole.ADMIN: ALL_PERMS,
    BuiltinRole.SUPERVISOR: frozenset(
        {
            Perm.VIEW_ALL_CONVERSATIONS,
            Perm.VIEW_UNASSIGNED,
            Perm.REPLY,
            Perm.SEND_TEMPLATES,
            Perm.MANAGE_BROADCASTS,
            Perm.MANAGE_CONTACTS,
            Perm.EXPORT_CONTACTS,
            Perm.MANAGE_LABELS,
            Perm.VIEW_REPORTS,
        }
    ),
    BuiltinRole.AGENT: frozenset(
        {
            Perm.VIEW_UNASSIGNED,
            Perm.REPLY,
            Perm.SEND_TEMPLATES,
            Perm.MANAGE_CONTACTS,
        }
    ),
}


# What an automation or the system may do (``conversations.actors``): the work of a conversation
# (reply, templates, notes, assign, status, priority, labels, contact details) and seeing
# conversations; never members, roles, settings, channels, exports or the audit log.
NON_HUMAN_PERMS: frozenset[str] = frozenset(
    {
        Perm.VIEW_ALL_CONVERSATIONS,
        Perm.VIEW_UNASSIGNED,
        Perm.REPLY,
        Perm.SEND_TEMPLATES,
        Perm.MANAGE_CONTACTS,
    }
)


class Actor(Protocol):
    """Who acts: a member, an API token, an automation or the system (``conversations.actors``):
    anything that answers ``has_perm`` within one workspace."""

    @property
    def tenant_id(self) -> int: ...

    def has_perm(self, perm: str) -> bool: ...


def require_perm(actor: Actor, perm: str, *, tenant_id: int | None = None, message: str | None = None) -> None:
    """Refuse with ``PermissionDenied`` unless ``actor`` holds ``perm`` (in workspace ``tenant_id``, if given)."""
    if (tenant_id is not None and actor.tenant_id != tenant_id) or not actor.has_perm(perm):
        raise PermissionDenied(message or gettext("You do not have permission to do that."))
