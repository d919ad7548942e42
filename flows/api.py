"""REST API of bot flows: list, create, read, change and delete flows; read and save a flow's draft, publish it
(checked first), read its versions; install a ready-made flow; keep the workspace's keys (write-only); read a
flow's sessions with their step logs; and start a flow for a contact. Managing flows needs "Manage automations";
starting one needs "Reply" (the bot writes to the customer) and a contact the caller may see. Another workspace's
flow or contact is 404, like one that never was. Definitions follow flows/definitions.py."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.models import Contact
from conversations.selectors import conversation_list
from flows import library
from flows.definitions import STEPS_MAX, definition_problems
from flows.models import Flow, FlowSession, FlowSettings, FlowVersion
from flows.services import (
    KEYWORDS_MAX,
    FlowSpec,
    draft_save,
    flow_create,
    flow_delete,
    flow_publish,
    flow_settings_save,
    flow_start,
    flow_update,
    template_install,
)
from helpdesk.api import (
    CursorPagination,
    ErrorOutput,
    IdField,
    JsonObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import Perm

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage automations")
CANNOT_REPLY = OpenApiResponse(ErrorOutput, description="The caller may not reply to customers")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details name the field or parameter")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")
NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such flow in this workspace")
PUBLISH_INVALID = OpenApiResponse(
    ErrorOutput,
    description="flow_invalid: details.problems lists each problem of the draft as {step, field, message}; "
    "validation_failed: there is no draft",
)
RUNNING = OpenApiResponse(ErrorOutput, description="conflict: customers are in the flow now")
START_REFUSED = OpenApiResponse(
    ErrorOutput, description="conflict: another bot flow is running in the contact's conversation"
)

DEFINITION_HELP = (
    '{"start": "<step id>", "steps": [{"id", "name", "type", ...}, ...]}: types message, ask, branch, set, payment, '
    f"integration, transit, handover, end; at most {STEPS_MAX} steps"
)
# What the variables a caller gives a session may weigh, as JSON.
VARIABLES_MAX_BYTES = 16_000


def _words_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=60, allow_blank=True), max_length=KEYWORDS_MAX, help_text=help_text
    )


class FlowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    inbox_id = serializers.IntegerField(allow_null=True, help_text="null: every inbox of the workspace")
    enabled = serializers.BooleanField(help_text="On: its triggers start it (only once published)")
    position = serializers.IntegerField(help_text="Lower first when several flows' triggers match one message")
    trigger_keywords = serializers.ListField(child=serializers.CharField())
    trigger_regex = serializers.CharField()
    trigger_first_message = serializers.BooleanField()
    trigger_outside_hours = serializers.BooleanField()
    trigger_payloads = serializers.ListField(child=serializers.CharField(), help_text="Button payloads that start it")
    handover_keywords = serializers.ListField(child=serializers.CharField(), help_text="Words that call a person")
    handover_team_id = serializers.IntegerField(allow_null=True)
    timeout_minutes = serializers.IntegerField(help_text="A session ends after this many minutes of silence")
    timeout_message = serializers.CharField()
    template = serializers.CharField(help_text="The ready-made flow it was installed from; empty for none")
    published_version = serializers.IntegerField(allow_null=True, help_text="The number of the version that runs")
    has_draft = serializers.BooleanField(help_text="A draft is kept (edited steps not yet published)")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class FlowInput(serializers.Serializer):
    """On a change, fields left out keep their value."""

    name = StrictCharField(max_length=80)
    description = StrictCharField(max_length=255, required=False, allow_blank=True)
    inbox_id = IdField(required=False, allow_null=True, help_text="An inbox of the workspace; null for all of them")
    enabled = StrictBooleanField(required=False, help_text="Only a published flow may be turned on")
    position = StrictIntegerField(min_value=0, max_value=10_000, required=False)
    trigger_keywords = _words_field("Words that start it")
    trigger_regex = StrictCharField(max_length=200, required=False, allow_blank=True)
    trigger_first_message = StrictBooleanField(required=False)
    trigger_outside_hours = StrictBooleanField(required=False)
    trigger_payloads = _words_field("Button payloads that start it")
    handover_keywords = _words_field("Words that call a person")
    handover_team_id = IdField(required=False, allow_null=True)
    timeout_minutes = StrictIntegerField(min_value=1, max_value=7 * 24 * 60, required=False)
    timeout_message = StrictCharField(max_length=4096, required=False, allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("trigger_keywords", "trigger_payloads", "handover_keywords"):
            self.fields[name].required = False


class FlowCreateInput(FlowInput):
    definition = JsonObjectField(required=False, help_text=f"The first draft's steps: {DEFINITION_HELP}")


class ProblemOutput(serializers.Serializer):
    step = serializers.CharField(help_text="The step's id (#n for the n-th step without one); empty for the flow")
    field = serializers.CharField(help_text="The field at fault, e.g. choices[0].title; empty for the whole step")
    message = serializers.CharField()


class DraftOutput(serializers.Serializer):
    number = serializers.IntegerField(
        allow_null=True, help_text="The draft's version number; null: no draft yet (the published steps are shown)"
    )
    definition = serializers.JSONField(help_text=DEFINITION_HELP)
    problems = ProblemOutput(many=True, help_text="What would keep it from being published (empty: it may be)")
    updated_at = serializers.DateTimeField(allow_null=True)


class DraftInput(serializers.Serializer):
    definition = JsonObjectField(help_text=DEFINITION_HELP)


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=FlowVersion.Status.choices)
    definition = serializers.JSONField(help_text=DEFINITION_HELP)
    published_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StepLogOutput(serializers.Serializer):
    step = serializers.CharField()
    step_name = serializers.CharField()
    kind = serializers.CharField(help_text="What happened at the step: sent, answered, retried, paid, error, ...")
    value = serializers.JSONField(allow_null=True)
    at = serializers.DateTimeField()


class SessionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    flow_id = serializers.IntegerField()
    version = serializers.IntegerField(help_text="The number of the version it runs (kept until it ends)")
    status = serializers.ChoiceField(choices=FlowSession.Status.choices)
    trigger = serializers.ChoiceField(choices=FlowSession.Trigger.choices, help_text="What started it")
    conversation_id = serializers.IntegerField(help_text="The conversation's number")
    contact_id = serializers.IntegerField()
    link_id = serializers.IntegerField(allow_null=True, help_text="The wa.me link that started it, if any")
    order_number = serializers.IntegerField(allow_null=True, help_text="The order of its payment step, if any")
    step = serializers.CharField(help_text="The step it is at (empty once ended)")
    variables = serializers.JSONField(help_text="What it collected (answers, the card, the payment)")
    started_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    ended_step = serializers.CharField()
    log = StepLogOutput(many=True, help_text="What happened at each step, oldest first")


class StartInput(serializers.Serializer):
    contact_id = IdField(help_text="A contact whose conversation the caller may see")
    variables = JsonObjectField(
        required=False, help_text="Values the flow's texts and branches may use ({{name}}); at most 50"
    )


class TemplateOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()


class TemplateInstallInput(serializers.Serializer):
    template = serializers.ChoiceField(choices=sorted(library.templates()), help_text="The ready-made flow's key")
    inbox_id = IdField(required=False, allow_null=True, help_text="The inbox it answers in; null for all of them")


class KeysOutput(serializers.Serializer):
    integration_secret_set = serializers.BooleanField(help_text="Integration steps' calls are signed with a key")
    transit_api_key_set = serializers.BooleanField(help_text="The transit operator's API key is kept")


class KeysInput(serializers.Serializer):
    """Write-only: a key is never answered. A key left out keeps its value; an empty one removes it."""

    integration_secret = StrictCharField(max_length=500, required=False, allow_blank=True)
    transit_api_key = StrictCharField(max_length=500, required=False, allow_blank=True)


# --- reads -------------------------------------------------------------------------------------------------


def _flows(tenant: Tenant) -> QuerySet[Flow]:
    draft = FlowVersion.objects.filter(flow=OuterRef("pk"), status=FlowVersion.Status.DRAFT)
    return Flow.objects.filter(tenant=tenant).select_related("published").annotate(has_draft=Exists(draft))


def _flow_get(tenant: Tenant, flow_id: int) -> Flow:
    flow = _flows(tenant).filter(pk=flow_id).first()
    if flow is None:
        raise Http404("No such flow.")
    return flow


def _flow_output(flow: Flow) -> dict[str, Any]:
    return FlowOutput(
        {
            "id": flow.pk,
            "name": flow.name,
            "description": flow.description,
            "inbox_id": flow.inbox_id,
            "enabled": flow.enabled,
            "position": flow.position,
            "trigger_keywords": flow.trigger_keywords,
            "trigger_regex": flow.trigger_regex,
            "trigger_first_message": flow.trigger_first_message,
            "trigger_outside_hours": flow.trigger_outside_hours,
            "trigger_payloads": flow.trigger_payloads,
            "handover_keywords": flow.handover_keywords,
            "handover_team_id": flow.handover_team_id,
            "timeout_minutes": flow.timeout_minutes,
            "timeout_message": flow.timeout_message,
            "template": flow.template_key,
            "published_version": flow.published.number if flow.published else None,
            "has_draft": flow.has_draft,  # type: ignore[attr-defined]  # annotated by _flows
            "created_at": flow.created_at,
            "updated_at": flow.updated_at,
        }
    ).data


def _spec_of(flow: Flow, **changes: Any) -> FlowSpec:
    values = {
        "name": flow.name,
        "description": flow.description,
        "inbox_id": flow.inbox_id,
        "enabled": flow.enabled,
        "position": flow.position,
        "trigger_keywords": list(flow.trigger_keywords),
        "trigger_regex": flow.trigger_regex,
        "trigger_first_message": flow.trigger_first_message,
        "trigger_outside_hours": flow.trigger_outside_hours,
        "trigger_payloads": list(flow.trigger_payloads),
        "handover_keywords": list(flow.handover_keywords),
        "handover_team_id": flow.handover_team_id,
        "timeout_minutes": flow.timeout_minutes,
        "timeout_message": flow.timeout_message,
    }
    return FlowSpec(**{**values, **changes})


def _draft_output(flow: Flow) -> dict[str, Any]:
    draft = FlowVersion.objects.filter(flow=flow, status=FlowVersion.Status.DRAFT).first()
    shown = draft or flow.published
    definition = shown.definition if shown is not None else {"start": "", "steps": []}
    return DraftOutput(
        {
            "number": draft.number if draft is not None else None,
            "definition": definition,
            "problems": [p.as_dict() for p in definition_problems(definition)],
            "updated_at": draft.updated_at if draft is not None else None,
        }
    ).data


def _version_output(version: FlowVersion) -> dict[str, Any]:
    return VersionOutput(version).data


def _session_outputs(sessions: list[FlowSession]) -> list[dict[str, Any]]:
    return [
        {
            "id": session.pk,
            "flow_id": session.flow_id,
            "version": session.version.number,
            "status": session.status,
            "trigger": session.trigger,
            "conversation_id": session.conversation.display_id,
            "contact_id": session.contact_id,
            "link_id": session.source_id,
            "order_number": session.order.number if session.order is not None else None,
            "step": session.step,
            # Names starting with "_" are the engine's own bookkeeping.
            "variables": {k: v for k, v in (session.variables or {}).items() if not k.startswith("_")},
            "started_at": session.started_at,
            "last_activity_at": session.last_activity_at,
            "ended_at": session.ended_at,
            "ended_step": session.ended_step,
            "log": [
                {
                    "step": row.step,
                    "step_name": row.step_name,
                    "kind": row.kind,
                    "value": row.value,
                    "at": row.created_at,
                }
                for row in session.log.all()
            ],
        }
        for session in sessions
    ]


def _sessions(flow: Flow) -> QuerySet[FlowSession]:
    return (
        FlowSession.objects.filter(tenant_id=flow.tenant_id, flow=flow)
        .select_related("version", "conversation", "order")
        # The log's own ordering (id) is what the output promises: oldest first.
        .prefetch_related("log")
    )


def _definition_checked(definition: dict[str, Any]) -> dict[str, Any]:
    """What the draft may hold at all (its steps are checked on publish): a list of at most STEPS_MAX steps."""
    steps = definition.get("steps", [])
    if isinstance(steps, list) and len(steps) > STEPS_MAX:
        raise ValidationFailed(_("At most %(max)s steps.") % {"max": STEPS_MAX}, details={"field": "definition"})
    return definition


def _caller(principal: Membership | ApiToken) -> Any:
    """The caller as the flow services take it: typed for a member, they read only its tenant, tenant_id and
    has_perm, which an API token has too."""
    return principal


# --- flows -------------------------------------------------------------------------------------------------


class FlowPagination(CursorPagination):
    ordering = ("position", "id")  # type: ignore[assignment]


class FlowListCreateApi(TenantAPIView):
    """The workspace's bot flows."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]
    pagination_class = FlowPagination

    @extend_schema(
        operation_id="flows_list",
        responses={200: FlowOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="The workspace's bot flows in the order their triggers are tried, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        paginator = FlowPagination()
        page = paginator.paginate_queryset(_flows(self.tenant), request, view=self)
        return paginator.get_paginated_response([_flow_output(flow) for flow in page or []])

    @extend_schema(
        operation_id="flows_create",
        request=FlowCreateInput,
        responses={201: FlowOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create a bot flow (off, with a draft of its steps); publish it, then turn it on",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = FlowCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        definition = values.pop("definition", None)
        member = _caller(self.principal)
        # One transaction: steps the draft may not hold leave no flow behind.
        with transaction.atomic():
            flow = flow_create(membership=member, spec=FlowSpec(**values), request=request)
            if definition is not None:
                draft_save(membership=member, flow=flow, definition=_definition_checked(definition))
        return Response(_flow_output(_flow_get(self.tenant, flow.pk)), status=status.HTTP_201_CREATED)


class FlowDetailApi(TenantAPIView):
    """One bot flow."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="flows_retrieve",
        responses={200: FlowOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One bot flow",
    )
    def get(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        return Response(_flow_output(_flow_get(self.tenant, flow_id)))

    @extend_schema(
        operation_id="flows_update",
        request=FlowInput(partial=True),
        responses={200: FlowOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a bot flow's name, triggers and behaviour, or turn it on or off; fields left out keep "
        "their value (the steps are changed through the draft)",
    )
    def patch(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow = _flow_get(self.tenant, flow_id)
        data = FlowInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        flow_update(
            membership=_caller(self.principal),
            flow=flow,
            spec=_spec_of(flow, **data.validated_data),
            request=request,
        )
        return Response(_flow_output(_flow_get(self.tenant, flow_id)))

    @extend_schema(
        operation_id="flows_delete",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND, 409: RUNNING},
        summary="Delete a bot flow with its versions and finished sessions (refused while customers are in it)",
    )
    def delete(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow_delete(
            membership=_caller(self.principal),
            flow=_flow_get(self.tenant, flow_id),
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the draft, publishing, versions -----------------------------------------------------------------------


class FlowDraftApi(TenantAPIView):
    """A flow's draft: the steps as edited, not yet published."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="flows_draft_retrieve",
        responses={200: DraftOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="The flow's draft and what would keep it from being published",
    )
    def get(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        return Response(_draft_output(_flow_get(self.tenant, flow_id)))

    @extend_schema(
        operation_id="flows_draft_update",
        request=DraftInput,
        responses={200: DraftOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Save the draft's steps (checked when published: a draft may be unfinished); the running version "
        "does not change",
    )
    def put(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow = _flow_get(self.tenant, flow_id)
        data = DraftInput(data=request.data)
        data.is_valid(raise_exception=True)
        draft_save(
            membership=_caller(self.principal),
            flow=flow,
            definition=_definition_checked(data.validated_data["definition"]),
        )
        return Response(_draft_output(flow))


class FlowPublishApi(TenantAPIView):
    """The draft published: new sessions start on it, running ones finish on theirs."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="flows_publish",
        request=None,
        responses={200: VersionOutput, 400: PUBLISH_INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Publish the draft after checking it; an invalid draft is refused and the running version stays",
    )
    def post(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow = _flow_get(self.tenant, flow_id)
        version = flow_publish(membership=_caller(self.principal), flow=flow, request=request)
        return Response(_version_output(version))


class VersionPagination(CursorPagination):
    # A version holds a whole definition: pages are short.
    page_size = 10
    max_page_size = 20
    ordering = "-number"


class FlowVersionListApi(TenantAPIView):
    """A flow's versions."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    pagination_class = VersionPagination

    @extend_schema(
        operation_id="flows_versions_list",
        responses={200: VersionOutput(many=True), 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="The flow's versions, newest first (the draft, the published one, those retired), read-only",
    )
    def get(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow = _flow_get(self.tenant, flow_id)
        paginator = VersionPagination()
        versions = FlowVersion.objects.filter(tenant=self.tenant, flow=flow)
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response([_version_output(v) for v in page or []])


# --- sessions ----------------------------------------------------------------------------------------------


class SessionPagination(CursorPagination):
    ordering = "-id"


def _since(request: Request) -> datetime | None:
    text = request.query_params.get("since")
    if text is None:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed(
            _("Write the moment as YYYY-MM-DDTHH:MM:SS with its offset (Z or -03:00)."), details={"param": "since"}
        )
    return moment


class FlowSessionListApi(TenantAPIView):
    """A flow's sessions: one per run in a conversation."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    pagination_class = SessionPagination

    @extend_schema(
        operation_id="flows_sessions_list",
        parameters=[
            OpenApiParameter("status", str, enum=FlowSession.Status.values, description="Only sessions in this state"),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Only sessions started at or after this"),
        ],
        responses={200: SessionOutput(many=True), 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="The flow's sessions, newest first, each with its step log, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow = _flow_get(self.tenant, flow_id)
        if empty := sorted(name for name in ("status", "since") if request.query_params.get(name) == ""):
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        sessions = _sessions(flow)
        status_ = request.query_params.get("status")
        if status_ is not None:
            if status_ not in FlowSession.Status.values:
                raise ValidationFailed(_("Unknown status."), details={"param": "status"})
            sessions = sessions.filter(status=status_)
        since = _since(request)
        if since is not None:
            sessions = sessions.filter(started_at__gte=since)
        paginator = SessionPagination()
        page = paginator.paginate_queryset(sessions, request, view=self)
        return paginator.get_paginated_response(SessionOutput(_session_outputs(list(page or [])), many=True).data)


class FlowStartApi(TenantAPIView):
    """A flow started for a contact now (by the API, not by a trigger)."""

    required_perm = Perm.REPLY
    # A form body is read too, so that one without a contact is a 400 that names the field.
    parser_classes = [JsonParser, FormParser, MultiPartParser]

    @extend_schema(
        operation_id="flows_start",
        request={"application/json": StartInput},
        responses={
            201: SessionOutput,
            400: OpenApiResponse(
                ErrorOutput,
                description="validation_failed: the flow is not published and on, the contact has no open "
                "conversation for it or their reply window is closed, or a field is wrong",
            ),
            403: CANNOT_REPLY,
            404: OpenApiResponse(ErrorOutput, description="No such flow, or no such contact the caller may see"),
            409: START_REFUSED,
            415: UNSUPPORTED,
        },
        summary="Start the flow for a contact in their open conversation of the flow's inbox; the bot writes first",
    )
    def post(self, request: Request, tenant_slug: str, flow_id: int) -> Response:
        flow = _flow_get(self.tenant, flow_id)
        data = StartInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        variables = values.get("variables") or {}
        if len(json.dumps(variables)) > VARIABLES_MAX_BYTES:
            raise ValidationFailed(
                _("The variables are too large (%(max)s bytes at most).") % {"max": VARIABLES_MAX_BYTES},
                details={"field": "variables"},
            )
        visible = conversation_list(membership=self.principal).filter(contact_id=OuterRef("pk"))
        contact = Contact.objects.filter(tenant=self.tenant, pk=values["contact_id"]).filter(Exists(visible)).first()
        if contact is None:
            raise Http404("No such contact.")
        session = flow_start(actor=self.principal, flow=flow, contact=contact, variables=variables)
        started = _sessions(flow).get(pk=session.pk)
        return Response(SessionOutput(_session_outputs([started])[0]).data, status=status.HTTP_201_CREATED)


# --- ready-made flows and keys -----------------------------------------------------------------------------


class FlowTemplateApi(TenantAPIView):
    """The ready-made flows a workspace can install."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="flows_templates_list",
        responses={200: TemplateOutput(many=True), 403: FORBIDDEN},
        summary="The ready-made flows, named in the workspace's language",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        rows = [
            {"key": key, "name": str(name), "description": str(description)}
            for key, (name, description) in sorted(library.templates().items())
        ]
        return Response(TemplateOutput(rows, many=True).data)

    @extend_schema(
        operation_id="flows_templates_install",
        request=TemplateInstallInput,
        responses={201: FlowOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Install a ready-made flow, written in the workspace's language and published; it stays off "
        "until it is turned on",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = TemplateInstallInput(data=request.data)
        data.is_valid(raise_exception=True)
        flow = template_install(
            membership=_caller(self.principal),
            key=data.validated_data["template"],
            inbox_id=data.validated_data.get("inbox_id"),
            request=request,
        )
        return Response(_flow_output(_flow_get(self.tenant, flow.pk)), status=status.HTTP_201_CREATED)


def _keys_output(found: FlowSettings | None) -> dict[str, Any]:
    secrets = found.secrets if found is not None else {}
    return KeysOutput(
        {
            "integration_secret_set": bool(secrets.get("integration_secret")),
            "transit_api_key_set": bool(secrets.get("transit_api_key")),
        }
    ).data


class FlowKeysApi(TenantAPIView):
    """The workspace's keys for its flows (encrypted; never answered)."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="flows_keys_retrieve",
        responses={200: KeysOutput, 403: FORBIDDEN},
        summary="Which of the flows' keys are set (never the keys themselves)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response(_keys_output(FlowSettings.objects.filter(tenant=self.tenant).first()))

    @extend_schema(
        operation_id="flows_keys_update",
        request=KeysInput,
        responses={200: KeysOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Set or remove the key integration steps sign with and the transit operator's API key; answers "
        "which are set",
    )
    def put(self, request: Request, tenant_slug: str) -> Response:
        data = KeysInput(data=request.data)
        data.is_valid(raise_exception=True)
        found = flow_settings_save(
            membership=_caller(self.principal),
            integration_secret=data.validated_data.get("integration_secret"),
            transit_api_key=data.validated_data.get("transit_api_key"),
            request=request,
        )
        return Response(_keys_output(found))
