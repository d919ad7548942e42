"""REST API of message template authoring: a number's templates, submitting one, editing and deleting it.

The body is the neutral draft of ``whatsapp.authoring`` (not Meta's component JSON); a media header's sample file
travels base64-encoded. Meta's rules are checked before anything is sent, with the same messages as the pages.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from helpdesk.api import ErrorOutput
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm
from whatsapp import authoring, selectors, template_services
from whatsapp.authoring import ButtonDraft, TemplateDraft
from whatsapp.models import MessageTemplate, WhatsAppChannel

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage broadcasts")
INVALID = OpenApiResponse(
    ErrorOutput,
    description="validation_failed / template_invalid (details name the draft field), meta_refused or "
    "meta_unreachable (nothing was stored)",
)
NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such number or template in this workspace")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")


class ChannelTemplateButtonInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(authoring.BUTTON_TYPES))
    text = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    url = serializers.CharField(required=False, allow_blank=True, max_length=authoring.URL_MAX, default="")
    url_example = serializers.CharField(required=False, allow_blank=True, max_length=authoring.URL_MAX, default="")
    phone_number = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")
    example = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")
    otp_type = serializers.ChoiceField(choices=list(authoring.OTP_TYPES), required=False, allow_blank=True, default="")
    autofill_text = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    package_name = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    signature_hash = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class ChannelTemplateSampleInput(serializers.Serializer):
    file_name = serializers.CharField(max_length=100)
    content_type = serializers.CharField(
        max_length=100, help_text="image/jpeg, image/png, video/mp4 or application/pdf"
    )
    content_base64 = serializers.CharField(help_text="The file, base64-encoded")


class ChannelTemplateEditInput(serializers.Serializer):
    # Checked with the draft (the same message as the pages); an enum here would collide with other "category" enums.
    category = serializers.CharField(max_length=32, help_text="MARKETING, UTILITY or AUTHENTICATION")
    parameter_format = serializers.ChoiceField(choices=list(authoring.PARAMETER_FORMATS), default="POSITIONAL")
    header_format = serializers.ChoiceField(choices=list(authoring.HEADER_FORMATS), default="NONE")
    header_text = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    header_example = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    header_sample = ChannelTemplateSampleInput(
        required=False, help_text="The media header's sample (editing: leave out to keep the stored one)"
    )
    body = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    body_examples = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=200),
        required=False,
        default=dict,
        help_text='An example per body variable: {"1": "Maria"} or {"first_name": "Maria"}',
    )
    footer = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    buttons = ChannelTemplateButtonInput(many=True, required=False, default=list)
    add_security_recommendation = serializers.BooleanField(required=False, default=False)
    code_expiration_minutes = serializers.IntegerField(required=False, allow_null=True, default=None)


class ChannelTemplateCreateInput(ChannelTemplateEditInput):
    name = serializers.CharField(max_length=authoring.NAME_MAX)
    language = serializers.CharField(max_length=16, help_text="Meta's language code, e.g. pt_BR or en_US")


class ChannelTemplateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    meta_id = serializers.CharField()
    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField()
    status = serializers.CharField(help_text="Meta's status: PENDING, APPROVED, REJECTED, PAUSED...")
    status_reason = serializers.CharField(help_text="Meta's reason code of a rejection, e.g. INVALID_FORMAT")
    status_detail = serializers.CharField(help_text="Meta's explanation and recommendation, or pause notice")
    quality_score = serializers.CharField(help_text="GREEN, YELLOW, RED, UNKNOWN, or empty")
    parameter_format = serializers.CharField()
    components = serializers.JSONField(help_text="The components as Meta holds them")
    has_header_sample = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


def _output(template: MessageTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "meta_id": template.meta_id,
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "status": template.status,
        "status_reason": template.status_reason,
        "status_detail": template.status_detail,
        "quality_score": template.quality_score,
        "parameter_format": template.parameter_format,
        "components": template.components,
        "has_header_sample": bool(template.header_sample),
        "updated_at": template.updated_at,
    }


def _channel(view: TenantAPIView, channel_id: int) -> WhatsAppChannel:
    channel = selectors.channel_get(tenant=view.tenant, channel_id=channel_id)
    if channel is None:
        raise Http404(_("Not found."))
    return channel


def _template(channel: WhatsAppChannel, template_id: int) -> MessageTemplate:
    template = selectors.template_list(channel=channel).filter(pk=template_id).first()
    if template is None or template.status == MessageTemplate.Status.DELETED:
        raise Http404(_("Not found."))
    return template


def _draft(values: dict[str, Any], *, name: str, language: str) -> TemplateDraft:
    return TemplateDraft(
        name=name,
        language=language,
        category=values["category"],
        parameter_format=values["parameter_format"],
        header_format=values["header_format"],
        header_text=values["header_text"],
        header_example=values["header_example"],
        body=values["body"],
        body_examples=dict(values["body_examples"]),
        footer=values["footer"],
        buttons=[ButtonDraft(**button) for button in values["buttons"]],
        add_security_recommendation=values["add_security_recommendation"],
        code_expiration_minutes=values["code_expiration_minutes"],
    )


def _sample(values: dict[str, Any]) -> SimpleUploadedFile | None:
    sample = values.get("header_sample")
    if not sample:
        return None
    try:
        content = base64.b64decode(sample["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        message = _("The sample file is not valid base64.")
        raise ValidationFailed(message, details={"header_sample": [message]}) from None
    return SimpleUploadedFile(sample["file_name"], content, content_type=sample["content_type"])


class ChannelTemplateListApi(TenantAPIView):
    """A number's message templates."""

    required_perm = Perm.MANAGE_BROADCASTS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="channel_templates_list",
        responses={200: ChannelTemplateOutput(many=True), 403: FORBIDDEN, 404: NOT_FOUND},
        summary="The number's message templates (not the deleted ones), with Meta's status, reasons and quality",
    )
    def get(self, request: Request, tenant_slug: str, channel_id: int) -> Response:
        channel = _channel(self, channel_id)
        templates = (
            selectors.template_list(channel=channel)
            .exclude(status=MessageTemplate.Status.DELETED)
            .order_by("name", "language")
        )
        return Response([_output(template) for template in templates])

    @extend_schema(
        operation_id="channel_templates_create",
        request=ChannelTemplateCreateInput,
        responses={201: ChannelTemplateOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Submit a new template to Meta for review (a media header's sample is uploaded first)",
    )
    def post(self, request: Request, tenant_slug: str, channel_id: int) -> Response:
        channel = _channel(self, channel_id)
        data = ChannelTemplateCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        template = template_services.template_submit(
            actor=self.principal,
            channel=channel,
            draft=_draft(values, name=values["name"].strip(), language=values["language"].strip()),
            header_sample=_sample(values),
            request=request,
        )
        return Response(_output(template), status=status.HTTP_201_CREATED)


class ChannelTemplateDetailApi(TenantAPIView):
    """One message template of a number."""

    required_perm = Perm.MANAGE_BROADCASTS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="channel_templates_retrieve",
        responses={200: ChannelTemplateOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One message template",
    )
    def get(self, request: Request, tenant_slug: str, channel_id: int, template_id: int) -> Response:
        return Response(_output(_template(_channel(self, channel_id), template_id)))

    @extend_schema(
        operation_id="channel_templates_update",
        request=ChannelTemplateEditInput,
        responses={200: ChannelTemplateOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Edit an approved, rejected or paused template (components and category; the name and language "
        "stay); Meta reviews it again",
    )
    def patch(self, request: Request, tenant_slug: str, channel_id: int, template_id: int) -> Response:
        channel = _channel(self, channel_id)
        template = _template(channel, template_id)
        data = ChannelTemplateEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        edited = template_services.template_edit(
            actor=self.principal,
            template=template,
            channel=channel,
            draft=_draft(values, name=template.name, language=template.language),
            header_sample=_sample(values),
            request=request,
        )
        return Response(_output(edited))

    @extend_schema(
        operation_id="channel_templates_delete",
        responses={204: None, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete the template at Meta (this language) and here",
    )
    def delete(self, request: Request, tenant_slug: str, channel_id: int, template_id: int) -> Response:
        channel = _channel(self, channel_id)
        template_services.template_delete(
            actor=self.principal, template=_template(channel, template_id), channel=channel, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
