"""REST API of greeting and away messages: read and change one inbox's settings and wording. Needs "Manage
automations"; another workspace's inbox is 404, like one that never was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from automations import selectors
from automations.api_responses import FORBIDDEN, UNSUPPORTED
from automations.api_responses import INBOX_NOT_FOUND as NOT_FOUND
from automations.greeting_media import MEDIA_TYPES, greeting_media_set, media_describe
from automations.greeting_services import (
    AFTER_DAYS_MAX,
    EVERY_HOURS_MAX,
    QUIET_MINUTES_MAX,
    GreetingSpec,
    greeting_settings_update,
    greeting_spec,
    greeting_specs,
    text_languages,
)
from automations.greeting_texts import VARIABLES
from automations.models import AutomatedMessage, GreetingSettings
from conversations.models import Inbox
from conversations.services.customer_texts import BODY_MAX
from helpdesk.api import ErrorOutput
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

Kind = AutomatedMessage.Kind

INVALID = OpenApiResponse(
    ErrorOutput, description="validation_failed: details name the field (and the language of a wording)"
)

TEXTS_HELP = (
    "Wording per language of the product ({languages}); a language left out, or blank, has none. Variables: "
    "{variables}. Sent in the contact's language (their `language` attribute, else the workspace's), else "
    "the closest one written."
).format(languages=", ".join(text_languages()), variables=", ".join(f"`{{{{{v}}}}}`" for v in VARIABLES))


def _texts_field(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=BODY_MAX, trim_whitespace=False),
        help_text=TEXTS_HELP,
        **kwargs,
    )


class FileOutput(serializers.Serializer):
    filename = serializers.CharField()
    kind = serializers.ChoiceField(choices=sorted(set(MEDIA_TYPES.values())), help_text="What it is sent as")
    size = serializers.IntegerField(allow_null=True, help_text="Bytes; null when the stored file cannot be read")


FILE_HELP = "The file sent with the message, its wording as the caption; null: the wording alone"


class GreetingOutput(serializers.Serializer):
    enabled = serializers.BooleanField()
    when = serializers.ChoiceField(
        choices=GreetingSettings.When.values,
        help_text="first_ever: the customer's first message in the inbox; after_days: also their first message "
        "after `after_days` days in which no message went either way",
    )
    after_days = serializers.IntegerField(min_value=1, max_value=AFTER_DAYS_MAX)
    texts = _texts_field()
    file = FileOutput(allow_null=True, help_text=FILE_HELP)


class AwayOutput(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Sent when the inbox's business hours are closed")
    every_hours = serializers.IntegerField(
        min_value=1, max_value=EVERY_HOURS_MAX, help_text="At most once per conversation in this many hours"
    )
    agent_quiet_minutes = serializers.IntegerField(
        min_value=0,
        max_value=QUIET_MINUTES_MAX,
        help_text="Not sent when an agent replied in the conversation within this many minutes (0: off)",
    )
    texts = _texts_field()
    file = FileOutput(allow_null=True, help_text=FILE_HELP)


class GreetingSettingsOutput(serializers.Serializer):
    inbox_id = serializers.IntegerField()
    inbox_name = serializers.CharField()
    calendar_id = serializers.IntegerField(
        allow_null=True, help_text="The business hours the inbox follows; null: none, no away message is sent"
    )
    greeting = GreetingOutput()
    away = AwayOutput()


class GreetingInput(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    when = serializers.ChoiceField(choices=GreetingSettings.When.values, required=False)
    after_days = serializers.IntegerField(min_value=1, max_value=AFTER_DAYS_MAX, required=False)
    texts = _texts_field(required=False)


class AwayInput(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    every_hours = serializers.IntegerField(min_value=1, max_value=EVERY_HOURS_MAX, required=False)
    agent_quiet_minutes = serializers.IntegerField(min_value=0, max_value=QUIET_MINUTES_MAX, required=False)
    texts = _texts_field(required=False)


class GreetingSettingsInput(serializers.Serializer):
    """Fields left out keep their value; ``texts`` sent replace the whole wording of that message."""

    greeting = GreetingInput(required=False)
    away = AwayInput(required=False)


def _output(
    inbox: Inbox, spec: GreetingSpec, calendars: dict[int, tuple[int, str]], row: GreetingSettings | None
) -> dict[str, Any]:
    calendar = calendars.get(inbox.pk)
    return GreetingSettingsOutput(
        {
            "inbox_id": inbox.pk,
            "inbox_name": inbox.name,
            "calendar_id": calendar[0] if calendar else None,
            "greeting": {
                "enabled": spec.greeting_enabled,
                "when": spec.greeting_when,
                "after_days": spec.greeting_after_days,
                "texts": spec.greeting_texts,
                "file": media_describe(row, Kind.GREETING),
            },
            "away": {
                "enabled": spec.away_enabled,
                "every_hours": spec.away_every_hours,
                "agent_quiet_minutes": spec.away_agent_quiet_minutes,
                "texts": spec.away_texts,
                "file": media_describe(row, Kind.AWAY),
            },
        }
    ).data


def _one(inbox: Inbox) -> dict[str, Any]:
    row = GreetingSettings.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).first()
    return _output(
        inbox, greeting_spec(inbox=inbox, row=row), selectors.inbox_calendar_names(tenant=inbox.tenant_id), row
    )


def _spec(base: GreetingSpec, data: dict[str, Any]) -> GreetingSpec:
    """``base`` with the fields the request sent."""
    names = {
        "greeting": {"enabled": "greeting_enabled", "when": "greeting_when", "after_days": "greeting_after_days"},
        "away": {
            "enabled": "away_enabled",
            "every_hours": "away_every_hours",
            "agent_quiet_minutes": "away_agent_quiet_minutes",
        },
    }
    changes: dict[str, Any] = {}
    for part, fields in names.items():
        given = data.get(part) or {}
        changes |= {fields[key]: value for key, value in given.items() if key in fields}
        if "texts" in given:
            changes[f"{part}_texts"] = dict(given["texts"])
    return replace(base, **changes)


class GreetingSettingsListApi(TenantAPIView):
    """The greeting and away messages of every inbox of the workspace."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="greeting_away_list",
        responses={200: GreetingSettingsOutput(many=True), 403: FORBIDDEN},
        summary="Each inbox's greeting and away messages, by inbox name",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        inboxes = list(selectors.inbox_list(tenant=self.tenant))
        specs = greeting_specs(tenant_id=self.tenant.pk, inboxes=inboxes)
        calendars = selectors.inbox_calendar_names(tenant=self.tenant)
        rows = {row.inbox_id: row for row in GreetingSettings.objects.filter(tenant_id=self.tenant.pk)}
        return Response([_output(inbox, specs[inbox.pk], calendars, rows.get(inbox.pk)) for inbox in inboxes])


class GreetingSettingsApi(TenantAPIView):
    """One inbox's greeting and away messages."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="greeting_away_retrieve",
        responses={200: GreetingSettingsOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="An inbox's greeting and away messages: when each is sent and its wording per language",
    )
    def get(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        return Response(_one(selectors.inbox_get(tenant=self.tenant, inbox_id=inbox_id)))

    @extend_schema(
        operation_id="greeting_away_update",
        request=GreetingSettingsInput,
        responses={200: GreetingSettingsOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change an inbox's greeting and away messages; fields left out keep their value, texts sent "
        "replace that message's wording in every language",
    )
    def patch(self, request: Request, tenant_slug: str, inbox_id: int) -> Response:
        inbox = selectors.inbox_get(tenant=self.tenant, inbox_id=inbox_id)
        data = GreetingSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = _spec(greeting_spec(inbox=inbox), dict(data.validated_data))
        greeting_settings_update(actor=self.principal, inbox=inbox, spec=spec, request=request)
        return Response(_one(inbox))


class FileInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="A JPEG or PNG image (up to 5 MB), an MP4 video or a PDF (up to 16 MB); the message's wording, "
        "at most 1,024 characters in each language, is its caption"
    )


class GreetingFileApi(TenantAPIView):
    """The file an inbox's greeting or away message is sent with."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="greeting_away_file_set",
        request={"multipart/form-data": FileInput},
        responses={200: GreetingSettingsOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Send the greeting (`kind` greeting) or the away message (`kind` away) with this file",
    )
    def post(self, request: Request, tenant_slug: str, inbox_id: int, kind: str) -> Response:
        inbox = selectors.inbox_get(tenant=self.tenant, inbox_id=inbox_id)
        data = FileInput(data=request.data)
        data.is_valid(raise_exception=True)
        greeting_media_set(
            actor=self.principal, inbox=inbox, kind=kind, upload=data.validated_data["file"], request=request
        )
        return Response(_one(inbox))

    @extend_schema(
        operation_id="greeting_away_file_remove",
        request=None,
        responses={200: GreetingSettingsOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Send the greeting or the away message without a file",
    )
    def delete(self, request: Request, tenant_slug: str, inbox_id: int, kind: str) -> Response:
        inbox = selectors.inbox_get(tenant=self.tenant, inbox_id=inbox_id)
        greeting_media_set(actor=self.principal, inbox=inbox, kind=kind, upload=None, request=request)
        return Response(_one(inbox))
