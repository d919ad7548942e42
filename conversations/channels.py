"""The registry through which the core hands messages to channel integrations.

``conversations`` never imports an integration: each integration (``whatsapp``, later others)
registers an implementation of ``ChannelBackend`` for its ``channel_type`` when its app loads.

Sending is split in two. The core's send queue (``conversations/services/delivery.py``) selects,
claims, retries, sweeps and records; a channel only makes one send at a time through a
``SendSession`` and answers with a neutral ``SendResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from helpdesk.exceptions import ApplicationError

if TYPE_CHECKING:
    from conversations.models import Inbox, Message


@dataclass(frozen=True)
class Accepted:
    """The channel took the message; ``external_id`` is its id for it (statuses will name it)."""

    external_id: str


@dataclass(frozen=True)
class Paced:
    """Not sent: the channel's limits ask to try again in ``after`` seconds (no attempt is spent on it)."""

    after: float
    # ``unavailable``: what paces the sends (the channel's counters) cannot be reached; nothing was sent.
    reason: Literal["pair", "throughput", "unavailable"]
    note: str = ""


@dataclass(frozen=True)
class TransientFailure:
    """Not sent, worth trying again (network, the channel's 5xx or rate errors): at least ``retry_after`` s."""

    code: int | None
    title: str
    details: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class PermanentFailure:
    """Not sent and never will be as it is: recorded once with the channel's code and title."""

    code: int | None
    title: str
    details: str = ""


@dataclass(frozen=True)
class Ambiguous:
    """The channel may have taken it (no answer came): wait ``wait`` seconds for a status naming the
    message before it is tried again."""

    wait: float
    note: str


SendResult = Accepted | Paced | TransientFailure | PermanentFailure | Ambiguous


class SendSession(Protocol):
    """One sending thread's connection to a channel, from one send to the next (pacing state)."""

    def send(self, message: Message, *, while_waiting: Callable[[], None]) -> SendResult:
        """Send ``message`` (claimed: it is the core's to send). ``while_waiting`` runs while the send
        waits for its pace (the core records the previous send there). Raises only on a bug."""

    def close(self) -> None:
        """The thread sends no more."""


class ChannelBackend(Protocol):
    channel_type: str

    # Relations of Message a send reads (``select_related`` paths), loaded with the claimed messages.
    send_related: tuple[str, ...]

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        """How long after the customer's last message free-form replies are allowed (None: always)."""

    def send_session(self) -> SendSession:
        """A session that sends this channel's messages one after another."""

    def enqueue_read_receipt(self, message: Message) -> None:
        """Tell the customer the team has read ``message`` (inbound) and those before it (called after commit)."""

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        """Validate an outbound message for this channel; returns ``text``/``content`` to store.

        Raises ``ApplicationError`` (e.g. an unknown template or missing parameters).
        """

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        """Approved message templates usable in this inbox, with what each asks for (for the picker)."""


def prepare_outbound_many(
    backend: ChannelBackend, items: Sequence[tuple[Any, Any]]
) -> list[dict[str, Any] | ApplicationError]:
    """``prepare_outbound`` for many ``(conversation, spec)`` pairs of one channel (a broadcast's batch): each
    result is what to store or the error that refuses that one. A backend may read what the pairs share
    once, with its optional ``prepare_outbound_many(items=...)``; else each pair is prepared on its own."""
    many = getattr(backend, "prepare_outbound_many", None)
    if many is not None:
        return list(many(items=items))
    results: list[dict[str, Any] | ApplicationError] = []
    for conversation, spec in items:
        try:
            results.append(backend.prepare_outbound(conversation=conversation, spec=spec))
        except ApplicationError as exc:
            results.append(exc)
    return results


# --- reports not yet applied ------------------------------------------------------------------------------
#
# A channel tells the outcome of a send in reports of its own (WhatsApp's status webhooks), which a backend may
# store before it applies them. Before the send queue's sweeper decides that a send whose worker died never
# happened, a backend with the optional ``reports_settle(inbox_ids=...)`` applies what it already received for
# those inboxes; the inboxes it returns still have reports waiting (another job holds them, or there were too
# many for one sweep), and their sends wait for the next sweep rather than go out twice.


def reports_settle(channel_type: str, inbox_ids: Collection[int]) -> set[int]:
    """Apply the reports the channel stored and has not applied yet for ``inbox_ids``; returns the inboxes
    whose reports still wait. A backend without the capability stores none: nothing waits."""
    settle = getattr(_registry.get(channel_type), "reports_settle", None)
    if settle is None or not inbox_ids:
        return set()
    return set(settle(inbox_ids=inbox_ids))


# --- catalogs --------------------------------------------------------------------------------------------
#
# Some channels show the workspace's products in the customer's app (WhatsApp's catalog). A backend that can
# keep such a catalog in step with the workspace's products has the optional capability below, found with
# ``syncs_catalog``; features (payments) call it with neutral items and never learn the channel's protocol.


@dataclass(frozen=True)
class CatalogItem:
    """One product as the channel's catalog should show it. ``price`` in the currency's minor units."""

    retailer_id: str
    name: str
    price: int
    currency: str
    description: str = ""
    image_url: str = ""
    availability: Literal["in stock", "out of stock"] = "in stock"
    visible: bool = True
    category: str = ""


CatalogSyncStatus = Literal["synced", "pending", "skipped", "failed"]


@dataclass(frozen=True)
class CatalogSyncResult:
    """What a catalog sync of one inbox came to.

    ``synced``: the channel applied everything it took (``errors`` names the items it refused, by SKU, in
    the channel's words); ``pending``: taken, still being applied: ask again with ``catalog_sync_check`` and
    ``handles``; ``skipped``: the inbox has no catalog (``reason``); ``failed``: nothing could be done
    (``reason``, ``detail`` in the channel's words, ``transient`` when trying later may work).
    """

    status: CatalogSyncStatus
    catalog_id: str = ""
    reason: str = ""
    detail: str = ""
    transient: bool = False
    errors: Mapping[str, str] = field(default_factory=dict)
    warnings: Mapping[str, str] = field(default_factory=dict)
    handles: tuple[str, ...] = ()
    sent: int = 0
    deleted: int = 0


class CatalogSyncBackend(Protocol):
    """The optional catalog capability of a ``ChannelBackend``."""

    def catalog_of(self, inbox: Inbox) -> str | None:
        """The id of the channel's catalog this inbox shows (inboxes sharing one sync it once), or None."""

    def catalog_sync(self, inbox: Inbox, items: Sequence[CatalogItem], deleted: Sequence[str]) -> CatalogSyncResult:
        """Make the inbox's catalog hold ``items`` (created or updated by SKU) and drop the SKUs ``deleted``."""

    def catalog_sync_check(self, inbox: Inbox, handles: Sequence[str]) -> CatalogSyncResult:
        """How the work of a ``pending`` result (its ``handles``) ended, or ``pending`` again."""


def syncs_catalog(channel_type: str) -> bool:
    """Whether the channel's backend keeps a catalog of products in step (``CatalogSyncBackend``)."""
    backend = _registry.get(channel_type)
    return backend is not None and callable(getattr(backend, "catalog_sync", None))


def catalog_backend(channel_type: str) -> CatalogSyncBackend:
    backend = backend_named(channel_type)
    if not syncs_catalog(channel_type):
        raise LookupError(f"The {channel_type!r} channel keeps no catalog.")
    return backend  # type: ignore[return-value]


# --- the business's phone number ---------------------------------------------------------------------
#
# A channel whose customers write to a phone number (WhatsApp) can say which, so that features can write a
# link that opens a chat with it (wa.me links and their QR codes: ``flows.links``) without knowing the channel.


class PhoneNumberBackend(Protocol):
    """The optional phone-number capability of a ``ChannelBackend``."""

    def phone_number_of(self, inbox: Inbox) -> str | None:
        """The inbox's business phone number in E.164 (``+5511900000001``), or None when it has none."""


def phone_number_of(inbox: Inbox) -> str | None:
    """The business phone number customers write to in ``inbox``, in E.164; None when its channel has none
    (or says none)."""
    backend = _registry.get(inbox.channel_type)
    lookup = getattr(backend, "phone_number_of", None)
    return lookup(inbox) if callable(lookup) else None


# --- the account's messaging limit and the number's quality ----------------------------------------------
#
# A channel that caps how many customers the business may write to first in a rolling day (WhatsApp's
# messaging limit) and rates the number's quality says so through the optional capability below, so that
# features which write first to many customers (broadcasts) pace by it without learning the channel.

QUALITY_GREEN = "GREEN"
QUALITY_YELLOW = "YELLOW"
QUALITY_RED = "RED"
QUALITY_UNKNOWN = "UNKNOWN"


class MessagingLimitBackend(Protocol):
    """The optional messaging-limit capability of a ``ChannelBackend``."""

    def messaging_limit_of(self, inbox: Inbox) -> int | None:
        """How many unique customers the business may message outside their reply window in any rolling
        24 hours through this inbox's account; None when unlimited."""

    def quality_of(self, inbox: Inbox) -> str:
        """The number's quality: ``GREEN``, ``YELLOW``, ``RED`` or ``UNKNOWN``."""


def messaging_limit_of(inbox: Inbox) -> int | None:
    """The inbox's messaging limit (unique customers written to first per rolling 24 hours); None when the
    channel has none (or it is unlimited)."""
    backend = _registry.get(inbox.channel_type)
    lookup = getattr(backend, "messaging_limit_of", None)
    return lookup(inbox) if callable(lookup) else None


def quality_of(inbox: Inbox) -> str:
    """The inbox's number quality (``QUALITY_*``); ``UNKNOWN`` when the channel rates none."""
    backend = _registry.get(inbox.channel_type)
    lookup = getattr(backend, "quality_of", None)
    return lookup(inbox) if callable(lookup) else QUALITY_UNKNOWN


# Kinds of message only some channels can send: a backend lists those it sends in an ``optional_types``
# attribute (a set of ``Message.Type`` values); a backend without it sends none of them.
OPTIONAL_TYPES = frozenset({"payment_request", "order_status", "product", "product_list", "catalog"})

_registry: dict[str, ChannelBackend] = {}


def register(backend: ChannelBackend) -> None:
    _registry[backend.channel_type] = backend


def unregister(channel_type: str) -> None:
    _registry.pop(channel_type, None)


def channel_types() -> list[str]:
    return sorted(_registry)


def backends() -> list[ChannelBackend]:
    return [_registry[name] for name in sorted(_registry)]


def display_name(channel_type: str) -> str:
    """The channel's name as people read it: its backend's ``display_name`` ("WhatsApp"), else its type."""
    backend = _registry.get(channel_type)
    return getattr(backend, "display_name", "") or channel_type


def sends(channel_type: str, message_type: str) -> bool:
    """Whether the channel can send messages of ``message_type`` (the kinds of ``OPTIONAL_TYPES`` only
    when its backend lists them; any other kind its ``prepare_outbound`` accepts or refuses itself)."""
    backend = backend_named(channel_type)
    return message_type not in OPTIONAL_TYPES or message_type in getattr(backend, "optional_types", frozenset())


def backend_for(inbox: Inbox) -> ChannelBackend:
    return backend_named(inbox.channel_type)


def backend_named(channel_type: str) -> ChannelBackend:
    try:
        return _registry[channel_type]
    except KeyError:
        raise LookupError(f"No channel backend registered for {channel_type!r}.") from None
