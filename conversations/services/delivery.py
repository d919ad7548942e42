"""The send queue of outbound messages, whatever their channel (DESIGN.md §5, "Outbound").

A queued message is claimed with a conditional update (queued → sending, with a lease), handed to
its channel's ``SendSession`` (``conversations/channels.py``), and what the channel answered is
recorded: sent with the channel's id, retried with backoff, failed for good, or left to wait for a
status naming it. Nothing here knows a channel's protocol or limits; the channel paces inside
``send``. A sweeper per channel type hands over what a lost job or a broker outage left behind.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations import channels
from conversations.events.outbox import events_record
from conversations.models import Inbox, Message
from conversations.services import delivery_jobs
from conversations.services.delivery_jobs import send_requests, task
from conversations.services.delivery_status import (
    STATUS_FIELDS,
    pending_statuses_apply,
    pending_statuses_apply_many,
    status_changed_event,
)
from conversations.services.events import publish_message_event
from conversations.services.outbound import REPLY_WINDOW_CLOSED_TITLE, ReplyWindowClosed, reply_window_check
from helpdesk.jobs import BROKER_ERRORS, drain, redis_client, run_later

logger = logging.getLogger(__name__)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (2, 4, 8 … s, capped at 5 min), at least Retry-After."""
    base = min(300.0, 2.0 ** max(attempt, 1))
    delay = random.uniform(base / 2, base)
    return max(delay, retry_after or 0.0)


def _schedule(message_id: int, delay: float) -> None:
    try:
        run_later(task("message_deliver"), message_id, delay)
    except BROKER_ERRORS as exc:
        # It is queued and due at its time: the sweeper hands it over.
        logger.warning("Retry of message %s not enqueued, left for the sweeper: %s", message_id, type(exc).__name__)


def _requeue(message: Message, delay: float, *, note: str = "") -> None:
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        error_title=note[:255],
    )
    transaction.on_commit(lambda: _schedule(message.pk, delay))


def _fail(message: Message, *, code: int | None, title: str, details: str = "") -> None:
    failed = {
        "status": Message.Status.FAILED,
        "error_code": code,
        "error_title": title[:255],
        "error_details": details,
        "failed_at": timezone.now(),
        "next_attempt_at": None,
    }
    with transaction.atomic():
        previous = ""
        for status in (Message.Status.SENDING, Message.Status.QUEUED):
            if Message.objects.filter(pk=message.pk, status=status).update(**failed):
                previous = status
                break
        if previous:
            for name, value in failed.items():
                setattr(message, name, value)
            events_record([status_changed_event(message, previous)])
    if previous:
        message.refresh_from_db(fields=["next_attempt_at", *STATUS_FIELDS])
        publish_message_event("message.updated", message)


WITHDRAWN_TITLE = "Withdrawn before it was sent"


def messages_withdraw(*, message_ids: list[int], details: str = "") -> list[int]:
    """Take messages still waiting in the send queue out of it for good (their sender gave up on them: a
    broadcast canceled): each queued one is failed without a code, with its ``MessageStatusChanged``
    event. Returns the ids withdrawn. A message already claimed by a sender (sending, or with the
    channel) is not stopped: it counts as sent. Call it inside the caller's transaction."""
    if not message_ids:
        return []
    now = timezone.now()
    failed = {
        "status": Message.Status.FAILED,
        "error_code": None,
        "error_title": WITHDRAWN_TITLE,
        "error_details": details,
        "failed_at": now,
        "next_attempt_at": None,
    }
    with transaction.atomic():
        # Locked first, so a sender's claim (queued → sending) either came before and wins, or waits and
        # then finds them failed.
        ids = list(
            Message.objects.select_for_update(no_key=True)
            .filter(pk__in=message_ids, status=Message.Status.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return []
        Message.objects.filter(pk__in=ids, status=Message.Status.QUEUED).update(**failed)
        messages = list(Message.objects.filter(pk__in=ids).order_by("pk"))
        events_record([status_changed_event(message, Message.Status.QUEUED) for message in messages])
    for message in messages:
        publish_message_event("message.updated", message)
    return ids


def _lease_until(now: datetime) -> datetime:
    # If this worker dies mid-send, the sweeper waits this long (for a status naming the message)
    # before it tries again.
    return now + timedelta(seconds=settings.DELIVERY_SEND_LEASE_SECONDS)


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
    # What any registered channel reads to send (its row beside the inbox), in the same query.
    related = {"conversation__contact_inbox", "inbox"}
    for backend in channels.backends():
        related.update(backend.send_related)
    messages = list(Message.objects.select_related(*sorted(related)).filter(pk__in=ids).order_by("pk"))
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
        delivery_jobs.send_request(message_id=message_id, inbox_id=message.inbox_id)
        return "behind-earlier"
    return message_deliver(message_id=message_id)


def _nothing() -> None:
    return None


class _Sender:
    """What one sending thread carries from a send to the next: its channel's session (which paces
    the sends) and the sends the channel accepted that are not recorded yet (recorded while the next
    send waits for its pace)."""

    def __init__(self, session: channels.SendSession) -> None:
        self.session = session
        self.unrecorded: list[tuple[Message, str]] = []

    def record_sent(self) -> None:
        while self.unrecorded:
            message_record_sent(*self.unrecorded.pop(0), apply_pending=False)

    def finish(self) -> None:
        self.record_sent()
        self.session.close()


def _sender_for(inbox_id: int) -> _Sender:
    channel_type = Inbox.objects.filter(pk=inbox_id).values_list("channel_type", flat=True).get()
    return _Sender(channels.backend_named(channel_type).send_session())


def messages_deliver_parts(*, inbox_id: int, seconds: float, on_batch: Callable[[], object] | None = None) -> int:
    """Send an inbox's due messages for up to ``seconds``; returns how many were claimed.

    The queue is split in ``DELIVERY_SEND_PARTS`` parts by conversation, each worked by its own
    thread in batches, oldest first: a customer's messages go in the order they were written, and
    while one thread waits on the channel, the database or its pace, the others go on. Each thread
    stops when its part is empty (or the time is up). ``on_batch`` runs after each batch (a caller
    following the batches; the job's hold on the queue is renewed by its own thread, ``helpdesk.jobs.held``).
    """
    parts = settings.DELIVERY_SEND_PARTS
    deadline = time.monotonic() + seconds

    def work(part: int) -> int:
        sender: _Sender | None = None
        done = 0
        try:
            while time.monotonic() < deadline:
                sender = sender or _sender_for(inbox_id)
                count = len(
                    messages_deliver_batch(
                        inbox_id=inbox_id, part=part, parts=parts, limit=settings.DELIVERY_SEND_BATCH, sender=sender
                    )
                )
                if not count:
                    break
                done += count
                if on_batch is not None:
                    on_batch()
        finally:
            if sender is not None:
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
    whole batch; each send is paced by its channel, and recorded while the next one waits for its pace.
    """
    ids = _claim_batch(inbox_id=inbox_id, part=part, parts=parts, limit=limit)
    messages = _load(ids) if ids else []
    own = sender is None
    if sender is None:
        if not messages:
            return []
        sender = _Sender(channels.backend_for(messages[0].inbox).send_session())
    outcomes = []
    for message in messages:
        try:
            outcome = _deliver_claimed(message, sender=sender)
        except Exception:
            # Left in sending: when its lease runs out the sweeper settles it (a status may yet show
            # that it was sent), as it would after a crash. The rest of the batch goes on.
            logger.exception("Delivery of message %s failed unexpectedly", message.pk)
            outcome = "error"
        outcomes.append(outcome)
    if own:
        sender.finish()
    else:
        sender.record_sent()
    # Statuses that came before their message was recorded (rare: channels' statuses usually carry
    # our id, which finds the message anyway) are looked for once for the whole batch.
    sent = [m for m, outcome in zip(messages, outcomes, strict=True) if outcome == "sent"]
    for message in pending_statuses_apply_many(messages=sent) if sent else []:
        publish_message_event("message.updated", message)
    return outcomes


def _deliver_claimed(message: Message, *, sender: _Sender | None = None) -> str:
    """Send a claimed message and record what happened: at once, or with ``sender``, a send the
    channel accepted is recorded while the sender's next send waits for its pace."""
    # No transaction is held across the channel's waits and its call: each outcome is one
    # conditional UPDATE (or ``message_record_sent``, atomic on its own).
    try:
        reply_window_check(conversation=message.conversation, message_type=message.type)
    except ReplyWindowClosed as exc:
        _fail(message, code=None, title=REPLY_WINDOW_CLOSED_TITLE, details=exc.message)
        return "failed-window"
    if not _still_ours(message):
        return "lease-lost"
    if sender is None:
        session = channels.backend_for(message.inbox).send_session()
        try:
            result = session.send(message, while_waiting=_nothing)
        finally:
            session.close()
    else:
        result = sender.session.send(message, while_waiting=sender.record_sent)
    return _record(message, result, sender=sender)


def _still_ours(message: Message) -> bool:
    """Whether this sender still holds the message's claim. A claim is a lease: a batch whose sends were held up
    (a starved or paused process) past its lease may have been handed to another sender by the sweeper. Past
    half its lease the claim is renewed, on the condition that it is still the one this sender took (one
    UPDATE, serialised with the sweeper's on the row): when it is not, the message is not sent here."""
    lease = message.next_attempt_at
    now = timezone.now()
    if lease is None or lease - now > timedelta(seconds=settings.DELIVERY_SEND_LEASE_SECONDS / 2):
        return True
    renewed = _lease_until(now)
    if Message.objects.filter(pk=message.pk, status=Message.Status.SENDING, next_attempt_at=lease).update(
        next_attempt_at=renewed
    ):
        message.next_attempt_at = renewed
        return True
    logger.warning("Message %s was handed to another sender after its lease ran out: not sent here", message.pk)
    return False


def _record(message: Message, result: channels.SendResult, *, sender: _Sender | None) -> str:
    if isinstance(result, channels.Accepted):
        if sender:
            sender.unrecorded.append((message, result.external_id))
        else:
            message_record_sent(message, result.external_id)
        return "sent"
    if isinstance(result, channels.Paced):
        _requeue(message, result.after, note=result.note)
        return f"paced-{result.reason}"
    if isinstance(result, channels.Ambiguous):
        # The channel may have taken it: wait for a status naming our message before trying again.
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            next_attempt_at=timezone.now() + timedelta(seconds=result.wait), error_title=result.note[:255]
        )
        return "ambiguous"
    if isinstance(result, channels.TransientFailure):
        if message.send_attempts >= settings.DELIVERY_MAX_SEND_ATTEMPTS:
            _fail(message, code=result.code, title=result.title, details=result.details)
            return "failed-transient"
        _requeue(message, backoff_seconds(message.send_attempts, result.retry_after), note=result.title)
        return "retry"
    _fail(message, code=result.code, title=result.title, details=result.details)
    return "failed"


# Given to the expression below, so that a send does not build a new CharField to learn its type.
_EXTERNAL_ID = Message._meta.get_field("external_id")
_SENDABLE = (Message.Status.SENDING, Message.Status.QUEUED)


def message_record_sent(message: Message, external_id: str, *, apply_pending: bool = True) -> None:
    """The channel accepted ``message`` as ``external_id``: record it with its ``MessageStatusChanged``
    event, then apply statuses that already wait for it (unless the caller does that for a batch:
    ``apply_pending=False``).

    The usual case is one UPDATE and the event's INSERT, committed at once: from then on nothing can
    send it again.
    """
    sent = {"status": Message.Status.SENT, "sent_at": timezone.now(), "next_attempt_at": None, "error_title": ""}
    external = Coalesce("external_id", Value(external_id, output_field=_EXTERNAL_ID))
    with transaction.atomic():
        previous = ""
        for status in _SENDABLE:
            if Message.objects.filter(pk=message.pk, status=status).update(external_id=external, **sent):
                previous = status
                break
        if previous:
            message.external_id = message.external_id or external_id
            for name, value in sent.items():
                setattr(message, name, value)
            events_record([status_changed_event(message, previous)])
    if not previous:
        # A status got there first (it named our message): keep what it recorded.
        Message.objects.filter(pk=message.pk, external_id__isnull=True).update(external_id=external_id)
        message.refresh_from_db(fields=["external_id", "next_attempt_at", *STATUS_FIELDS])
    if apply_pending:
        pending_statuses_apply(message=message)
    publish_message_event("message.updated", message)


def messages_sweep(*, channel_type: str) -> dict[str, int]:
    """For the inboxes of one channel type: hand over queued messages whose job was lost (or never
    enqueued: the broker was down), and settle sends whose lease ran out."""
    now = timezone.now()
    grace = timedelta(seconds=settings.DELIVERY_QUEUED_SWEEP_AFTER_SECONDS)
    inboxes = Inbox.objects.filter(channel_type=channel_type).values("pk")
    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND, inbox_id__in=inboxes)
    stuck_queued = list(
        outbound.filter(status=Message.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True, created_at__lte=now - grace) | Q(next_attempt_at__lte=now - grace))
        .values_list("pk", "inbox_id")[:1000]
    )
    # While a job works an inbox's queue (a long broadcast), this asks for nothing.
    send_requests(stuck_queued)
    confirmed = 0
    retried: list[tuple[int, int]] = []
    # A send whose confirmation deadline passed: its worker died, or the channel never answered.
    expired = outbound.filter(status=Message.Status.SENDING, next_attempt_at__lte=now)
    found = list(expired[:1000])
    # What the channel already reported of the unconfirmed ones is applied first: a status naming a send that a
    # dead worker made may be stored and not yet applied (its drain died with the worker). Where reports still
    # wait, the sends are not tried again before they are applied.
    waiting: set[int] = set()
    if unconfirmed := {message.inbox_id for message in found if not message.external_id}:
        waiting = channels.reports_settle(channel_type, unconfirmed)
        found = list(expired[:1000])  # as the reports left them
    for message in found:
        if message.external_id:
            # A status named it: it was sent even though the worker never recorded it.
            message_record_sent(message, message.external_id)
            confirmed += 1
            continue
        if message.inbox_id in waiting:
            continue
        # No word from the channel by the deadline: the send did not happen; try again. Only if the lease is
        # still the expired one: a sender that renewed it meanwhile (``_still_ours``) is about to send it.
        if Message.objects.filter(
            pk=message.pk, status=Message.Status.SENDING, external_id__isnull=True, next_attempt_at__lte=now
        ).update(status=Message.Status.QUEUED, next_attempt_at=now, error_title=""):
            retried.append((message.pk, message.inbox_id))
    send_requests(retried)
    return {"requeued": len(stuck_queued), "confirmed": confirmed, "retried": len(retried)}


def messages_send_drain(*, inbox_id: int) -> int:
    """Send an inbox's due messages, its queue's parts side by side, while there are any, holding the
    inbox's send key (see ``delivery_jobs.send_request``); returns how many were worked."""
    key = delivery_jobs.send_key(inbox_id)
    client = redis_client()
    return drain(
        key,
        seconds=settings.DELIVERY_DRAIN_SECONDS,
        # The job's key is renewed while it runs (``held``): paced waits must not let it expire while the job
        # still works the queue (a second job would interleave a conversation's messages).
        step=lambda: messages_deliver_parts(inbox_id=inbox_id, seconds=settings.DELIVERY_DRAIN_SECONDS),
        pending=lambda: queued(inbox_id=inbox_id).exists(),
        hand_over=lambda: task("messages_send_drain").delay(inbox_id),
        client=client,
    )
