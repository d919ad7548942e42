"""Teams: create, change (name, description, members and supervisors) and delete, each checked against
"Manage automations" and written to the audit log. A team's members see the unassigned conversations of
its queue (``selectors.conversation_visibility_q``): their sockets re-read their access when they join or
leave a team (``conversations.receivers``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record
from conversations.models import Team, TeamMember
from conversations.selectors import audience_cache_clear
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm

NAME_MAX = 80
DESCRIPTION_MAX = 255
MEMBERS_MAX = 500


@dataclass(frozen=True)
class TeamMemberSpec:
    user_id: int
    is_supervisor: bool = False


@dataclass(frozen=True, kw_only=True)
class TeamSpec:
    name: str
    description: str = ""
    # None leaves the members as they are.
    members: tuple[TeamMemberSpec, ...] | None = None


def _require(actor: Actor) -> None:
    require_perm(actor, Perm.MANAGE_AUTOMATIONS, message=_("You do not have permission to manage teams."))


def _clean(tenant_id: int, spec: TeamSpec) -> TeamSpec:
    name = " ".join(spec.name.split())
    if not name:
        raise ValidationFailed(_("Give the team a name."), details={"field": "name"})
    if len(name) > NAME_MAX:
        raise ValidationFailed(
            _("A team's name has %(max)s characters at most.") % {"max": NAME_MAX}, details={"field": "name"}
        )
    description = spec.description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            _("A team's description has %(max)s characters at most.") % {"max": DESCRIPTION_MAX},
            details={"field": "description"},
        )
    members = spec.members
    if members is not None:
        if len(members) > MEMBERS_MAX:
            raise ValidationFailed(
                _("A team has %(max)s members at most.") % {"max": MEMBERS_MAX}, details={"field": "members"}
            )
        by_user: dict[int, TeamMemberSpec] = {}
        for member in members:
            if member.user_id in by_user:
                raise ValidationFailed(
                    _("A person is listed twice in the team."), details={"field": "members", "user_id": member.user_id}
                )
            by_user[member.user_id] = member
        known = set(
            Membership.objects.filter(tenant_id=tenant_id, active=True, user_id__in=list(by_user)).values_list(
                "user_id", flat=True
            )
        )
        missing = sorted(set(by_user) - known)
        if missing:
            raise ValidationFailed(
                _("That person is not a member of this workspace."), details={"field": "members", "ids": missing}
            )
    return TeamSpec(name=name, description=description, members=members)


def _members_write(team: Team, members: Sequence[TeamMemberSpec]) -> dict[str, list[int]]:
    current = {row.user_id: row for row in TeamMember.objects.filter(tenant_id=team.tenant_id, team=team)}
    wanted = {m.user_id: m for m in members}
    removed = sorted(set(current) - set(wanted))
    added = sorted(set(wanted) - set(current))
    supervisors_changed = sorted(
        user_id
        for user_id in set(current) & set(wanted)
        if current[user_id].is_supervisor != wanted[user_id].is_supervisor
    )
    if removed:
        TeamMember.objects.filter(tenant_id=team.tenant_id, team=team, user_id__in=removed).delete()
    for user_id in supervisors_changed:
        row = current[user_id]
        row.is_supervisor = wanted[user_id].is_supervisor
        row.save(update_fields=["is_supervisor", "updated_at"])
    for user_id in added:
        TeamMember.objects.create(
            tenant_id=team.tenant_id, team=team, user_id=user_id, is_supervisor=wanted[user_id].is_supervisor
        )
    audience_cache_clear()
    return {"added": added, "removed": removed, "supervisors": sorted(u for u, m in wanted.items() if m.is_supervisor)}


def _audit(actor: Actor, action: str, team: Team, extra: dict[str, Any], request: Any = None) -> None:
    actor_audit_record(
        actor, action=action, tenant=team.tenant, target=team, target_label=team.name, extra=extra, request=request
    )


def _name_taken() -> ValidationFailed:
    return ValidationFailed(_("Another team already has that name."), code="name_taken", details={"field": "name"})


def team_create(*, actor: Actor, spec: TeamSpec, request: Any = None) -> Team:
    _require(actor)
    spec = _clean(actor.tenant_id, spec)
    try:
        with transaction.atomic():
            team = Team.objects.create(tenant_id=actor.tenant_id, name=spec.name, description=spec.description)
            members = _members_write(team, spec.members or ())
            _audit(
                actor,
                AuditLogEntry.Action.TEAM_CREATED,
                team,
                {"name": team.name, "members": members["added"], "supervisors": members["supervisors"]},
                request,
            )
    except IntegrityError:
        raise _name_taken() from None
    return team


def team_update(*, actor: Actor, team: Team, spec: TeamSpec, request: Any = None) -> Team:
    _require(actor)
    if team.tenant_id != actor.tenant_id:
        raise ValidationFailed(_("Unknown team."))
    spec = _clean(actor.tenant_id, spec)
    try:
        with transaction.atomic():
            team = Team.objects.select_for_update().get(pk=team.pk)
            extra: dict[str, Any] = {}
            if team.name != spec.name:
                extra["name"] = spec.name
            if team.description != spec.description:
                extra["description"] = spec.description
            team.name, team.description = spec.name, spec.description
            team.save(update_fields=["name", "description", "updated_at"])
            if spec.members is not None:
                before = sorted(
                    TeamMember.objects.filter(team=team, is_supervisor=True).values_list("user_id", flat=True)
                )
                members = _members_write(team, spec.members)
                if members["added"]:
                    extra["members_added"] = members["added"]
                if members["removed"]:
                    extra["members_removed"] = members["removed"]
                if members["supervisors"] != before:
                    extra["supervisors"] = members["supervisors"]
            if extra:
                _audit(actor, AuditLogEntry.Action.TEAM_CHANGED, team, extra, request)
    except IntegrityError:
        raise _name_taken() from None
    return team


@transaction.atomic
def team_delete(*, actor: Actor, team: Team, request: Any = None) -> None:
    """Delete the team: its conversations leave its queue (no team), its members their membership."""
    _require(actor)
    if team.tenant_id != actor.tenant_id:
        raise ValidationFailed(_("Unknown team."))
    _audit(actor, AuditLogEntry.Action.TEAM_DELETED, team, {"name": team.name}, request)
    team.delete()
    audience_cache_clear()
