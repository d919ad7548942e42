"""SLA policies of a workspace: reads for the pages and the API, and the writes (create, change, delete),
checked against "Manage automations" and audited. The clocks they set are ``automations.sla``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from automations.models import SLA_TARGET_MINUTES_MAX, SlaPolicy
from conversations.actors import Actor, actor_audit_record
from conversations.models import Conversation, Inbox
from conversations.selectors import labels_from_ids
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

NAME_MAX = 80


@dataclass(frozen=True, kw_only=True)
class SlaPolicySpec:
    """A policy as the pages and the API hand it to the services."""

    name: str
    enabled: bool = True
    position: int = 0
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    business_hours_only: bool = True
    inbox_ids: Sequence[int] = field(default_factory=tuple)
    label_ids: Sequence[int] = field(default_factory=tuple)
    priorities: Sequence[str] = field(default_factory=tuple)


def sla_policy_spec(policy: SlaPolicy) -> SlaPolicySpec:
    return SlaPolicySpec(
        name=policy.name,
        enabled=policy.enabled,
        position=policy.position,
        first_response_minutes=policy.first_response_minutes,
        next_response_minutes=policy.next_response_minutes,
        resolution_minutes=policy.resolution_minutes,
        business_hours_only=policy.business_hours_only,
        inbox_ids=tuple(policy.inbox_ids),
        label_ids=tuple(policy.label_ids),
        priorities=tuple(policy.priorities),
    )


# --- reads ---------------------------------------------------------------------------------------------


def sla_policy_list(*, tenant: Tenant | int) -> QuerySet[SlaPolicy]:
    return SlaPolicy.objects.filter(tenant=tenant).order_by("position", "id")


def sla_policy_get(*, tenant: Tenant | int, policy_id: int) -> SlaPolicy:
    """One of the workspace's policies; another workspace's is as missing as one that never was."""
    policy = sla_policy_list(tenant=tenant).filter(pk=policy_id).first()
    if policy is None:
        raise Http404("No such SLA policy.")
    return policy


# --- checks --------------------------------------------------------------------------------------------


def _invalid(message: str, field_name: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field_name, **details})


def _clean(tenant_id: int, spec: SlaPolicySpec) -> SlaPolicySpec:
    name = " ".join(str(spec.name or "").split())
    if not name:
        raise _invalid(_("Give the policy a name."), "name")
    if len(name) > NAME_MAX or "\x00" in name:
        raise _invalid(_("The name is too long (%(max)s characters at most).") % {"max": NAME_MAX}, "name")
    targets = {}
    for key in ("first_response_minutes", "next_response_minutes", "resolution_minutes"):
        value = getattr(spec, key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SLA_TARGET_MINUTES_MAX
        ):
            raise _invalid(
                _("A target is from 1 to %(max)s minutes, or empty for none.") % {"max": SLA_TARGET_MINUTES_MAX},
                key,
            )
        targets[key] = value
    if all(value is None for value in targets.values()):
        raise _invalid(_("Set at least one target."), "first_response_minutes")
    position = spec.position
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 10_000:
        raise _invalid(_("The order is a number from 0 to 10000."), "position")
    inbox_ids = list(dict.fromkeys(spec.inbox_ids))
    known = set(Inbox.objects.filter(tenant_id=tenant_id, pk__in=inbox_ids).values_list("pk", flat=True))
    if missing := sorted(set(inbox_ids) - known):
        raise ValidationFailed(_("Unknown inbox."), details={"field": "inbox_ids", "ids": missing})
    label_ids = [label.pk for label in labels_from_ids(tenant=tenant_id, ids=list(spec.label_ids), field="label_ids")]
    priorities = list(dict.fromkeys(spec.priorities))
    if unknown := [value for value in priorities if value not in Conversation.Priority.values]:
        raise ValidationFailed(
            _("Unknown priority."),
            details={"field": "priorities", "values": unknown, "allowed": Conversation.Priority.values},
        )
    return SlaPolicySpec(
        name=name,
        enabled=bool(spec.enabled),
        position=position,
        business_hours_only=bool(spec.business_hours_only),
        inbox_ids=tuple(sorted(inbox_ids)),
        label_ids=tuple(sorted(label_ids)),
        priorities=tuple(value for value in Conversation.Priority.values if value in priorities),
        **targets,
    )


def _audit_values(spec: SlaPolicySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "enabled": "on" if spec.enabled else "off",
        "position": spec.position,
        "first_response_minutes": spec.first_response_minutes,
        "next_response_minutes": spec.next_response_minutes,
        "resolution_minutes": spec.resolution_minutes,
        "business_hours_only": "on" if spec.business_hours_only else "off",
        "inbox_ids": list(spec.inbox_ids),
        "label_ids": list(spec.label_ids),
        "priorities": list(spec.priorities),
    }


def _audit(actor: Actor, action: str, policy: SlaPolicy, extra: dict[str, Any], request: Any) -> None:
    actor_audit_record(
        actor,
        action=action,
        tenant=policy.tenant,
        target=policy,
        target_label=policy.name,
        request=request,
        extra=extra,
    )


def _apply(policy: SlaPolicy, spec: SlaPolicySpec) -> None:
    for key, value in (
        ("name", spec.name),
        ("enabled", spec.enabled),
        ("position", spec.position),
        ("first_response_minutes", spec.first_response_minutes),
        ("next_response_minutes", spec.next_response_minutes),
        ("resolution_minutes", spec.resolution_minutes),
        ("business_hours_only", spec.business_hours_only),
        ("inbox_ids", list(spec.inbox_ids)),
        ("label_ids", list(spec.label_ids)),
        ("priorities", list(spec.priorities)),
    ):
        setattr(policy, key, value)


def _save(policy: SlaPolicy) -> None:
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise _invalid(_("Another policy has this name."), "name", code="duplicate") from None


# --- writes --------------------------------------------------------------------------------------------


@transaction.atomic
def sla_policy_create(*, actor: Actor, spec: SlaPolicySpec, request: Any = None) -> SlaPolicy:
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    spec = _clean(actor.tenant_id, spec)
    policy = SlaPolicy(tenant_id=actor.tenant_id)
    _apply(policy, spec)
    _save(policy)
    _audit(actor, AuditLogEntry.Action.SLA_POLICY_CREATED, policy, _audit_values(spec), request)
    return policy


@transaction.atomic
def sla_policy_update(*, actor: Actor, policy: SlaPolicy, spec: SlaPolicySpec, request: Any = None) -> SlaPolicy:
    """Make the policy read ``spec``; conversations take the change at their next event (docs/sla.md)."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if policy.tenant_id != actor.tenant_id:
        raise Http404("No such SLA policy.")
    spec = _clean(actor.tenant_id, spec)
    policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    old, new = _audit_values(sla_policy_spec(policy)), _audit_values(spec)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    if not changes:
        return policy
    _apply(policy, spec)
    _save(policy)
    _audit(actor, AuditLogEntry.Action.SLA_POLICY_CHANGED, policy, {"changes": changes}, request)
    return policy


@transaction.atomic
def sla_policy_delete(*, actor: Actor, policy: SlaPolicy, request: Any = None) -> None:
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if policy.tenant_id != actor.tenant_id:
        raise Http404("No such SLA policy.")
    _audit(actor, AuditLogEntry.Action.SLA_POLICY_DELETED, policy, {"name": policy.name}, request)
    policy.delete()
