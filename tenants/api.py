"""REST API of the tenancy domain: the caller, a tenant's members, its audit log."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.api import CursorPagination, ErrorOutput, IdField
from helpdesk.exceptions import ValidationFailed
from tenants import selectors
from tenants.api_auth import ApiTokenUser
from tenants.api_base import TenantAPIView
from tenants.models import AuditLogEntry, User
from tenants.permissions import Perm


class MeApi(APIView):
    class MeSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["user", "api_token"])
        id = serializers.IntegerField(allow_null=True)
        email = serializers.EmailField(allow_null=True)
        name = serializers.CharField()
        tenants = serializers.ListField(child=serializers.DictField())

    @extend_schema(operation_id="me", responses=MeSerializer, summary="The authenticated user or token")
    def get(self, request: Request) -> Response:
        if isinstance(request.user, ApiTokenUser):
            token = request.user.token
            data = {
                "kind": "api_token",
                "id": None,
                "email": None,
                "name": token.name,
                "tenants": [
                    {
                        "slug": token.tenant.slug,
                        "name": token.tenant.name,
                        "role": token.role.key,
                        "permissions": sorted(token.role.perm_set),
                    }
                ],
            }
        else:
            user: User = request.user  # type: ignore[assignment]  # authenticated: a session user
            data = {
                "kind": "user",
                "id": user.pk,
                "email": user.email,
                "name": user.display_name,
                "tenants": [
                    {
                        "slug": m.tenant.slug,
                        "name": m.tenant.name,
                        "role": m.role.key,
                        "permissions": sorted(m.role.perm_set),
                    }
                    for m in selectors.user_memberships(user=user)
                ],
            }
        return Response(self.MeSerializer(data).data)


class MemberListApi(TenantAPIView):
    pagination_class = CursorPagination  # the schema describes the list's pages and parameters from it

    class MemberSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        user_id = serializers.IntegerField()
        email = serializers.EmailField(source="user.email")
        name = serializers.CharField(source="user.display_name")
        role = serializers.CharField(source="role.key")
        role_name = serializers.CharField(source="role.display_name")
        mfa_enabled = serializers.BooleanField()
        joined_at = serializers.DateTimeField(source="created_at")

    @extend_schema(
        operation_id="members_list",
        responses={200: MemberSerializer(many=True), 400: OpenApiResponse(ErrorOutput, description="A bad page_size")},
        summary="Members of a tenant",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        paginator = self.pagination_class()
        paginator.ordering = "id"
        page = paginator.paginate_queryset(selectors.member_list(tenant=self.tenant).order_by("id"), request, view=self)
        return paginator.get_paginated_response(self.MemberSerializer(page, many=True).data)


class AuditLogListApi(TenantAPIView):
    required_perm = Perm.VIEW_AUDIT_LOG
    pagination_class = CursorPagination

    class AuditLogFilterSerializer(serializers.Serializer):
        actor = IdField(required=False, help_text="A user id")
        action = serializers.ChoiceField(choices=AuditLogEntry.Action.choices, required=False)
        date_from = serializers.DateField(required=False)
        date_to = serializers.DateField(required=False)

    class AuditLogEntrySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        created_at = serializers.DateTimeField()
        action = serializers.CharField()
        actor_id = serializers.IntegerField(allow_null=True)
        actor = serializers.CharField(source="actor_label")
        target_type = serializers.CharField()
        target_id = serializers.CharField()
        target = serializers.CharField(source="target_label")
        ip_address = serializers.IPAddressField(allow_null=True)
        user_agent = serializers.CharField()
        extra = serializers.JSONField()

    @extend_schema(
        operation_id="audit_log_list",
        parameters=[AuditLogFilterSerializer],
        responses={
            200: AuditLogEntrySerializer(many=True),
            400: OpenApiResponse(ErrorOutput, description="validation_failed: the filter names the parameter"),
        },
        summary="Audit log of a tenant, newest first",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        names: list[str] = list(self.AuditLogFilterSerializer().fields)
        if empty := sorted(name for name in names if request.query_params.get(name) == ""):
            # An empty filter is refused, not read as "no filter": the schema has no empty value for it.
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        filters = self.AuditLogFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationFailed(_("date_from is after date_to."))
        qs = selectors.audit_log_list(
            tenant=self.tenant,
            actor_id=data.get("actor"),
            action=data.get("action"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
        paginator = self.pagination_class()
        paginator.ordering = ("-created_at", "-id")  # type: ignore[assignment]  # DRF stubs: a str
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(self.AuditLogEntrySerializer(page, many=True).data)
