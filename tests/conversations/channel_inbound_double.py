"""A second channel, for tests only, that receives through the core alone (it never imports ``whatsapp``).

Its customers are known by a handle (``@ana``, or any text the channel hands over); it stamps each
message itself and gives a reply window of its own, so nothing it stores can come from WhatsApp's rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from conversations import channels
from conversations.models import Inbox, Message
from conversations.services.inbound import InboundSpec, message_receive

CHANNEL_TYPE = "test"
REPLY_WINDOW = timedelta(days=7)


class InboundTestChannel:
    """The channel backend the core asks for the reply window; it sends nothing."""

    channel_type = CHANNEL_TYPE

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        return REPLY_WINDOW

    def enqueue_delivery(self, message: Message) -> None:
        raise AssertionError("The inbound test channel sends nothing.")

    def enqueue_read_receipt(self, message: Message) -> None:
        """This channel does not tell the customer what was read."""

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        raise AssertionError("The inbound test channel sends nothing.")

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        return []

    def receive(
        self, inbox: Inbox, *, handle: str, message_id: str, text: str, at: datetime, name: str = ""
    ) -> tuple[Message, bool]:
        """What the channel's webhook would do: hand one customer message to the core's inbound service."""
        assert inbox.channel_type == CHANNEL_TYPE
        spec = InboundSpec(
            source_id=handle,
            external_id=f"test:{message_id}",
            occurred_at=at,
            type=Message.Type.TEXT,
            text=text,
            profile_name=name,
        )
        return message_receive(inbox=inbox, spec=spec)


@contextmanager
def inbound_test_channel() -> Iterator[InboundTestChannel]:
    """The channel registered for the block (another test channel of the same type comes back after it)."""
    backend = InboundTestChannel()
    previous = channels._registry.get(CHANNEL_TYPE)
    channels.register(backend)
    try:
        yield backend
    finally:
        if previous is None:
            channels._registry.pop(CHANNEL_TYPE, None)
        else:
            channels._registry[CHANNEL_TYPE] = previous
