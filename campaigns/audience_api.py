"""REST API of segments: list, create, read, change and delete saved filters of contacts; count a segment's
contacts and look at the first of them; or count and preview filters not saved. Needs "Manage broadcasts"; every
change is audited. Another workspace's segment is 404, and its label or inbox ids are refused. Filters follow
campaigns/segments.py."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import Segment
from campaigns.segments import (
    ATTRIBUTE_OPS,
    CONSENT_STATES,
    PREVIEW_MAX,
    segment_contacts,
    segment_create,
    segment_delete,
    segment_filters_clean,
    segment_get,
    segment_list,
    segment_preview,
    segment_update,
)
from conversations.models import Contact
from helpdesk.api import CursorPagination, ErrorOutput, JsonObjectField, StrictCharField
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage broadcasts")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details.field names the field or filter")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")
NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such segment in this workspace")


class AttributeConditionSchema(serializers.Serializer):
    key = serializers.CharField(max_length=50)
    op = serializers.ChoiceField(choices=list(ATTRIBUTE_OPS))
    value = serializers.CharField(required=False, max_length=500, help_text="Ignored by set and unset")


class ConsentConditionSchema(serializers.Serializer):
    purpose = serializers.CharField(help_text="A consent purpose's key; marketing reads the contact's consent")
    state = serializers.ChoiceField(choices=list(CONSENT_STATES))


class SegmentFiltersSchema(serializers.Serializer):
    """Every key optional; they combine with AND; {} selects every contact."""

    labels_any = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="Any of them")
    labels_all = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="All of them")
    labels_none = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="None of them")
    attributes = AttributeConditionSchema(many=True, required=False)
    consent = ConsentConditionSchema(required=False)
    inbox = serializers.IntegerField(required=False, help_text="Contacts known to this inbox")
    last_inbound_after = serializers.DateTimeField(required=False, help_text="Latest inbound message at or after")
    last_inbound_before = serializers.DateTimeField(
        required=False, help_text="Wrote to us, and the latest inbound message is before"
    )
    has_open_conversation = serializers.BooleanField(required=False, help_text="A conversation not resolved")


@extend_schema_field(SegmentFiltersSchema)
class FiltersField(JsonObjectField):
    """Checked by ``segment_filters_clean`` (unknown keys are refused, not dropped)."""


class SegmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    filters = FiltersField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SegmentInput(serializers.Serializer):
    """On a change, fields left out keep their value."""

    name = StrictCharField(max_length=80)
    description = StrictCharField(max_length=255, required=False, allow_blank=True)
    filters = FiltersField(required=False)


class CountOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many contacts the filters select now")


class ContactPreviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phone_e164 = serializers.CharField()
    marketing_consent = serializers.CharField()


class PreviewOutput(serializers.Serializer):
    count = serializers.IntegerField()
    contacts = ContactPreviewOutput(many=True, help_text=f"The newest {PREVIEW_MAX} at most")


def _segment_output(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "filters": segment.filters,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


def _contact_output(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "name": contact.display_name,
        "phone_e164": contact.phone_e164,
        "marketing_consent": contact.marketing_consent,
    }


class SegmentPagination(CursorPagination):
    ordering = ("name", "id")  # type: ignore[assignment]


class SegmentListCreateApi(TenantAPIView):
    """The workspace's segments."""

    required_perm = Perm.MANAGE_BROADCASTS
    parser_classes = [JsonParser]
    pagination_class = SegmentPagination

    @extend_schema(
        operation_id="segments_list",
        responses={200: SegmentOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="The workspace's segments by name, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        paginator = SegmentPagination()
        page = paginator.paginate_queryset(segment_list(tenant=self.tenant), request, view=self)
        return paginator.get_paginated_response([_segment_output(segment) for segment in page or []])

    @extend_schema(
        operation_id="segments_create",
        request=SegmentInput,
        responses={201: SegmentOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Save a segment (a named filter of contacts)",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = SegmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        segment = segment_create(actor=self.principal, tenant=self.tenant, request=request, **data.validated_data)
        return Response(_segment_output(segment), status=status.HTTP_201_CREATED)


class SegmentDetailApi(TenantAPIView):
    """One segment."""

    required_perm = Perm.MANAGE_BROADCASTS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="segments_retrieve",
        responses={200: SegmentOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One segment",
    )
    def get(self, request: Request, tenant_slug: str, segment_id: int) -> Response:
        return Response(_segment_output(segment_get(tenant=self.tenant, segment_id=segment_id)))

    @extend_schema(
        operation_id="segments_update",
        request=SegmentInput(partial=True),
        responses={200: SegmentOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a segment's name, description or filters; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, segment_id: int) -> Response:
        segment = segment_get(tenant=self.tenant, segment_id=segment_id)
        data = SegmentInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        segment_update(actor=self.principal, segment=segment, request=request, **data.validated_data)
        return Response(_segment_output(segment_get(tenant=self.tenant, segment_id=segment_id)))

    @extend_schema(
        operation_id="segments_delete",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete a segment (broadcasts made with it keep their recipients)",
    )
    def delete(self, request: Request, tenant_slug: str, segment_id: int) -> Response:
        segment_delete(
            actor=self.principal, segment=segment_get(tenant=self.tenant, segment_id=segment_id), request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentCountApi(TenantAPIView):
    """How many contacts a segment selects now."""

    required_perm = Perm.MANAGE_BROADCASTS

    @extend_schema(
        operation_id="segments_count",
        responses={200: CountOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="How many contacts the segment selects now",
    )
    def get(self, request: Request, tenant_slug: str, segment_id: int) -> Response:
        segment = segment_get(tenant=self.tenant, segment_id=segment_id)
        return Response({"count": segment_contacts(tenant=self.tenant, filters=segment.filters).count()})


class SegmentContactsApi(TenantAPIView):
    """The first contacts of a segment."""

    required_perm = Perm.MANAGE_BROADCASTS

    @extend_schema(
        operation_id="segments_contacts",
        parameters=[
            OpenApiParameter("limit", int, description=f"How many contacts (1 to {PREVIEW_MAX}; {PREVIEW_MAX})")
        ],
        responses={200: PreviewOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="How many contacts the segment selects, and the newest of them",
    )
    def get(self, request: Request, tenant_slug: str, segment_id: int) -> Response:
        segment = segment_get(tenant=self.tenant, segment_id=segment_id)
        raw = request.query_params.get("limit", str(PREVIEW_MAX))
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= PREVIEW_MAX:
            raise ValidationFailed(
                _("limit must be a whole number from 1 to %(max)s.") % {"max": PREVIEW_MAX}, details={"param": "limit"}
            )
        contacts = segment_preview(tenant=self.tenant, filters=segment.filters, limit=int(raw))
        count = segment_contacts(tenant=self.tenant, filters=segment.filters).count()
        return Response({"count": count, "contacts": [_contact_output(c) for c in contacts]})


class SegmentPreviewApi(TenantAPIView):
    """Filters tried before they are saved."""

    required_perm = Perm.MANAGE_BROADCASTS

    @extend_schema(
        operation_id="segments_preview",
        parameters=[
            OpenApiParameter(
                "filters",
                str,
                description='The filters as JSON, e.g. {"labels_any": [3], "has_open_conversation": true}; '
                "none: every contact",
            )
        ],
        responses={200: PreviewOutput, 400: INVALID, 403: FORBIDDEN},
        summary="How many contacts filters select, and the newest of them (nothing is saved)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        raw = request.query_params.get("filters", "") or "{}"
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ValidationFailed(_("filters must be a JSON object."), details={"param": "filters"}) from None
        filters = segment_filters_clean(parsed, tenant=self.tenant)
        contacts = segment_preview(tenant=self.tenant, filters=filters)
        count = segment_contacts(tenant=self.tenant, filters=filters).count()
        return Response({"count": count, "contacts": [_contact_output(c) for c in contacts]})
