"""Durable domain events of the core (docs/events.md).

Core services record events in the outbox in the same transaction as the fact
(``events_record``); each (event, subscriber) pair is then delivered by its own job.
"""

from conversations.events.registry import by_conversation, subscribe, subscribe_many, unsubscribe
from conversations.events.types import (
    EVENT_TYPES,
    ContactCreated,
    ContactUpdated,
    ConversationAssigned,
    ConversationCreated,
    ConversationLabelsChanged,
    ConversationPriorityChanged,
    ConversationStatusChanged,
    ConversationTeamChanged,
    Event,
    MarketingPreferenceReported,
    MemberAvailabilityChanged,
    MessageReceived,
    MessageSent,
    MessageStatusChanged,
    PaymentConfirmed,
    ReplyWindowClosed,
    ReplyWindowClosing,
)

__all__ = [
    "EVENT_TYPES",
    "ContactCreated",
    "ContactUpdated",
    "ConversationAssigned",
    "ConversationCreated",
    "ConversationLabelsChanged",
    "ConversationPriorityChanged",
    "ConversationStatusChanged",
    "ConversationTeamChanged",
    "Event",
    "MarketingPreferenceReported",
    "MemberAvailabilityChanged",
    "MessageReceived",
    "MessageSent",
    "MessageStatusChanged",
    "PaymentConfirmed",
    "ReplyWindowClosed",
    "ReplyWindowClosing",
    "by_conversation",
    "subscribe",
    "subscribe_many",
    "unsubscribe",
]
