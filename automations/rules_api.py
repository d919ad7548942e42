"""REST API of automation rules: list, create, read, change, move and delete rules, read a rule's run log
and its dry-run. Every operation needs "Manage automations"; another workspace's rule is 404, like one that
never was. Conditions and actions are validated as on the settings page (docs/automation-rules.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from automations import rules_engine
from automations.api_responses import FORBIDDEN, INVALID, UNSUPPORTED
from automations.models import AutomationRule, RuleRun
from automations.rules_services import (
    NAME_MAX,
    RuleSpec,
    rule_create,
    rule_delete,
    rule_get,
    rule_list,
    rule_move,
    rule_runs,
    rule_spec_of,
    rule_update,
)
from helpdesk.api import ErrorOutput
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such rule in this workspace")
CONDITIONS_HELP = (
    'A tree of groups {"op": "and" | "or", "items": [condition or group, …]} (at most 3 deep, 30 conditions); '
    'a condition is {"type": …} with its fields, e.g. {"type": "keywords", "values": ["boleto"]}, '
    '{"type": "conversation_label", "operator": "has", "label_id": 4}. {} or an empty group always matches'
)
ACTIONS_HELP = (
    'Done in order (1 to 15), e.g. [{"type": "add_label", "label_ids": [4]}, {"type": "send_message", '
    '"text": "Olá {{contact.first_name}}", "template": {"name": "followup", "language": "pt_BR", "params": {}}}]'
)


class RuleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    event = serializers.ChoiceField(choices=AutomationRule.Event.choices)
    active = serializers.BooleanField()
    position = serializers.IntegerField(help_text="The order among the workspace's rules: lowest runs first")
    stop_processing = serializers.BooleanField(help_text="When it matches, the rules after it do not run")
    conditions = serializers.JSONField(help_text=CONDITIONS_HELP)
    actions = serializers.JSONField(help_text=ACTIONS_HELP)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RuleInput(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX)
    event = serializers.ChoiceField(choices=AutomationRule.Event.choices)
    active = serializers.BooleanField(required=False, default=True)
    stop_processing = serializers.BooleanField(required=False, default=False)
    conditions = serializers.JSONField(required=False, default=dict, help_text=CONDITIONS_HELP)
    actions = serializers.JSONField(help_text=ACTIONS_HELP)


class RuleUpdateInput(RuleInput):
    """Fields left out keep their value."""

    name = serializers.CharField(max_length=NAME_MAX, required=False)
    event = serializers.ChoiceField(choices=AutomationRule.Event.choices, required=False)
    active = serializers.BooleanField(required=False)
    stop_processing = serializers.BooleanField(required=False)
    conditions = serializers.JSONField(required=False, help_text=CONDITIONS_HELP)
    actions = serializers.JSONField(required=False, help_text=ACTIONS_HELP)


class RuleRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    event_type = serializers.CharField()
    event_key = serializers.CharField(help_text="The domain event's id, or sla:<breach id>")
    conversation_id = serializers.IntegerField(allow_null=True)
    conversation_display_id = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=RuleRun.Outcome.choices)
    depth = serializers.IntegerField(help_text="Rules before this one in a chain of events (0: none)")
    actions = serializers.JSONField(help_text='What each action did: [{"type", "result", "detail"}]')
    error = serializers.CharField(allow_blank=True)


class DryRunMatchOutput(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    conversation_display_id = serializers.IntegerField()
    at = serializers.DateTimeField(help_text="When the event happened (the customer's message, for message received)")
    message_id = serializers.IntegerField(allow_null=True)


def _output(rule: AutomationRule) -> dict[str, Any]:
    return RuleOutput(
        {
            "id": rule.pk,
            "name": rule.name,
            "event": rule.event,
            "active": rule.active,
            "position": rule.position,
            "stop_processing": rule.stop_processing,
            "conditions": rule.conditions or {"op": "and", "items": []},
            "actions": rule.actions,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    ).data


class RuleListCreateApi(TenantAPIView):
    """The workspace's automation rules, in order."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="automation_rules_list",
        responses={200: RuleOutput(many=True), 403: FORBIDDEN},
        summary="The workspace's rules, in the order they run",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_output(rule) for rule in rule_list(tenant=self.tenant)])

    @extend_schema(
        operation_id="automation_rules_create",
        request=RuleInput,
        responses={201: RuleOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create a rule (last in the order)",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = RuleInput(data=request.data)
        data.is_valid(raise_exception=True)
        rule = rule_create(actor=self.principal, spec=RuleSpec(**data.validated_data), request=request)
        return Response(_output(rule), status=status.HTTP_201_CREATED)


class RuleDetailApi(TenantAPIView):
    """One automation rule."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="automation_rules_retrieve",
        responses={200: RuleOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One rule",
    )
    def get(self, request: Request, tenant_slug: str, rule_id: int) -> Response:
        return Response(_output(rule_get(tenant=self.tenant, rule_id=rule_id)))

    @extend_schema(
        operation_id="automation_rules_update",
        request=RuleUpdateInput,
        responses={200: RuleOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a rule; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, rule_id: int) -> Response:
        rule = rule_get(tenant=self.tenant, rule_id=rule_id)
        data = RuleUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = replace(rule_spec_of(rule), **dict(data.validated_data))
        rule = rule_update(actor=self.principal, rule=rule, spec=spec, request=request)
        return Response(_output(rule))

    @extend_schema(
        operation_id="automation_rules_delete",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete a rule and its run log",
    )
    def delete(self, request: Request, tenant_slug: str, rule_id: int) -> Response:
        rule = rule_get(tenant=self.tenant, rule_id=rule_id)
        rule_delete(actor=self.principal, rule=rule, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleRunsApi(TenantAPIView):
    """A rule's run log."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="automation_rules_runs",
        responses={200: RuleRunOutput(many=True), 403: FORBIDDEN, 404: NOT_FOUND},
        summary="The rule's latest 50 runs, newest first",
    )
    def get(self, request: Request, tenant_slug: str, rule_id: int) -> Response:
        rule = rule_get(tenant=self.tenant, rule_id=rule_id)
        rows = [
            {
                "id": run.pk,
                "created_at": run.created_at,
                "event_type": run.event_type,
                "event_key": run.event_key,
                "conversation_id": run.conversation_id,
                "conversation_display_id": run.conversation.display_id if run.conversation else None,
                "outcome": run.outcome,
                "depth": run.depth,
                "actions": run.actions_done,
                "error": run.error,
            }
            for run in rule_runs(rule=rule)
        ]
        return Response(RuleRunOutput(rows, many=True).data)


class RuleDryRunApi(TenantAPIView):
    """What a rule would have matched in the last seven days, without doing anything."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="automation_rules_dry_run",
        responses={200: DryRunMatchOutput(many=True), 403: FORBIDDEN, 404: NOT_FOUND},
        summary="The events of the last 7 days the rule's conditions match, newest first (nothing is done)",
    )
    def get(self, request: Request, tenant_slug: str, rule_id: int) -> Response:
        rule = rule_get(tenant=self.tenant, rule_id=rule_id)
        rows = [
            {
                "conversation_id": match.conversation.pk,
                "conversation_display_id": match.conversation.display_id,
                "at": match.at,
                "message_id": match.message.pk if match.message else None,
            }
            for match in rules_engine.rule_dry_run(rule=rule)
        ]
        return Response(DryRunMatchOutput(rows, many=True).data)


class RuleMoveInput(serializers.Serializer):
    direction = serializers.ChoiceField(
        choices=[("up", "up"), ("down", "down")], help_text="Swap with the rule before (up) or after (down) it"
    )


class RuleMoveApi(TenantAPIView):
    """A rule moved one place up or down in the workspace's order (the order the rules of an event run in)."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="automation_rules_move",
        request=RuleMoveInput,
        responses={200: RuleOutput(many=True), 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Move a rule up or down; answers every rule in the new order (the first or last stays put)",
    )
    def post(self, request: Request, tenant_slug: str, rule_id: int) -> Response:
        rule = rule_get(tenant=self.tenant, rule_id=rule_id)
        data = RuleMoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        rule_move(actor=self.principal, rule=rule, direction=data.validated_data["direction"], request=request)
        return Response([_output(r) for r in rule_list(tenant=self.tenant)])
