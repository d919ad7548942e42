"""REST API of auto-resolve: each inbox's settings, read and changed. Every operation needs "Manage
automations"; another workspace's inbox is 404, like one that never was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from automations.api_responses import FORBIDDEN, INVALID, UNSUPPORTED
from automations.api_responses import INBOX_NOT_FOUND as NOT_FOUND
from automations.auto_resolve import AutoResolveRow, auto_resolve_row, auto_resolve_rows, auto_resolve_update
from automations.models import AUTO_RESOLVE_HOURS_MAX, AUTO_RESOLVE_HOURS_MIN
from conversations.models import CustomerTextVariant
from helpdesk.api import IdField
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

HOURS = f"{AUTO_RESOLVE_HOURS_MIN} to {AUTO_RESOLVE_HOURS_MAX}"


class AutoResolveOutput(serializers.Serializer):
    inbox_id = serializers.IntegerField()
    inbox_name = serializers.CharField()
    enabled = serializers.BooleanField(help_text="Whether the inbox's quiet conversations are resolved")
    after_hours = serializers.IntegerField(
        help_text=f"Hours ({HOURS}) since the conversation's last message without the customer writing"
    )
    label_id = serializers.IntegerField(allow_null=True, help_text="A label added as it resolves; null: none")
    include_waiting = serializers.BooleanField(
        help_text="Also resolve conversations whose last message is the customer's (waiting for an agent)"
    )
    closing_message = serializers.DictField(
        child=serializers.CharField(),
        help_text="Language (en, pt-br…) → the message sent as it resolves, in the contact's language, only "
        "inside the customer's reply window; empty: none. Variables such as {{contact.first_name}} are filled in",
    )
    resolved_last_7_days = serializers.IntegerField(help_text="Conversations it resolved in the last seven days")
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null: never set up (the defaults)")


class AutoResolveInput(serializers.Serializer):
    """Fields left out keep their value; ``closing_message``, when sent, replaces every language."""

    enabled = serializers.BooleanField(required=False)
    after_hours = serializers.IntegerField(required=False, help_text=HOURS)
    label_id = IdField(required=False, allow_null=True)
    include_waiting = serializers.BooleanField(required=False)
    closing_message = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=CustomerTextVariant.BODY_MAX, trim_whitespace=False),
        required=False,
        help_text="Language → wording; a blank wording or {} removes it",
    )


def _output(row: AutoResolveRow) -> dict[str, Any]:
    settings = row.settings
    return AutoResolveOutput(
        {
            "inbox_id": row.inbox.pk,
            "inbox_name": row.inbox.name,
            "enabled": settings.enabled,
            "after_hours": settings.after_hours,
            "label_id": settings.label_id,
            "include_waiting": settings.include_waiting,
            "closing_message": row.closing_message,
            "resolved_last_7_days": row.resolved_recently,
            "updated_at": settings.updated_at if settings.pk else None,
        }
    ).data


class AutoResolveListApi(TenantAPIView):
    """Auto-resolve of every inbox of the workspace."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="auto_resolve_list",
        responses={200: AutoResolveOutput(many=True), 403: FORBIDDEN},
        summary="Each inbox's auto-resolve, by inbox name",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_output(row) for row in auto_resolve_rows(tenant=self.tenant)])


class AutoResolveDetailApi(TenantAPIView):
    """One inbox's auto-resolve."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="auto_resolve_retrieve",
        responses={200: AutoResolveOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One inbox's auto-resolve",
    )
    def get(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        return Response(_output(auto_resolve_row(tenant=self.tenant, inbox_id=inbox_id)))

    @extend_schema(
        operation_id="auto_resolve_update",
        request=AutoResolveInput,
        responses={200: AutoResolveOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change an inbox's auto-resolve; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        row = auto_resolve_row(tenant=self.tenant, inbox_id=inbox_id)
        data = AutoResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = replace(row.spec, **dict(data.validated_data))
        auto_resolve_update(actor=self.principal, inbox=row.inbox, spec=spec, request=request)
        return Response(_output(auto_resolve_row(tenant=self.tenant, inbox_id=inbox_id)))
