"""Business → customer: validate, queue, and hand to the channel for delivery after commit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from conversations import channels
from conversations.actors import (
    Actor,
    actor_audit_label,
    actor_display_name,
    actor_id,
    actor_kind,
    actor_sender_automation_id,
    actor_sender_label,
    actor_sender_type,
    actor_type,
    actor_user,
)
from conversations.content import (
    CONTENT_VERSION,
    VERSION_KEY,
    CatalogContent,
    Content,
    ContentInvalid,
    OrderStatusContent,
    PaymentRequestContent,
    ProductContent,
    ProductListContent,
    content_from_dict,
    text_content,
)
from conversations.events import MessageSent
from conversations.events.outbox import events_record
from conversations.models import Attachment, Conversation, Message, Notification, Reaction
from conversations.selectors import conversation_audience
from conversations.services import delivery_jobs
from conversations.services.actions import read_receipt_on_commit
from conversations.services.events import publish_conversation_updated, publish_message_event, publish_notification
from helpdesk.bulk import rows_update
from helpdesk.exceptions import ApplicationError, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import Perm
from tenants.services import audit_log_record

FREE_FORM_TYPES = {
    Message.Type.TEXT,
    Message.Type.IMAGE,
    Message.Type.AUDIO,
    Message.Type.VIDEO,
    Message.Type.DOCUMENT,
    Message.Type.STICKER,
    Message.Type.LOCATION,
    Message.Type.CONTACTS,
    Message.Type.INTERACTIVE,
    Message.Type.REACTION,
    Message.Type.PAYMENT_REQUEST,
    Message.Type.ORDER_STATUS,
    Message.Type.PRODUCT,
    Message.Type.PRODUCT_LIST,
    Message.Type.CATALOG,
}
# Kinds whose content the core defines: checked here into the neutral content, whatever the channel.
NEUTRAL_CONTENT: dict[str, type[Content]] = {
    Message.Type.PAYMENT_REQUEST: PaymentRequestContent,
    Message.Type.ORDER_STATUS: OrderStatusContent,
    Message.Type.PRODUCT: ProductContent,
    Message.Type.PRODUCT_LIST: ProductListContent,
    Message.Type.CATALOG: CatalogContent,
}


class ReplyWindowClosed(ApplicationError):
    """Free-form messages are refused outside the channel's customer-service window."""

    code = "reply_window_closed"
    status_code = 409


class IdempotencyKeyReused(ApplicationError):
    """The idempotency key already named a message of another conversation."""

    code = "idempotency_key_reused"
    # As the IETF Idempotency-Key draft answers a key reused for a different request.
    status_code = 422


class IdempotencyKeyMismatch(ApplicationError):
    """The idempotency key already named a message sent with another body."""

    code = "idempotency_key_mismatch"
    status_code = 422


@dataclass(frozen=True)
class OutboundSpec:
    type: str
    text: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    reply_to: Message | None = None
    upload: UploadedFile | None = None


def reply_window_closes_at(conversation: Conversation) -> Any:
    window = channels.backend_for(conversation.inbox).reply_window(conversation.inbox)
    if window is None:
        return None
    if conversation.last_inbound_at is None:
        return timezone.now() - timedelta(seconds=1)
    return conversation.last_inbound_at + window


# The title a message that could not be sent for the closed window is stored with (its error has no
# channel code); stored in English and shown through ``reply_window_closed_title``.
REPLY_WINDOW_CLOSED_TITLE = "Reply window closed"


def reply_window_closed_title() -> str:
    return _("Reply window closed")


def reply_window_closed_text() -> str:
    return _(
        "The customer's reply window is closed. Only an approved message template can be sent until they write again."
    )


def reply_window_check(*, conversation: Conversation, message_type: str) -> None:
    """Raise ``ReplyWindowClosed`` when free-form content would arrive after the window closed."""
    if message_type not in FREE_FORM_TYPES:
        return
    closes_at = reply_window_closes_at(conversation)
    if closes_at is not None and timezone.now() >= closes_at:
        raise ReplyWindowClosed(
            reply_window_closed_text(), details={"closed_at": closes_at.isoformat(), "use": "template"}
        )


def _channel_check(conversation: Conversation, message_type: str) -> None:
    """Refuse a kind of message the conversation's channel cannot send (a payment request without payments)."""
    channel_type = conversation.inbox.channel_type
    if not channels.sends(channel_type, message_type):
        try:
            kind = str(Message.Type(message_type).label)
        except ValueError:
            kind = message_type
        raise ValidationFailed(
            _("%(type)s messages cannot be sent on %(channel)s.")
            % {"type": kind, "channel": channels.display_name(channel_type)},
            code="message_type_unsupported",
            details={"type": message_type, "channel_type": channel_type},
        )


def _neutral_spec(spec: OutboundSpec) -> OutboundSpec:
    """The request with its content checked into the neutral content of its kind (and the body as its
    text, for previews and search), for the kinds the core defines; any other request as it is."""
    content_class = NEUTRAL_CONTENT.get(spec.type)
    if content_class is None:
        return spec
    data = {VERSION_KEY: CONTENT_VERSION, "kind": content_class.kind, **(spec.content or {})}
    if data["kind"] != content_class.kind:
        raise ContentInvalid(
            _("%(field)s must be %(kind)s, as the message's type.") % {"field": "kind", "kind": content_class.kind}
        )
    content = content_from_dict(data)
    return replace(spec, text=getattr(content, "body", ""), content=content.to_dict())


def _sender_check(actor: Actor, message_type: str) -> None:
    perm = Perm.SEND_TEMPLATES if message_type == Message.Type.TEMPLATE else Perm.REPLY
    if not actor.has_perm(perm):
        raise PermissionDenied(_("You do not have permission to send this message."))


def request_fingerprint(spec: OutboundSpec) -> str:
    """SHA-256 of what was asked to be sent: type, text, content, the quoted message and the file's bytes."""
    digest = hashlib.sha256()
    request = {
        "type": spec.type,
        "text": spec.text,
        "content": spec.content,
        "reply_to": spec.reply_to.pk if spec.reply_to else None,
        "file": [spec.upload.name, spec.upload.size] if spec.upload is not None else None,
    }
    digest.update(json.dumps(request, sort_keys=True, separators=(",", ":"), default=str).encode())
    if spec.upload is not None:
        for chunk in spec.upload.chunks():
            digest.update(chunk)
        spec.upload.seek(0)
    return digest.hexdigest()


def _replayed(existing: Message, *, conversation: Conversation, idempotency_key: str, fingerprint: str) -> Message:
    """The first message sent with this key, when it was sent to this conversation with the same request."""
    if existing.conversation_id != conversation.pk:
        # Nothing of the other conversation is told: the caller may not be allowed to see it.
        raise IdempotencyKeyReused(
            _("This idempotency key was already used for a message in another conversation. Use a new key."),
            details={"idempotency_key": idempotency_key},
        )
    # Messages stored before fingerprints were kept have none: they are replayed as before.
    if existing.idempotency_fingerprint and existing.idempotency_fingerprint != fingerprint:
        raise IdempotencyKeyMismatch(
            _(
                "This idempotency key was already used for a different message in this conversation. "
                "Repeat the same request to get that message, or use a new key."
            ),
            details={"idempotency_key": idempotency_key, "message_id": existing.pk},
        )
    return existing


def _caller_check(actor: Actor, conversation: Conversation, idempotency_key: str | None) -> None:
    if actor.tenant_id != conversation.tenant_id:
        raise PermissionDenied(_("You do not have permission to send this message."))
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 80 and idempotency_key.isprintable()):
        raise ValidationFailed(_("The idempotency key must be 1 to 80 printable characters long."))


def _outbound_row(
    actor: Actor,
    user: Any,
    conversation: Conversation,
    spec: OutboundSpec,
    prepared: dict[str, Any],
    idempotency_key: str | None,
    fingerprint: str,
) -> Message:
    """The queued message row (not saved) of a checked and prepared request."""
    return Message(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=actor_sender_type(actor),
        sender_user=user,
        sender_label=actor_sender_label(actor),
        sender_automation_id=actor_sender_automation_id(actor),
        type=spec.type,
        text=prepared.get("text", spec.text),
        content=prepared.get("content", spec.content),
        raw=prepared.get("raw"),
        reply_to=spec.reply_to,
        reply_to_external_id=(spec.reply_to.external_id or "") if spec.reply_to else "",
        status=Message.Status.QUEUED,
        idempotency_key=idempotency_key or None,
        idempotency_fingerprint=fingerprint,
    )


def _sent_event(actor: Actor, user: Any, message: Message) -> MessageSent:
    conversation = message.conversation
    return MessageSent(
        tenant_id=conversation.tenant_id,
        message_id=message.pk,
        conversation_id=conversation.pk,
        inbox_id=conversation.inbox_id,
        contact_id=conversation.contact_id,
        message_type=message.type,
        sender_type=message.sender_type,
        sender_user_id=user.pk if user else None,
        actor_type=actor_type(actor),
        actor_id=actor_id(actor),
        actor_kind=actor_kind(actor),
    )


def message_send(
    *,
    actor: Actor,
    conversation: Conversation,
    spec: OutboundSpec,
    idempotency_key: str | None = None,
    bulk: bool = False,
) -> tuple[Message, bool]:
    """Queue a message for the customer. Returns the message and whether it was newly created.

    The actor is its sender: a member's is the agent's, an API token's the API's, an automation's
    the bot's (with its name; audited) and the system's the system's (audited). Each is checked
    against the reply window the same way.

    The same ``idempotency_key`` with the same request returns the first message instead of sending
    again, so a double click or a client retry sends once; a key already used in another
    conversation, or with another request, is refused and nothing is sent.

    ``bulk``: one of many messages the business writes first (a broadcast). It is not an answer: the
    conversation keeps its unread count, waiting time, activity time and reply-window state (no read
    receipt either), it joins the end of the inbox's send queue instead of going ahead of it, and it
    is not audited one by one (the feature that sends it audits the whole).
    """
    _caller_check(actor, conversation, idempotency_key)
    fingerprint = request_fingerprint(spec) if idempotency_key else ""
    if idempotency_key:
        existing = Message.objects.filter(tenant_id=conversation.tenant_id, idempotency_key=idempotency_key).first()
        if existing is not None:
            replay = _replayed(
                existing, conversation=conversation, idempotency_key=idempotency_key, fingerprint=fingerprint
            )
            return replay, False
    _sender_check(actor, spec.type)
    _channel_check(conversation, spec.type)
    reply_window_check(conversation=conversation, message_type=spec.type)
    spec = _neutral_spec(spec)
    backend = channels.backend_for(conversation.inbox)
    prepared = backend.prepare_outbound(conversation=conversation, spec=spec)
    user = actor_user(actor)
    try:
        with transaction.atomic():
            message = _outbound_row(actor, user, conversation, spec, prepared, idempotency_key, fingerprint)
            message.save(force_insert=True)
            if spec.upload is not None:
                Attachment.objects.create(
                    tenant_id=conversation.tenant_id,
                    message=message,
                    kind=spec.type,
                    file=spec.upload,
                    mime_type=getattr(spec.upload, "content_type", "") or "",
                    filename=spec.upload.name or "",
                    file_size=spec.upload.size,
                    download_status=Attachment.DownloadStatus.STORED,
                )
            changes: dict[str, Any] = {}
            if not bulk:
                # The business answered: the customer no longer waits, and the team has seen their messages.
                if conversation.unread_count:
                    read_receipt_on_commit(conversation)
                now = timezone.now()
                changes = {"last_activity_at": now, "waiting_since": None, "last_reply_at": now, "unread_count": 0}
            preview = Conversation.preview_update(at=message.occurred_at, pk=message.pk)
            Conversation.objects.filter(pk=conversation.pk).update(**changes, **preview)
            for key, value in changes.items():
                setattr(conversation, key, value)
            if conversation.last_message_at is None or conversation.last_message_at <= message.occurred_at:
                conversation.last_message_id, conversation.last_message_at = message.pk, message.occurred_at
            events_record([_sent_event(actor, user, message)])
            if not bulk and message.sender_type in (Message.SenderType.BOT, Message.SenderType.SYSTEM):
                # A person's reply names its author on the message; what the business sends by
                # itself is a configured action, kept in the audit log.
                audit_log_record(
                    action=AuditLogEntry.Action.MESSAGE_SENT,
                    tenant=conversation.tenant,
                    actor=None,
                    actor_label=actor_audit_label(actor),
                    target=conversation,
                    target_label=f"#{conversation.display_id}",
                    extra={"message_id": message.pk, "type": message.type},
                )
            if bulk:
                transaction.on_commit(lambda: delivery_jobs.delivery_enqueue(message, ahead=False))
            else:
                transaction.on_commit(lambda: delivery_jobs.delivery_enqueue(message))
            publish_message_event("message.created", message)
            publish_conversation_updated(conversation)
    except IntegrityError:
        if idempotency_key:
            existing = Message.objects.get(tenant_id=conversation.tenant_id, idempotency_key=idempotency_key)
            replay = _replayed(
                existing, conversation=conversation, idempotency_key=idempotency_key, fingerprint=fingerprint
            )
            return replay, False
        raise
    return message, True


@dataclass(frozen=True)
class BulkSend:
    """One of many messages the business writes first (see ``messages_send_bulk``)."""

    conversation: Conversation
    spec: OutboundSpec
    idempotency_key: str


@dataclass(frozen=True)
class BulkSent:
    """What became of one ``BulkSend``: its message (``created`` False: the first one sent with its key), or
    the error that refused it (nothing of it was written)."""

    message: Message | None = None
    created: bool = False
    error: ApplicationError | None = None


def messages_send_bulk(*, actor: Actor, sends: Sequence[BulkSend]) -> list[BulkSent]:
    """``message_send(bulk=True)`` for many messages at once, in the caller's transaction (a broadcast's batch):
    the same checks and the same rows, events and live updates, written set-based. The keys already used
    are read in one query, what the channel checks is read once for the batch (a template, the contacts'
    consents), the messages are one insert, their conversations' previews one update and their events one
    record; the inboxes' send queues are asked for once each after commit. Results are in order; a refused
    message does not stop the others. No file uploads (a bulk message's media is a link)."""
    results: list[BulkSent | None] = [None] * len(sends)
    existing: dict[str, Message] = {}
    keys = [send.idempotency_key for send in sends]
    if keys:
        existing = {
            m.idempotency_key or "": m
            for m in Message.objects.filter(tenant_id=actor.tenant_id, idempotency_key__in=keys)
        }
    checked: list[tuple[int, OutboundSpec, str]] = []
    for i, send in enumerate(sends):
        if send.spec.upload is not None:
            raise ValueError("Bulk messages take no file upload.")
        try:
            _caller_check(actor, send.conversation, send.idempotency_key)
            fingerprint = request_fingerprint(send.spec)
            if (first := existing.get(send.idempotency_key)) is not None:
                replay = _replayed(
                    first, conversation=send.conversation, idempotency_key=send.idempotency_key, fingerprint=fingerprint
                )
                results[i] = BulkSent(message=replay)
                continue
            _sender_check(actor, send.spec.type)
            _channel_check(send.conversation, send.spec.type)
            reply_window_check(conversation=send.conversation, message_type=send.spec.type)
            checked.append((i, _neutral_spec(send.spec), fingerprint))
        except ApplicationError as exc:
            results[i] = BulkSent(error=exc)
    by_channel: dict[str, list[tuple[int, OutboundSpec, str]]] = {}
    for item in checked:
        by_channel.setdefault(sends[item[0]].conversation.inbox.channel_type, []).append(item)
    user = actor_user(actor)
    rows: list[tuple[int, Message]] = []
    for channel_type, items in by_channel.items():
        prepared = channels.prepare_outbound_many(
            channels.backend_named(channel_type), [(sends[i].conversation, spec) for i, spec, _f in items]
        )
        for (i, spec, fingerprint), ready in zip(items, prepared, strict=True):
            if isinstance(ready, ApplicationError):
                results[i] = BulkSent(error=ready)
                continue
            send = sends[i]
            rows.append(
                (i, _outbound_row(actor, user, send.conversation, spec, ready, send.idempotency_key, fingerprint))
            )
    rows.sort(key=lambda row: row[0])
    try:
        with transaction.atomic():
            Message.objects.bulk_create([message for _i, message in rows])
    except IntegrityError:
        # A key was taken meanwhile (a concurrent sender of the same batch): one by one, as message_send does.
        for i, _message in rows:
            send = sends[i]
            try:
                message, created = message_send(
                    actor=actor,
                    conversation=send.conversation,
                    spec=send.spec,
                    idempotency_key=send.idempotency_key,
                    bulk=True,
                )
                results[i] = BulkSent(message=message, created=created)
            except ApplicationError as exc:
                results[i] = BulkSent(error=exc)
        return [result or BulkSent() for result in results]
    new_messages = [message for _i, message in rows]
    for i, message in rows:
        results[i] = BulkSent(message=message, created=True)
    if new_messages:
        _previews_update(new_messages)
        events_record([_sent_event(actor, user, message) for message in new_messages])
        requests = [(message.pk, message.inbox_id) for message in new_messages]
        transaction.on_commit(lambda: delivery_jobs.send_requests(requests))
        for message in new_messages:
            publish_message_event("message.created", message)
        for conversation in {message.conversation_id: message.conversation for message in new_messages}.values():
            publish_conversation_updated(conversation)
    return [result or BulkSent() for result in results]


def _previews_update(messages: list[Message]) -> None:
    """Make each conversation's latest of ``messages`` its preview where the history places it after the
    current one (as ``Conversation.preview_update``), in one statement; the rows are locked in id order
    first, as every writer of many conversations does."""
    latest: dict[int, Message] = {}
    for message in messages:
        current = latest.get(message.conversation_id)
        if current is None or (message.occurred_at, message.pk) > (current.occurred_at, current.pk):
            latest[message.conversation_id] = message
    ids = sorted(latest)
    list(Conversation.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
    rows_update(
        Conversation,
        [Conversation(pk=pk, last_message_id=latest[pk].pk, last_message_at=latest[pk].occurred_at) for pk in ids],
        ["last_message", "last_message_at"],
        # As ``Conversation.preview_later``: the history places the message after the current preview.
        when=(
            "t.last_message_at IS NULL OR t.last_message_at < v.last_message_at"
            " OR (t.last_message_at = v.last_message_at AND t.last_message_id < v.last_message_id)"
        ),
    )
    for message in latest.values():
        conversation = message.conversation
        if conversation.last_message_at is None or conversation.last_message_at <= message.occurred_at:
            conversation.last_message_id, conversation.last_message_at = message.pk, message.occurred_at


MENTION_LIMIT = 20


@transaction.atomic
def note_create(
    *, actor: Actor, conversation: Conversation, text: str, mention_user_ids: list[int] | None = None
) -> Message:
    """A private note: visible to the team, never sent to the customer.

    Mentioned members (who can see the conversation) get a notification; others are ignored.
    """
    if actor.tenant_id != conversation.tenant_id or not actor.has_perm(Perm.REPLY):
        raise PermissionDenied(_("You do not have permission to add notes here."))
    text = text.strip()
    if not text:
        raise ValidationFailed(_("A note cannot be empty."))
    if len(text) > 4096:
        raise ValidationFailed(_("A note can be 4096 characters long at most."))
    audience = conversation_audience(conversation=conversation)
    mentioned = sorted({uid for uid in (mention_user_ids or [])[:MENTION_LIMIT] if uid in audience})
    message = Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=actor_sender_type(actor),
        sender_user=actor_user(actor),
        sender_label=actor_sender_label(actor),
        sender_automation_id=actor_sender_automation_id(actor),
        type=Message.Type.TEXT,
        text=text,
        content=text_content(text, mentions=tuple(mentioned)),
        private=True,
        status=Message.Status.SENT,
    )
    publish_message_event("message.created", message)
    author = actor_user(actor)
    for user_id in mentioned:
        if author is not None and user_id == author.pk:
            continue
        notification = Notification.objects.create(
            tenant_id=conversation.tenant_id,
            user_id=user_id,
            kind=Notification.Kind.MENTION,
            conversation=conversation,
            message=message,
            actor=author,
            actor_label="" if author else capfirst(actor_display_name(actor))[:150],
        )
        publish_notification(notification)
    return message


def message_react(*, membership: Membership, message: Message, emoji: str) -> Message:
    """React (or, with an empty emoji, un-react) to a message; the customer sees it on the channel."""
    emoji = emoji.strip()
    if len(emoji) > 32:
        raise ValidationFailed(_("Choose one emoji."))
    if message.private or not message.external_id:
        raise ValidationFailed(_("Only messages delivered through the channel can get a reaction."))
    conversation = message.conversation
    with transaction.atomic():
        reaction_message, _created = message_send(
            actor=membership,
            conversation=conversation,
            spec=OutboundSpec(type=Message.Type.REACTION, content={"message_id": message.external_id, "emoji": emoji}),
        )
        if emoji:
            Reaction.objects.update_or_create(
                message=message, user=membership.user, defaults={"tenant_id": message.tenant_id, "emoji": emoji}
            )
        else:
            Reaction.objects.filter(message=message, user=membership.user).delete()
        publish_message_event("message.updated", message)
    return reaction_message
