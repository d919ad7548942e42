"""Real-time events of the core (documented in docs/events.md), published after commit."""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation, Message, Notification
from conversations.selectors import conversation_audience
from helpdesk.realtime import publish_on_commit


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "sender_type": message.sender_type,
        "type": message.type,
        "text": message.text,
        "private": message.private,
        "status": message.status,
        "error_code": message.error_code,
        "error_title": message.error_title,
        "external_id": message.external_id,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "occurred_at": message.occurred_at.isoformat(),
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "display_id": conversation.display_id,
        "inbox_id": conversation.inbox_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee_id": conversation.assignee_id,
        "last_inbound_at": conversation.last_inbound_at.isoformat() if conversation.last_inbound_at else None,
        "last_activity_at": conversation.last_activity_at.isoformat() if conversation.last_activity_at else None,
        "waiting_since": conversation.waiting_since.isoformat() if conversation.waiting_since else None,
        "snoozed_until": conversation.snoozed_until.isoformat() if conversation.snoozed_until else None,
        "unread_count": conversation.unread_count,
    }


def publish_message_event(event_type: str, message: Message, *, audience: list[int] | None = None) -> None:
    conversation = message.conversation
    publish_on_commit(
        tenant_id=message.tenant_id,
        user_ids=audience if audience is not None else conversation_audience(conversation=conversation),
        event={
            "type": event_type,
            "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
            "message": message_payload(message),
        },
    )


def publish_conversation_updated(conversation: Conversation, *, audience: list[int] | None = None) -> None:
    if audience is None:
        audience = conversation_audience(conversation=conversation)
    publish_on_commit(
        tenant_id=conversation.tenant_id,
        user_ids=audience,
        event={"type": "conversation.updated", "conversation": conversation_payload(conversation)},
    )


def publish_conversation_hidden(conversation: Conversation, *, audience: list[int]) -> None:
    """To members who could see the conversation until now (e.g. it was assigned to someone else)."""
    publish_on_commit(
        tenant_id=conversation.tenant_id,
        user_ids=audience,
        event={
            "type": "conversation.hidden",
            "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
        },
    )


def publish_notification(notification: Notification) -> None:
    conversation = notification.conversation
    publish_on_commit(
        tenant_id=notification.tenant_id,
        user_ids=[notification.user_id],
        event={
            "type": "notification.created",
            "notification": {
                "id": notification.pk,
                "kind": notification.kind,
                "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
                "message_id": notification.message_id,
                "actor": notification.actor.display_name if notification.actor else notification.actor_label,
            },
        },
    )
