"""Customer → business: contacts, conversations and messages from any channel, exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.models import Case, F, Max, Value, When
from django.utils import timezone

from conversations.models import (
    Attachment,
    Contact,
    ContactInbox,
    Conversation,
    ConversationCounter,
    Inbox,
    Message,
    Reaction,
)
from conversations.selectors import conversation_audience
from conversations.services.events import publish_conversation_updated, publish_message_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttachmentSpec:
    kind: str
    external_media_id: str
    mime_type: str = ""
    sha256: str = ""
    filename: str = ""


@dataclass(frozen=True)
class InboundSpec:
    """A channel-neutral description of one customer message."""

    source_id: str
    external_id: str
    occurred_at: datetime
    type: str
    text: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    profile_name: str = ""
    phone_e164: str = ""
    reply_to_external_id: str = ""
    forwarded: bool = False
    frequently_forwarded: bool = False
    referral: dict[str, Any] | None = None
    attachments: tuple[AttachmentSpec, ...] = ()
    errors: tuple[dict[str, Any], ...] = ()


def without_nul(value: Any) -> Any:
    """Customer text without NUL characters, which PostgreSQL cannot store in text or JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def contact_inbox_get_or_create(
    *, inbox: Inbox, source_id: str, profile_name: str = "", phone_e164: str = ""
) -> ContactInbox:
    """The customer as this inbox knows them; creates the contact on first contact (race-safe)."""
    profile_name = without_nul(profile_name)
    existing = ContactInbox.objects.select_related("contact").filter(inbox=inbox, source_id=source_id).first()
    if existing is not None:
        contact = existing.contact
        if profile_name and contact.profile_name != profile_name:
            contact.profile_name = profile_name
            contact.save(update_fields=["profile_name", "updated_at"])
        return existing
    try:
        with transaction.atomic():
            contact, _created = Contact.objects.get_or_create(
                tenant_id=inbox.tenant_id,
                wa_id=source_id,
                defaults={"profile_name": profile_name, "phone_e164": phone_e164},
            )
            return ContactInbox.objects.create(
                tenant_id=inbox.tenant_id, contact=contact, inbox=inbox, source_id=source_id
            )
    except IntegrityError:
        return ContactInbox.objects.select_related("contact").get(inbox=inbox, source_id=source_id)


def _next_display_id(tenant_id: int) -> int:
    """The tenant's next conversation number.

    On PostgreSQL a sequence per tenant hands it out without holding a lock until commit (a
    rolled-back opening leaves a gap, as numbers must never be reused); elsewhere a counter row.
    """
    if connection.vendor == "postgresql":
        sequence = f"conversation_display_id_t{int(tenant_id)}"
        with connection.cursor() as cursor:
            try:
                with transaction.atomic():
                    cursor.execute("SELECT nextval(%s)", [sequence])
            except ProgrammingError:
                with transaction.atomic():
                    start = 1 + (
                        Conversation.objects.filter(tenant_id=tenant_id).aggregate(m=Max("display_id"))["m"] or 0
                    )
                    try:
                        with transaction.atomic():
                            cursor.execute(f'CREATE SEQUENCE IF NOT EXISTS "{sequence}" START {start}')
                    except IntegrityError:
                        pass  # created by a concurrent opener
                cursor.execute("SELECT nextval(%s)", [sequence])
            return int(cursor.fetchone()[0])
    counter, _created = ConversationCounter.objects.get_or_create(tenant_id=tenant_id)
    ConversationCounter.objects.filter(pk=counter.pk).update(last_display_id=F("last_display_id") + 1)
    return ConversationCounter.objects.values_list("last_display_id", flat=True).get(pk=counter.pk)


def conversation_get_or_open(*, contact_inbox: ContactInbox) -> tuple[Conversation, bool]:
    """The unresolved conversation of this customer in this inbox, or a new one after a resolve."""
    current = (
        Conversation.objects.filter(tenant_id=contact_inbox.tenant_id, contact_inbox=contact_inbox)
        .exclude(status=Conversation.Status.RESOLVED)
        .first()
    )
    if current is not None:
        return current, False
    try:
        with transaction.atomic():
            return (
                Conversation.objects.create(
                    tenant_id=contact_inbox.tenant_id,
                    display_id=_next_display_id(contact_inbox.tenant_id),
                    inbox_id=contact_inbox.inbox_id,
                    contact_id=contact_inbox.contact_id,
                    contact_inbox=contact_inbox,
                    last_activity_at=timezone.now(),
                ),
                True,
            )
    except IntegrityError:
        current = (
            Conversation.objects.filter(tenant_id=contact_inbox.tenant_id, contact_inbox=contact_inbox)
            .exclude(status=Conversation.Status.RESOLVED)
            .get()
        )
        return current, False


@transaction.atomic(savepoint=False)
def message_receive(*, inbox: Inbox, spec: InboundSpec) -> tuple[Message, bool]:
    """Store one customer message. A message already stored (same external id) is a no-op."""
    duplicate = Message.objects.filter(inbox=inbox, external_id=spec.external_id).first()
    if duplicate is not None:
        return duplicate, False
    contact_inbox = contact_inbox_get_or_create(
        inbox=inbox, source_id=spec.source_id, profile_name=spec.profile_name, phone_e164=spec.phone_e164
    )
    conversation, opened = conversation_get_or_open(contact_inbox=contact_inbox)
    reply_to = None
    if spec.reply_to_external_id:
        reply_to = Message.objects.filter(inbox=inbox, external_id=spec.reply_to_external_id).first()
    content = without_nul(dict(spec.content))
    if spec.errors:
        content["errors"] = list(spec.errors)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                tenant_id=inbox.tenant_id,
                conversation=conversation,
                inbox=inbox,
                direction=Message.Direction.INBOUND,
                sender_type=Message.SenderType.CONTACT,
                type=spec.type,
                text=without_nul(spec.text),
                content=content,
                external_id=spec.external_id,
                reply_to=reply_to,
                reply_to_external_id=spec.reply_to_external_id,
                forwarded=spec.forwarded,
                frequently_forwarded=spec.frequently_forwarded,
                referral=without_nul(spec.referral),
                status=Message.Status.RECEIVED,
                external_timestamp=spec.occurred_at,
            )
    except IntegrityError:
        return Message.objects.get(inbox=inbox, external_id=spec.external_id), False
    for att in spec.attachments:
        Attachment.objects.create(
            tenant_id=inbox.tenant_id,
            message=message,
            kind=att.kind,
            external_media_id=att.external_media_id,
            mime_type=att.mime_type,
            sha256=att.sha256,
            filename=att.filename,
        )
    now = timezone.now()
    update: dict[str, Any] = {
        "last_activity_at": now,
        "last_message_id": message.pk,
        "unread_count": F("unread_count") + 1,
        # The oldest unanswered message, also when webhooks arrive out of order or at the same time.
        "waiting_since": Case(
            When(waiting_since__isnull=True, then=Value(spec.occurred_at)),
            When(waiting_since__gt=spec.occurred_at, then=Value(spec.occurred_at)),
            default=F("waiting_since"),
        ),
    }
    # The reply window counts from the customer's message as WhatsApp stamped it.
    if conversation.last_inbound_at is None or spec.occurred_at > conversation.last_inbound_at:
        update["last_inbound_at"] = spec.occurred_at
    if conversation.status == Conversation.Status.SNOOZED:
        update.update(status=Conversation.Status.OPEN, snoozed_until=None)
    Conversation.objects.filter(pk=conversation.pk).update(**update)
    update["unread_count"] = conversation.unread_count + 1
    update["waiting_since"] = min(t for t in (conversation.waiting_since, spec.occurred_at) if t is not None)
    for key, value in update.items():
        setattr(conversation, key, value)
    audience = conversation_audience(conversation=conversation)
    publish_message_event("message.created", message, audience=audience)
    # A new message already tells the inbox its conversation's row changed (activity, unread, preview);
    # a separate update only when the conversation itself was opened or reopened.
    if opened or "status" in update:
        publish_conversation_updated(conversation, audience=audience)
    return message, True


@transaction.atomic(savepoint=False)
def reaction_receive(
    *, inbox: Inbox, source_id: str, profile_name: str, target_external_id: str, emoji: str, external_id: str
) -> Message | None:
    """Set or clear (empty emoji) the customer's reaction to a stored message.

    Returns the message reacted to, or None when it is not stored here.
    """
    target = Message.objects.select_related("conversation").filter(inbox=inbox, external_id=target_external_id).first()
    if target is None:
        return None
    contact_inbox = contact_inbox_get_or_create(inbox=inbox, source_id=source_id, profile_name=profile_name)
    if not emoji:
        Reaction.objects.filter(message=target, contact_id=contact_inbox.contact_id).delete()
        publish_message_event("message.updated", target)
        return target
    Reaction.objects.update_or_create(
        message=target,
        contact_id=contact_inbox.contact_id,
        defaults={"tenant_id": inbox.tenant_id, "emoji": emoji, "external_id": external_id},
    )
    publish_message_event("message.updated", target)
    return target


@transaction.atomic(savepoint=False)
def contact_number_change(*, inbox: Inbox, old_source_id: str, new_source_id: str) -> bool:
    """The customer moved to a new number: their contact, history and open conversation follow it.

    Returns False, changing nothing, when the old number is unknown here or the new one already
    belongs to another contact (they wrote from it before this notice arrived; the two stay apart).
    """
    if not new_source_id or new_source_id == old_source_id:
        return False
    contact_inbox = (
        ContactInbox.objects.select_for_update(no_key=True)
        .select_related("contact")
        .filter(inbox=inbox, source_id=old_source_id)
        .first()
    )
    if contact_inbox is None:
        return False
    taken = ContactInbox.objects.filter(inbox=inbox, source_id=new_source_id).exists() or (
        Contact.objects.filter(tenant_id=inbox.tenant_id, wa_id=new_source_id)
        .exclude(pk=contact_inbox.contact_id)
        .exists()
    )
    if taken:
        logger.info(
            "Number change of contact %s not applied: %s is another contact's", contact_inbox.contact_id, new_source_id
        )
        return False
    ContactInbox.objects.filter(pk=contact_inbox.pk).update(source_id=new_source_id, updated_at=timezone.now())
    contact = contact_inbox.contact
    fields = []
    if contact.wa_id == old_source_id:
        contact.wa_id = new_source_id
        fields.append("wa_id")
    if contact.phone_e164 in ("", f"+{old_source_id}"):
        contact.phone_e164 = f"+{new_source_id}"
        fields.append("phone_e164")
    if fields:
        contact.save(update_fields=[*fields, "updated_at"])
    return True
