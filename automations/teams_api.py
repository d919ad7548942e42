"""REST API of teams and auto-assignment: teams (members, supervisors, the calendar of their hours), each
inbox's auto-assignment policy with its agents' own capacities, and the agents' overall capacities. Every
operation needs "Manage automations"; another workspace's team or inbox is 404, like one that never was,
and another workspace's ids in a body are refused (400)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from automations import assignment_settings as settings_services
from automations.api_responses import FORBIDDEN, INBOX_NOT_FOUND, INVALID, UNSUPPORTED
from automations.models import CAPACITY_MAX, CAPACITY_MIN, AssignmentPolicy
from conversations.models import Team, TeamMember
from conversations.selectors import team_get, team_list
from conversations.services import teams as team_services
from helpdesk.api import ErrorOutput, IdField
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

TEAM_NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such team in this workspace")


class TeamMemberSerializer(serializers.Serializer):
    user_id = IdField(help_text="A member of the workspace")
    is_supervisor = serializers.BooleanField(required=False, default=False)


class TeamOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    members = TeamMemberSerializer(many=True)
    calendar_id = serializers.IntegerField(
        allow_null=True, help_text="The business hours its members get conversations in; null: always"
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TeamInput(serializers.Serializer):
    """On a change, fields left out keep their value; ``members``, when sent, replaces every member."""

    name = serializers.CharField(max_length=team_services.NAME_MAX)
    description = serializers.CharField(max_length=team_services.DESCRIPTION_MAX, required=False, allow_blank=True)
    members = serializers.ListField(child=TeamMemberSerializer(), required=False, max_length=team_services.MEMBERS_MAX)
    calendar_id = IdField(required=False, allow_null=True)


def _team_output(team: Team) -> dict[str, Any]:
    members = TeamMember.objects.filter(tenant_id=team.tenant_id, team=team).order_by("user_id")
    return TeamOutput(
        {
            "id": team.pk,
            "name": team.name,
            "description": team.description,
            "members": [{"user_id": m.user_id, "is_supervisor": m.is_supervisor} for m in members],
            "calendar_id": settings_services.team_calendar_id(team=team),
            "created_at": team.created_at,
            "updated_at": team.updated_at,
        }
    ).data


def _members(data: dict[str, Any]) -> tuple[team_services.TeamMemberSpec, ...] | None:
    if "members" not in data:
        return None
    return tuple(team_services.TeamMemberSpec(m["user_id"], m.get("is_supervisor", False)) for m in data["members"])


class TeamListCreateApi(TenantAPIView):
    """The workspace's teams."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="teams_list",
        responses={200: TeamOutput(many=True), 403: FORBIDDEN},
        summary="The workspace's teams, by name",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_team_output(team) for team in team_list(tenant=self.tenant)])

    @extend_schema(
        operation_id="teams_create",
        request=TeamInput,
        responses={201: TeamOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create a team",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = TeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        spec = team_services.TeamSpec(
            name=values["name"], description=values.get("description", ""), members=_members(values) or ()
        )
        with transaction.atomic():
            team = team_services.team_create(actor=self.principal, spec=spec, request=request)
            if values.get("calendar_id") is not None:
                settings_services.team_calendar_set(actor=self.principal, team=team, calendar_id=values["calendar_id"])
        return Response(_team_output(team), status=status.HTTP_201_CREATED)


class TeamDetailApi(TenantAPIView):
    """One team."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="teams_retrieve",
        responses={200: TeamOutput, 403: FORBIDDEN, 404: TEAM_NOT_FOUND},
        summary="One team",
    )
    def get(self, request: Request, tenant_slug: str, team_id: int) -> Response:
        return Response(_team_output(team_get(tenant=self.tenant, team_id=team_id)))

    @extend_schema(
        operation_id="teams_update",
        request=TeamInput(partial=True),
        responses={200: TeamOutput, 400: INVALID, 403: FORBIDDEN, 404: TEAM_NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a team; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, team_id: int) -> Response:
        team = team_get(tenant=self.tenant, team_id=team_id)
        data = TeamInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        spec = team_services.TeamSpec(
            name=values.get("name", team.name),
            description=values.get("description", team.description),
            members=_members(values),
        )
        with transaction.atomic():
            team = team_services.team_update(actor=self.principal, team=team, spec=spec, request=request)
            if "calendar_id" in values:
                settings_services.team_calendar_set(actor=self.principal, team=team, calendar_id=values["calendar_id"])
        return Response(_team_output(team_get(tenant=self.tenant, team_id=team_id)))

    @extend_schema(
        operation_id="teams_destroy",
        request=None,
        responses={204: None, 403: FORBIDDEN, 404: TEAM_NOT_FOUND},
        summary="Delete a team: its conversations leave its queue",
    )
    def delete(self, request: Request, tenant_slug: str, team_id: int) -> Response:
        team = team_get(tenant=self.tenant, team_id=team_id)
        team_services.team_delete(actor=self.principal, team=team, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- auto-assignment ---------------------------------------------------------------------------------


CAPACITY = f"{CAPACITY_MIN} to {CAPACITY_MAX}"


class PolicyOutput(serializers.Serializer):
    inbox_id = serializers.IntegerField()
    inbox_name = serializers.CharField()
    enabled = serializers.BooleanField()
    method = serializers.ChoiceField(
        choices=AssignmentPolicy.Method.values,
        help_text="round_robin: agents in turn; least_open: the agent with the fewest open conversations",
    )
    capacity = serializers.IntegerField(help_text=f"Open conversations per agent in this inbox ({CAPACITY})")
    team_id = serializers.IntegerField(allow_null=True, help_text="The team whose queue new conversations go to")
    reassign_on_offline = serializers.BooleanField(
        help_text="An agent going offline has their open conversations of this inbox reassigned"
    )
    agent_capacities = serializers.DictField(
        child=serializers.IntegerField(), help_text="Agent (user id) → their own capacity in this inbox"
    )
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null: never set up (the defaults)")


class PolicyInput(serializers.Serializer):
    """Fields left out keep their value; ``agent_capacities``, when sent, replaces every agent's."""

    enabled = serializers.BooleanField(required=False)
    method = serializers.ChoiceField(choices=AssignmentPolicy.Method.values, required=False)
    capacity = serializers.IntegerField(required=False, help_text=CAPACITY)
    team_id = IdField(required=False, allow_null=True)
    reassign_on_offline = serializers.BooleanField(required=False)
    agent_capacities = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=CAPACITY_MAX),
        required=False,
        help_text="Agent (user id, a member of the inbox) → capacity (0 to 1000)",
    )


def _policy_output(row: settings_services.PolicyRow) -> dict[str, Any]:
    policy = row.policy
    return PolicyOutput(
        {
            "inbox_id": row.inbox.pk,
            "inbox_name": row.inbox.name,
            "enabled": policy.enabled,
            "method": policy.method,
            "capacity": policy.capacity,
            "team_id": policy.team_id,
            "reassign_on_offline": policy.reassign_on_offline,
            "agent_capacities": {str(k): v for k, v in row.agent_capacities.items()},
            "updated_at": policy.updated_at if policy.pk else None,
        }
    ).data


def _user_keys(raw: dict[str, int], field: str) -> dict[int, int]:
    from django.utils.translation import gettext as _

    from helpdesk.exceptions import ValidationFailed

    out = {}
    for key, value in raw.items():
        if not (key.isascii() and key.isdigit()) or len(key) > 12:
            raise ValidationFailed(_("A user id is a whole number."), details={"field": field, "key": key})
        out[int(key)] = value
    return out


class PolicyListApi(TenantAPIView):
    """Each inbox's auto-assignment."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="auto_assignment_list",
        responses={200: PolicyOutput(many=True), 403: FORBIDDEN},
        summary="Each inbox's auto-assignment, by inbox name",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_policy_output(row) for row in settings_services.policy_rows(tenant=self.tenant)])


class PolicyDetailApi(TenantAPIView):
    """One inbox's auto-assignment."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="auto_assignment_retrieve",
        responses={200: PolicyOutput, 403: FORBIDDEN, 404: INBOX_NOT_FOUND},
        summary="One inbox's auto-assignment",
    )
    def get(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        return Response(_policy_output(settings_services.policy_row(tenant=self.tenant, inbox_id=inbox_id)))

    @extend_schema(
        operation_id="auto_assignment_update",
        request=PolicyInput,
        responses={200: PolicyOutput, 400: INVALID, 403: FORBIDDEN, 404: INBOX_NOT_FOUND, 415: UNSUPPORTED},
        summary="Change an inbox's auto-assignment; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        from dataclasses import replace

        row = settings_services.policy_row(tenant=self.tenant, inbox_id=inbox_id)
        data = PolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "agent_capacities" in values:
            values["agent_capacities"] = _user_keys(values["agent_capacities"], "agent_capacities")
        spec = replace(row.spec, **values)
        row = settings_services.policy_update(actor=self.principal, inbox=row.inbox, spec=spec, request=request)
        return Response(_policy_output(row))


class OverallCapacityInput(serializers.Serializer):
    capacities = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=CAPACITY_MAX),
        help_text="Agent (user id) → the most open conversations across every inbox; an agent left out has no limit",
    )


class OverallCapacityApi(TenantAPIView):
    """The agents' overall capacities (across every inbox)."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="auto_assignment_capacities_retrieve",
        responses={200: OverallCapacityInput, 403: FORBIDDEN},
        summary="The agents' overall capacities",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        capacities = settings_services.overall_capacities(tenant=self.tenant)
        return Response({"capacities": {str(k): v for k, v in capacities.items()}})

    @extend_schema(
        operation_id="auto_assignment_capacities_update",
        request=OverallCapacityInput,
        responses={200: OverallCapacityInput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Replace the agents' overall capacities",
    )
    def put(self, request: Request, tenant_slug: str) -> Response:
        data = OverallCapacityInput(data=request.data)
        data.is_valid(raise_exception=True)
        capacities = _user_keys(data.validated_data["capacities"], "capacities")
        saved = settings_services.overall_capacities_set(actor=self.principal, capacities=capacities, request=request)
        return Response({"capacities": {str(k): v for k, v in saved.items()}})
