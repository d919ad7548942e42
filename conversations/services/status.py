"""Delivery statuses of outbound messages: they only move forward, whatever order they arrive in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from conversations.models import Inbox, Message, PendingStatus

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


def _apply(message: Message, spec: StatusSpec) -> bool:
    """Advance ``message`` to ``spec.status`` if it is further along; returns whether it changed."""
    fields: dict[str, Any] = {"status": spec.status}
    if spec.status == Message.Status.FAILED:
        fields.update(error_code=spec.error_code, error_title=spec.error_title, error_details=spec.error_details)
    if spec.pricing:
        fields["pricing"] = spec.pricing
    ts_field = TIMESTAMP_FIELD.get(spec.status)
    if ts_field:
        fields[ts_field] = spec.occurred_at
    changed = Message.objects.filter(pk=message.pk, status__in=_earlier_statuses(spec.status)).update(**fields)
    if not changed and spec.status != Message.Status.FAILED:
        # A late "delivered" after "read" does not move the status back, but its time and pricing (Meta sends pricing
        # on only some statuses) are still worth keeping. A late failure is not: a delivered message did not fail.
        late = Message.objects.filter(pk=message.pk).exclude(status=Message.Status.FAILED)
        if ts_field:
            late.filter(**{f"{ts_field}__isnull": True}).update(**{ts_field: spec.occurred_at})
        if spec.pricing:
            late.filter(pricing__isnull=True).update(pricing=spec.pricing)
    return bool(changed)


@transaction.atomic
def message_status_update(*, inbox: Inbox, spec: StatusSpec) -> Message | None:
    from conversations.services.events import publish_message_event

    message = Message.objects.filter(inbox=inbox, external_id=spec.external_id).first()
    if message is None and spec.callback_message_id is not None:
        # The status may beat the send response: our own id travels with it as callback data.
        message = Message.objects.filter(
            inbox=inbox, pk=spec.callback_message_id, direction=Message.Direction.OUTBOUND
        ).first()
        if message is not None and message.external_id is None:
            Message.objects.filter(pk=message.pk, external_id__isnull=True).update(external_id=spec.external_id)
            message.external_id = spec.external_id
            # Statuses that arrived even earlier under this id now have their message.
            pending_statuses_apply(message=message)
    if message is None or message.direction != Message.Direction.OUTBOUND:
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
        return None
    if _apply(message, spec):
        message.refresh_from_db()
        publish_message_event("message.updated", message)
    return message


def pending_statuses_apply(*, message: Message) -> None:
    """Apply statuses that arrived before ``message`` had its external id."""
    if not message.external_id or message.direction != Message.Direction.OUTBOUND:
        return
    pending = list(
        PendingStatus.objects.filter(inbox_id=message.inbox_id, external_id=message.external_id).order_by("occurred_at")
    )
    if not pending:
        return
    for p in pending:
        _apply(
            message,
            StatusSpec(
                external_id=p.external_id,
                status=p.status,
                occurred_at=p.occurred_at,
                error_code=p.error_code,
                error_title=p.error_title,
                error_details=p.error_details,
                pricing=p.pricing,
            ),
        )
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()
    message.refresh_from_db()
