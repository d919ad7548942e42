"""REST API of broadcasts: list, create, read, change and delete drafts (JSON, or multipart with a CSV audience);
start (or schedule), pause, resume and cancel; their counters and estimated cost; their recipients as CSV; and
the workspace's message prices. Everything needs "Manage broadcasts"; another workspace's broadcast, segment,
inbox or purpose is 404 or refused as missing, like one that never was."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.http import Http404, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.broadcasts import (
    AUDIENCE_MAX_BYTES,
    BroadcastSpec,
    broadcast_create,
    broadcast_delete,
    broadcast_get,
    broadcast_recipients_csv,
    broadcast_stats,
    broadcast_update,
)
from campaigns.models import Broadcast, BroadcastRecipient
from campaigns.prices import CATEGORIES, PriceRow, broadcast_cost_estimate, message_prices_save, price_rows
from campaigns.sending import broadcast_cancel, broadcast_pause, broadcast_resume, broadcast_start
from helpdesk.api import CursorPagination, ErrorOutput, IdField, StrictCharField, StrictIntegerField
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm
from tenants.timezones import UTC, zone_or_none

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage broadcasts")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details.field names the field at fault")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON (or multipart)")
NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such broadcast in this workspace")
NOT_DRAFT = OpenApiResponse(ErrorOutput, description="conflict: only a draft can be changed or deleted")
STATE = OpenApiResponse(
    ErrorOutput,
    description="conflict (broadcast_not_draft, broadcast_not_running, broadcast_not_paused, "
    "broadcast_not_cancelable): the broadcast's status does not allow it",
)
START_INVALID = OpenApiResponse(
    ErrorOutput, description="validation_failed: the broadcast has no audience or its template is no longer approved"
)

VARIABLES_HELP = (
    'Each template parameter ("header.1", "body.1", "body.first_name", "button.0") mapped to '
    '{"attribute": "name" | "phone" | "attr:<key>" | "column:<CSV header>", "fallback": "..."} or {"value": "..."}; '
    "every parameter of the template must be mapped"
)


@extend_schema_field(OpenApiTypes.OBJECT)
class JsonTextObjectField(serializers.Field):  # type: ignore[type-arg]
    """A JSON object, given as one (JSON body) or as its text (a multipart form's field)."""

    default_error_messages = {"invalid": gettext_lazy("A JSON object.")}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class BroadcastOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Broadcast.Status.choices)
    inbox_id = serializers.IntegerField()
    template_name = serializers.CharField()
    template_language = serializers.CharField()
    template_category = serializers.CharField(help_text="MARKETING, UTILITY or AUTHENTICATION")
    variables = serializers.JSONField(help_text=VARIABLES_HELP)
    segment_id = serializers.IntegerField(allow_null=True)
    has_audience_file = serializers.BooleanField(help_text="The audience is an uploaded CSV file")
    consent_purpose_id = serializers.IntegerField(allow_null=True)
    scheduled_at = serializers.DateTimeField(allow_null=True, help_text="null: sent when started")
    quiet_start = serializers.TimeField(allow_null=True, help_text="In the workspace's time zone")
    quiet_end = serializers.TimeField(allow_null=True)
    wait_reason = serializers.CharField(help_text='While waiting: "messaging_limit", "quiet_hours" or "quality"')
    wait_until = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField(help_text="Recipients planned")
    failure = serializers.CharField(help_text="Why it failed, when it did")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class BroadcastInput(serializers.Serializer):
    """A draft. As JSON, or as multipart/form-data with ``audience_file`` (a CSV file: a "phone" column and any
    values) and ``variables`` as JSON text. On a change, fields left out keep their value."""

    name = StrictCharField(max_length=120)
    inbox_id = IdField()
    template_name = StrictCharField(max_length=512)
    template_language = StrictCharField(max_length=16)
    variables = JsonTextObjectField(help_text=VARIABLES_HELP)
    segment_id = IdField(required=False, allow_null=True, help_text="The audience: a segment of the workspace...")
    audience_file = serializers.FileField(
        required=False, help_text="...or a CSV file (multipart only; UTF-8, at most 5 MB and 100,000 rows)"
    )
    consent_purpose_id = IdField(
        required=False, allow_null=True, help_text="Marketing templates always take the marketing purpose"
    )
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, help_text="With an offset; null: now")
    quiet_start = serializers.TimeField(required=False, allow_null=True)
    quiet_end = serializers.TimeField(required=False, allow_null=True)


class FailedOutput(serializers.Serializer):
    code = serializers.IntegerField(allow_null=True, help_text="The channel's error code")
    title = serializers.CharField(help_text="The channel's title of the error, as it wrote it")
    count = serializers.IntegerField()


class SkippedOutput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=BroadcastRecipient.SkipReason.choices)
    label = serializers.CharField()  # type: ignore[assignment]  # the output's key, not the field's label
    count = serializers.IntegerField()


class PercentOutput(serializers.Serializer):
    processed = serializers.IntegerField(help_text="Of the total")
    sent = serializers.IntegerField(help_text="Of the total")
    failed = serializers.IntegerField(help_text="Of the total")
    skipped = serializers.IntegerField(help_text="Of the total")
    delivered = serializers.IntegerField(help_text="Of those sent")
    read = serializers.IntegerField(help_text="Of those sent")
    replied = serializers.IntegerField(help_text="Of those sent")


class CostRowOutput(serializers.Serializer):
    country = serializers.CharField(help_text="ISO 3166 code of the recipients' numbers")
    category = serializers.CharField()
    recipients = serializers.IntegerField()
    unit_minor = serializers.IntegerField(help_text="Price of 1,000 messages in minor units of the currency")
    cost_minor = serializers.IntegerField(help_text="In minor units of the currency")
    currency = serializers.CharField()
    priced_as = serializers.CharField(help_text='The price row used: the country, or "ZZ" (other countries)')


class CostOutput(serializers.Serializer):
    category = serializers.CharField()
    rows = CostRowOutput(many=True)
    totals = serializers.DictField(child=serializers.IntegerField(), help_text="Currency → minor units")
    unpriced = serializers.IntegerField(help_text="Recipients whose country has no price")


class StatsOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Broadcast.Status.choices)
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    sending = serializers.IntegerField()
    processed = serializers.IntegerField(help_text="No longer waiting")
    sent = serializers.IntegerField(help_text="Taken by WhatsApp: sent, delivered or read")
    delivered = serializers.IntegerField(help_text="Delivered or read")
    read = serializers.IntegerField()
    replied = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    canceled = serializers.IntegerField()
    failed_by_code = FailedOutput(many=True)
    skipped_by_reason = SkippedOutput(many=True)
    percent = PercentOutput(help_text="Whole percentages, rounded half up")
    cost = CostOutput(help_text="Estimated at the workspace's message prices")


class PriceOutput(serializers.Serializer):
    country = serializers.CharField(help_text='ISO 3166 code, or "ZZ" for every other country')
    category = serializers.ChoiceField(choices=CATEGORIES)
    price_minor = serializers.IntegerField(help_text="Price of 1,000 messages in minor units of the currency")
    currency = serializers.CharField()


class PriceInput(serializers.Serializer):
    country = StrictCharField(max_length=2, min_length=2)
    category = serializers.ChoiceField(choices=CATEGORIES)
    price_minor = StrictIntegerField(min_value=0, max_value=10**9)
    currency = StrictCharField(max_length=3, min_length=3, required=False)


class PricesInput(serializers.Serializer):
    prices = PriceInput(many=True, help_text="The whole table: it replaces the workspace's")


# --- helpers -----------------------------------------------------------------------------------------------------


OUTPUT_FIELDS = ("id", "name", "status", "inbox_id", "template_name", "template_language", "template_category",
                 "variables", "segment_id", "consent_purpose_id", "scheduled_at", "quiet_start", "quiet_end",
                 "wait_reason", "wait_until", "total", "failure", "started_at", "finished_at", "created_at",
                 "updated_at")  # fmt: skip


def _output(broadcast: Broadcast) -> dict[str, Any]:
    values = {name: getattr(broadcast, name) for name in OUTPUT_FIELDS}
    return BroadcastOutput({**values, "has_audience_file": bool(broadcast.audience_file)}).data


class BroadcastPagination(CursorPagination):
    ordering = ("-created_at", "-id")  # type: ignore[assignment]


class _BroadcastApi(TenantAPIView):
    required_perm = Perm.MANAGE_BROADCASTS

    def _broadcast(self, broadcast_id: int) -> Broadcast:
        broadcast = broadcast_get(tenant=self.tenant, broadcast_id=broadcast_id)
        if broadcast is None:
            raise Http404(_("No such broadcast."))
        return broadcast


def _spec(values: dict[str, Any], base: Broadcast | None = None) -> tuple[BroadcastSpec, bytes | None, str]:
    current: dict[str, Any] = {}
    if base is not None:
        current = {
            "name": base.name,
            "inbox_id": base.inbox_id,
            "template_name": base.template_name,
            "template_language": base.template_language,
            "variables": base.variables or {},
            "segment_id": base.segment_id,
            "consent_purpose_id": base.consent_purpose_id,
            "scheduled_at": base.scheduled_at,
            "quiet_start": base.quiet_start,
            "quiet_end": base.quiet_end,
        }
    upload = values.pop("audience_file", None)
    merged = {**current, **values}
    content = None
    if upload is not None:
        if upload.size > AUDIENCE_MAX_BYTES:
            raise ValidationFailed(
                _("The file is larger than %(max)s MB.") % {"max": AUDIENCE_MAX_BYTES // (1024 * 1024)},
                details={"field": "audience_file"},
            )
        content = upload.read()
        merged["segment_id"] = None
    scheduled: datetime | None = merged.get("scheduled_at")
    spec = BroadcastSpec(
        name=merged.get("name", ""),
        inbox_id=merged["inbox_id"],
        template_name=merged["template_name"],
        template_language=merged["template_language"],
        segment_id=merged.get("segment_id"),
        variables=merged.get("variables", {}),
        consent_purpose_id=merged.get("consent_purpose_id"),
        scheduled_at=scheduled,
        quiet_start=merged.get("quiet_start"),
        quiet_end=merged.get("quiet_end"),
    )
    return spec, content, upload.name if upload is not None else ""


# --- drafts -------------------------------------------------------------------------------------------------------


class BroadcastListCreateApi(_BroadcastApi):
    """The workspace's broadcasts."""

    parser_classes = [JsonParser, MultiPartParser]
    pagination_class = BroadcastPagination

    @extend_schema(
        operation_id="broadcasts_list",
        responses={200: BroadcastOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="The workspace's broadcasts, newest first, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        paginator = BroadcastPagination()
        queryset = Broadcast.objects.filter(tenant=self.tenant)
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([_output(b) for b in page or []])

    @extend_schema(
        operation_id="broadcasts_create",
        request={"application/json": BroadcastInput, "multipart/form-data": BroadcastInput},
        responses={201: BroadcastOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create a draft broadcast: a template of an inbox, its audience (a segment or a CSV file) and "
        "what fills each of the template's parameters",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = BroadcastInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec, content, filename = _spec(dict(data.validated_data))
        broadcast = broadcast_create(
            actor=self.principal,
            tenant=self.tenant,
            spec=spec,
            audience_csv=content,
            audience_filename=filename or "audience.csv",
            request=request,
        )
        return Response(_output(self._broadcast(broadcast.pk)), status=status.HTTP_201_CREATED)


class BroadcastDetailApi(_BroadcastApi):
    """One broadcast."""

    parser_classes = [JsonParser, MultiPartParser]

    @extend_schema(
        operation_id="broadcasts_retrieve",
        responses={200: BroadcastOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One broadcast",
    )
    def get(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        return Response(_output(self._broadcast(broadcast_id)))

    @extend_schema(
        operation_id="broadcasts_update",
        request={
            "application/json": BroadcastInput(partial=True),
            "multipart/form-data": BroadcastInput(partial=True),
        },
        responses={
            200: BroadcastOutput,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: NOT_DRAFT,
            415: UNSUPPORTED,
        },
        summary="Change a draft; fields left out keep their value (a CSV file replaces the segment, a segment "
        "the file)",
    )
    def patch(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        broadcast = self._broadcast(broadcast_id)
        data = BroadcastInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        spec, content, filename = _spec(dict(data.validated_data), base=broadcast)
        broadcast_update(
            actor=self.principal,
            broadcast=broadcast,
            spec=spec,
            audience_csv=content,
            audience_filename=filename or "audience.csv",
            request=request,
        )
        return Response(_output(self._broadcast(broadcast_id)))

    @extend_schema(
        operation_id="broadcasts_delete",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND, 409: NOT_DRAFT},
        summary="Delete a draft",
    )
    def delete(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        broadcast_delete(actor=self.principal, broadcast=self._broadcast(broadcast_id), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- sending ------------------------------------------------------------------------------------------------------


class _ActionApi(_BroadcastApi):
    parser_classes = [JsonParser]

    def operation(self, *, actor: Any, broadcast: Broadcast, request: Request) -> Broadcast:
        raise NotImplementedError

    def post(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        self.operation(actor=self.principal, broadcast=self._broadcast(broadcast_id), request=request)
        return Response(_output(self._broadcast(broadcast_id)))


class BroadcastStartApi(_ActionApi):
    def operation(self, *, actor: Any, broadcast: Broadcast, request: Request) -> Broadcast:
        return broadcast_start(actor=actor, broadcast=broadcast, request=request)

    @extend_schema(
        operation_id="broadcasts_start",
        request=None,
        responses={200: BroadcastOutput, 400: START_INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 409: STATE},
        summary="Start a draft: scheduled when its time is ahead, else prepared and sent now",
    )
    def post(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        return super().post(request, tenant_slug, broadcast_id)


class BroadcastPauseApi(_ActionApi):
    def operation(self, *, actor: Any, broadcast: Broadcast, request: Request) -> Broadcast:
        return broadcast_pause(actor=actor, broadcast=broadcast, request=request)

    @extend_schema(
        operation_id="broadcasts_pause",
        request=None,
        responses={200: BroadcastOutput, 403: FORBIDDEN, 404: NOT_FOUND, 409: STATE},
        summary="Pause a sending (or waiting) broadcast; messages already handed to the channel still go",
    )
    def post(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        return super().post(request, tenant_slug, broadcast_id)


class BroadcastResumeApi(_ActionApi):
    def operation(self, *, actor: Any, broadcast: Broadcast, request: Request) -> Broadcast:
        return broadcast_resume(actor=actor, broadcast=broadcast, request=request)

    @extend_schema(
        operation_id="broadcasts_resume",
        request=None,
        responses={200: BroadcastOutput, 403: FORBIDDEN, 404: NOT_FOUND, 409: STATE},
        summary="Resume a paused broadcast",
    )
    def post(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        return super().post(request, tenant_slug, broadcast_id)


class BroadcastCancelApi(_ActionApi):
    def operation(self, *, actor: Any, broadcast: Broadcast, request: Request) -> Broadcast:
        return broadcast_cancel(actor=actor, broadcast=broadcast, request=request)

    @extend_schema(
        operation_id="broadcasts_cancel",
        request=None,
        responses={200: BroadcastOutput, 403: FORBIDDEN, 404: NOT_FOUND, 409: STATE},
        summary="Cancel a broadcast: recipients not yet sent to are not sent to (it cannot be resumed)",
    )
    def post(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        return super().post(request, tenant_slug, broadcast_id)


# --- what happened ------------------------------------------------------------------------------------------------


class BroadcastStatsApi(_BroadcastApi):
    @extend_schema(
        operation_id="broadcasts_stats",
        responses={200: StatsOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="A broadcast's recipients by outcome (failures by error code, skips by reason) and its estimated cost",
    )
    def get(self, request: Request, tenant_slug: str, broadcast_id: int) -> Response:
        broadcast = self._broadcast(broadcast_id)
        stats = broadcast_stats(broadcast)
        return Response(
            StatsOutput({**stats, "status": broadcast.status, "cost": broadcast_cost_estimate(broadcast)}).data
        )


class BroadcastRecipientsCsvApi(_BroadcastApi):
    @extend_schema(
        operation_id="broadcasts_recipients_csv",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One line per recipient: phone, name, status, skip_reason, error_code, error_title, "
                "sent_at, delivered_at, read_at, replied_at (times in the workspace's zone, ISO 8601; a cell a "
                "spreadsheet would run as a formula starts with a quote)",
            ),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        summary="A broadcast's recipients and what happened to each, as CSV (streamed)",
    )
    def get(self, request: Request, tenant_slug: str, broadcast_id: int) -> StreamingHttpResponse:
        broadcast = self._broadcast(broadcast_id)
        zone = zone_or_none(self.tenant.timezone) or UTC
        response = StreamingHttpResponse(
            broadcast_recipients_csv(broadcast, zone=zone), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="broadcast-{broadcast.pk}-recipients.csv"'
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A CSV file is the answer whatever the client accepts; errors are still rendered as JSON.
        return super().perform_content_negotiation(request, force=True)


# --- message prices -----------------------------------------------------------------------------------------------


class MessagePricesApi(TenantAPIView):
    """The workspace's message prices (what broadcasts' costs are estimated with)."""

    required_perm = Perm.MANAGE_BROADCASTS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="message_prices_list",
        responses={200: PriceOutput(many=True), 403: FORBIDDEN},
        summary="The price of 1,000 template messages by country and category (Meta's approximate rates until "
        "the workspace saves its own)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response(PriceOutput([row.__dict__ for row in price_rows(self.tenant)], many=True).data)

    @extend_schema(
        operation_id="message_prices_replace",
        request=PricesInput,
        responses={200: PriceOutput(many=True), 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Replace the workspace's message prices (one per country and category)",
    )
    def put(self, request: Request, tenant_slug: str) -> Response:
        data = PricesInput(data=request.data)
        data.is_valid(raise_exception=True)
        rows = [
            PriceRow(p["country"].upper(), p["category"], p["price_minor"], p.get("currency", "USD").upper())
            for p in data.validated_data["prices"]
        ]
        saved = message_prices_save(actor=self.principal, tenant=self.tenant, rows=rows, request=request)
        return Response(PriceOutput([row.__dict__ for row in saved], many=True).data)
