"""REST API of the satisfaction survey (CSAT): each inbox's settings (read and changed with "Manage
automations") and the ratings with their figures (read with "View reports"), filtered like the page.
Another workspace's inbox is 404, like one that never was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from automations.api_responses import FORBIDDEN, INVALID, UNSUPPORTED
from automations.api_responses import INBOX_NOT_FOUND as NOT_FOUND
from automations.csat import PART_NAMES, CsatRow, csat_row, csat_rows, csat_update
from automations.csat_reports import CsatFilters, CsatSummary, csat_response_list, csat_summary
from automations.models import CSAT_COMMENT_MINUTES_MAX, CsatSettings
from conversations.selectors import inbox_list, team_list
from helpdesk.api import CursorPagination, ErrorOutput, IdField
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

TEXTS_HELP = (
    f"Part ({', '.join(PART_NAMES)}) → language (en, pt-br) → wording; a part or language left out is sent in "
    "the built-in wording. Row titles at most 24 characters, buttons 20, the question 1024"
)


class CsatSettingsOutput(serializers.Serializer):
    inbox_id = serializers.IntegerField()
    inbox_name = serializers.CharField()
    enabled = serializers.BooleanField()
    style = serializers.ChoiceField(choices=CsatSettings.Style.choices)  # type: ignore[assignment]  # a field named "style"
    send_on_resolve = serializers.BooleanField()
    send_before_window_closes = serializers.BooleanField(
        help_text="Also send it shortly before the reply window closes on a resolved conversation not surveyed yet"
    )
    ask_comment = serializers.BooleanField()
    comment_minutes = serializers.IntegerField(help_text="The customer's next text within these minutes is the comment")
    template_name = serializers.CharField(help_text="The approved UTILITY template sent when the window is closed; ''")
    template_language = serializers.CharField()
    texts = serializers.DictField(child=serializers.DictField(child=serializers.CharField()), help_text=TEXTS_HELP)
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null: never set up (the defaults)")


class CsatSettingsInput(serializers.Serializer):
    """Fields left out keep their value; ``texts``, when sent, replaces every part and language."""

    enabled = serializers.BooleanField(required=False)
    style = serializers.ChoiceField(choices=CsatSettings.Style.choices, required=False)  # type: ignore[assignment]
    send_on_resolve = serializers.BooleanField(required=False)
    send_before_window_closes = serializers.BooleanField(required=False)
    ask_comment = serializers.BooleanField(required=False)
    comment_minutes = serializers.IntegerField(required=False, help_text=f"1 to {CSAT_COMMENT_MINUTES_MAX}")
    template_name = serializers.CharField(required=False, allow_blank=True, max_length=512)
    template_language = serializers.CharField(required=False, allow_blank=True, max_length=15)
    texts = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False)),
        required=False,
        help_text=TEXTS_HELP,
    )


def _settings_output(row: CsatRow) -> dict[str, Any]:
    settings = row.settings
    return CsatSettingsOutput(
        {
            "inbox_id": row.inbox.pk,
            "inbox_name": row.inbox.name,
            "enabled": settings.enabled,
            "style": settings.style,
            "send_on_resolve": settings.send_on_resolve,
            "send_before_window_closes": settings.send_before_window_closes,
            "ask_comment": settings.ask_comment,
            "comment_minutes": settings.comment_minutes,
            "template_name": settings.template_name,
            "template_language": settings.template_language,
            "texts": row.texts,
            "updated_at": settings.updated_at if settings.pk else None,
        }
    ).data


class CsatSettingsListApi(TenantAPIView):
    """The satisfaction survey of every inbox of the workspace."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="csat_settings_list",
        responses={200: CsatSettingsOutput(many=True), 403: FORBIDDEN},
        summary="Each inbox's satisfaction survey, by inbox name",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_settings_output(row) for row in csat_rows(tenant=self.tenant)])


class CsatSettingsDetailApi(TenantAPIView):
    """One inbox's satisfaction survey."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="csat_settings_retrieve",
        responses={200: CsatSettingsOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One inbox's satisfaction survey",
    )
    def get(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        return Response(_settings_output(csat_row(tenant=self.tenant, inbox_id=inbox_id)))

    @extend_schema(
        operation_id="csat_settings_update",
        request=CsatSettingsInput,
        responses={200: CsatSettingsOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change an inbox's satisfaction survey; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        row = csat_row(tenant=self.tenant, inbox_id=inbox_id)
        data = CsatSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = replace(row.spec, **dict(data.validated_data))
        csat_update(actor=self.principal, inbox=row.inbox, spec=spec, request=request)
        return Response(_settings_output(csat_row(tenant=self.tenant, inbox_id=inbox_id)))


# --- the ratings ---------------------------------------------------------------------------------------


class CsatFilterInput(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="First day (the workspace's time zone)")
    date_to = serializers.DateField(required=False, help_text="Last day, included")
    inbox_id = IdField(required=False)
    agent_id = IdField(required=False, help_text="The user the conversation was assigned to when surveyed")
    team_id = IdField(required=False, help_text="The conversation's team when surveyed")
    rating = serializers.IntegerField(required=False, min_value=1, max_value=5)


class CsatResponseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField()
    comment = serializers.CharField()
    responded_at = serializers.DateTimeField()
    conversation_id = serializers.IntegerField()
    display_id = serializers.IntegerField(source="conversation.display_id")
    inbox_id = serializers.IntegerField()
    agent_id = serializers.IntegerField(source="assignee_id", allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    labels = serializers.ListField(child=serializers.CharField())


class CsatSummaryOutput(serializers.Serializer):
    responses = serializers.IntegerField(help_text="Ratings matching the filters")
    satisfied = serializers.IntegerField(help_text="Of them, rated 4 or 5")
    score = serializers.DecimalField(
        max_digits=4, decimal_places=1, allow_null=True, help_text="Percent rated 4 or 5; null without ratings"
    )
    average = serializers.DecimalField(max_digits=3, decimal_places=2, allow_null=True)
    surveys_sent = serializers.IntegerField(help_text="Surveys sent in the range (the rating filter aside)")
    answered = serializers.IntegerField(help_text="Of them, answered")
    response_rate = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True, help_text="Percent")
    not_sent_window_closed = serializers.IntegerField()
    not_sent_failed = serializers.IntegerField()


FILTER_INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: the filter names the parameter")
FORBIDDEN_REPORTS = OpenApiResponse(ErrorOutput, description="The caller lacks View reports")


def _filters(view: TenantAPIView, request: Request) -> CsatFilters:
    names = list(CsatFilterInput().fields)
    if empty := sorted(name for name in names if request.query_params.get(name) == ""):
        raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
    given = CsatFilterInput(data=request.query_params)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
        raise ValidationFailed(_("date_from is after date_to."), details={"field": "date_to"})
    inbox_id = data.get("inbox_id")
    if inbox_id is not None and not inbox_list(tenant=view.tenant).filter(pk=inbox_id).exists():
        raise ValidationFailed(_("No such inbox."), details={"field": "inbox_id"})
    team_id = data.get("team_id")
    if team_id is not None and not team_list(tenant=view.tenant).filter(pk=team_id).exists():
        raise ValidationFailed(_("No such team."), details={"field": "team_id"})
    return CsatFilters(
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        inbox_id=inbox_id,
        agent_id=data.get("agent_id"),
        team_id=team_id,
        rating=data.get("rating"),
    )


def _summary_output(summary: CsatSummary) -> dict[str, Any]:
    return CsatSummaryOutput(summary.__dict__).data


class CsatResponseListApi(TenantAPIView):
    """The ratings customers gave, newest first."""

    required_perm = Perm.VIEW_REPORTS
    pagination_class = CursorPagination

    @extend_schema(
        operation_id="csat_response_list",
        parameters=[CsatFilterInput],
        responses={200: CsatResponseOutput(many=True), 400: FILTER_INVALID, 403: FORBIDDEN_REPORTS},
        summary="Satisfaction ratings, newest first",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        qs = csat_response_list(tenant=self.tenant, filters=_filters(self, request))
        paginator = self.pagination_class()
        paginator.ordering = ("-responded_at", "-id")  # type: ignore[assignment]  # DRF stubs: a str
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(CsatResponseOutput(page, many=True).data)


class CsatSummaryApi(TenantAPIView):
    """The score, average and response rate of the ratings and surveys the filters select."""

    required_perm = Perm.VIEW_REPORTS

    @extend_schema(
        operation_id="csat_summary",
        parameters=[CsatFilterInput],
        responses={200: CsatSummaryOutput, 400: FILTER_INVALID, 403: FORBIDDEN_REPORTS},
        summary="Satisfaction figures: score, average, response rate, surveys not sent",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response(_summary_output(csat_summary(tenant=self.tenant, filters=_filters(self, request))))
