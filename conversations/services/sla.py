"""The service-level clock as the core keeps it: two columns of the conversation that a feature measuring
deadlines (automations' SLA policies) sets, and the notification it sends when one passes. The core knows no
policy: it shows the clock in the list and the header, sorts and filters by it, and pushes the row live."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils.text import capfirst

from conversations.actors import Actor, actor_display_name, actor_user
from conversations.models import Conversation, Notification
from conversations.services.events import publish_conversation_updated, publish_notification
from helpdesk.exceptions import ValidationFailed
from tenants.models import Membership


@transaction.atomic
def conversation_sla_set(
    *, conversation: Conversation, due_at: datetime | None, breached_at: datetime | None
) -> Conversation:
    """Set the nearest unmet deadline (None: none running or paused) and when the earliest unmet one passed
    (None: none breached). Members who see the conversation get its row again; no change, nothing sent."""
    for moment in (due_at, breached_at):
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            raise ValidationFailed("An SLA moment needs a time zone.")
    fresh = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .filter(pk=conversation.pk, tenant_id=conversation.tenant_id)
        .first()
    )
    if fresh is None:
        return conversation
    if fresh.sla_due_at == due_at and fresh.sla_breached_at == breached_at:
        return fresh
    fresh.sla_due_at = due_at
    fresh.sla_breached_at = breached_at
    fresh.save(update_fields=["sla_due_at", "sla_breached_at", "updated_at"])
    publish_conversation_updated(fresh)
    return fresh


def notifications_send(
    *, actor: Actor, conversation: Conversation, kind: str, user_ids: Iterable[int]
) -> list[Notification]:
    """One notification of ``kind`` per person (each once, in the order given), pushed to them live after
    the commit. Only members of the conversation's workspace are notified; others are skipped."""
    if kind not in Notification.Kind.values:
        raise ValidationFailed("Unknown notification kind.", details={"allowed": Notification.Kind.values})
    wanted = list(dict.fromkeys(user_ids))
    members = set(
        Membership.objects.filter(tenant_id=conversation.tenant_id, active=True, user_id__in=wanted).values_list(
            "user_id", flat=True
        )
    )
    person = actor_user(actor)
    label = "" if person else capfirst(actor_display_name(actor))[:150]
    created = []
    for user_id in wanted:
        if user_id not in members:
            continue
        notification = Notification.objects.create(
            tenant_id=conversation.tenant_id,
            user_id=user_id,
            kind=kind,
            conversation=conversation,
            actor=person,
            actor_label=label,
        )
        publish_notification(notification)
        created.append(notification)
    return created
