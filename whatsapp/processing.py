"""Turns a stored webhook event into contacts, conversations, messages and statuses (idempotent)."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from conversations.events import MarketingPreferenceReported
from conversations.events.outbox import events_record
from conversations.models import Attachment, Contact, Message
from conversations.selectors import contacts_with_address
from conversations.services.delivery_status import StatusSpec, message_statuses_update
from conversations.services.inbound import (
    AttachmentSpec,
    InboundSpec,
    contact_number_change,
    message_receive,
    messages_receive,
    reaction_receive,
)
from helpdesk.after_commit import on_commit_guarded
from whatsapp import messaging_limits
from whatsapp.content import neutral_from_meta
from whatsapp.coordination import drain, drain_key, task
from whatsapp.models import MessageTemplate, UserPreferenceEvent, WebhookEvent, WhatsAppChannel
from whatsapp.payloads import WebhookParseError, parse_webhook
from whatsapp.phone import normalize_wa_id, to_e164
from whatsapp.summary import summary_text
from whatsapp.types import (
    InboundMessage,
    ParsedWebhook,
    StatusUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UserPreferenceUpdate,
)

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
    content = meta_content(msg)
    if msg.media is not None:
        content.update(mime_type=msg.media.mime_type, filename=msg.media.filename or "")
    return InboundSpec(
        source_id=source_id,
        external_id=msg.wamid,
        occurred_at=msg.timestamp,
        type=msg.type,
        text=msg.text,
        content=neutral_from_meta(msg.type, content, text=msg.text),
        raw=msg.raw,
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


def meta_content(msg: InboundMessage) -> dict[str, Any]:
    """The message's content in Meta's terms: what the parser read, plus the media flags and the
    product a message is about (this was ``Message.content`` before it became neutral)."""
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
    return content


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


def _status_spec(status: StatusUpdate) -> StatusSpec:
    error = status.errors[0] if status.errors else None
    return StatusSpec(
        external_id=status.wamid,
        status=status.status,
        occurred_at=status.timestamp,
        error_code=error.code if error else None,
        error_title=(error.title or error.message) if error else "",
        error_details=error.details if error else "",
        pricing=status.pricing,
        callback_message_id=_callback_message_id(status.biz_opaque_callback_data),
    )


# Meta's "this user has stopped marketing messages": the customer's own stop, learnt from a failed send.
USER_STOPPED_MARKETING = 131050


def _apply_statuses(channel: WhatsAppChannel, statuses: list[StatusUpdate]) -> None:
    message_statuses_update(inbox=channel.inbox, specs=[_status_spec(status) for status in statuses])
    for status in statuses:
        if status.status == "failed" and any(e.code == USER_STOPPED_MARKETING for e in status.errors):
            wa_id = normalize_wa_id(status.recipient_id)
            contacts = contacts_with_address(
                tenant_id=channel.tenant_id, channel_type=channel.inbox.channel_type, address=wa_id
            )
            error = next(e for e in status.errors if e.code == USER_STOPPED_MARKETING)
            _preference_report(
                channel,
                list(contacts.values_list("pk", flat=True)),
                value="stop",
                at=status.timestamp,
                detail=f"{USER_STOPPED_MARKETING} {error.title}"[:255],
                key=f"whatsapp:{channel.pk}:{status.wamid}:{USER_STOPPED_MARKETING}",
            )


# The status a template has after a status webhook's event (Meta's meaning of each event). None: the
# event does not change whether it can be sent (FLAGGED warns while it stays approved, LOCKED only
# stops edits), so the status stays as it is.
TEMPLATE_EVENT_STATUS: dict[str, str | None] = {
    "APPROVED": MessageTemplate.Status.APPROVED,
    "REJECTED": MessageTemplate.Status.REJECTED,
    "PENDING": MessageTemplate.Status.PENDING,
    "IN_APPEAL": MessageTemplate.Status.IN_APPEAL,
    "PAUSED": MessageTemplate.Status.PAUSED,
    "DISABLED": MessageTemplate.Status.DISABLED,
    "LIMIT_EXCEEDED": MessageTemplate.Status.LIMIT_EXCEEDED,
    "ARCHIVED": MessageTemplate.Status.ARCHIVED,
    "PENDING_DELETION": MessageTemplate.Status.PENDING_DELETION,
    "DELETED": MessageTemplate.Status.DELETED,
    # No longer flagged or disabled, or restored from the archive: it can be sent again, without a new review.
    "REINSTATED": MessageTemplate.Status.APPROVED,
    "UNARCHIVED": MessageTemplate.Status.APPROVED,
    "FLAGGED": None,
    "LOCKED": None,
}


def _template_status_detail(update: TemplateStatusUpdate) -> str:
    """What Meta explained beside the event: why it rejected the template and what it recommends
    (``rejection_info``), or why it paused it (``other_info``), a paragraph each."""
    rejection = update.details.get("rejection_info")
    other = update.details.get("other_info")
    parts: list[Any] = []
    if isinstance(rejection, dict):
        parts += [rejection.get("reason"), rejection.get("recommendation")]
    if isinstance(other, dict):
        parts.append(other.get("description"))
    return "\n\n".join(str(part).strip() for part in parts if isinstance(part, str) and part.strip())


def _template_filter(channel: WhatsAppChannel, *, waba_id: str, template_id: str, name: str, language: str) -> Any:
    """The stored template a webhook names: by Meta's id, else by name and language (a template not synced yet)."""
    by_id = MessageTemplate.objects.filter(tenant_id=channel.tenant_id, waba_id=waba_id, meta_id=template_id)
    if by_id.exists():
        return by_id
    return MessageTemplate.objects.filter(
        tenant_id=channel.tenant_id, waba_id=waba_id, name=name, language=language.replace("-", "_")
    )


def _apply_template_quality(channel: WhatsAppChannel, update: TemplateQualityUpdate) -> bool:
    """Record a template's new quality rating; False when the template is not known here yet."""
    templates = _template_filter(
        channel, waba_id=update.waba_id, template_id=update.template_id, name=update.name, language=update.language
    )
    return bool(
        templates.update(
            meta_id=update.template_id, quality_score=update.new_quality_score[:10], updated_at=timezone.now()
        )
    )


def _apply_template_update(channel: WhatsAppChannel, update: TemplateStatusUpdate) -> bool:
    """Record a template's review outcome and the event that led to it.

    Returns False when the template is not known yet, or the event is not one we know (the sync then
    reads its status from Meta's list).
    """
    reason = update.reason if update.reason and update.reason != "NONE" else ""
    fields: dict[str, Any] = {
        "status_event": update.event[:32],
        "status_reason": reason,
        "status_detail": _template_status_detail(update),
        "updated_at": timezone.now(),
    }
    status = TEMPLATE_EVENT_STATUS.get(update.event)
    if status is not None:
        fields["status"] = status
    changed = MessageTemplate.objects.filter(
        tenant_id=channel.tenant_id, waba_id=update.waba_id, meta_id=update.template_id
    ).update(**fields)
    if not changed:
        changed = MessageTemplate.objects.filter(
            tenant_id=channel.tenant_id,
            waba_id=update.waba_id,
            name=update.name,
            language=update.language.replace("-", "_"),
        ).update(meta_id=update.template_id, **fields)
    return bool(changed) and update.event in TEMPLATE_EVENT_STATUS


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
        contacts = contacts_with_address(
            tenant_id=channel.tenant_id, channel_type=channel.inbox.channel_type, address=wa_id
        )
        # The consent ledger (a feature) keeps the history: told through the core's event, once per report.
        _preference_report(
            channel,
            list(contacts.values_list("pk", flat=True)),
            value=pref.value,
            at=pref.timestamp,
            detail=pref.detail,
            key=f"whatsapp:{channel.pk}:{wa_id}:{int(pref.timestamp.timestamp())}:{pref.value}",
        )
        # Webhooks arrive in any order: an older preference must not undo a newer one.
        contacts.filter(Q(marketing_consent_at__isnull=True) | Q(marketing_consent_at__lte=pref.timestamp)).update(
            marketing_consent=consent, marketing_consent_at=pref.timestamp
        )


def _preference_report(
    channel: WhatsAppChannel, contact_ids: list[int], *, value: str, at: datetime, detail: str, key: str
) -> None:
    """Record the core's ``MarketingPreferenceReported`` for each contact of the address, in the batch's
    transaction; ``key`` names the report, so that a feature records it once however often it is told."""
    events_record(
        [
            MarketingPreferenceReported(
                tenant_id=channel.tenant_id,
                occurred_at=at,
                contact_id=contact_id,
                channel_type=channel.inbox.channel_type,
                value=value,
                reported_at=at,
                detail=detail[:255],
                dedupe_key=(key if len(contact_ids) == 1 else f"{key}:{contact_id}")[:160],
            )
            for contact_id in contact_ids
        ]
    )


def _summary(parsed: ParsedWebhook) -> str:
    counts = (
        ("message", len(parsed.messages)),
        ("status", len(parsed.statuses)),
        ("template update", len(parsed.template_updates) + len(parsed.template_quality_updates)),
        ("preference", len(parsed.user_preferences)),
        ("account update", len(parsed.account_updates)),
        ("error", len(parsed.errors)),
    )
    return summary_text(counts, parsed.ignored_fields)


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


def _is_plain(msg: InboundMessage) -> bool:
    """Stored with the others of its batch in one pass; reactions and number changes go one by one."""
    return msg.type != Message.Type.REACTION and msg.content.get("system_type") != "user_changed_number"


@dataclass
class _Outcome:
    """What applying a batch of events found: problems per event (it failed), errors WhatsApp reported
    in an event (recorded on it for admins; the event itself was processed), media to fetch,
    templates to sync."""

    problems: dict[int, list[str]] = field(default_factory=dict)
    reported: dict[int, list[str]] = field(default_factory=dict)
    downloads: list[int] = field(default_factory=list)
    sync_channels: set[int] = field(default_factory=set)
    limits_channels: set[int] = field(default_factory=set)


def _apply(batch: list[tuple[WebhookEvent, ParsedWebhook]]) -> _Outcome:
    """Write what the events say, in their order.

    Customer messages of the whole batch are stored in one pass per inbox (a fixed number of
    queries, whatever their count); a reaction or a number change first stores the messages
    before it, then applies itself, so the result is that of applying the events one by one.
    """
    outcome = _Outcome()
    channels: dict[str, WhatsAppChannel | None] = {}
    waiting: list[tuple[WhatsAppChannel, InboundMessage]] = []

    def store_waiting() -> None:
        by_channel: dict[int, tuple[WhatsAppChannel, list[InboundMessage]]] = {}
        for target, msg in waiting:
            by_channel.setdefault(target.pk, (target, []))[1].append(msg)
        waiting.clear()
        with_media = []
        for target, msgs in by_channel.values():
            stored = messages_receive(inbox=target.inbox, specs=[_inbound_spec(msg) for msg in msgs])
            with_media += [m.pk for (m, created), msg in zip(stored, msgs, strict=True) if created and msg.media]
        if with_media:
            outcome.downloads += Attachment.objects.filter(
                message_id__in=with_media, download_status=Attachment.DownloadStatus.PENDING
            ).values_list("pk", flat=True)

    def target_of(event: WebhookEvent, kind: str, wamid: str, phone_number_id: str) -> WhatsAppChannel | None:
        target = _channel_for(event.channel, phone_number_id, channels)
        if target is None:
            outcome.problems.setdefault(event.pk, []).append(
                f"{kind} {wamid}: unknown phone number id {phone_number_id}"
            )
        return target

    for event, parsed in batch:
        for msg in parsed.messages:
            target = target_of(event, "message", msg.wamid, msg.phone_number_id)
            if target is None:
                continue
            if _is_plain(msg):
                waiting.append((target, msg))
            else:
                store_waiting()
                outcome.downloads += _receive_message(target, msg)
    store_waiting()
    # Statuses concern our own messages, not the customers' above: each number's in one pass, in order.
    statuses: dict[int, tuple[WhatsAppChannel, list[StatusUpdate]]] = {}
    for event, parsed in batch:
        for status in parsed.statuses:
            target = target_of(event, "status", status.wamid, status.phone_number_id)
            if target is None:
                continue
            statuses.setdefault(target.pk, (target, []))[1].append(status)
    for target, updates in statuses.values():
        _apply_statuses(target, updates)
    for event, parsed in batch:
        for update in parsed.template_updates:
            if not _apply_template_update(event.channel, update):
                outcome.sync_channels.add(event.channel_id)
        for quality in parsed.template_quality_updates:
            if not _apply_template_quality(event.channel, quality):
                outcome.sync_channels.add(event.channel_id)
        for pref in parsed.user_preferences:
            target = _channel_for(event.channel, pref.phone_number_id, channels)
            if target is not None:
                _apply_preference(target, pref)
        for account in parsed.account_updates:
            outcome.limits_channels.update(messaging_limits.account_update_apply(channel=event.channel, update=account))
        for err in parsed.errors:
            logger.warning(
                "WhatsApp reported error %s (%s) for number %s", err.error.code, err.error.title, err.phone_number_id
            )
            details = f": {err.error.details}" if err.error.details else ""
            outcome.reported.setdefault(event.pk, []).append(
                f"WhatsApp reported error {err.error.code} ({err.error.title or err.error.message}){details}"
                f" for number {err.phone_number_id}"
            )
    return outcome


def _process_locked(events: list[WebhookEvent]) -> None:
    """Process claimed events inside the caller's transaction and record each one's outcome on it.

    The batch is applied in one savepoint; if that fails, each event is applied in its own, so one
    event that cannot be applied is marked failed with its error and does not hold back the rest.
    """
    now = timezone.now()
    batch: list[tuple[WebhookEvent, ParsedWebhook]] = []
    for event in events:
        event.processed_at, event.attempts, event.error = now, event.attempts + 1, ""
        try:
            parsed = parse_webhook(bytes(event.body))
        except WebhookParseError as exc:
            event.status, event.error = WebhookEvent.Status.FAILED, f"Cannot parse: {exc}"
            continue
        event.summary = _summary(parsed)
        batch.append((event, parsed))
    failure = _apply_recorded(batch) if batch else None
    if failure is not None and len(batch) > 1:
        logger.warning("A batch of %s webhook events failed; applying them one by one", len(batch))
        failures = [(event, _apply_recorded([(event, parsed)])) for event, parsed in batch]
    else:
        failures = [(batch[0][0], failure)] if failure is not None else []
    for event, stopped_by in failures:
        if stopped_by is not None:
            logger.error("Webhook event %s failed", event.pk, exc_info=stopped_by)
            event.status, event.error = WebhookEvent.Status.FAILED, f"{type(stopped_by).__name__}: {stopped_by}"
    # Events with the same outcome are recorded by one statement (most of a batch shares one).
    outcomes: dict[tuple[str, str, str], list[int]] = {}
    for event in events:
        outcomes.setdefault((event.status, event.error, event.summary), []).append(event.pk)
    for (status, error, summary), pks in outcomes.items():
        WebhookEvent.objects.filter(pk__in=pks).update(
            status=status, error=error, summary=summary, processed_at=now, attempts=F("attempts") + 1
        )


def _apply_recorded(part: list[tuple[WebhookEvent, ParsedWebhook]]) -> Exception | None:
    """Apply ``part`` in one savepoint and set each event's outcome on it; returns what stopped it."""
    try:
        with transaction.atomic():
            outcome = _apply(part)
    except Exception as exc:
        return exc
    _after_commit(outcome)
    for event, _parsed in part:
        problems = outcome.problems.get(event.pk, [])
        event.status = WebhookEvent.Status.FAILED if problems else WebhookEvent.Status.PROCESSED
        event.error = "\n".join(problems + outcome.reported.get(event.pk, []))
    return None


def _after_commit(outcome: _Outcome) -> None:
    downloads, sync_channels = list(outcome.downloads), sorted(outcome.sync_channels)
    # The broker being down must not fail the batch that was just committed.
    if downloads:
        on_commit_guarded(
            lambda: [task("attachment_download").delay(pk) for pk in downloads],
            what=f"Downloads of attachments {downloads}",
        )
    if sync_channels:
        on_commit_guarded(
            lambda: [task("templates_sync").delay(channel_id) for channel_id in sync_channels],
            what=f"Template syncs of channels {sync_channels}",
        )
    if limits := sorted(outcome.limits_channels):
        # The webhook moves the tier; the quality rating itself is read back from the API.
        on_commit_guarded(
            lambda: [task("channel_limits_refresh").delay(channel_id) for channel_id in limits],
            what=f"Messaging limit reads of channels {limits}",
        )


def _claim_and_process(events: QuerySet[WebhookEvent], limit: int) -> list[WebhookEvent]:
    """Lock up to ``limit`` pending events of ``events``, oldest first (skipping ones another job
    holds), process them and record the outcomes, all in one transaction. Empty when none was free."""
    with transaction.atomic():
        claimed = list(
            events.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel__inbox", "channel__tenant")
            .filter(status=WebhookEvent.Status.PENDING)
            .order_by("id")[:limit]
        )
        if claimed:
            _process_locked(claimed)
    return claimed


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Apply one stored webhook event. Safe to run again: everything it writes is deduplicated.

    An event already processed, or held by another job (a drain in progress), is left as it is.
    """
    claimed = _claim_and_process(WebhookEvent.objects.filter(pk=event_id), 1)
    return claimed[0] if claimed else WebhookEvent.objects.get(pk=event_id)


def webhook_events_process_batch(*, channel_id: int, limit: int = 50) -> int:
    """Process up to ``limit`` pending events of a channel, oldest first, as one batch; returns how many.

    The events are claimed with SKIP LOCKED, so several jobs can drain one channel side by side.
    """
    return len(_claim_and_process(WebhookEvent.objects.filter(channel_id=channel_id), limit))


# How long the send queue's sweeper spends applying a channel's waiting events before it moves on.
SETTLE_SECONDS = 5.0


def webhook_events_settle(*, inbox_ids: Collection[int], seconds: float = SETTLE_SECONDS) -> set[int]:
    """Process the events the channels of ``inbox_ids`` have stored and not processed yet (a drain that died
    with its worker leaves them so for a while), up to ``seconds``; returns the inboxes whose channel still has
    events stored before this call pending (held by another job, or too many)."""
    started = timezone.now()
    deadline = time.monotonic() + seconds
    channels = dict(WhatsAppChannel.objects.filter(inbox_id__in=inbox_ids).values_list("pk", "inbox_id"))
    waiting = set()
    for channel_id, inbox_id in channels.items():
        stored = WebhookEvent.objects.filter(channel_id=channel_id, created_at__lte=started)
        while time.monotonic() < deadline and _claim_and_process(stored, settings.WHATSAPP_DRAIN_BATCH):
            pass
        if stored.filter(status=WebhookEvent.Status.PENDING).exists():
            waiting.add(inbox_id)
    return waiting


def webhook_events_drain(*, channel_id: int, slot: int) -> int:
    """Process a channel's pending events in batches while there are any, holding drainer ``slot``
    (see ``coordination.drain_request``); returns how many were processed."""

    def step() -> int:
        count = webhook_events_process_batch(channel_id=channel_id, limit=settings.WHATSAPP_DRAIN_BATCH)
        if 0 < count < settings.WHATSAPP_DRAIN_BATCH // 2:
            # A trickle (status webhooks while a broadcast goes out): let a few more arrive, so that
            # the next claim takes them as one batch rather than one by one.
            time.sleep(settings.WHATSAPP_DRAIN_LINGER_SECONDS)
        return count

    return drain(
        drain_key(channel_id, slot),
        step=step,
        pending=lambda: WebhookEvent.objects.filter(channel_id=channel_id, status=WebhookEvent.Status.PENDING).exists(),
        hand_over=lambda: task("webhook_events_drain").delay(channel_id, slot),
    )
