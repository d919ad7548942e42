"""The core's domain events: immutable facts, each with its tenant, the ids it concerns, when it
happened and its own id. Their fields are documented in docs/events.md."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from django.utils import timezone
from django.utils.dateparse import parse_datetime

E = TypeVar("E", bound="Event")


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    # Resolving the annotations costs more than loading the rest of an event: once per type.
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    name: ClassVar[str] = ""

    tenant_id: int
    event_id: UUID = field(default_factory=uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            EVENT_TYPES[cls.name] = cls

    def to_payload(self) -> dict[str, Any]:
        """The event's own fields as JSON (ids and the event's time are columns of the outbox)."""
        payload: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("tenant_id", "event_id"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            payload[f.name] = value
        return payload

    @classmethod
    def from_payload(cls: type[E], *, event_id: UUID, tenant_id: int, payload: dict[str, Any]) -> E:
        hints = _type_hints(cls)
        values: dict[str, Any] = {"event_id": event_id, "tenant_id": tenant_id}
        for f in fields(cls):
            if f.name not in payload:
                continue
            value = payload[f.name]
            hint = hints[f.name]
            kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
            if isinstance(value, str) and datetime in kinds:
                value = parse_datetime(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MessageReceived(Event):
    """A customer's message was stored (once per message, whatever the channel repeats)."""

    name: ClassVar[str] = "message.received"
    message_id: int
    conversation_id: int
    inbox_id: int
    contact_id: int
    message_type: str


@dataclass(frozen=True, kw_only=True)
class MessageSent(Event):
    """The business queued a message for the customer (an agent's, an API client's, an automation's
    or the system's); ``actor_type``/``actor_id`` say who (``conversations.actors``)."""

    name: ClassVar[str] = "message.sent"
    message_id: int
    conversation_id: int
    inbox_id: int
    contact_id: int
    message_type: str
    sender_type: str
    sender_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None

    @staticmethod
    def by_agent(event: MessageSent) -> bool:
        """Whether a person of the team wrote it (a subscription's ``when`` for those who care for replies
        only: a broadcast's thousands of messages, greetings and bot steps then cost them nothing)."""
        return event.sender_type == "agent"


@dataclass(frozen=True, kw_only=True)
class MessageStatusChanged(Event):
    """An outbound message's delivery status moved forward (sent, delivered, read, or failed)."""

    name: ClassVar[str] = "message.status_changed"
    message_id: int
    conversation_id: int
    inbox_id: int
    previous_status: str
    status: str
    error_code: int | None = None
    # Who sent it (agent, bot, system, api); None on events recorded before the event carried it.
    sender_type: str | None = None

    @staticmethod
    def of_automation(event: MessageStatusChanged) -> bool:
        """Whether an automation (a broadcast, a greeting, a bot) may have sent it: a subscription's ``when`` for
        a feature that follows its own messages only, not every agent's reply."""
        return event.sender_type in (None, "bot")


# --- conversations -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConversationCreated(Event):
    name: ClassVar[str] = "conversation.created"
    conversation_id: int
    display_id: int
    inbox_id: int
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationStatusChanged(Event):
    """``change`` is one of ``resolved``, ``reopened``, ``pending``, ``snoozed``, ``snooze_ended``, ``muted``
    (resolved by muting it: ``conversations.services.actions.conversation_mute_set``)."""

    name: ClassVar[str] = "conversation.status_changed"
    conversation_id: int
    previous_status: str
    status: str
    change: str
    snoozed_until: datetime | None = None
    actor_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationAssigned(Event):
    """Assigned, reassigned or unassigned (``assignee_id`` None)."""

    name: ClassVar[str] = "conversation.assigned"
    conversation_id: int
    previous_assignee_id: int | None
    assignee_id: int | None
    actor_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationPriorityChanged(Event):
    name: ClassVar[str] = "conversation.priority_changed"
    conversation_id: int
    previous_priority: str
    priority: str
    actor_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationLabelsChanged(Event):
    """Labels added and removed (ids), and the conversation's labels afterwards."""

    name: ClassVar[str] = "conversation.labels_changed"
    conversation_id: int
    added_label_ids: tuple[int, ...]
    removed_label_ids: tuple[int, ...]
    label_ids: tuple[int, ...]
    actor_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationTeamChanged(Event):
    """Moved to a team's queue, to another team, or out of any team (``team_id`` None)."""

    name: ClassVar[str] = "conversation.team_changed"
    conversation_id: int
    inbox_id: int
    previous_team_id: int | None
    team_id: int | None
    actor_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None


# --- contacts ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ContactCreated(Event):
    name: ClassVar[str] = "contact.created"
    contact_id: int
    inbox_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ContactUpdated(Event):
    """``changed_fields`` names what changed (``name``, ``phone_e164``, ``custom_attributes``,
    ``labels``, ``profile_name``, ``identities``)."""

    name: ClassVar[str] = "contact.updated"
    contact_id: int
    changed_fields: tuple[str, ...]
    actor_user_id: int | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    actor_kind: str | None = None


# --- members -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MemberAvailabilityChanged(Event):
    """A member set their availability (``online``, ``busy``, ``offline``)."""

    name: ClassVar[str] = "member.availability_changed"
    user_id: int
    previous_availability: str
    availability: str


# --- the reply window --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReplyWindowClosing(Event):
    """The customer's reply window ends within the lead time (``EVENTS_REPLY_WINDOW_LEAD_SECONDS``)."""

    name: ClassVar[str] = "reply_window.closing"
    conversation_id: int
    inbox_id: int
    contact_id: int
    closes_at: datetime


@dataclass(frozen=True, kw_only=True)
class ReplyWindowClosed(Event):
    name: ClassVar[str] = "reply_window.closed"
    conversation_id: int
    inbox_id: int
    contact_id: int
    closed_at: datetime


# --- commerce ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PaymentConfirmed(Event):
    """A payment provider confirmed (or an admin recorded) that an order was paid in full: once per order
    paid, whatever the provider repeats. Amounts are integers of the currency's minor units."""

    name: ClassVar[str] = "payment.confirmed"
    order_id: int
    order_number: int
    conversation_id: int | None
    contact_id: int | None
    amount: int
    currency: str
    reference: str


# --- consent ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MarketingPreferenceReported(Event):
    """A channel reported a customer's own marketing choice (WhatsApp's ``user_preferences``: ``stop`` or
    ``resume``), once per report; the contact's ``marketing_consent`` already honours a stop."""

    name: ClassVar[str] = "marketing_preference.reported"
    contact_id: int
    channel_type: str
    value: str
    reported_at: datetime
    detail: str
    dedupe_key: str
