"""Delivery statuses of outbound messages: they only move forward, whatever order they arrive in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from conversations.events import Event, MessageStatusChanged
from conversations.events.outbox import events_record
from conversations.models import Inbox, Message, PendingStatus
from conversations.services.events import publish_message_event

RANK = Message.STATUS_RANK
TIMESTAMP_FIELD = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at", "failed": "failed_at"}
# A failure may still replace these; a delivered or read message did not fail.
FAILABLE = [Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT]


@dataclass(frozen=True)
class StatusSpec:
    external_id: str
    status: str
    occurred_at: datetime
    error_code: int | None = None
    error_title: str = ""
    error_details: str = ""
    pricing: dict[str, Any] | None = None
    callback_message_id: int | None = None


def _earlier_statuses(status: str) -> list[str]:
    if status == Message.Status.FAILED:
        return list(FAILABLE)
    return [s for s, r in RANK.items() if r < RANK[status] and s not in (Message.Status.FAILED, "received")]


# What a status can change on a message (re-read together after statuses were applied).
STATUS_FIELDS = ["status", "error_code", "error_title", "error_details", "pricing", *TIMESTAMP_FIELD.values()]


def _status_fields(spec: StatusSpec) -> dict[str, Any]:
    """What a message moved to ``spec.status`` gets written."""
    fields: dict[str, Any] = {"status": spec.status}
    if spec.status == Message.Status.FAILED:
        fields.update(error_code=spec.error_code, error_title=spec.error_title, error_details=spec.error_details)
    if spec.pricing:
        fields["pricing"] = spec.pricing
    if ts_field := TIMESTAMP_FIELD.get(spec.status):
        fields[ts_field] = spec.occurred_at
    return fields


def _advance(message: Message, spec: StatusSpec) -> tuple[list[str], bool]:
    """Advance ``message`` (read under lock) to ``spec.status`` if that is further along, in memory
    only; returns the fields changed and whether the status moved."""
    if message.status in _earlier_statuses(spec.status):
        fields = _status_fields(spec)
        moved = True
    else:
        # A late "delivered" after "read" keeps its time and pricing; a late failure changes nothing.
        fields = {}
        if spec.status != Message.Status.FAILED and message.status != Message.Status.FAILED:
            ts_field = TIMESTAMP_FIELD.get(spec.status)
            if ts_field and getattr(message, ts_field) is None:
                fields[ts_field] = spec.occurred_at
            if spec.pricing and message.pricing is None:
                fields["pricing"] = spec.pricing
        moved = False
    for name, value in fields.items():
        setattr(message, name, value)
    return list(fields), moved


def status_changed_event(message: Message, previous: str) -> MessageStatusChanged:
    """The event of ``message`` having moved from ``previous`` to its current status."""
    return MessageStatusChanged(
        tenant_id=message.tenant_id,
        message_id=message.pk,
        conversation_id=message.conversation_id,
        inbox_id=message.inbox_id,
        previous_status=previous,
        status=message.status,
        error_code=message.error_code if message.status == Message.Status.FAILED else None,
        sender_type=message.sender_type,
    )


# No savepoint of its own: inside a batch of webhook events, the batch's savepoint already undoes
# everything on a failure (and it saves two round trips per batch).
@transaction.atomic(savepoint=False)
def message_statuses_update(*, inbox: Inbox, specs: list[StatusSpec]) -> list[Message | None]:
    """Apply delivery statuses in order; one result per spec.

    Their messages are read and locked in one query, moved in memory, and written back with one
    statement per distinct change. A status whose message is not known yet waits as a
    ``PendingStatus`` until the send is recorded.
    """
    match = Q(external_id__in={spec.external_id for spec in specs})
    if callbacks := {s.callback_message_id for s in specs if s.callback_message_id}:
        # The status may beat the send response: our own id travels with it as callback data.
        match |= Q(pk__in=callbacks, direction=Message.Direction.OUTBOUND)
    # One statement, in id order: two batches locking the same messages wait for each other instead
    # of deadlocking. The conversation comes along for the event (who may see it, its number).
    found = list(
        Message.objects.select_related("conversation")
        .filter(match, inbox=inbox)
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    by_external = {m.external_id: m for m in found if m.external_id}
    by_pk = {m.pk: m for m in found if m.direction == Message.Direction.OUTBOUND}
    changed: dict[int, set[str]] = {}
    moved: dict[int, Message] = {}
    events: list[Event] = []
    results: list[Message | None] = []
    for spec in specs:
        message = by_external.get(spec.external_id)
        if message is None and spec.callback_message_id is not None:
            message = by_pk.get(spec.callback_message_id)
            if message is not None and message.external_id is None:
                # Not yet touched by this batch (it had no external id to be found by).
                Message.objects.filter(pk=message.pk, external_id__isnull=True).update(external_id=spec.external_id)
                message.external_id = spec.external_id
                by_external[spec.external_id] = message
                # Statuses that arrived even earlier under this id now have their message.
                pending_statuses_apply(message=message)
        if (
            message is None
            or message.direction != Message.Direction.OUTBOUND
            or message.external_id != spec.external_id
        ):
            _wait_for_message(inbox, spec)
            results.append(None)
            continue
        previous = message.status
        names, status_moved = _advance(message, spec)
        changed.setdefault(message.pk, set()).update(names)
        if status_moved:
            moved[message.pk] = message
            events.append(status_changed_event(message, previous))
        results.append(message)
    _write({m.pk: m for m in found}, changed)
    events_record(events)
    for message in moved.values():
        publish_message_event("message.updated", message)
    return results


def _write(messages: dict[int, Message], changed: dict[int, set[str]]) -> None:
    """Write what ``_advance`` changed: one UPDATE per distinct change (a batch's statuses mostly
    share theirs: "delivered" at the same second, with the same pricing)."""
    groups: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for pk, names in changed.items():
        values = {name: getattr(messages[pk], name) for name in sorted(names)}
        if values:
            key = json.dumps(values, sort_keys=True, default=str)
            groups.setdefault(key, (values, []))[1].append(pk)
    for values, pks in groups.values():
        Message.objects.filter(pk__in=pks).update(**values)


def _wait_for_message(inbox: Inbox, spec: StatusSpec) -> None:
    try:
        with transaction.atomic():
            PendingStatus.objects.create(
                tenant_id=inbox.tenant_id,
                inbox=inbox,
                external_id=spec.external_id,
                status=spec.status,
                occurred_at=spec.occurred_at,
                error_code=spec.error_code,
                error_title=spec.error_title,
                error_details=spec.error_details,
                pricing=spec.pricing,
            )
    except IntegrityError:
        pass  # the same status again: already waiting


def pending_statuses_apply(*, message: Message) -> None:
    """Apply statuses that arrived before ``message`` had its external id."""
    pending_statuses_apply_many(messages=[message])


def pending_statuses_apply_many(*, messages: list[Message]) -> list[Message]:
    """Apply statuses that arrived before these outbound messages (of one inbox) had their external
    ids, looked for in one query; returns the messages they moved (their status fields updated)."""
    by_external = {m.external_id: m for m in messages if m.external_id and m.direction == Message.Direction.OUTBOUND}
    if not by_external:
        return []
    waiting: dict[str, list[PendingStatus]] = {}
    for p in PendingStatus.objects.filter(inbox_id=messages[0].inbox_id, external_id__in=list(by_external)).order_by(
        "occurred_at"
    ):
        waiting.setdefault(p.external_id, []).append(p)
    if not waiting:
        return []
    moved = [by_external[external_id] for external_id in waiting]
    with transaction.atomic():
        # Read again under lock, in id order: the statuses start from what is stored now.
        locked = {
            m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in moved]).order_by("pk").select_for_update()
        }
        changed: dict[int, set[str]] = {}
        events: list[Event] = []
        for external_id, pending in waiting.items():
            message = locked[by_external[external_id].pk]
            for p in pending:
                previous = message.status
                names, status_moved = _advance(message, _pending_spec(p))
                changed.setdefault(message.pk, set()).update(names)
                if status_moved:
                    events.append(status_changed_event(message, previous))
        _write(locked, changed)
        events_record(events)
        PendingStatus.objects.filter(pk__in=[p.pk for pending in waiting.values() for p in pending]).delete()
    for message in moved:
        for name in STATUS_FIELDS:
            setattr(message, name, getattr(locked[message.pk], name))
    return moved


def pending_statuses_purge(*, older_than: datetime, limit: int = 5000) -> int:
    """Delete up to ``limit`` statuses that have waited since before ``older_than`` for a message that
    never came (one sent by another app on the number, or to a group); returns how many."""
    pks = list(PendingStatus.objects.filter(created_at__lt=older_than).values_list("pk", flat=True)[:limit])
    if pks:
        PendingStatus.objects.filter(pk__in=pks).delete()
    return len(pks)


def _pending_spec(p: PendingStatus) -> StatusSpec:
    return StatusSpec(
        external_id=p.external_id,
        status=p.status,
        occurred_at=p.occurred_at,
        error_code=p.error_code,
        error_title=p.error_title,
        error_details=p.error_details,
        pricing=p.pricing,
    )
