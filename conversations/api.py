"""REST API of the core: conversations, their messages, sending, and channel status."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import selectors
from conversations.models import Conversation, Message
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.api import CursorPagination
from helpdesk.exceptions import NotFound
from tenants.api_base import TenantAPIView


class ConversationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    status = serializers.CharField()
    priority = serializers.CharField()
    assignee_id = serializers.IntegerField(allow_null=True)
    contact = serializers.SerializerMethodField()
    last_inbound_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)
    reply_window_open = serializers.SerializerMethodField()

    def get_contact(self, obj: Conversation) -> dict[str, Any]:
        c = obj.contact
        return {"id": c.pk, "name": c.display_name, "wa_id": c.wa_id, "phone": c.phone_e164}

    def get_reply_window_open(self, obj: Conversation) -> bool:
        from django.utils import timezone

        from conversations.services.outbound import reply_window_closes_at

        closes = reply_window_closes_at(obj)
        return closes is None or closes > timezone.now()


class AttachmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    mime_type = serializers.CharField()
    filename = serializers.CharField()
    file_size = serializers.IntegerField(allow_null=True)
    download_status = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, obj: Any) -> str | None:
        return obj.file.url if obj.file else None


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    direction = serializers.CharField()
    sender_type = serializers.CharField()
    sender_user_id = serializers.IntegerField(allow_null=True)
    type = serializers.CharField()
    text = serializers.CharField()
    content = serializers.JSONField()
    private = serializers.BooleanField()
    status = serializers.CharField()
    error_code = serializers.IntegerField(allow_null=True)
    error_title = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    reply_to_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    attachments = AttachmentOutput(many=True)
    reactions = serializers.SerializerMethodField()

    def get_reactions(self, obj: Message) -> list[dict[str, Any]]:
        return [{"emoji": r.emoji, "contact_id": r.contact_id, "user_id": r.user_id} for r in obj.reactions.all()]


class ConversationListApi(TenantAPIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            OpenApiParameter("status", str, enum=Conversation.Status.values),
            OpenApiParameter("inbox", int),
        ],
        responses=ConversationOutput(many=True),
        summary="Conversations the caller may see, most recent activity first",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        qs = selectors.conversation_list(membership=self.principal)
        status_filter = request.query_params.get("status")
        if status_filter:
            if status_filter not in Conversation.Status.values:
                from helpdesk.exceptions import ValidationFailed

                raise ValidationFailed("Unknown status.", details={"status": Conversation.Status.values})
            qs = qs.filter(status=status_filter)
        inbox = request.query_params.get("inbox")
        if inbox:
            if not inbox.isdigit():
                from helpdesk.exceptions import ValidationFailed

                raise ValidationFailed("inbox must be an id.")
            qs = qs.filter(inbox_id=int(inbox))
        paginator = CursorPagination()
        paginator.ordering = ("-last_activity_at", "-id")
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ConversationOutput(page, many=True).data)


class MessageListCreateApi(TenantAPIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class SendInput(serializers.Serializer):
        type = serializers.ChoiceField(
            choices=[
                "text",
                "template",
                "image",
                "audio",
                "video",
                "document",
                "sticker",
                "reaction",
                "interactive",
                "location",
            ]
        )
        text = serializers.CharField(required=False, allow_blank=True, default="")
        template = serializers.DictField(required=False, help_text='{"name", "language", "params": {...}}')
        content = serializers.DictField(
            required=False, help_text="Type-specific content (reaction, interactive, location, media link)"
        )
        reply_to = serializers.IntegerField(required=False, help_text="Id of a message of this conversation to quote")
        file = serializers.FileField(required=False)

    def _conversation(self, display_id: int) -> Conversation:
        return selectors.conversation_get(membership=self.principal, display_id=display_id)

    @extend_schema(operation_id="messages_list", responses=MessageOutput(many=True), summary="Messages, newest first")
    def get(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = self._conversation(display_id)
        qs = selectors.message_list(conversation=conversation)
        if not self.principal.has_perm("conversations.reply"):
            qs = qs.filter(private=False)
        paginator = CursorPagination()
        paginator.ordering = "-id"
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(MessageOutput(page, many=True).data)

    @extend_schema(
        operation_id="messages_send",
        request=SendInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a request with the same key to get the first result instead of a second send.",
            )
        ],
        responses={201: MessageOutput, 200: MessageOutput},
        summary="Send a message to the customer of a conversation",
    )
    def post(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = self._conversation(display_id)
        data = self.SendInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        reply_to = None
        if v.get("reply_to"):
            reply_to = Message.objects.filter(
                tenant_id=self.tenant.pk, conversation=conversation, pk=v["reply_to"]
            ).first()
            if reply_to is None:
                raise NotFound("The message to reply to is not in this conversation.")
        content = dict(v.get("content") or {})
        if v["type"] == "template":
            content = dict(v.get("template") or {})
        spec = OutboundSpec(
            type=v["type"], text=v.get("text", ""), content=content, reply_to=reply_to, upload=v.get("file")
        )
        message, created = message_send(
            principal=self.principal,
            conversation=conversation,
            spec=spec,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        message = selectors.message_list(conversation=conversation).get(pk=message.pk)
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
