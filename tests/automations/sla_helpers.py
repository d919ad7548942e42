"""What the SLA tests build, through the real services: a policy, an agent's reply, a status change and a
label, each followed by the subscribers the commit runs (as their jobs would)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from automations.models import ConversationSla, SlaClock, SlaPolicy
from automations.sla_policies import SlaPolicySpec, sla_policy_create
from conversations.models import Conversation, Label, Message
from conversations.services.actions import (
    conversation_labels_change,
    conversation_priority_set,
    conversation_status_set,
)
from conversations.services.outbound import OutboundSpec, message_send
from tenants.models import Membership


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def policy_create(actor: Membership, name: str = "Standard", **fields: Any) -> SlaPolicy:
    return sla_policy_create(actor=actor, spec=SlaPolicySpec(name=name, **fields))


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def clock_of(conversation: Conversation, metric: str, cycle: int = 0) -> SlaClock:
    return SlaClock.objects.get(conversation=conversation, metric=metric, cycle=cycle)


def clocks_of(conversation: Conversation) -> list[tuple[str, int]]:
    return list(
        SlaClock.objects.filter(conversation=conversation).order_by("metric", "cycle").values_list("metric", "cycle")
    )


def sla_state(conversation: Conversation) -> ConversationSla:
    return ConversationSla.objects.get(conversation=conversation)


class Acts:
    """A member's actions on a conversation, each committed with its subscribers run."""

    def __init__(self, member: Membership, capture: Any) -> None:
        self.member = member
        self.capture = capture

    def reply(self, conversation: Conversation, text: str = "Olá! Como posso ajudar?") -> Message:
        with self.capture(execute=True):
            message, _created = message_send(
                actor=self.member, conversation=conversation, spec=OutboundSpec(type="text", text=text)
            )
        return message

    def status(self, conversation: Conversation, status: str, **kwargs: Any) -> None:
        with self.capture(execute=True):
            conversation_status_set(actor=self.member, conversation=conversation, status=status, **kwargs)

    def priority(self, conversation: Conversation, priority: str) -> None:
        with self.capture(execute=True):
            conversation_priority_set(actor=self.member, conversation=conversation, priority=priority)

    def label(self, conversation: Conversation, label: Label) -> None:
        with self.capture(execute=True):
            conversation_labels_change(actor=self.member, conversation=conversation, add=[label])


@pytest.fixture
def events_at_the_clock(monkeypatch: Any) -> None:
    """Events are stamped with the real time (their dataclass took ``timezone.now`` before any test moved it):
    the clocks read the moved one."""
    monkeypatch.setattr("automations.sla.event_moment", lambda event: timezone.now())
