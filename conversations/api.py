"""REST API of the core: conversations, their messages and inbox actions, labels, quick replies, contacts.

Ids in the URL that the caller may not see answer 404 (missing and "not yours" look the same); ids
in a request body that name nothing usable answer 400 ``validation_failed`` naming the field.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import selectors
from conversations.actors import message_sent_by
from conversations.attachment_views import attachment_file_response, visible_attachment
from conversations.media import MEDIA_KINDS
from conversations.models import Attachment, Contact, Conversation, Inbox, Message, QuickReply
from conversations.services import actions, library
from conversations.services.contacts import contact_update
from conversations.services.outbound import OutboundSpec, message_send, note_create, reply_window_closes_at
from helpdesk.api import ErrorOutput, IdField, JsonObjectField, KeysetPagination, StrictBooleanField
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from helpdesk.ids import ID_MAX, ID_MIN, parse_id
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.models import ApiToken, Membership
from tenants.permissions import Perm

PREVIEW_CHARS = 120
CONVERSATION_PAGE_MAX = 100


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its time zone (a naive one would be guessed)."""

    default_error_messages = {"naive": gettext_lazy("Include a time zone, e.g. 2030-01-31T09:00:00-03:00.")}

    def enforce_timezone(self, value: Any) -> Any:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class LabelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()


class LastMessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    text = serializers.SerializerMethodField(help_text=f"The first {PREVIEW_CHARS} characters")
    direction = serializers.CharField()
    status = serializers.CharField()
    private = serializers.BooleanField()

    def get_text(self, obj: Message) -> str:
        # A caller who may not read private notes sees that one exists, not what it says.
        if obj.private and not self.context.get("show_private", True):
            return ""
        return obj.text[:PREVIEW_CHARS]


class PersonOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class ConversationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    status = serializers.CharField()
    priority = serializers.CharField()
    assignee_id = serializers.IntegerField(allow_null=True)
    assignee = PersonOutput(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True, help_text="The team whose queue it is in; null: none")
    contact = serializers.SerializerMethodField()
    last_inbound_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField()
    reply_window_open = serializers.SerializerMethodField()
    snoozed_until = serializers.DateTimeField(allow_null=True)
    muted_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When it was muted (it is resolved, and the customer's new messages are filed in it); "
        "null: not muted",
    )
    unread_count = serializers.IntegerField()
    waiting_since = serializers.DateTimeField(allow_null=True)
    sla_due_at = serializers.DateTimeField(
        allow_null=True, help_text="The nearest SLA deadline not met yet; null: none running (or paused)"
    )
    sla_breached_at = serializers.DateTimeField(
        allow_null=True, help_text="When the earliest SLA deadline still unmet passed; null: none breached"
    )
    labels = LabelOutput(many=True)
    last_message = LastMessageOutput(allow_null=True)

    def get_contact(self, obj: Conversation) -> dict[str, Any]:
        c = obj.contact
        return {"id": c.pk, "name": c.display_name, "phone": c.phone_e164}

    def get_reply_window_open(self, obj: Conversation) -> bool:
        # Query-free: the channel backend answers from settings and the inbox is already joined.
        closes = reply_window_closes_at(obj)
        return closes is None or closes > timezone.now()


class ConversationPageOutput(serializers.Serializer):
    results = ConversationOutput(many=True)
    next = serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next page; null at the end")


class AttachmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    mime_type = serializers.CharField()
    filename = serializers.CharField()
    file_size = serializers.IntegerField(allow_null=True)
    download_status = serializers.CharField()
    url = serializers.SerializerMethodField(
        help_text="Download with the same credentials (API token or session); null until the file is stored"
    )

    def get_url(self, obj: Attachment) -> str | None:
        if not obj.file or obj.download_status != Attachment.DownloadStatus.STORED:
            return None
        path = reverse(
            "api_attachment_download", kwargs={"tenant_slug": self.context["tenant_slug"], "attachment_id": obj.pk}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    direction = serializers.CharField()
    sender_type = serializers.CharField()
    sender_user_id = serializers.IntegerField(allow_null=True)
    sender_label = serializers.CharField(help_text="The automation's or API token's name; empty for a person")
    sender_automation_id = serializers.IntegerField(allow_null=True, help_text="The automation that sent it")
    sent_by = serializers.SerializerMethodField(
        help_text="For an automation's or the system's message: \"Sent by automation 'Boas-vindas'\"; else empty"
    )
    type = serializers.CharField()
    text = serializers.CharField()
    content = serializers.JSONField(
        help_text=(
            "The message's channel-neutral content: an object with the version `v` (1), its `kind` (text, media, "
            "location, contacts, interactive, reply, template, reaction, order, system, unsupported) and that "
            "kind's fields; money is an integer in minor units with its currency"
        )
    )
    private = serializers.BooleanField()
    status = serializers.CharField()
    error_code = serializers.IntegerField(allow_null=True)
    error_title = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    reply_to_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    occurred_at = serializers.DateTimeField(
        help_text="When it was written: the channel's timestamp for the customer's messages, ours for the rest"
    )
    attachments = AttachmentOutput(many=True)
    reactions = serializers.SerializerMethodField()

    def get_sent_by(self, obj: Message) -> str:
        return message_sent_by(obj)

    def get_reactions(self, obj: Message) -> list[dict[str, Any]]:
        return [{"emoji": r.emoji, "contact_id": r.contact_id, "user_id": r.user_id} for r in obj.reactions.all()]


class ContactIdentityOutput(serializers.Serializer):
    channel = serializers.CharField(help_text="The channel type, e.g. whatsapp")
    address = serializers.CharField(help_text="The contact's address on that channel, e.g. a number's digits")


class ContactOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The name agents gave; empty when unset")
    profile_name = serializers.CharField(help_text="The name the customer's channel profile shows")
    display_name = serializers.CharField()
    phone = serializers.CharField(source="phone_e164")
    identities = serializers.SerializerMethodField(help_text="The contact's address on each channel, one per channel")
    custom_attributes = serializers.DictField(child=serializers.CharField())
    labels = LabelOutput(many=True)
    marketing_consent = serializers.CharField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(ContactIdentityOutput(many=True))
    def get_identities(self, obj: Contact) -> list[dict[str, str]]:
        return selectors.contact_identities(contact=obj)


class LabelListOutput(LabelOutput):
    description = serializers.CharField()


class QuickReplyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shortcut = serializers.CharField()
    text = serializers.CharField()
    scope = serializers.ChoiceField(choices=QuickReply.Scope.values)
    inbox_id = serializers.IntegerField(allow_null=True)
    owner_id = serializers.IntegerField(allow_null=True)
    attachment_url = serializers.SerializerMethodField()
    can_manage = serializers.SerializerMethodField()

    def get_attachment_url(self, obj: QuickReply) -> str | None:
        return obj.attachment.url if obj.attachment else None

    def get_can_manage(self, obj: QuickReply) -> bool:
        return library.quick_reply_can_manage(membership=self.context["membership"], quick_reply=obj)


# --- helpers shared by the operations ----------------------------------------------------------


def _message_context(request: Request) -> dict[str, Any]:
    """What a message's output needs to link its files: the request (for absolute URLs) and the workspace."""
    return {"request": request, "tenant_slug": request.parser_context["kwargs"]["tenant_slug"]}


def _show_private(principal: Membership | ApiToken) -> bool:
    return principal.has_perm(Perm.REPLY)


def _conversation_data(conversation: Conversation, *, principal: Membership | ApiToken) -> dict[str, Any]:
    """The conversation as the list shows it, read again after a change.

    Not through the visibility rule: an agent who just assigned a conversation away still gets the
    result of their own action.
    """
    row = (
        Conversation.objects.select_related("contact", "inbox", "assignee", "last_message")
        .prefetch_related("labels")
        .get(pk=conversation.pk)
    )
    return ConversationOutput(row, context={"show_private": _show_private(principal)}).data


def _require_membership(principal: Membership | ApiToken, message: str) -> Membership:
    if not isinstance(principal, Membership):
        raise PermissionDenied(message)
    return principal


def _visible_contact(*, principal: Membership | ApiToken, contact_id: int) -> Contact:
    """A contact of a conversation the caller may see; 404 otherwise (the visibility rule decides)."""
    visible = selectors.conversation_list(membership=principal).filter(contact_id=OuterRef("pk"))
    contact = (
        Contact.objects.filter(tenant_id=principal.tenant_id, pk=contact_id)
        .filter(Exists(visible))
        .prefetch_related("labels", "identities")
        .first()
    )
    if contact is None:
        raise Http404("No such contact.")
    return contact


def _id_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    return None if raw is None else parse_id(raw, name=name)


# Query parameters that name an object, as the schema states them.
ID_PARAM = {"type": "integer", "minimum": ID_MIN, "maximum": ID_MAX}


NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such object, or not visible to the caller")
FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks the permission")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: the body names the field")
UNSUPPORTED = OpenApiResponse(
    ErrorOutput, description="unsupported_media_type: a body that is not JSON, a form or multipart, as stated"
)


# --- conversations -----------------------------------------------------------------------------


class ConversationListApi(TenantAPIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            OpenApiParameter("tab", str, enum=list(selectors.TABS), description="Default: all"),
            OpenApiParameter(
                "status", str, enum=Conversation.Status.values, description="Omit for conversations of any status"
            ),
            OpenApiParameter("inbox", ID_PARAM),
            OpenApiParameter("label", ID_PARAM),
            OpenApiParameter("assignee", ID_PARAM, description="A user id"),
            OpenApiParameter("team", ID_PARAM, description="A team id: conversations in that team's queue"),
            OpenApiParameter("q", str, description="Contact name or number, or message text"),
            OpenApiParameter(
                "sort",
                str,
                enum=list(selectors.SORTS),
                description="activity: most recent first; waiting: longest-waiting customer first; "
                "sla: nearest SLA deadline first (only conversations with one running)",
            ),
            OpenApiParameter(
                "sla",
                str,
                enum=list(selectors.SLA_FILTERS),
                description="soon: an SLA deadline within SLA_BREACHING_SOON_MINUTES, passed, or breached",
            ),
            OpenApiParameter("cursor", str, description="The next value of the previous page"),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": CONVERSATION_PAGE_MAX},
                description=f"1 to {CONVERSATION_PAGE_MAX}; default 25",
            ),
        ],
        responses={200: ConversationPageOutput, 400: INVALID},
        summary="Conversations the caller may see, filtered like the inbox list",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        params = {key: request.query_params.get(key, "") for key in request.query_params}
        if empty := sorted(name for name in ("tab", "status", "sort", "sla") if params.get(name) == ""):
            # An empty choice is refused, not read as the default: the schema has no empty value for it.
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        for name in ("inbox", "label", "assignee", "team"):
            _id_param(request, name)  # out of range: refused here, not handed to the query
        params.setdefault("status", "")  # the API has always listed every status by default
        filters = selectors.ConversationFilters.from_query(params)
        raw_page_size = (request.query_params.get("page_size") or "").strip()
        limit = selectors.PAGE_SIZE
        if raw_page_size:
            digits = raw_page_size.isascii() and raw_page_size.isdigit() and len(raw_page_size) <= 3
            limit = int(raw_page_size) if digits else 0
        if not 1 <= limit <= CONVERSATION_PAGE_MAX:
            raise ValidationFailed(
                _("page_size is 1 to %(max)s.") % {"max": CONVERSATION_PAGE_MAX}, details={"param": "page_size"}
            )
        rows, next_cursor = selectors.conversation_inbox_page(
            membership=self.principal, filters=filters, cursor=request.query_params.get("cursor") or None, limit=limit
        )
        context = {"show_private": _show_private(self.principal)}
        return Response({"results": ConversationOutput(rows, many=True, context=context).data, "next": next_cursor})


class ConversationAssigneeApi(TenantAPIView):
    required_perm = Perm.REPLY

    class AssigneeInput(serializers.Serializer):
        assignee_id = IdField(allow_null=True, help_text="A member's user id; null unassigns")

    @extend_schema(
        operation_id="conversations_assign",
        request=AssigneeInput,
        responses={200: ConversationOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Assign the conversation to a member of its inbox, or unassign it",
    )
    def put(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        data = self.AssigneeInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignee_id = data.validated_data["assignee_id"]
        assignee = None if assignee_id is None else selectors.assignee_get(tenant=self.tenant, user_id=assignee_id)
        conversation = actions.conversation_assign(actor=self.principal, conversation=conversation, assignee=assignee)
        return Response(_conversation_data(conversation, principal=self.principal))


class ConversationTeamApi(TenantAPIView):
    required_perm = Perm.REPLY

    class ConversationTeamInput(serializers.Serializer):
        team_id = IdField(allow_null=True, help_text="A team of the workspace; null takes it out of any team's queue")

    @extend_schema(
        operation_id="conversations_team_set",
        request=ConversationTeamInput,
        responses={200: ConversationOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Move the conversation to a team's queue, or out of any team",
    )
    def put(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        data = self.ConversationTeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        team_id = data.validated_data["team_id"]
        team = None if team_id is None else selectors.team_for_field(tenant=self.tenant, team_id=team_id)
        conversation = actions.conversation_team_set(actor=self.principal, conversation=conversation, team=team)
        return Response(_conversation_data(conversation, principal=self.principal))


class ConversationStatusApi(TenantAPIView):
    required_perm = Perm.REPLY

    class StatusInput(serializers.Serializer):
        status = serializers.ChoiceField(choices=Conversation.Status.values)
        snoozed_until = AwareDateTimeField(
            required=False, allow_null=True, help_text="Required to snooze; ISO 8601 with a time zone"
        )

    @extend_schema(
        operation_id="conversations_status_set",
        request=StatusInput,
        responses={200: ConversationOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Resolve, reopen, set pending, or snooze until a time",
    )
    def put(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        data = self.StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = actions.conversation_status_set(
            actor=self.principal,
            conversation=conversation,
            status=data.validated_data["status"],
            snoozed_until=data.validated_data.get("snoozed_until"),
        )
        return Response(_conversation_data(conversation, principal=self.principal))


class ConversationMutedApi(TenantAPIView):
    required_perm = Perm.REPLY
    # JSON only: a form leaving ``muted`` out would read as false.
    parser_classes = [JsonParser]

    class MutedInput(serializers.Serializer):
        muted = StrictBooleanField(
            help_text="true: resolve it and file the customer's new messages in it, out of the queue and of every "
            "automation; false: unmute (it stays resolved)"
        )

    @extend_schema(
        operation_id="conversations_muted_set",
        request=MutedInput,
        responses={200: ConversationOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Mute or unmute",
    )
    def put(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        data = self.MutedInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = actions.conversation_mute_set(
            actor=self.principal, conversation=conversation, muted=data.validated_data["muted"]
        )
        return Response(_conversation_data(conversation, principal=self.principal))


class ConversationPriorityApi(TenantAPIView):
    required_perm = Perm.REPLY

    class PriorityInput(serializers.Serializer):
        priority = serializers.ChoiceField(choices=Conversation.Priority.values)

    @extend_schema(
        operation_id="conversations_priority_set",
        request=PriorityInput,
        responses={200: ConversationOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Set the conversation's priority",
    )
    def put(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        data = self.PriorityInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = actions.conversation_priority_set(
            actor=self.principal, conversation=conversation, priority=data.validated_data["priority"]
        )
        return Response(_conversation_data(conversation, principal=self.principal))


class ConversationLabelListAddApi(TenantAPIView):
    class LabelAddInput(serializers.Serializer):
        label_id = IdField()

    @extend_schema(
        operation_id="conversations_labels_list",
        responses={200: LabelOutput(many=True), 404: NOT_FOUND},
        summary="The conversation's labels, by name",
    )
    def get(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        return Response(LabelOutput(conversation.labels.order_by("name"), many=True).data)

    @extend_schema(
        operation_id="conversations_labels_add",
        request=LabelAddInput,
        responses={200: LabelOutput(many=True), 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Add a label (adding one it has changes nothing); returns the labels afterwards",
    )
    def post(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        data = self.LabelAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        labels = selectors.labels_from_ids(tenant=self.tenant, ids=[data.validated_data["label_id"]], field="label_id")
        result = actions.conversation_labels_change(actor=self.principal, conversation=conversation, add=labels)
        return Response(LabelOutput(result, many=True).data)


class ConversationLabelRemoveApi(TenantAPIView):
    required_perm = Perm.REPLY

    @extend_schema(
        operation_id="conversations_labels_remove",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Remove a label from the conversation (removing one it lacks changes nothing)",
    )
    def delete(self, request: Request, tenant_slug: str, display_id: int, label_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        label = selectors.label_get(tenant=self.tenant, label_id=label_id)
        actions.conversation_labels_change(actor=self.principal, conversation=conversation, remove=[label])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationNoteCreateApi(TenantAPIView):
    required_perm = Perm.REPLY

    class NoteInput(serializers.Serializer):
        text = serializers.CharField(max_length=4096)
        mention_user_ids = serializers.ListField(
            child=IdField(),
            required=False,
            default=list,
            max_length=50,
            help_text="Members to notify; those who cannot see the conversation are ignored",
        )

    @extend_schema(
        operation_id="conversations_notes_create",
        request=NoteInput,
        responses={201: MessageOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Add a private note for the team (members only; never sent to the customer)",
    )
    def post(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        # Visibility first: another tenant's id is a 404 for every caller, as everywhere else.
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        membership = _require_membership(
            self.principal, _("Notes are written by members: sign in as a person, not with an API token.")
        )
        data = self.NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = note_create(
            actor=membership,
            conversation=conversation,
            text=data.validated_data["text"],
            mention_user_ids=data.validated_data["mention_user_ids"],
        )
        message = selectors.message_list(conversation=conversation).get(pk=message.pk)
        return Response(MessageOutput(message, context=_message_context(request)).data, status=status.HTTP_201_CREATED)


class ConversationReadApi(TenantAPIView):
    @extend_schema(
        operation_id="conversations_mark_read",
        request=None,
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Mark the customer's messages as seen by the team (members only)",
    )
    def post(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = selectors.conversation_get(membership=self.principal, display_id=display_id)
        membership = _require_membership(
            self.principal, _("Only members read conversations; an API token cannot mark one read.")
        )
        actions.conversation_mark_read(membership=membership, conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessagePagination(KeysetPagination):
    """The history newest first: by when each message was written (the customer's time for theirs), ties by arrival."""

    key_field = "occurred_at"


class MessageListCreateApi(TenantAPIView):
    parser_classes = [JsonParser, MultiPartParser, FormParser]
    pagination_class = MessagePagination  # the schema describes the list's pages and parameters from it

    class SendInput(serializers.Serializer):
        type = serializers.ChoiceField(
            choices=[
                "text",
                "template",
                *MEDIA_KINDS,
                "reaction",
                "interactive",
                "location",
                "product",
                "product_list",
                "catalog",
            ],
            help_text="product, product_list and catalog: products of the catalog connected to the channel (by SKU),"
            " on channels that send them, inside the reply window",
        )
        text = serializers.CharField(required=False, allow_blank=True, default="")
        template = JsonObjectField(required=False, help_text='{"name", "language", "params": {...}}')
        content = JsonObjectField(
            required=False,
            help_text="Type-specific content (reaction, interactive, location, media link). product: "
            '{"sku", "body"?, "footer"?} (no header); product_list: {"header" (text, at most 60), "body" (at most'
            ' 1024), "footer"? (at most 60), "sections": [{"title" (at most 24; required with several sections),'
            ' "skus": [...]}]} (1 to 10 sections, 30 products in all); catalog: {"body", "footer"?,'
            ' "thumbnail_sku"?}',
        )
        reply_to = IdField(required=False, help_text="Id of a message of this conversation to quote")
        file = serializers.FileField(
            required=False, help_text="The media file (multipart/form-data); or give content.link instead"
        )

    def _conversation(self, display_id: int) -> Conversation:
        return selectors.conversation_get(membership=self.principal, display_id=display_id)

    @extend_schema(
        operation_id="messages_list",
        responses={200: MessageOutput(many=True), 400: INVALID, 404: NOT_FOUND},
        summary=(
            "Messages, newest first by occurred_at (the customer's timestamp for theirs), ties by id, a page at a"
            " time (follow next for older ones, previous for newer)"
        ),
    )
    def get(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = self._conversation(display_id)
        qs = selectors.message_list(conversation=conversation)
        if not self.principal.has_perm("conversations.reply"):
            qs = qs.filter(private=False)
        paginator = MessagePagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(MessageOutput(page, many=True, context=_message_context(request)).data)

    @extend_schema(
        operation_id="messages_send",
        request=SendInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a request (same body) with the same key to get the first result instead of a "
                "second send; the key with a different body is refused (422).",
            )
        ],
        responses={
            201: MessageOutput,
            200: OpenApiResponse(MessageOutput, description="The first message sent with this Idempotency-Key"),
            400: INVALID,
            415: UNSUPPORTED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(ErrorOutput, description="reply_window_closed: only an approved template can be sent"),
            422: OpenApiResponse(
                ErrorOutput,
                description="idempotency_key_reused: the key named a message of another conversation; "
                "idempotency_key_mismatch: the key named a message sent with a different body",
            ),
        },
        summary="Send a message to the customer of a conversation",
    )
    def post(self, request: Request, tenant_slug: str, display_id: int) -> Response:
        conversation = self._conversation(display_id)
        data = self.SendInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        reply_to = None
        if v.get("reply_to"):
            reply_to = selectors.reply_to_get(conversation=conversation, message_id=v["reply_to"])
        content = dict(v.get("content") or {})
        if v["type"] == "template":
            content = dict(v.get("template") or {})
        spec = OutboundSpec(
            type=v["type"], text=v.get("text", ""), content=content, reply_to=reply_to, upload=v.get("file")
        )
        message, created = message_send(
            actor=self.principal,
            conversation=conversation,
            spec=spec,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        message = selectors.message_list(conversation=conversation).get(pk=message.pk)
        return Response(
            MessageOutput(message, context=_message_context(request)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AttachmentDownloadApi(TenantAPIView):
    @extend_schema(
        operation_id="attachments_download",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file: images, audio and video with their own type, anything else as "
                "application/octet-stream",
            ),
            404: NOT_FOUND,
        },
        summary="A message's file, for a caller who may see its conversation (the url given in attachments[])",
    )
    def get(self, request: Request, tenant_slug: str, attachment_id: int) -> FileResponse:
        hide_private = not _show_private(self.principal)
        attachment = visible_attachment(
            principal=self.principal, attachment_id=attachment_id, hide_private=hide_private
        )
        return attachment_file_response(attachment)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A file is the answer whatever the client accepts; errors are still rendered as JSON.
        return super().perform_content_negotiation(request, force=True)


# --- labels and quick replies ------------------------------------------------------------------


class LabelListApi(TenantAPIView):
    @extend_schema(
        operation_id="labels_list", responses=LabelListOutput(many=True), summary="The workspace's labels, by name"
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response(LabelListOutput(selectors.label_list(tenant=self.tenant), many=True).data)


def _quick_reply_inbox(*, membership: Membership, inbox_id: int | None, field: str) -> Inbox | None:
    """One of the inboxes the member works in, or ``ValidationFailed`` naming the field."""
    if inbox_id is None:
        return None
    inbox = next((i for i in selectors.inboxes_for(membership=membership) if i.pk == inbox_id), None)
    if inbox is None:
        raise ValidationFailed(_("Unknown inbox."), details={"field": field, "id": inbox_id})
    return inbox


def _members_only_quick_replies() -> str:
    return _("Quick replies belong to members: sign in as a person, not with an API token.")


class QuickReplyListCreateApi(TenantAPIView):
    required_perm = Perm.REPLY
    parser_classes = [JsonParser, MultiPartParser, FormParser]

    class QuickReplyCreateInput(serializers.Serializer):
        shortcut = serializers.CharField(max_length=41, help_text="Typed after / in the composer")
        text = serializers.CharField(max_length=4096, trim_whitespace=False)
        scope = serializers.ChoiceField(choices=QuickReply.Scope.values, default=QuickReply.Scope.TENANT)
        inbox_id = IdField(required=False, allow_null=True, help_text="Required for scope=inbox")
        attachment = serializers.FileField(required=False)

    @extend_schema(
        operation_id="quick_replies_list",
        parameters=[
            OpenApiParameter(
                "inbox", ID_PARAM, description="Only what can be used in this inbox (else: in any of yours)"
            )
        ],
        responses={200: QuickReplyOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="The quick replies the caller may use (members only)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        membership = _require_membership(self.principal, _members_only_quick_replies())
        inbox = _quick_reply_inbox(membership=membership, inbox_id=_id_param(request, "inbox"), field="inbox")
        rows = selectors.quick_reply_list(membership=membership, inbox=inbox).order_by("shortcut", "id")
        return Response(QuickReplyOutput(rows, many=True, context={"membership": membership}).data)

    @extend_schema(
        operation_id="quick_replies_create",
        request=QuickReplyCreateInput,
        responses={201: QuickReplyOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN},
        summary="Create a quick reply: personal, or for an inbox or the workspace (these need Manage labels)",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        membership = _require_membership(self.principal, _members_only_quick_replies())
        data = self.QuickReplyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        quick_reply = library.quick_reply_create(
            membership=membership,
            shortcut=v["shortcut"],
            text=v["text"],
            scope=v["scope"],
            inbox=_quick_reply_inbox(membership=membership, inbox_id=v.get("inbox_id"), field="inbox_id"),
            attachment=v.get("attachment"),
            request=request,
        )
        return Response(
            QuickReplyOutput(quick_reply, context={"membership": membership}).data, status=status.HTTP_201_CREATED
        )


class QuickReplyDetailApi(TenantAPIView):
    required_perm = Perm.REPLY
    parser_classes = [JsonParser, MultiPartParser, FormParser]

    class QuickReplyUpdateInput(serializers.Serializer):
        shortcut = serializers.CharField(max_length=41, required=False)
        text = serializers.CharField(max_length=4096, trim_whitespace=False, required=False)
        scope = serializers.ChoiceField(choices=QuickReply.Scope.values, required=False)
        inbox_id = IdField(required=False, allow_null=True)
        attachment = serializers.FileField(required=False)
        remove_attachment = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="quick_replies_update",
        request=QuickReplyUpdateInput,
        responses={200: QuickReplyOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Change a quick reply; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, quick_reply_id: int) -> Response:
        membership = _require_membership(self.principal, _members_only_quick_replies())
        quick_reply = selectors.quick_reply_get(membership=membership, quick_reply_id=quick_reply_id)
        data = self.QuickReplyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "inbox_id" in v:
            inbox = _quick_reply_inbox(membership=membership, inbox_id=v["inbox_id"], field="inbox_id")
        else:
            inbox = quick_reply.inbox
        quick_reply = library.quick_reply_update(
            membership=membership,
            quick_reply=quick_reply,
            shortcut=v.get("shortcut", quick_reply.shortcut),
            text=v.get("text", quick_reply.text),
            scope=v.get("scope", quick_reply.scope),
            inbox=inbox,
            attachment=v.get("attachment"),
            remove_attachment=v["remove_attachment"],
            request=request,
        )
        return Response(QuickReplyOutput(quick_reply, context={"membership": membership}).data)

    @extend_schema(
        operation_id="quick_replies_delete",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete a quick reply",
    )
    def delete(self, request: Request, tenant_slug: str, quick_reply_id: int) -> Response:
        membership = _require_membership(self.principal, _members_only_quick_replies())
        library.quick_reply_delete(
            membership=membership,
            quick_reply=selectors.quick_reply_get(membership=membership, quick_reply_id=quick_reply_id),
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- contacts ----------------------------------------------------------------------------------


class ContactDetailApi(TenantAPIView):
    # JSON only: an empty form would pass as "change nothing" (every field is optional).
    parser_classes = [JsonParser]

    class ContactUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=255, required=False, allow_blank=True)
        phone = serializers.CharField(
            max_length=40, required=False, allow_blank=True, help_text="Any common format; stored as E.164"
        )
        custom_attributes = JsonObjectField(required=False, help_text="Replaces all attributes: names to text values")
        label_ids = serializers.ListField(
            child=IdField(), required=False, max_length=100, help_text="Replaces all labels"
        )

    @extend_schema(
        operation_id="contacts_retrieve",
        responses={200: ContactOutput, 404: NOT_FOUND},
        summary="A contact of a conversation the caller may see",
    )
    def get(self, request: Request, tenant_slug: str, contact_id: int) -> Response:
        return Response(ContactOutput(_visible_contact(principal=self.principal, contact_id=contact_id)).data)

    @extend_schema(
        operation_id="contacts_update",
        request=ContactUpdateInput,
        responses={200: ContactOutput, 400: INVALID, 415: UNSUPPORTED, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Change a contact's name, phone, custom attributes or labels; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, contact_id: int) -> Response:
        contact = _visible_contact(principal=self.principal, contact_id=contact_id)
        if not self.principal.has_perm(Perm.MANAGE_CONTACTS):
            raise PermissionDenied(_("You do not have permission to change contacts."))
        data = self.ContactUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "label_ids" in changes:
            changes["labels"] = selectors.labels_from_ids(
                tenant=self.tenant, ids=changes.pop("label_ids"), field="label_ids"
            )
        contact_update(actor=self.principal, contact=contact, **changes)
        return Response(ContactOutput(_visible_contact(principal=self.principal, contact_id=contact_id)).data)
