"""REST API of scheduled messages: schedule a template (a reminder: "your appointment tomorrow at 10:00" is a
template with variables) or a text for a contact, list them, read one, cancel one before it is sent.

A contact is named by id (one the caller may see) or by phone number (found, or made, in the inbox's channel).
Another workspace's scheduled message, contact or inbox is 404, like one that never was.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import ScheduledMessage
from campaigns.scheduling import (
    TemplateSpec,
    message_schedule,
    scheduled_by,
    scheduled_message_cancel,
    scheduled_message_get,
    scheduled_message_list,
)
from conversations.models import Contact, Inbox
from conversations.selectors import contacts_with_address, conversation_list, inboxes_for
from conversations.services.contacts import phone_normalise
from conversations.services.inbound import contact_inbox_get_or_create
from helpdesk.api import CursorPagination, ErrorOutput, IdField, JsonObjectField, StrictCharField
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.api_base import TenantAPIView
from tenants.models import ApiToken, Membership
from tenants.permissions import Perm

NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such object, or not visible to the caller")
FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks the permission")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed (the body names the field), or why not")


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its time zone (a naive one would be guessed)."""

    default_error_messages = {"naive": gettext_lazy("Include a time zone, e.g. 2030-01-31T09:00:00-03:00.")}

    def enforce_timezone(self, value: Any) -> Any:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


def api_inbox(principal: Membership | ApiToken, inbox_id: int) -> Inbox:
    """An inbox of the workspace the caller works in (a member: theirs, or all with "view all")."""
    if isinstance(principal, Membership):
        found = next((inbox for inbox in inboxes_for(membership=principal) if inbox.pk == inbox_id), None)
    else:
        found = Inbox.objects.filter(tenant_id=principal.tenant_id, pk=inbox_id).select_related("tenant").first()
    if found is None:
        raise ValidationFailed(_("There is no such inbox."), details={"field": "inbox_id"})
    return found


def api_contact(principal: Membership | ApiToken, *, contact_id: int | None, phone: str, inbox: Inbox) -> Contact:
    """The contact named by id (one the caller may see: through a conversation, or any with "view all" or
    "manage contacts"), or by phone number: the contact with that number in the inbox's channel, made if new."""
    if (contact_id is None) == (not phone):
        raise ValidationFailed(_("Give either contact_id or phone."), details={"field": "contact_id"})
    if contact_id is not None:
        qs = Contact.objects.filter(tenant_id=principal.tenant_id, pk=contact_id)
        if not (principal.has_perm(Perm.VIEW_ALL_CONVERSATIONS) or principal.has_perm(Perm.MANAGE_CONTACTS)):
            qs = qs.filter(Exists(conversation_list(membership=principal).filter(contact_id=OuterRef("pk"))))
        contact = qs.first()
        if contact is None:
            raise ValidationFailed(_("There is no such contact."), details={"field": "contact_id"})
        return contact
    e164 = phone_normalise(phone)
    address = e164.lstrip("+")
    found = contacts_with_address(tenant_id=principal.tenant_id, channel_type=inbox.channel_type, address=address)
    contact = found.first()
    if contact is not None:
        return contact
    contact_inbox = contact_inbox_get_or_create(inbox=inbox, source_id=address, phone_e164=e164)
    return Contact.objects.get(pk=contact_inbox.contact_id)


def _require_any(principal: Membership | ApiToken) -> None:
    if not (principal.has_perm(Perm.REPLY) or principal.has_perm(Perm.SEND_TEMPLATES)):
        raise PermissionDenied(_("You do not have permission to see scheduled messages."))


class ScheduledMessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="scheduled, sending, sent, canceled or failed (not sent)")
    kind = serializers.CharField(help_text="template or text")
    contact_id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField(allow_null=True)
    send_at = serializers.DateTimeField()
    template = serializers.SerializerMethodField()
    text = serializers.CharField()
    failure = serializers.CharField(help_text="Why it was not sent")
    failure_code = serializers.CharField(help_text="reply_window_closed, no_marketing_consent, validation_failed…")
    message_id = serializers.IntegerField(allow_null=True, help_text="The message sent")
    scheduled_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_template(self, obj: ScheduledMessage) -> dict[str, Any] | None:
        if obj.kind != "template":
            return None
        return {"name": obj.template_name, "language": obj.template_language, "params": obj.params}

    def get_scheduled_by(self, obj: ScheduledMessage) -> str:
        return scheduled_by(obj)


class ScheduledMessagePagination(CursorPagination):
    ordering = ("-send_at", "-id")  # type: ignore[assignment]


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Repeat a request (same body) with the same key to get the first scheduled message instead of a "
    "second one; the key with a different body is refused (422). Or give idempotency_key in the body.",
)


class ScheduledMessageListCreateApi(TenantAPIView):
    pagination_class = ScheduledMessagePagination

    class ScheduleInput(serializers.Serializer):
        contact_id = IdField(required=False, help_text="A contact the caller may see; or give phone")
        phone = StrictCharField(required=False, max_length=32, help_text="The customer's number, e.g. +5511912345678")
        inbox_id = IdField()
        send_at = AwareDateTimeField(help_text="When to send it, with its time zone (in the future, ≤ 90 days)")
        template = JsonObjectField(required=False, help_text='{"name", "language", "params": {"body": [...]}}')
        text = StrictCharField(
            required=False, max_length=4096, help_text="A text (only while the reply window will be open)"
        )
        idempotency_key = StrictCharField(required=False, max_length=80)

    @extend_schema(
        operation_id="scheduled_messages_list",
        parameters=[OpenApiParameter("status", str, enum=list(ScheduledMessage.Status.values))],
        responses={200: ScheduledMessageOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="Scheduled messages the caller may see, latest send time first",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        _require_any(self.principal)
        qs = scheduled_message_list(principal=self.principal)
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in ScheduledMessage.Status.values:
                raise ValidationFailed(_("Unknown status."), details={"param": "status"})
            qs = qs.filter(status=wanted)
        paginator = ScheduledMessagePagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ScheduledMessageOutput(page, many=True).data)

    @extend_schema(
        operation_id="scheduled_messages_create",
        request=ScheduleInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: ScheduledMessageOutput,
            200: OpenApiResponse(ScheduledMessageOutput, description="The first one scheduled with this key"),
            400: INVALID,
            403: FORBIDDEN,
            422: OpenApiResponse(ErrorOutput, description="idempotency_key_mismatch"),
        },
        summary="Schedule a template (or a text, while the reply window will be open) for a contact",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        _require_any(self.principal)
        data = self.ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        inbox = api_inbox(self.principal, v["inbox_id"])
        template = None
        if "template" in v:
            raw = v["template"]
            name, language, params = raw.get("name"), raw.get("language"), raw.get("params") or {}
            if not (isinstance(name, str) and name and isinstance(language, str) and language):
                raise ValidationFailed(
                    _("Give the template's name and language, as text."), details={"field": "template"}
                )
            if not isinstance(params, dict):
                raise ValidationFailed(_("Template values must be a dict with header, body and buttons."))
            template = TemplateSpec(name=name, language=language, params=params)
        contact = api_contact(self.principal, contact_id=v.get("contact_id"), phone=v.get("phone", ""), inbox=inbox)
        scheduled, created = message_schedule(
            actor=self.principal,
            contact=contact,
            inbox=inbox,
            send_at=v["send_at"],
            template=template,
            text=v.get("text") if template is None else None,
            idempotency_key=request.headers.get("Idempotency-Key") or v.get("idempotency_key") or None,
        )
        scheduled = scheduled_message_list(principal=self.principal).filter(pk=scheduled.pk).first() or scheduled
        return Response(
            ScheduledMessageOutput(scheduled).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ScheduledMessageDetailApi(TenantAPIView):
    @extend_schema(
        operation_id="scheduled_messages_get",
        responses={200: ScheduledMessageOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="A scheduled message",
    )
    def get(self, request: Request, tenant_slug: str, scheduled_id: int) -> Response:
        _require_any(self.principal)
        return Response(
            ScheduledMessageOutput(scheduled_message_get(principal=self.principal, scheduled_id=scheduled_id)).data
        )


class ScheduledMessageCancelApi(TenantAPIView):
    @extend_schema(
        operation_id="scheduled_messages_cancel",
        request=None,
        responses={
            200: ScheduledMessageOutput,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                ErrorOutput, description="scheduled_message_not_cancelable: being sent, sent or failed"
            ),
        },
        summary="Cancel a scheduled message that is not being sent yet",
    )
    def post(self, request: Request, tenant_slug: str, scheduled_id: int) -> Response:
        _require_any(self.principal)
        scheduled = scheduled_message_get(principal=self.principal, scheduled_id=scheduled_id)
        scheduled = scheduled_message_cancel(actor=self.principal, scheduled=scheduled)
        return Response(ScheduledMessageOutput(scheduled).data)
