"""A second channel, for tests only: it sends through the core's protocol and imports no channel app.

``channel_type`` is ``"test"``. It never talks to a network: each send is recorded in ``sent`` and
answered with the next of ``answers`` (``Accepted`` with an id of its own when none is scripted).
``registered()`` registers one for the block (a test's fixture) and removes it after.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from conversations import channels
from conversations.channels import Accepted, SendResult
from conversations.models import Inbox, Message

CHANNEL_TYPE = "test"


@dataclass
class Sent:
    message_id: int
    to: str
    text: str


@dataclass
class ChannelDouble:
    channel_type: str = CHANNEL_TYPE
    send_related: tuple[str, ...] = ()
    sent: list[Sent] = field(default_factory=list)
    answers: list[SendResult] = field(default_factory=list)
    read_receipts: list[int] = field(default_factory=list)
    sessions_closed: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        return None  # this channel lets the business write at any time

    def send_session(self) -> _Session:
        return _Session(self)

    def enqueue_read_receipt(self, message: Message) -> None:
        self.read_receipts.append(message.pk)

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        return {"text": spec.text, "content": spec.content}

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        return []


class _Session:
    def __init__(self, channel: ChannelDouble) -> None:
        self.channel = channel

    def send(self, message: Message, *, while_waiting: Callable[[], None]) -> SendResult:
        while_waiting()
        self.channel.sent.append(Sent(message.pk, message.conversation.contact_inbox.source_id, message.text))
        if self.channel.answers:
            return self.channel.answers.pop(0)
        return Accepted(external_id=f"test-{next(self.channel._ids)}")

    def close(self) -> None:
        self.channel.sessions_closed += 1


@contextmanager
def registered() -> Iterator[ChannelDouble]:
    channel = ChannelDouble()
    channels.register(channel)
    try:
        yield channel
    finally:
        channels.unregister(CHANNEL_TYPE)


class QuietChannel:
    """A channel with a 24-hour reply window that never sends (for tests that stop before delivery)."""

    send_related: tuple[str, ...] = ()

    def __init__(self, channel_type: str) -> None:
        self.channel_type = channel_type

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        return timedelta(hours=24)

    def send_session(self) -> Any:
        raise AssertionError("a quiet channel's messages are never sent")

    def enqueue_read_receipt(self, message: Message) -> None:
        """A quiet channel tells the customer nothing."""

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        return {}

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        return []


@contextmanager
def quiet_channel(channel_type: str) -> Iterator[QuietChannel]:
    """A ``QuietChannel`` registered for the block."""
    channel = QuietChannel(channel_type)
    channels.register(channel)
    try:
        yield channel
    finally:
        channels.unregister(channel_type)
