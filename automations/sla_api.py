"""REST API of SLA policies (listed, created, read, changed, deleted: "Manage automations") and of one
conversation's SLA clocks (anyone who may see the conversation). Another workspace's policy, inbox, label or
conversation is 404 or refused like one that never was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from automations.api_responses import FORBIDDEN, INVALID, UNSUPPORTED
from automations.models import SLA_TARGET_MINUTES_MAX, SlaMetric, SlaPolicy
from automations.sla import conversation_sla_status
from automations.sla_policies import (
    SlaPolicySpec,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_get,
    sla_policy_list,
    sla_policy_spec,
    sla_policy_update,
)
from conversations.models import Conversation
from conversations.selectors import conversation_get
from helpdesk.api import ErrorOutput, IdField
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such SLA policy in this workspace")
CONVERSATION_NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such conversation, or not visible to the caller")
TARGET = f"Minutes (1 to {SLA_TARGET_MINUTES_MAX}); null: no target"


class SlaPolicyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    position = serializers.IntegerField(help_text="Policies are tried from the lowest; the first that matches applies")
    first_response_minutes = serializers.IntegerField(allow_null=True, help_text=TARGET)
    next_response_minutes = serializers.IntegerField(allow_null=True, help_text=TARGET)
    resolution_minutes = serializers.IntegerField(allow_null=True, help_text=TARGET)
    business_hours_only = serializers.BooleanField(
        help_text="Counted in the business hours of the conversation's inbox (every hour without them)"
    )
    inbox_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Empty: every inbox")
    label_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Any of them; empty: any")
    priorities = serializers.ListField(
        child=serializers.CharField(), help_text=f"Of {', '.join(Conversation.Priority.values)}; empty: any priority"
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SlaPolicyInput(serializers.Serializer):
    """On a change, fields left out keep their value."""

    name = serializers.CharField(max_length=80)
    enabled = serializers.BooleanField(required=False)
    position = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    first_response_minutes = serializers.IntegerField(required=False, allow_null=True, help_text=TARGET)
    next_response_minutes = serializers.IntegerField(required=False, allow_null=True, help_text=TARGET)
    resolution_minutes = serializers.IntegerField(required=False, allow_null=True, help_text=TARGET)
    business_hours_only = serializers.BooleanField(required=False)
    inbox_ids = serializers.ListField(child=IdField(), required=False, max_length=500)
    label_ids = serializers.ListField(child=IdField(), required=False, max_length=500)
    priorities = serializers.ListField(
        child=serializers.CharField(max_length=10),
        required=False,
        max_length=5,
        help_text=f"Of {', '.join(Conversation.Priority.values)}",
    )


class SlaMetricOutput(serializers.Serializer):
    metric = serializers.ChoiceField(choices=SlaMetric.values)
    cycle = serializers.IntegerField(help_text="0 for the first run; a next response or a reopening counts up")
    target_minutes = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True, help_text="The deadline (as it stood when paused)")
    paused = serializers.BooleanField(help_text="Pending or snoozed: the clock does not run")
    met_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(
        allow_null=True, help_text="No longer measured (resolved first, or the policy changed)"
    )
    breached_at = serializers.DateTimeField(allow_null=True, help_text="When the breach was recorded")
    breached = serializers.BooleanField(help_text="The deadline passed before it was met (or it still runs late)")


class ConversationSlaOutput(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    policy = serializers.DictField(allow_null=True, help_text="{id, name} of the policy that applies; null: none")
    due_at = serializers.DateTimeField(allow_null=True, help_text="The nearest deadline running")
    breached_at = serializers.DateTimeField(allow_null=True, help_text="When the earliest unmet deadline passed")
    metrics = SlaMetricOutput(many=True)


def _output(policy: SlaPolicy) -> dict[str, Any]:
    return SlaPolicyOutput(policy).data  # type: ignore[return-value]


class SlaPolicyListApi(TenantAPIView):
    """The workspace's SLA policies, in the order they are tried."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="sla_policies_list",
        responses={200: SlaPolicyOutput(many=True), 403: FORBIDDEN},
        summary="SLA policies, in the order they are tried",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_output(policy) for policy in sla_policy_list(tenant=self.tenant)])

    @extend_schema(
        operation_id="sla_policies_create",
        request=SlaPolicyInput,
        responses={201: SlaPolicyOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create an SLA policy",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = SlaPolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = SlaPolicySpec(**dict(data.validated_data))
        policy = sla_policy_create(actor=self.principal, spec=spec, request=request)
        return Response(_output(policy), status=status.HTTP_201_CREATED)


class SlaPolicyDetailApi(TenantAPIView):
    """One SLA policy."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="sla_policies_retrieve",
        responses={200: SlaPolicyOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One SLA policy",
    )
    def get(self, request: Request, tenant_slug: str, policy_id: int) -> Response:
        return Response(_output(sla_policy_get(tenant=self.tenant, policy_id=policy_id)))

    @extend_schema(
        operation_id="sla_policies_update",
        request=SlaPolicyInput(partial=True),
        responses={200: SlaPolicyOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change an SLA policy; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, policy_id: int) -> Response:
        policy = sla_policy_get(tenant=self.tenant, policy_id=policy_id)
        data = SlaPolicyInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        spec = replace(sla_policy_spec(policy), **dict(data.validated_data))
        return Response(_output(sla_policy_update(actor=self.principal, policy=policy, spec=spec, request=request)))

    @extend_schema(
        operation_id="sla_policies_destroy",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete an SLA policy; its conversations take the next matching policy at their next event",
    )
    def delete(self, request: Request, tenant_slug: str, policy_id: int) -> Response:
        policy = sla_policy_get(tenant=self.tenant, policy_id=policy_id)
        sla_policy_delete(actor=self.principal, policy=policy, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationSlaApi(TenantAPIView):
    """A conversation's SLA: its policy and the latest clock of each metric."""

    @extend_schema(
        operation_id="conversation_sla_retrieve",
        responses={200: ConversationSlaOutput, 404: CONVERSATION_NOT_FOUND},
        summary="A conversation's SLA clocks (by its number)",
    )
    def get(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = conversation_get(membership=self.principal, display_id=display_id)
        policy, metrics = conversation_sla_status(conversation)
        body = {
            "conversation_id": conversation.pk,
            "display_id": conversation.display_id,
            "policy": {"id": policy.pk, "name": policy.name} if policy is not None else None,
            "due_at": conversation.sla_due_at,
            "breached_at": conversation.sla_breached_at,
            "metrics": [vars(metric) for metric in metrics],
        }
        return Response(ConversationSlaOutput(body).data)
