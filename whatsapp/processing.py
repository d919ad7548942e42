"""Turns a stored webhook event into contacts, conversations, messages and statuses (idempotent)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from conversations.models import Attachment, Contact, Message
from conversations.services.inbound import (
    AttachmentSpec,
    InboundSpec,
    contact_number_change,
    message_receive,
    reaction_receive,
)
from conversations.services.status import StatusSpec, message_status_update
from whatsapp.models import MessageTemplate, UserPreferenceEvent, WebhookEvent, WhatsAppChannel
from whatsapp.payloads import WebhookParseError, parse_webhook
from whatsapp.phone import normalize_wa_id, to_e164
from whatsapp.types import InboundMessage, ParsedWebhook, StatusUpdate, TemplateStatusUpdate, UserPreferenceUpdate

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "hd:"


def callback_data_for(message_id: int) -> str:
    """What we send as ``biz_opaque_callback_data`` so status webhooks name our message."""
    return f"{CALLBACK_PREFIX}{message_id}"


def _callback_message_id(data: str | None) -> int | None:
    if data and data.startswith(CALLBACK_PREFIX) and data[len(CALLBACK_PREFIX) :].isdigit():
        return int(data[len(CALLBACK_PREFIX) :])
    return None


def _inbound_spec(msg: InboundMessage) -> InboundSpec:
    source_id = normalize_wa_id(msg.from_wa_id)
    attachments: tuple[AttachmentSpec, ...] = ()
    if msg.media is not None:
        attachments = (
            AttachmentSpec(
                kind=msg.type,
                external_media_id=msg.media.media_id,
                mime_type=msg.media.mime_type,
                sha256=msg.media.sha256,
                filename=msg.media.filename or "",
            ),
        )
    content = dict(msg.content)
    if msg.media is not None:
        content.update(
            {
                k: v
                for k, v in {
                    "voice": msg.media.voice,
                    "animated": msg.media.animated,
                    "caption": msg.media.caption,
                }.items()
                if v
            }
        )
    if msg.context is not None and msg.context.referred_product:
        content["referred_product"] = msg.context.referred_product
    if msg.raw_type != msg.type:
        content["raw_type"] = msg.raw_type
    return InboundSpec(
        source_id=source_id,
        external_id=msg.wamid,
        occurred_at=msg.timestamp,
        type=msg.type,
        text=msg.text,
        content=content,
        profile_name=msg.contact.profile_name if msg.contact else "",
        phone_e164=to_e164(source_id),
        reply_to_external_id=(msg.context.quoted_wamid or "") if msg.context else "",
        forwarded=bool(msg.context and (msg.context.forwarded or msg.context.frequently_forwarded)),
        frequently_forwarded=bool(msg.context and msg.context.frequently_forwarded),
        referral=msg.referral,
        attachments=attachments,
        errors=tuple(
            {"code": e.code, "title": e.title, "message": e.message, "details": e.details} for e in msg.errors
        ),
    )


def _receive_message(channel: WhatsAppChannel, msg: InboundMessage) -> list[int]:
    """Store one inbound message; returns ids of attachments that need downloading."""
    inbox = channel.inbox
    if msg.type == Message.Type.REACTION:
        target = reaction_receive(
            inbox=inbox,
            source_id=normalize_wa_id(msg.from_wa_id),
            profile_name=msg.contact.profile_name if msg.contact else "",
            target_external_id=str(msg.content.get("message_id", "")),
            emoji=str(msg.content.get("emoji") or ""),
            external_id=msg.wamid,
        )
        if target is not None or not msg.content.get("emoji"):
            # Taking back a reaction to a message we never stored has nothing to show (no blank message).
            return []
        # A reaction to a message we never stored is kept as a message, so it is not lost.
    message, created = message_receive(inbox=inbox, spec=_inbound_spec(msg))
    if created and msg.content.get("system_type") == "user_changed_number" and msg.content.get("new_wa_id"):
        # Stored on the old number's conversation first; then the contact follows the new number.
        contact_number_change(
            inbox=inbox,
            old_source_id=normalize_wa_id(msg.from_wa_id),
            new_source_id=normalize_wa_id(str(msg.content["new_wa_id"])),
        )
    if not created or msg.media is None:
        return []
    return list(
        Attachment.objects.filter(message=message, download_status=Attachment.DownloadStatus.PENDING).values_list(
            "pk", flat=True
        )
    )


def _apply_status(channel: WhatsAppChannel, status: StatusUpdate) -> None:
    error = status.errors[0] if status.errors else None
    message_status_update(
        inbox=channel.inbox,
        spec=StatusSpec(
            external_id=status.wamid,
            status=status.status,
            occurred_at=status.timestamp,
            error_code=error.code if error else None,
            error_title=(error.title or error.message) if error else "",
            error_details=error.details if error else "",
            pricing=status.pricing,
            callback_message_id=_callback_message_id(status.biz_opaque_callback_data),
        ),
    )


def _apply_template_update(channel: WhatsAppChannel, update: TemplateStatusUpdate) -> bool:
    """Record a template's review outcome; returns False when the template is not known yet."""
    reason = update.reason if update.reason and update.reason != "NONE" else ""
    changed = MessageTemplate.objects.filter(
        tenant_id=channel.tenant_id, waba_id=update.waba_id, meta_id=update.template_id
    ).update(status=update.event, status_reason=reason, updated_at=timezone.now())
    if not changed:
        changed = MessageTemplate.objects.filter(
            tenant_id=channel.tenant_id,
            waba_id=update.waba_id,
            name=update.name,
            language=update.language.replace("-", "_"),
        ).update(status=update.event, status_reason=reason, meta_id=update.template_id, updated_at=timezone.now())
    return bool(changed)


def _apply_preference(channel: WhatsAppChannel, pref: UserPreferenceUpdate) -> None:
    wa_id = normalize_wa_id(pref.wa_id)
    try:
        with transaction.atomic():
            UserPreferenceEvent.objects.create(
                tenant_id=channel.tenant_id,
                channel=channel,
                wa_id=wa_id,
                category=pref.category,
                value=pref.value,
                detail=pref.detail[:255],
                occurred_at=pref.timestamp,
            )
    except IntegrityError:
        return
    if pref.category == "marketing_messages":
        # "stop" opts out; "resume" only lifts the stop: consent still has to be asked for.
        consent = Contact.MarketingConsent.OPTED_OUT if pref.value == "stop" else Contact.MarketingConsent.UNKNOWN
        # Webhooks arrive in any order: an older preference must not undo a newer one.
        Contact.objects.filter(tenant_id=channel.tenant_id, wa_id=wa_id).filter(
            Q(marketing_consent_at__isnull=True) | Q(marketing_consent_at__lte=pref.timestamp)
        ).update(marketing_consent=consent, marketing_consent_at=pref.timestamp)


def _summary(parsed: ParsedWebhook) -> str:
    parts = []
    for label, items in (
        ("message", parsed.messages),
        ("status", parsed.statuses),
        ("template update", parsed.template_updates),
        ("preference", parsed.user_preferences),
        ("error", parsed.errors),
    ):
        if items:
            parts.append(f"{len(items)} {label}{'s' if len(items) != 1 else ''}")
    if parsed.ignored_fields:
        parts.append("ignored: " + ", ".join(sorted(set(parsed.ignored_fields))))
    return "; ".join(parts)[:255] or "empty"


def _channel_for(channel: WhatsAppChannel, phone_number_id: str, cache: dict[str, WhatsAppChannel | None]) -> Any:
    if phone_number_id == channel.phone_number_id:
        return channel
    if phone_number_id not in cache:
        # Another number of the same tenant (one Meta app, several numbers); never another tenant's.
        cache[phone_number_id] = (
            WhatsAppChannel.objects.select_related("inbox")
            .filter(tenant_id=channel.tenant_id, phone_number_id=phone_number_id)
            .first()
        )
    return cache[phone_number_id]


def _apply(event: WebhookEvent, parsed: ParsedWebhook) -> tuple[list[str], list[int], bool]:
    """Write what one event says; returns (problems, attachment ids to download, template sync needed)."""
    problems: list[str] = []
    downloads: list[int] = []
    sync_needed = False
    channels: dict[str, WhatsAppChannel | None] = {}
    for msg in parsed.messages:
        target = _channel_for(event.channel, msg.phone_number_id, channels)
        if target is None:
            problems.append(f"message {msg.wamid}: unknown phone number id {msg.phone_number_id}")
            continue
        downloads += _receive_message(target, msg)
    for status in parsed.statuses:
        target = _channel_for(event.channel, status.phone_number_id, channels)
        if target is None:
            problems.append(f"status {status.wamid}: unknown phone number id {status.phone_number_id}")
            continue
        _apply_status(target, status)
    for update in parsed.template_updates:
        if not _apply_template_update(event.channel, update):
            sync_needed = True
    for pref in parsed.user_preferences:
        target = _channel_for(event.channel, pref.phone_number_id, channels)
        if target is not None:
            _apply_preference(target, pref)
    for err in parsed.errors:
        logger.warning(
            "WhatsApp reported error %s (%s) for number %s", err.error.code, err.error.title, err.phone_number_id
        )
    return problems, downloads, sync_needed


def _process_locked(event: WebhookEvent) -> dict[str, Any]:
    """Process one event inside the caller's transaction (its own savepoint); returns the fields to record."""
    from whatsapp.tasks import attachment_download, templates_sync

    fields: dict[str, Any] = {"processed_at": timezone.now(), "attempts": event.attempts + 1, "error": ""}
    try:
        parsed = parse_webhook(bytes(event.body))
    except WebhookParseError as exc:
        return {**fields, "status": WebhookEvent.Status.FAILED, "error": f"Cannot parse: {exc}"}
    fields["summary"] = _summary(parsed)
    try:
        with transaction.atomic():
            problems, downloads, sync_needed = _apply(event, parsed)
    except Exception as exc:
        logger.exception("Webhook event %s failed", event.pk)
        return {**fields, "status": WebhookEvent.Status.FAILED, "error": f"{type(exc).__name__}: {exc}"}
    if downloads:
        transaction.on_commit(lambda: [attachment_download.delay(pk) for pk in downloads])
    if sync_needed:
        channel_id = event.channel_id
        transaction.on_commit(lambda: templates_sync.delay(channel_id))
    if problems:
        return {**fields, "status": WebhookEvent.Status.FAILED, "error": "\n".join(problems)}
    return {**fields, "status": WebhookEvent.Status.PROCESSED}


def _claim_and_process(events: QuerySet[WebhookEvent]) -> WebhookEvent | None:
    """Lock the first pending event of ``events`` (skipping ones another job holds), process it and
    record the outcome, all in one short transaction. None when there was nothing to claim."""
    with transaction.atomic():
        event = (
            events.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel__inbox", "channel__tenant")
            .filter(status=WebhookEvent.Status.PENDING)
            .order_by("id")
            .first()
        )
        if event is None:
            return None
        fields = _process_locked(event)
        WebhookEvent.objects.filter(pk=event.pk).update(**fields)
    for key, value in fields.items():
        setattr(event, key, value)
    return event


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Apply one stored webhook event. Safe to run again: everything it writes is deduplicated.

    An event already processed, or held by another job (a drain in progress), is left as it is.
    """
    event = _claim_and_process(WebhookEvent.objects.filter(pk=event_id))
    return event if event is not None else WebhookEvent.objects.get(pk=event_id)


def webhook_events_process_batch(*, channel_id: int, limit: int = 50) -> int:
    """Process up to ``limit`` pending events of a channel, oldest first; returns how many.

    Each event is claimed with SKIP LOCKED and processed in its own short transaction, so several
    jobs can drain one channel side by side without waiting on each other's locks for long.
    """
    done = 0
    while done < limit and _claim_and_process(WebhookEvent.objects.filter(channel_id=channel_id)) is not None:
        done += 1
    return done
