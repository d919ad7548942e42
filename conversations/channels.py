"""The registry through which the core hands messages to channel integrations.

``conversations`` never imports an integration: each integration (``whatsapp``, later others)
registers an implementation of ``ChannelBackend`` for its ``channel_type`` when its app loads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from conversations.models import Inbox, Message


class ChannelBackend(Protocol):
    channel_type: str

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        """How long after the customer's last message free-form replies are allowed (None: always)."""

    def enqueue_delivery(self, message: Message) -> None:
        """Schedule delivery of a queued outbound message (called after commit)."""

    def enqueue_read_receipt(self, message: Message) -> None:
        """Tell the customer the team has read ``message`` (inbound) and those before it (called after commit)."""

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        """Validate an outbound message for this channel; returns ``text``/``content`` to store.

        Raises ``ApplicationError`` (e.g. an unknown template or missing parameters).
        """

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        """Approved message templates usable in this inbox, with what each asks for (for the picker)."""


_registry: dict[str, ChannelBackend] = {}


def register(backend: ChannelBackend) -> None:
    _registry[backend.channel_type] = backend


def backend_for(inbox: Inbox) -> ChannelBackend:
    try:
        return _registry[inbox.channel_type]
    except KeyError:
        raise LookupError(f"No channel backend registered for {inbox.channel_type!r}.") from None
