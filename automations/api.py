"""REST API of business hours: list, create, read, change and delete calendars, and ask whether one is
open at a moment and when it next opens or closes. Every operation needs "Manage automations"; another
workspace's calendar is 404, like one that never was."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from automations import business_hours, selectors, services
from automations.api_responses import FORBIDDEN, UNSUPPORTED
from automations.models import BusinessCalendar
from automations.services import WEEKDAY_CODES, CalendarSpec, DateSpec, WeeklySpec
from conversations.api import AwareDateTimeField
from helpdesk.api import ErrorOutput, IdField
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

# Moments the API answers about; past them the maths would leave the calendar's years.
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, tzinfo=UTC)
BUSINESS_TIME_MAX = timedelta(days=366)

NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such calendar in this workspace")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed (or duplicate): details name the field")


CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@extend_schema_field({"type": "string", "pattern": f"^{CLOCK.pattern}$", "example": "09:00"})
class ClockField(serializers.Field):
    """A wall-clock time of day as HH:MM (24 hours, no seconds)."""

    default_error_messages = {"invalid": gettext_lazy("Give a time as HH:MM, e.g. 09:00 or 18:30.")}

    def to_internal_value(self, data: Any) -> time:
        match = CLOCK.fullmatch(data) if isinstance(data, str) else None
        if match is None:
            self.fail("invalid")
        return time(int(match[1]), int(match[2]))

    def to_representation(self, value: time) -> str:
        return f"{value:%H:%M}"


def _clock(**kwargs: Any) -> ClockField:
    return ClockField(**kwargs)


class WeeklyIntervalSerializer(serializers.Serializer):
    day = serializers.ChoiceField(choices=WEEKDAY_CODES, help_text="mon … sun")
    start = _clock(help_text="HH:MM, in the calendar's time zone")
    end = _clock(help_text="HH:MM; not after start: ends on the next day (22:00 to 06:00)")


class DateIntervalSerializer(serializers.Serializer):
    start = _clock(help_text="HH:MM")
    end = _clock(help_text="HH:MM; not after start: ends on the next day")


class CalendarDateSerializer(serializers.Serializer):
    date = serializers.DateField()
    name = serializers.CharField(max_length=80, allow_blank=True, required=False, default="")
    intervals = serializers.ListField(
        child=DateIntervalSerializer(),
        max_length=services.INTERVALS_PER_DAY_MAX,
        required=False,
        default=list,
        help_text="None: closed all day; some: a half-day with these hours",
    )


class BusinessCalendarOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    time_zone = serializers.CharField(help_text="IANA time zone, e.g. America/Sao_Paulo")
    mode = serializers.ChoiceField(choices=BusinessCalendar.Mode.values)
    weekly = WeeklyIntervalSerializer(many=True)
    holidays_enabled = serializers.BooleanField(help_text="Closed on the public holidays of the country (and state)")
    holiday_country = serializers.CharField(help_text="ISO 3166-1 alpha-2; empty when holidays are off")
    holiday_subdivision = serializers.CharField(help_text="A state or region, e.g. SP; may be empty")
    dates = CalendarDateSerializer(many=True)
    inbox_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Inboxes that follow this calendar")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _output(calendar: BusinessCalendar) -> dict[str, Any]:
    spec = services.calendar_spec(calendar)
    return BusinessCalendarOutput(
        {
            "id": calendar.pk,
            "name": spec.name,
            "time_zone": spec.time_zone,
            "mode": spec.mode,
            "weekly": [{"day": WEEKDAY_CODES[w.weekday], "start": w.start, "end": w.end} for w in spec.weekly],
            "holidays_enabled": spec.holidays_enabled,
            "holiday_country": spec.holiday_country,
            "holiday_subdivision": spec.holiday_subdivision,
            "dates": [
                {"date": d.date, "name": d.name, "intervals": [{"start": s, "end": e} for s, e in d.intervals]}
                for d in spec.dates
            ],
            "inbox_ids": list(spec.inbox_ids or ()),
            "created_at": calendar.created_at,
            "updated_at": calendar.updated_at,
        }
    ).data


class BusinessCalendarInput(serializers.Serializer):
    """A calendar's fields. On create, fields left out take a new calendar's defaults (the workspace's time
    zone and country, weekdays 09:00-18:00); on update, fields left out keep their value."""

    name = serializers.CharField(max_length=services.NAME_MAX)
    time_zone = serializers.CharField(max_length=64, required=False)
    mode = serializers.ChoiceField(choices=BusinessCalendar.Mode.values, required=False)
    weekly = serializers.ListField(
        child=WeeklyIntervalSerializer(), max_length=7 * services.INTERVALS_PER_DAY_MAX, required=False
    )
    holidays_enabled = serializers.BooleanField(required=False)
    holiday_country = serializers.CharField(max_length=2, allow_blank=True, required=False)
    holiday_subdivision = serializers.CharField(max_length=40, allow_blank=True, required=False)
    dates = serializers.ListField(child=CalendarDateSerializer(), max_length=services.DATES_MAX, required=False)
    inbox_ids = serializers.ListField(child=IdField(), max_length=100, required=False)


class BusinessCalendarUpdateInput(BusinessCalendarInput):
    name = serializers.CharField(max_length=services.NAME_MAX, required=False)


def _spec(base: CalendarSpec, data: dict[str, Any]) -> CalendarSpec:
    """``base`` with the fields the request sent."""
    changes: dict[str, Any] = {
        key: data[key]
        for key in ("name", "time_zone", "mode", "holidays_enabled", "holiday_country", "holiday_subdivision")
        if key in data
    }
    if "weekly" in data:
        changes["weekly"] = tuple(
            WeeklySpec(WEEKDAY_CODES.index(w["day"]), w["start"], w["end"]) for w in data["weekly"]
        )
    if "dates" in data:
        changes["dates"] = tuple(
            DateSpec(d["date"], d["name"], tuple((i["start"], i["end"]) for i in d["intervals"])) for d in data["dates"]
        )
    if "inbox_ids" in data:
        changes["inbox_ids"] = tuple(data["inbox_ids"])
    return replace(base, **changes)


class CalendarListCreateApi(TenantAPIView):
    """Business hours calendars of the workspace."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="business_hours_list",
        responses={200: BusinessCalendarOutput(many=True), 403: FORBIDDEN},
        summary="The workspace's business hours calendars, by name",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response([_output(calendar) for calendar in selectors.calendar_list(tenant=self.tenant)])

    @extend_schema(
        operation_id="business_hours_create",
        request=BusinessCalendarInput,
        responses={201: BusinessCalendarOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create a calendar: weekly hours, public holidays, the workspace's own dates and its inboxes",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = BusinessCalendarInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = _spec(services.calendar_defaults(tenant=self.tenant), dict(data.validated_data))
        calendar = services.calendar_create(actor=self.principal, spec=spec, request=request)
        calendar = selectors.calendar_get(tenant=self.tenant, calendar_id=calendar.pk)
        return Response(_output(calendar), status=status.HTTP_201_CREATED)


class CalendarDetailApi(TenantAPIView):
    """One business hours calendar."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="business_hours_retrieve",
        responses={200: BusinessCalendarOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One calendar",
    )
    def get(self, request: Request, tenant_slug: str, calendar_id: int) -> Response:
        return Response(_output(selectors.calendar_get(tenant=self.tenant, calendar_id=calendar_id)))

    @extend_schema(
        operation_id="business_hours_update",
        request=BusinessCalendarUpdateInput,
        responses={200: BusinessCalendarOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a calendar; fields left out keep their value, lists sent replace the whole list",
    )
    def patch(self, request: Request, tenant_slug: str, calendar_id: int) -> Response:
        calendar = selectors.calendar_get(tenant=self.tenant, calendar_id=calendar_id)
        data = BusinessCalendarUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = _spec(services.calendar_spec(calendar), dict(data.validated_data))
        services.calendar_update(actor=self.principal, calendar=calendar, spec=spec, request=request)
        return Response(_output(selectors.calendar_get(tenant=self.tenant, calendar_id=calendar_id)))

    @extend_schema(
        operation_id="business_hours_delete",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete a calendar; its inboxes are left without one",
    )
    def delete(self, request: Request, tenant_slug: str, calendar_id: int) -> Response:
        calendar = selectors.calendar_get(tenant=self.tenant, calendar_id=calendar_id)
        services.calendar_delete(actor=self.principal, calendar=calendar, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalendarZoneDateTimeField(serializers.DateTimeField):
    """A moment written with the calendar's offset (``context["zone"]``): 09:00-03:00 reads as opening hours do."""

    def to_representation(self, value: datetime) -> str:
        return value.astimezone(self.context["zone"]).isoformat()


class BusinessHoursStatusOutput(serializers.Serializer):
    at = CalendarZoneDateTimeField(help_text="In the calendar's time zone, as all the moments here")
    open = serializers.BooleanField(help_text="Whether the calendar is open at `at`")
    next_open = CalendarZoneDateTimeField(
        allow_null=True, help_text="The first moment at or after `at` when it is open (`at` if open); null: never"
    )
    next_close = CalendarZoneDateTimeField(
        allow_null=True, help_text="The first moment at or after `at` when it is closed (`at` if closed); null: never"
    )
    business_seconds = serializers.FloatField(
        allow_null=True, help_text="Seconds open between `at` and `until`; null without `until`"
    )


class BusinessHoursStatusQuery(serializers.Serializer):
    at = AwareDateTimeField(required=False)
    until = AwareDateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        at, until = attrs.get("at"), attrs.get("until")
        for name, moment in (("at", at), ("until", until)):
            if moment is not None and not EARLIEST <= moment <= LATEST:
                raise ValidationFailed(
                    _("%(param)s must be between 1971 and 2199.") % {"param": name}, details={"param": name}
                )
        if until is not None and not timedelta(0) <= until - (at or timezone.now()) <= BUSINESS_TIME_MAX:
            raise ValidationFailed(
                _("until must be after at, by %(days)s days at most.") % {"days": BUSINESS_TIME_MAX.days},
                details={"param": "until"},
            )
        return attrs


class CalendarStatusApi(TenantAPIView):
    """A calendar's answer about a moment, in the calendar's time zone, with holidays and its own dates."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="business_hours_status",
        parameters=[
            OpenApiParameter("at", {"type": "string", "format": "date-time"}, description="Default: now"),
            OpenApiParameter(
                "until",
                {"type": "string", "format": "date-time"},
                description="To count the business time from `at` to here (366 days at most)",
            ),
        ],
        responses={200: BusinessHoursStatusOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Is the calendar open at a moment, when does it next open and close, and how much business "
        "time lies until another moment",
    )
    def get(self, request: Request, tenant_slug: str, calendar_id: int) -> Response:
        calendar = selectors.calendar_get(tenant=self.tenant, calendar_id=calendar_id)
        if empty := sorted(name for name in ("at", "until") if request.query_params.get(name) == ""):
            # An empty moment is refused, not read as "now" or "none": the schema has no empty date-time.
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        query = BusinessHoursStatusQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at") or timezone.now()
        until = query.validated_data.get("until")
        loaded = selectors.calendar_load(calendar)
        answer = {
            "at": at,
            "open": business_hours.is_open(loaded, at),
            "next_open": business_hours.next_open(loaded, at),
            "next_close": business_hours.next_close(loaded, at),
            "business_seconds": None if until is None else business_hours.business_seconds(loaded, at, until),
        }
        return Response(BusinessHoursStatusOutput(answer, context={"zone": loaded.zone}).data)
