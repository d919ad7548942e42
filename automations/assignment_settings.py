"""Settings of auto-assignment and teams' hours: each inbox's policy with its agents' own capacities, each
agent's overall capacity, and the calendar each team keeps. Every change needs "Manage automations", is
checked whole before anything is written and goes to the audit log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from automations.models import (
    CAPACITY_MAX,
    CAPACITY_MIN,
    AgentCapacity,
    AssignmentPolicy,
    BusinessCalendar,
    TeamSettings,
)
from conversations.actors import actor_audit_record
from conversations.models import Inbox, Team
from helpdesk.exceptions import ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership, Tenant
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

Actor = Membership | ApiToken
Method = AssignmentPolicy.Method


def _require(actor: Actor) -> None:
    require_perm(actor, Perm.MANAGE_AUTOMATIONS, message=_("You do not have permission to manage automations."))


# --- teams' hours ----------------------------------------------------------------------------------


def team_calendar_id(*, team: Team) -> int | None:
    return (
        TeamSettings.objects.filter(tenant_id=team.tenant_id, team=team).values_list("calendar_id", flat=True).first()
    )


def team_calendars(*, tenant: Tenant | int) -> dict[int, BusinessCalendar]:
    """Each team's calendar, for teams that keep one (one query)."""
    rows = TeamSettings.objects.filter(tenant=tenant, calendar__isnull=False).select_related("calendar")
    return {row.team_id: row.calendar for row in rows if row.calendar is not None}


def team_calendar_set(*, actor: Actor, team: Team, calendar_id: int | None) -> bool:
    """Keep the team's hours in this calendar (None: no hours of its own), audited. Returns whether it changed."""
    _require(actor)
    if team.tenant_id != actor.tenant_id:
        raise ValidationFailed(_("Unknown team."))
    if (
        calendar_id is not None
        and not BusinessCalendar.objects.filter(tenant_id=team.tenant_id, pk=calendar_id).exists()
    ):
        raise ValidationFailed(_("Unknown calendar."), details={"field": "calendar_id", "calendar_id": calendar_id})
    with transaction.atomic():
        row, _created = TeamSettings.objects.select_for_update().get_or_create(
            tenant_id=team.tenant_id, team=team, defaults={"calendar_id": None}
        )
        if row.calendar_id == calendar_id:
            return False
        row.calendar_id = calendar_id
        row.save(update_fields=["calendar", "updated_at"])
        name = BusinessCalendar.objects.filter(pk=calendar_id or 0).values_list("name", flat=True).first() or ""
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.TEAM_CHANGED,
            tenant=team.tenant,
            target=team,
            target_label=team.name,
            extra={"calendar": name},
        )
    return True


# --- policies ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PolicySpec:
    enabled: bool = False
    method: str = Method.ROUND_ROBIN
    capacity: int = 10
    team_id: int | None = None
    reassign_on_offline: bool = False
    # Agent (user id) → their capacity in this inbox instead of ``capacity``; None leaves them as they are.
    agent_capacities: Mapping[int, int] | None = field(default=None)


@dataclass
class PolicyRow:
    inbox: Inbox
    policy: AssignmentPolicy  # unsaved (the defaults) until first set up
    agent_capacities: dict[int, int]

    @property
    def spec(self) -> PolicySpec:
        p = self.policy
        return PolicySpec(
            enabled=p.enabled,
            method=p.method,
            capacity=p.capacity,
            team_id=p.team_id,
            reassign_on_offline=p.reassign_on_offline,
            agent_capacities=dict(self.agent_capacities),
        )


def _inbox(tenant: Tenant | int, inbox_id: int) -> Inbox:
    from django.http import Http404

    inbox = Inbox.objects.filter(tenant=tenant, pk=inbox_id).first()
    if inbox is None:
        raise Http404("No such inbox.")
    return inbox


def policy_rows(*, tenant: Tenant | int) -> list[PolicyRow]:
    """Every inbox with its policy (the defaults where none was set up), by inbox name."""
    inboxes = list(Inbox.objects.filter(tenant=tenant).order_by("name", "id"))
    policies = {p.inbox_id: p for p in AssignmentPolicy.objects.filter(tenant=tenant).select_related("team")}
    capacities: dict[int, dict[int, int]] = {}
    for row in AgentCapacity.objects.filter(tenant=tenant, inbox__isnull=False).order_by("user_id"):
        capacities.setdefault(row.inbox_id or 0, {})[row.user_id] = row.capacity
    return [
        PolicyRow(
            inbox=inbox,
            policy=policies.get(inbox.pk) or AssignmentPolicy(tenant_id=inbox.tenant_id, inbox=inbox),
            agent_capacities=capacities.get(inbox.pk, {}),
        )
        for inbox in inboxes
    ]


def policy_row(*, tenant: Tenant | int, inbox_id: int) -> PolicyRow:
    """One inbox's policy; another workspace's inbox is a 404."""
    inbox = _inbox(tenant, inbox_id)
    policy = AssignmentPolicy.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).select_related("team").first()
    capacities = dict(
        AgentCapacity.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox)
        .order_by("user_id")
        .values_list("user_id", "capacity")
    )
    return PolicyRow(
        inbox=inbox,
        policy=policy or AssignmentPolicy(tenant_id=inbox.tenant_id, inbox=inbox),
        agent_capacities=capacities,
    )


def inbox_agents(*, inbox: Inbox) -> list[Membership]:
    """The inbox's active members, by name: who auto-assignment may choose."""
    in_inbox = Inbox.members.through.objects.filter(inbox_id=inbox.pk).values("user_id")
    return list(
        Membership.objects.filter(tenant_id=inbox.tenant_id, active=True, user_id__in=in_inbox)
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def _invalid(message: str, field_name: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field_name, **details})


def _clean_capacity(value: Any, field_name: str, *, minimum: int = CAPACITY_MIN) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= CAPACITY_MAX:
        raise _invalid(
            _("A capacity is a whole number from %(min)s to %(max)s.") % {"min": minimum, "max": CAPACITY_MAX},
            field_name,
        )
    return value


def _clean(inbox: Inbox, spec: PolicySpec) -> PolicySpec:
    if spec.method not in Method.values:
        raise _invalid(_("Unknown assignment method."), "method", allowed=Method.values)
    _clean_capacity(spec.capacity, "capacity")
    if spec.team_id is not None and not Team.objects.filter(tenant_id=inbox.tenant_id, pk=spec.team_id).exists():
        raise _invalid(_("Unknown team."), "team_id", team_id=spec.team_id)
    if spec.agent_capacities is not None:
        members = {m.user_id for m in inbox_agents(inbox=inbox)}
        for user_id, capacity in spec.agent_capacities.items():
            if user_id not in members:
                raise _invalid(_("That person is not a member of this inbox."), "agent_capacities", user_id=user_id)
            _clean_capacity(capacity, "agent_capacities", minimum=0)
    return spec


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _audit_values(policy: AssignmentPolicy) -> dict[str, Any]:
    return {
        "enabled": _switch(policy.enabled),
        "method": policy.method,
        "capacity": policy.capacity,
        "team_id": policy.team_id,
        "reassign_on_offline": _switch(policy.reassign_on_offline),
    }


def policy_update(*, actor: Actor, inbox: Inbox, spec: PolicySpec, request: Any = None) -> PolicyRow:
    _require(actor)
    if inbox.tenant_id != actor.tenant_id:
        raise ValidationFailed(_("Unknown inbox."))
    spec = _clean(inbox, spec)
    with transaction.atomic():
        policy, _created = AssignmentPolicy.objects.select_for_update().get_or_create(
            tenant_id=inbox.tenant_id, inbox=inbox
        )
        before = _audit_values(policy)
        policy.enabled, policy.method, policy.capacity = spec.enabled, spec.method, spec.capacity
        policy.team_id, policy.reassign_on_offline = spec.team_id, spec.reassign_on_offline
        policy.save()
        after = _audit_values(policy)
        changes: dict[str, Any] = {}
        diff = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        if diff:
            changes["changes"] = diff
        if spec.agent_capacities is not None:
            current = dict(
                AgentCapacity.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).values_list("user_id", "capacity")
            )
            wanted = dict(spec.agent_capacities)
            gone = sorted(set(current) - set(wanted))
            if gone:
                AgentCapacity.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox, user_id__in=gone).delete()
            for user_id, capacity in wanted.items():
                if current.get(user_id) != capacity:
                    AgentCapacity.objects.update_or_create(
                        tenant_id=inbox.tenant_id, inbox=inbox, user_id=user_id, defaults={"capacity": capacity}
                    )
            touched = sorted(u for u in set(current) | set(wanted) if current.get(u) != wanted.get(u))
            if touched:
                changes["agent_capacities"] = touched
        if changes:
            actor_audit_record(
                actor,
                action=AuditLogEntry.Action.ASSIGNMENT_POLICY_CHANGED,
                tenant=inbox.tenant,
                target=inbox,
                target_label=inbox.name,
                request=request,
                extra=changes,
            )
        if spec.enabled:
            # Turned on or given room: the waiting conversations need not wait for the next event.
            tenant_id, inbox_id = inbox.tenant_id, inbox.pk
            transaction.on_commit(lambda: _assign_soon(tenant_id, inbox_id))
    return policy_row(tenant=inbox.tenant_id, inbox_id=inbox.pk)


def _assign_soon(tenant_id: int, inbox_id: int) -> None:
    from automations.tasks import inbox_queue_assign

    try:
        inbox_queue_assign.delay(tenant_id, inbox_id)
    except Exception:  # the broker is down: the beat job gets to it within a minute
        logger.warning("Auto-assignment of inbox %s not handed over; the beat job will run it", inbox_id)


# --- agents' overall capacities ------------------------------------------------------------------------


def overall_capacities(*, tenant: Tenant | int) -> dict[int, int]:
    """Agent (user id) → their capacity across every inbox, for agents who have one."""
    return dict(
        AgentCapacity.objects.filter(tenant=tenant, inbox__isnull=True)
        .order_by("user_id")
        .values_list("user_id", "capacity")
    )


def overall_capacities_set(*, actor: Actor, capacities: Mapping[int, int], request: Any = None) -> dict[int, int]:
    """Replace the agents' overall capacities (an agent left out has none)."""
    _require(actor)
    tenant_id = actor.tenant_id
    members = set(Membership.objects.filter(tenant_id=tenant_id, active=True).values_list("user_id", flat=True))
    for user_id, capacity in capacities.items():
        if user_id not in members:
            raise _invalid(_("That person is not a member of this workspace."), "capacities", user_id=user_id)
        _clean_capacity(capacity, "capacities", minimum=0)
    with transaction.atomic():
        current = overall_capacities(tenant=tenant_id)
        wanted = dict(capacities)
        if current == wanted:
            return current
        AgentCapacity.objects.filter(tenant_id=tenant_id, inbox__isnull=True).exclude(user_id__in=list(wanted)).delete()
        for user_id, capacity in wanted.items():
            AgentCapacity.objects.update_or_create(
                tenant_id=tenant_id, inbox=None, user_id=user_id, defaults={"capacity": capacity}
            )
        tenant = Tenant.objects.get(pk=tenant_id)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.ASSIGNMENT_POLICY_CHANGED,
            tenant=tenant,
            target=tenant,
            target_label=tenant.name,
            request=request,
            extra={
                "overall_capacities": sorted(u for u in set(current) | set(wanted) if current.get(u) != wanted.get(u))
            },
        )
    return overall_capacities(tenant=tenant_id)
