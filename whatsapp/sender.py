"""Delivery of queued outbound messages to the Cloud API, paced and retried per DESIGN.md §5."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.content import (
    ContactsContent,
    ContentInvalid,
    InteractiveContent,
    LocationContent,
    MediaContent,
    ReactionContent,
    TemplateContent,
    TextContent,
    content_from_dict,
    is_current,
)
from conversations.media import is_media
from conversations.models import Attachment, Message
from conversations.services.delivery_status import STATUS_FIELDS, pending_statuses_apply, pending_statuses_apply_many
from conversations.services.events import publish_message_event
from conversations.services.outbound import ReplyWindowClosed, reply_window_check
from whatsapp import coordination, limiter, outbound_payloads
from whatsapp.client import client_for
from whatsapp.content import INTERACTIVE_STYLES, meta_contact_card, meta_header, neutral_from_meta
from whatsapp.coordination import run_later, task
from whatsapp.errors import AmbiguousSendError, CloudApiError, PermanentError, TransientError
from whatsapp.models import WhatsAppChannel
from whatsapp.processing import callback_data_for

logger = logging.getLogger(__name__)

# Waiting this long for a throughput slot inside one task is fine; beyond it, the task is rescheduled.
MAX_INLINE_THROUGHPUT_WAIT = 5.0


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (2, 4, 8 … s, capped at 5 min), at least Retry-After."""
    base = min(300.0, 2.0 ** max(attempt, 1))
    delay = random.uniform(base / 2, base)
    return max(delay, retry_after or 0.0)


def _schedule(message_id: int, delay: float) -> None:
    run_later(task("message_deliver"), message_id, delay)


def _requeue(message: Message, delay: float, *, note: str = "") -> None:
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        error_title=note[:255],
    )
    transaction.on_commit(lambda: _schedule(message.pk, delay))


def _fail(message: Message, *, code: int | None, title: str, details: str = "") -> None:
    changed = Message.objects.filter(pk=message.pk, status__in=[Message.Status.QUEUED, Message.Status.SENDING]).update(
        status=Message.Status.FAILED,
        error_code=code,
        error_title=title[:255],
        error_details=details,
        failed_at=timezone.now(),
        next_attempt_at=None,
    )
    if changed:
        message.refresh_from_db(fields=["next_attempt_at", *STATUS_FIELDS])
        publish_message_event("message.updated", message)


def _upload_media(client: Any, channel: WhatsAppChannel, attachment: Attachment) -> str:
    if attachment.external_media_id:
        return attachment.external_media_id
    with attachment.file.open("rb") as fh:
        content = fh.read()
    media_id = client.upload_media(
        channel.phone_number_id, content, attachment.mime_type or "application/octet-stream", attachment.filename
    )
    Attachment.objects.filter(pk=attachment.pk).update(external_media_id=media_id)
    return str(media_id)


def build_payload(message: Message, *, to: str, client: Any, channel: WhatsAppChannel) -> dict[str, Any]:
    """Meta's request body for ``message``, from its neutral content (uploads its file first when it has one)."""
    callback = callback_data_for(message.pk)
    reply_to = message.reply_to_external_id or None
    stored, raw = message.content, message.raw
    if not is_current(stored):
        # Queued before its row was converted (during the deploy that converts them): read Meta's shape.
        stored, raw = neutral_from_meta(message.type, stored, text=message.text), stored
    try:
        content = content_from_dict(stored)
    except ContentInvalid as exc:
        raise PermanentError(code=None, title=f"The message's content cannot be sent: {exc.message}") from exc
    if isinstance(content, TextContent):
        return outbound_payloads.text(
            to, message.text, preview_url=content.preview_url, reply_to=reply_to, callback_data=callback
        )
    if isinstance(content, MediaContent) and is_media(message.type):
        attachment = message.attachments.first()
        media_id = _upload_media(client, channel, attachment) if attachment and attachment.file else None
        return outbound_payloads.media(
            to,
            message.type,
            media_id=media_id,
            link=content.link or None,
            caption=message.text or None,
            filename=(attachment.filename if attachment and message.type == "document" else content.filename or None),
            reply_to=reply_to,
            callback_data=callback,
        )
    if isinstance(content, TemplateContent):
        # The components were built from the approved template when the message was queued.
        return outbound_payloads.template(
            to,
            content.name,
            content.language,
            (raw or {}).get("components", []),
            callback_data=callback,
            reply_to=reply_to,
        )
    if isinstance(content, ReactionContent):
        return outbound_payloads.reaction(to, content.target_id, content.emoji, callback_data=callback)
    if isinstance(content, InteractiveContent):
        return interactive_payload(to, content, reply_to=reply_to, callback=callback)
    if isinstance(content, LocationContent):
        return outbound_payloads.location(
            to,
            float(content.latitude),
            float(content.longitude),
            name=content.name or None,
            address=content.address or None,
            reply_to=reply_to,
            callback_data=callback,
        )
    if isinstance(content, ContactsContent):
        cards = [meta_contact_card(card) for card in content.cards]
        return outbound_payloads.contacts(to, cards, reply_to=reply_to, callback_data=callback)
    raise PermanentError(code=None, title=f"Messages of type {message.type} cannot be sent.")


INTERACTIVE_TYPES = INTERACTIVE_STYLES


def interactive_payload(
    to: str, content: InteractiveContent, *, reply_to: str | None, callback: str | None
) -> dict[str, Any]:
    """Meta's request body for an interactive message (checked against WhatsApp's limits)."""
    common: dict[str, Any] = {
        "header": meta_header(content.header),
        "footer": content.footer or None,
        "reply_to": reply_to,
        "callback_data": callback,
    }
    if content.style == "button":
        buttons = [(b.id, b.title) for b in content.buttons]
        return outbound_payloads.interactive_buttons(to, content.body, buttons, **common)
    if content.style == "list":
        sections = [
            {
                **({"title": section.title} if section.title else {}),
                "rows": [
                    {"id": row.id, "title": row.title, **({"description": row.description} if row.description else {})}
                    for row in section.rows
                ],
            }
            for section in content.sections
        ]
        return outbound_payloads.interactive_list(to, content.body, content.list_button, sections, **common)
    if content.style == "cta_url":
        return outbound_payloads.interactive_cta_url(to, content.body, content.cta_text, content.cta_url, **common)
    raise PermanentError(code=None, title=f"Unknown interactive message type {content.style!r}.")


def _lease_until(now: datetime) -> datetime:
    # If this worker dies mid-send, the sweeper waits this long (for a status webhook naming the
    # message) before it tries again.
    return now + timedelta(seconds=settings.WHATSAPP_SEND_LEASE_SECONDS + settings.WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS)


def _due(now: datetime) -> Q:
    return Q(status=Message.Status.QUEUED, direction=Message.Direction.OUTBOUND) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


_CLAIMED = {"status": Message.Status.SENDING, "send_attempts": F("send_attempts") + 1}


def _claim(message_id: int) -> bool:
    now = timezone.now()
    return bool(Message.objects.filter(_due(now), pk=message_id).update(**_CLAIMED, next_attempt_at=_lease_until(now)))


def queued(*, inbox_id: int, part: int = 0, parts: int = 1) -> QuerySet[Message]:
    """Messages of an inbox's send queue that are due now, oldest first: all of them, or those of
    ``part`` when the queue is split in ``parts`` by conversation."""
    due = Message.objects.filter(_due(timezone.now()), inbox_id=inbox_id)
    if parts > 1:
        due = due.alias(part=F("conversation_id") % parts).filter(part=part)
    return due.order_by("pk")


def _claim_batch(*, inbox_id: int, part: int, parts: int, limit: int) -> list[int]:
    with transaction.atomic():
        # Locked rows are being claimed by another sender: skipped, not waited for.
        ids = list(
            queued(inbox_id=inbox_id, part=part, parts=parts)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(**_CLAIMED, next_attempt_at=_lease_until(timezone.now()))
    return ids


def _load(ids: list[int]) -> list[Message]:
    messages = list(
        Message.objects.select_related("conversation__contact_inbox", "inbox__whatsapp_channel")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    for message in messages:
        message.conversation.inbox = message.inbox  # the same row: the reply window needs it
    return messages


def message_deliver(*, message_id: int) -> str:
    """Send one queued message. Returns what happened (for logs and tests)."""
    if not _claim(message_id):
        return "not-claimed"
    return _deliver_claimed(_load([message_id])[0])


def message_deliver_ahead(*, message_id: int) -> str:
    """Send one queued message now, ahead of its inbox's send queue: an agent answering a customer
    does not wait behind a broadcast. Messages of its own conversation queued before it keep their
    order: then it joins the queue behind them."""
    message = Message.objects.filter(pk=message_id).only("tenant_id", "conversation_id", "inbox_id").first()
    if message is None:
        return "not-found"
    earlier = Message.objects.filter(
        tenant_id=message.tenant_id,
        conversation_id=message.conversation_id,
        direction=Message.Direction.OUTBOUND,
        status__in=[Message.Status.QUEUED, Message.Status.SENDING],
        pk__lt=message_id,
    )
    if earlier.exists():
        coordination.send_request(message_id=message_id, inbox_id=message.inbox_id)
        return "behind-earlier"
    return message_deliver(message_id=message_id)


class _Sender:
    """What one sending thread carries from a send to the next: the sends Meta accepted that are
    not recorded yet (recorded while the next send waits for its slot) and its last slot, re-stamped
    once Meta answered it (see ``limiter.throughput_reserve``)."""

    def __init__(self) -> None:
        self.unrecorded: list[tuple[Message, str]] = []
        self.answered: limiter.Answered | None = None
        self.number = ""

    def record_sent(self) -> None:
        while self.unrecorded:
            message_record_sent(*self.unrecorded.pop(0), apply_pending=False)

    def finish(self) -> None:
        self.record_sent()
        if self.answered:
            limiter.throughput_stamp(key=self.number, slot=self.answered.slot, at=self.answered.at)
            self.answered = None


def messages_deliver_parts(*, inbox_id: int, seconds: float, on_batch: Callable[[], object] | None = None) -> int:
    """Send an inbox's due messages for up to ``seconds``; returns how many were claimed.

    The queue is split in ``WHATSAPP_SEND_PARTS`` parts by conversation, each worked by its own
    thread in batches, oldest first: a customer's messages go in the order they were written, and
    while one thread waits on Meta, the database or its send slot, the others go on. Each thread
    stops when its part is empty (or the time is up). ``on_batch`` runs after each batch (the job
    renews its hold on the queue).
    """
    parts = settings.WHATSAPP_SEND_PARTS
    deadline = time.monotonic() + seconds

    def work(part: int) -> int:
        sender = _Sender()
        done = 0
        try:
            while time.monotonic() < deadline:
                count = len(
                    messages_deliver_batch(
                        inbox_id=inbox_id, part=part, parts=parts, limit=settings.WHATSAPP_SEND_BATCH, sender=sender
                    )
                )
                if not count:
                    break
                done += count
                if on_batch is not None:
                    on_batch()
        finally:
            sender.finish()
        return done

    def work_in_thread(part: int) -> int:
        try:
            return work(part)
        except Exception:
            # The database or Redis failed under this part (what it claimed waits for its lease):
            # the other parts go on, and the job's next round tries this one again.
            logger.exception("Sending part %s of inbox %s failed", part, inbox_id)
            return 0
        finally:
            connection.close()  # the thread's own connection

    if parts == 1:
        return work(0)
    with ThreadPoolExecutor(max_workers=parts, thread_name_prefix=f"send-{inbox_id}") as pool:
        return sum(pool.map(work_in_thread, range(parts)))


def messages_deliver_batch(
    *, inbox_id: int, part: int, parts: int, limit: int, sender: _Sender | None = None
) -> list[str]:
    """Claim up to ``limit`` due messages of one part of an inbox's send queue and send them in order.

    Returns what happened to each (empty when nothing was due). One claim and one load serve the
    whole batch; each send is paced as always, and recorded while the next one waits for its slot.
    """
    ids = _claim_batch(inbox_id=inbox_id, part=part, parts=parts, limit=limit)
    messages = _load(ids) if ids else []
    own = sender is None
    sender = sender or _Sender()
    outcomes = []
    for message in messages:
        try:
            outcome = _deliver_claimed(message, sender=sender)
        except Exception:
            # Left in sending: when its lease runs out the sweeper settles it (a status webhook may yet
            # show that it was sent), as it would after a crash. The rest of the batch goes on.
            logger.exception("Delivery of message %s failed unexpectedly", message.pk)
            outcome = "error"
        outcomes.append(outcome)
    if own:
        sender.finish()
    else:
        sender.record_sent()
    # Statuses that came before their message was recorded (rare: Meta's statuses carry our id, which
    # finds the message anyway) are looked for once for the whole batch.
    sent = [m for m, outcome in zip(messages, outcomes, strict=True) if outcome == "sent"]
    for message in pending_statuses_apply_many(messages=sent) if sent else []:
        publish_message_event("message.updated", message)
    return outcomes


def _deliver_claimed(message: Message, *, sender: _Sender | None = None) -> str:
    """Send a claimed message and record what happened: at once, or with ``sender``, a send Meta
    accepted is recorded while the sender's next send waits for its slot."""
    channel: WhatsAppChannel = message.inbox.whatsapp_channel
    to = message.conversation.contact_inbox.source_id
    # No transaction is held across the waits and the HTTP call below: each outcome is one
    # conditional UPDATE (or ``message_record_sent``, atomic on its own).
    try:
        reply_window_check(conversation=message.conversation, message_type=message.type)
    except ReplyWindowClosed as exc:
        _fail(message, code=None, title="Reply window closed", details=exc.message)
        return "failed-window"
    client = client_for(channel)
    try:
        # A file is uploaded here, before the send slot is taken, so that the send follows its slot at once.
        payload = build_payload(message, to=to, client=client, channel=channel)
        reserved = limiter.send_slot_acquire(
            key=channel.phone_number_id,
            rate=channel.throughput_per_second,
            max_wait=MAX_INLINE_THROUGHPUT_WAIT,
            pair=limiter.PairLimit(
                key=f"{channel.phone_number_id}:{to}",
                interval=settings.WHATSAPP_PAIR_INTERVAL_SECONDS,
                burst=settings.WHATSAPP_PAIR_BURST,
            ),
            answered=sender.answered if sender and sender.number == channel.phone_number_id else None,
            while_waiting=sender.record_sent if sender else None,
        )
        if reserved.paced_by == "pair":
            _requeue(message, reserved.wait, note="Paced: many messages to this customer")
            return "paced-pair"
        if reserved.paced_by:
            _requeue(message, random.uniform(0.5, 2.0))
            return "paced-throughput"
        try:
            result = client.send_message(channel.phone_number_id, payload)
        finally:
            if sender:
                sender.answered = limiter.Answered(slot=reserved.slot, at=time.monotonic())
                sender.number = channel.phone_number_id
            else:
                # Its request reached Meta before this answer: the slots after it count from now.
                limiter.throughput_stamp(key=channel.phone_number_id, slot=reserved.slot)
    except AmbiguousSendError:
        # Meta may have accepted it: wait for the status webhook carrying our id before retrying.
        wait_s = settings.WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            next_attempt_at=timezone.now() + timedelta(seconds=wait_s),
            error_title="Waiting for WhatsApp to confirm the send",
        )
        return "ambiguous"
    except TransientError as exc:
        if message.send_attempts >= settings.WHATSAPP_MAX_SEND_ATTEMPTS:
            _fail(message, code=exc.code, title=exc.title or str(exc), details=exc.details)
            return "failed-transient"
        _requeue(message, backoff_seconds(message.send_attempts, exc.retry_after), note=exc.title or "")
        return "retry"
    except (PermanentError, CloudApiError, outbound_payloads.PayloadError) as exc:
        code = getattr(exc, "code", None)
        title = getattr(exc, "title", "") or str(exc)
        _fail(message, code=code, title=title, details=getattr(exc, "details", ""))
        return "failed"
    if sender:
        sender.unrecorded.append((message, result.wamid))
    else:
        message_record_sent(message, result.wamid)
    return "sent"


# Given to the expression below, so that a send does not build a new CharField to learn its type.
_EXTERNAL_ID = Message._meta.get_field("external_id")


def message_record_sent(message: Message, wamid: str, *, apply_pending: bool = True) -> None:
    """Meta accepted ``message`` as ``wamid``: record it, then apply statuses that already wait for it
    (unless the caller does that for a batch: ``apply_pending=False``).

    The usual case is one statement, committed at once: from then on nothing can send it again.
    """
    sent = {"status": Message.Status.SENT, "sent_at": timezone.now(), "next_attempt_at": None, "error_title": ""}
    if Message.objects.filter(pk=message.pk, status__in=[Message.Status.QUEUED, Message.Status.SENDING]).update(
        external_id=Coalesce("external_id", Value(wamid, output_field=_EXTERNAL_ID)), **sent
    ):
        message.external_id = message.external_id or wamid
        for name, value in sent.items():
            setattr(message, name, value)
    else:
        # A status webhook got there first (it named our message): keep what it recorded.
        Message.objects.filter(pk=message.pk, external_id__isnull=True).update(external_id=wamid)
        message.refresh_from_db(fields=["external_id", "next_attempt_at", *STATUS_FIELDS])
    if apply_pending:
        pending_statuses_apply(message=message)
    publish_message_event("message.updated", message)


def messages_sweep() -> dict[str, int]:
    """Re-enqueue queued messages whose job was lost, and settle sends whose lease ran out."""
    now = timezone.now()
    grace = timedelta(seconds=settings.WHATSAPP_QUEUED_SWEEP_AFTER_SECONDS)
    stuck_queued = list(
        Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True, created_at__lte=now - grace) | Q(next_attempt_at__lte=now - grace))
        .values_list("pk", "inbox_id")[:1000]
    )
    # While a job works an inbox's queue (a long broadcast), this asks for nothing.
    coordination.send_requests(stuck_queued)
    confirmed = 0
    retried: list[tuple[int, int]] = []
    # A send whose confirmation deadline passed: its worker died, or Meta never answered the timeout.
    expired = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, status=Message.Status.SENDING, next_attempt_at__lte=now
    )
    for message in expired[:1000]:
        if message.external_id:
            # A status webhook named it: it was sent even though the worker never recorded it.
            message_record_sent(message, message.external_id)
            confirmed += 1
            continue
        # No word from Meta by the deadline: the send did not happen; try again.
        if Message.objects.filter(pk=message.pk, status=Message.Status.SENDING, external_id__isnull=True).update(
            status=Message.Status.QUEUED, next_attempt_at=now, error_title=""
        ):
            retried.append((message.pk, message.inbox_id))
    coordination.send_requests(retried)
    return {"requeued": len(stuck_queued), "confirmed": confirmed, "retried": len(retried)}


def messages_send_drain(*, inbox_id: int) -> int:
    """Send an inbox's due messages, its queue's parts side by side, while there are any, holding the
    inbox's send key (see ``coordination.send_request``); returns how many were worked."""
    key = coordination.send_key(inbox_id)
    client = coordination.redis_client()
    return coordination.drain(
        key,
        # Each batch renews the job's key: paced waits must not let it expire while the job still
        # works the queue (a second job would interleave a conversation's messages).
        step=lambda: messages_deliver_parts(
            inbox_id=inbox_id,
            seconds=settings.WHATSAPP_DRAIN_SECONDS,
            on_batch=lambda: client.expire(key, coordination.DRAIN_KEY_TTL),
        ),
        pending=lambda: queued(inbox_id=inbox_id).exists(),
        hand_over=lambda: task("messages_send_drain").delay(inbox_id),
    )
