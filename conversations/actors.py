"""Who acts on a conversation: a member, an API token, an automation or the system (docs/actors.md).

Core services take one ``actor: Actor``. Views and the API pass the ``Membership`` or ``ApiToken``
they already hold; a feature app (greetings, auto-assignment, CSAT, flows…) passes an
``AutomationActor`` naming itself, and the core's own jobs a ``SystemActor``. Every actor answers
``tenant_id`` and ``has_perm`` (so ``tenants.permissions.require_perm`` checks any of them), and the
helpers below say who it is: in the audit log, in the conversation's history, on the messages it
sends and in the domain events it causes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext as _

from conversations.models import Message
from tenants.models import ApiToken, AuditLogEntry, Membership, Tenant, User
from tenants.permissions import NON_HUMAN_PERMS
from tenants.services import audit_log_record

ActorType = Literal["member", "api_token", "automation", "system"]


@dataclass(frozen=True, kw_only=True)
class AutomationActor:
    """A feature acting as itself in one workspace: ``automation_id`` and ``name`` are the feature's
    own (e.g. its greeting rule), ``kind`` says which feature (``"greeting"``, ``"auto_assign"``)."""

    tenant_id: int
    automation_id: int
    name: str
    kind: str = ""

    def has_perm(self, perm: str) -> bool:
        return perm in NON_HUMAN_PERMS


@dataclass(frozen=True, kw_only=True)
class SystemActor:
    """The product itself (a beat job, a rule of the core), acting in one workspace."""

    tenant_id: int

    def has_perm(self, perm: str) -> bool:
        return perm in NON_HUMAN_PERMS


Actor = Membership | ApiToken | AutomationActor | SystemActor


def actor_type(actor: Actor) -> ActorType:
    if isinstance(actor, Membership):
        return "member"
    if isinstance(actor, ApiToken):
        return "api_token"
    if isinstance(actor, AutomationActor):
        return "automation"
    return "system"


def actor_id(actor: Actor) -> int | None:
    """The membership's, token's or automation's id; None for the system."""
    if isinstance(actor, Membership | ApiToken):
        return actor.pk
    if isinstance(actor, AutomationActor):
        return actor.automation_id
    return None


def actor_kind(actor: Actor) -> str | None:
    """Which feature an automation is (``AutomationActor.kind``: "greeting", "rule"…); None for anyone else."""
    return (actor.kind or None) if isinstance(actor, AutomationActor) else None


def actor_user(actor: Actor) -> User | None:
    """The person behind the action, if a person acted."""
    return actor.user if isinstance(actor, Membership) else None


_AUDIT_API_TOKEN = re.compile(r"API token (?P<name>.+)", re.S)
_AUDIT_AUTOMATION = re.compile(r"automation '(?P<name>.*)' \(#(?P<id>\d+)\)", re.S)
_AUDIT_SYSTEM = "system"


def actor_audit_label(actor: Actor) -> str:
    """How the audit log names the actor: stored in this English form, shown by ``actor_audit_label_display``."""
    if isinstance(actor, Membership):
        return actor.user.email
    if isinstance(actor, ApiToken):
        return f"API token {actor.name}"
    if isinstance(actor, AutomationActor):
        return f"automation '{actor.name}' (#{actor.automation_id})"
    return _AUDIT_SYSTEM


def actor_audit_record(
    actor: Actor,
    *,
    action: str,
    tenant: Tenant,
    target: Model,
    target_label: str,
    request: HttpRequest | None = None,
    extra: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """One audit entry for what ``actor`` did: the person if a person acted, and the actor's label."""
    return audit_log_record(
        action=action,
        tenant=tenant,
        actor=actor_user(actor),
        actor_label=actor_audit_label(actor),
        target=target,
        target_label=target_label,
        request=request,
        extra=extra,
    )


def actor_audit_label_display(label: str) -> str | None:
    """A stored ``actor_audit_label`` of a token, an automation or the system in the active language; None
    for anything else (a member's e-mail address)."""
    if label == _AUDIT_SYSTEM:
        return _("the system")
    if match := _AUDIT_AUTOMATION.fullmatch(label):
        return _("automation '%(name)s' (#%(id)s)") % {"name": match["name"], "id": match["id"]}
    if match := _AUDIT_API_TOKEN.fullmatch(label):
        return _("API token %(name)s") % {"name": match["name"]}
    return None


def actor_display_name(actor: Actor) -> str:
    """How a history line names the actor: "Ana", "API", "automation 'Round robin'", "the system"."""
    if isinstance(actor, Membership):
        return actor.user.display_name
    if isinstance(actor, ApiToken):
        return _("API")
    if isinstance(actor, AutomationActor):
        return _("automation '%(name)s'") % {"name": actor.name}
    return _("the system")


def actor_sender_type(actor: Actor) -> str:
    """The ``Message.SenderType`` of what the actor sends."""
    return {
        "member": Message.SenderType.AGENT,
        "api_token": Message.SenderType.API,
        "automation": Message.SenderType.BOT,
        "system": Message.SenderType.SYSTEM,
    }[actor_type(actor)]


def actor_sender_label(actor: Actor) -> str:
    """Stored on the messages the actor sends (``Message.sender_label``): the token's or automation's
    name; empty for a member (``sender_user`` names them) and for the system."""
    if isinstance(actor, ApiToken | AutomationActor):
        return actor.name[:120]
    return ""


def actor_sender_automation_id(actor: Actor) -> int | None:
    return actor.automation_id if isinstance(actor, AutomationActor) else None


def message_sent_by(message: Message) -> str:
    """ "Sent by automation 'Boas-vindas'" / "Sent by the system" for a bot's or the system's message to
    the customer; empty for anyone else's."""
    if message.direction != Message.Direction.OUTBOUND or message.type == Message.Type.SYSTEM:
        return ""
    if message.sender_type == Message.SenderType.BOT:
        return _("Sent by automation '%(name)s'") % {"name": message.sender_label or _("unnamed")}
    if message.sender_type == Message.SenderType.SYSTEM:
        return _("Sent by the system")
    return ""
