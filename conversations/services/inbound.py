"""Customer → business: contacts, conversations and messages from any channel, exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.models import Case, Count, DateTimeField, DurationField, F, Max, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from conversations import channels
from conversations.answers import answer_keepers_registered, answer_kept
from conversations.content import content_with_problems
from conversations.events import (
    ContactCreated,
    ContactUpdated,
    ConversationCreated,
    ConversationStatusChanged,
    Event,
    MessageReceived,
)
from conversations.events.outbox import events_record
from conversations.extensions import bot_held
from conversations.models import (
    Attachment,
    Contact,
    ContactIdentity,
    ContactInbox,
    Conversation,
    ConversationCounter,
    Inbox,
    Message,
    Reaction,
)
from conversations.services.events import publish_conversation_updated, publish_message_event

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class AttachmentSpec:
    kind: str
    external_media_id: str
    mime_type: str = ""
    sha256: str = ""
    filename: str = ""


@dataclass(frozen=True)
class InboundSpec:
    """A channel-neutral description of one customer message."""

    source_id: str
    external_id: str
    occurred_at: datetime
    type: str
    text: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    profile_name: str = ""
    phone_e164: str = ""
    reply_to_external_id: str = ""
    forwarded: bool = False
    frequently_forwarded: bool = False
    referral: dict[str, Any] | None = None
    attachments: tuple[AttachmentSpec, ...] = ()
    errors: tuple[dict[str, Any], ...] = ()
    # ``content`` is neutral (``conversations.content``); ``raw`` the channel's own payload of the message.
    raw: dict[str, Any] | None = None


def without_nul(value: Any) -> Any:
    """Customer text without NUL characters, which PostgreSQL cannot store in text or JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def _with_retries(write: Callable[[], T]) -> T:
    """Run ``write`` in a savepoint; when a concurrent writer stored the same customer, conversation
    or message first (a unique constraint fails), roll it back and run it again: it finds their rows."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return write()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def contact_inbox_get_or_create(
    *, inbox: Inbox, source_id: str, profile_name: str = "", phone_e164: str = ""
) -> ContactInbox:
    """The customer as this inbox knows them; creates the contact on first contact (race-safe)."""
    people = {source_id: (without_nul(profile_name), phone_e164)}

    def write() -> ContactInbox:
        events: list[Event] = []
        contact_inbox = _contact_inboxes_get_or_create(inbox, people, events)[source_id]
        events_record(events)
        return contact_inbox

    return _with_retries(write)


def _next_display_ids(tenant_id: int, count: int) -> list[int]:
    """``count`` new conversation numbers of the tenant, ascending.

    On PostgreSQL a sequence per tenant hands them out without holding a lock until commit (a
    rolled-back opening leaves a gap, as numbers must never be reused); elsewhere a counter row.
    """
    if count <= 0:
        return []
    if connection.vendor == "postgresql":
        sequence = f"conversation_display_id_t{int(tenant_id)}"
        query = "SELECT nextval(%s) FROM generate_series(1, %s)"
        with connection.cursor() as cursor:
            try:
                with transaction.atomic():
                    cursor.execute(query, [sequence, count])
            except ProgrammingError:
                with transaction.atomic():
                    start = 1 + (
                        Conversation.objects.filter(tenant_id=tenant_id).aggregate(m=Max("display_id"))["m"] or 0
                    )
                    try:
                        with transaction.atomic():
                            cursor.execute(f'CREATE SEQUENCE IF NOT EXISTS "{sequence}" START {start}')
                    except IntegrityError:
                        pass  # created by a concurrent opener
                cursor.execute(query, [sequence, count])
            return sorted(int(row[0]) for row in cursor.fetchall())
    counter, _created = ConversationCounter.objects.get_or_create(tenant_id=tenant_id)
    ConversationCounter.objects.filter(pk=counter.pk).update(last_display_id=F("last_display_id") + count)
    last = ConversationCounter.objects.values_list("last_display_id", flat=True).get(pk=counter.pk)
    return list(range(last - count + 1, last + 1))


def _next_display_id(tenant_id: int) -> int:
    """The tenant's next conversation number."""
    return _next_display_ids(tenant_id, 1)[0]


def conversation_get_or_open(*, contact_inbox: ContactInbox) -> tuple[Conversation, bool]:
    """The unresolved conversation of this customer in this inbox, or a new one after a resolve."""

    def write() -> tuple[Conversation, bool]:
        conversation, opened = _conversations_get_or_open(
            contact_inbox.tenant_id, contact_inbox.inbox_id, [contact_inbox]
        )[0]
        if opened:
            events_record([_created_event(conversation)])
        return conversation, opened

    return _with_retries(write)


def _first_words(spec: InboundSpec) -> tuple[str, str]:
    """(text, chosen reply id) of a customer message, as a bot hold reads it."""
    content = spec.content if isinstance(spec.content, Mapping) else {}
    chosen = content.get("id") if content.get("kind") == "reply" else ""
    return spec.text or "", chosen if isinstance(chosen, str) else ""


def _created_event(conversation: Conversation) -> ConversationCreated:
    return ConversationCreated(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.pk,
        display_id=conversation.display_id,
        inbox_id=conversation.inbox_id,
        contact_id=conversation.contact_id,
    )


def message_receive(*, inbox: Inbox, spec: InboundSpec) -> tuple[Message, bool]:
    """Store one customer message. A message already stored (same external id) is a no-op."""
    return messages_receive(inbox=inbox, specs=[spec])[0]


@transaction.atomic(savepoint=False)
def messages_receive(*, inbox: Inbox, specs: Sequence[InboundSpec]) -> list[tuple[Message, bool]]:
    """Store customer messages of one inbox, in order, with a fixed number of queries for any count.

    The outcome is that of storing them one by one: one (message, created) per spec; a message
    already stored, or earlier in ``specs``, under the same external id is not stored again.
    """
    return _with_retries(lambda: _messages_store(inbox, specs))


def _messages_store(inbox: Inbox, specs: Sequence[InboundSpec]) -> list[tuple[Message, bool]]:
    stored = {
        m.external_id: m
        for m in Message.objects.select_related("conversation").filter(
            inbox=inbox, external_id__in={spec.external_id for spec in specs}
        )
    }
    # The first of each external id not stored yet (Meta may repeat a message inside one batch).
    new_specs: list[InboundSpec] = []
    seen = set(stored)
    for spec in specs:
        if spec.external_id not in seen:
            seen.add(spec.external_id)
            new_specs.append(spec)
    if not new_specs:
        return [(stored[spec.external_id], False) for spec in specs]

    # The customers, with the name of their latest message (a profile name follows the channel's latest).
    people: dict[str, tuple[str, str]] = {}
    for spec in new_specs:
        name, phone = people.get(spec.source_id, ("", ""))
        people[spec.source_id] = (without_nul(spec.profile_name) or name, phone or spec.phone_e164)
    # The domain events of the batch, recorded together at the end (one insert).
    events: list[Event] = []
    contact_inboxes = _contact_inboxes_get_or_create(inbox, people, events)
    # Each customer's first message of the batch: a bot may take the conversation it opens (extensions.bot_held).
    firsts: dict[int, tuple[str, str]] = {}
    for spec in new_specs:
        firsts.setdefault(contact_inboxes[spec.source_id].pk, _first_words(spec))
    conversations = _conversations_get_or_open(
        inbox.tenant_id,
        inbox.pk,
        [contact_inboxes[source_id] for source_id in people],
        awaiting=answer_keepers_registered(),
        muted=True,
        firsts=firsts,
    )
    by_contact_inbox = {conversation.contact_inbox_id: conversation for conversation, _opened in conversations}
    # A customer whose latest conversation is resolved and waiting for answers: each answer a feature claims
    # is filed there; anything else they wrote opens their new conversation, as always (``conversations.answers``).
    # A muted one takes everything they write.
    filed: dict[int, Conversation] = {}
    not_answers: dict[int, ContactInbox] = {}
    for index, spec in enumerate(new_specs):
        contact_inbox = contact_inboxes[spec.source_id]
        current = by_contact_inbox[contact_inbox.pk]
        if current.status != Conversation.Status.RESOLVED or current.muted_at is not None or answer_kept(current, spec):
            filed[index] = current
        else:
            not_answers[contact_inbox.pk] = contact_inbox
    if not_answers:
        conversations += _conversations_get_or_open(
            inbox.tenant_id, inbox.pk, list(not_answers.values()), firsts=firsts
        )
        new_ones = {c.contact_inbox_id: c for c, _opened in conversations if c.status != Conversation.Status.RESOLVED}
        for index, spec in enumerate(new_specs):
            if index not in filed:
                filed[index] = new_ones[contact_inboxes[spec.source_id].pk]
    events.extend(_created_event(c) for c, opened in conversations if opened)

    reply_ids = {spec.reply_to_external_id for spec in new_specs if spec.reply_to_external_id}
    replied = (
        dict(Message.objects.filter(inbox=inbox, external_id__in=reply_ids).values_list("external_id", "pk"))
        if reply_ids
        else {}
    )
    messages = []
    for index, spec in enumerate(new_specs):
        content = without_nul(content_with_problems(dict(spec.content), spec.errors))
        messages.append(
            Message(
                tenant_id=inbox.tenant_id,
                conversation=filed[index],
                inbox=inbox,
                direction=Message.Direction.INBOUND,
                sender_type=Message.SenderType.CONTACT,
                type=spec.type,
                text=without_nul(spec.text),
                content=content,
                raw=without_nul(spec.raw),
                external_id=spec.external_id,
                reply_to_id=replied.get(spec.reply_to_external_id),
                reply_to_external_id=spec.reply_to_external_id,
                forwarded=spec.forwarded,
                frequently_forwarded=spec.frequently_forwarded,
                referral=without_nul(spec.referral),
                status=Message.Status.RECEIVED,
                external_timestamp=spec.occurred_at,
                occurred_at=spec.occurred_at,
            )
        )
    Message.objects.bulk_create(messages)
    created = {m.external_id: m for m in messages}
    # A reply to a message that arrived earlier in the same batch.
    late_replies = []
    for message, spec in zip(messages, new_specs, strict=True):
        if spec.reply_to_external_id and message.reply_to_id is None and spec.reply_to_external_id in created:
            message.reply_to_id = created[spec.reply_to_external_id].pk
            late_replies.append(message)
    if late_replies:
        Message.objects.bulk_update(late_replies, ["reply_to"])
    Attachment.objects.bulk_create(
        Attachment(
            tenant_id=inbox.tenant_id,
            message=message,
            kind=att.kind,
            external_media_id=att.external_media_id,
            mime_type=att.mime_type,
            sha256=att.sha256,
            filename=att.filename,
        )
        for message, spec in zip(messages, new_specs, strict=True)
        for att in spec.attachments
    )
    reopened = _conversations_touch(
        messages, new_specs, opened={c.pk for c, opened in conversations if opened}, inbox=inbox
    )
    events.extend(
        ConversationStatusChanged(
            tenant_id=inbox.tenant_id,
            conversation_id=conversation_id,
            previous_status=Conversation.Status.SNOOZED,
            status=Conversation.Status.OPEN,
            change="snooze_ended",
        )
        for conversation_id in sorted(reopened)
    )
    events.extend(
        MessageReceived(
            tenant_id=inbox.tenant_id,
            message_id=m.pk,
            conversation_id=m.conversation_id,
            inbox_id=inbox.pk,
            contact_id=m.conversation.contact_id,
            message_type=m.type,
        )
        for m in messages
    )
    events_record(events)
    results = []
    for spec in specs:
        new = created.get(spec.external_id)
        if new is not None and spec.external_id not in stored:
            stored[spec.external_id] = new
            results.append((new, True))
        else:
            results.append((stored[spec.external_id], False))
    return results


def _contact_inboxes_get_or_create(
    inbox: Inbox, people: dict[str, tuple[str, str]], events: list[Event]
) -> dict[str, ContactInbox]:
    """The customers (address → profile name, phone) as this inbox knows them, created on first contact;
    the contacts created or renamed are added to ``events``."""
    # With the last reply they had here (a conversation opened for a late message waits from it at the earliest).
    replied = (
        Conversation.objects.filter(contact_inbox=OuterRef("pk"))
        .values("contact_inbox")
        .annotate(last=Max("last_reply_at"))
        .values("last")
    )
    known: dict[str, ContactInbox] = {
        ci.source_id: ci
        for ci in ContactInbox.objects.select_related("contact")
        .filter(inbox=inbox, source_id__in=list(people))
        .annotate(last_reply_at=Subquery(replied))
    }
    missing = sorted(source_id for source_id in people if source_id not in known)
    if missing:
        contacts = _contacts_identify(
            inbox.tenant_id, inbox.channel_type, {a: people[a] for a in missing}, events, inbox_id=inbox.pk
        )
        new_links = [
            ContactInbox(tenant_id=inbox.tenant_id, contact=contacts[source_id], inbox=inbox, source_id=source_id)
            for source_id in missing
        ]
        ContactInbox.objects.bulk_create(new_links)
        known.update({ci.source_id: ci for ci in new_links})
    now = timezone.now()
    renamed = []
    for source_id, ci in known.items():
        name = people[source_id][0]
        if name and ci.contact.profile_name != name:
            ci.contact.profile_name = name
            ci.contact.updated_at = now
            renamed.append(ci.contact)
    if renamed:
        renamed.sort(key=lambda c: c.pk)
        Contact.objects.bulk_update(renamed, ["profile_name", "updated_at"])
        events.extend(
            ContactUpdated(tenant_id=inbox.tenant_id, contact_id=c.pk, changed_fields=("profile_name",))
            for c in renamed
        )
    return known


def _contacts_identify(
    tenant_id: int,
    channel_type: str,
    people: dict[str, tuple[str, str]],
    events: list[Event],
    *,
    inbox_id: int | None = None,
) -> dict[str, Contact]:
    """The tenant's contacts with these addresses (→ profile name, phone) on this channel type, created with
    their identity where there is none (a concurrent creator makes the identity insert fail: retry)."""
    contacts = {
        identity.address: identity.contact
        for identity in ContactIdentity.objects.select_related("contact").filter(
            tenant_id=tenant_id, channel_type=channel_type, address__in=list(people)
        )
    }
    addresses = sorted(address for address in people if address not in contacts)
    if not addresses:
        return contacts
    new_contacts = [
        Contact(tenant_id=tenant_id, profile_name=people[address][0], phone_e164=people[address][1])
        for address in addresses
    ]
    Contact.objects.bulk_create(new_contacts)
    ContactIdentity.objects.bulk_create(
        ContactIdentity(tenant_id=tenant_id, contact=contact, channel_type=channel_type, address=address)
        for address, contact in zip(addresses, new_contacts, strict=True)
    )
    events.extend(ContactCreated(tenant_id=tenant_id, contact_id=c.pk, inbox_id=inbox_id) for c in new_contacts)
    contacts.update(zip(addresses, new_contacts, strict=True))
    return contacts


def contact_identify(
    *, tenant_id: int, channel_type: str, address: str, profile_name: str = "", phone_e164: str = ""
) -> tuple[Contact, bool]:
    """The tenant's contact with ``address`` on ``channel_type``, created on first sight (race-safe);
    True when created. A new profile name or phone of a known contact is left to the inbound path."""
    if not channel_type or not address:
        raise ValueError("A contact is identified by a channel type and an address.")

    def write() -> tuple[Contact, bool]:
        events: list[Event] = []
        contact = _contacts_identify(
            tenant_id, channel_type, {address: (without_nul(profile_name), phone_e164)}, events
        )[address]
        events_record(events)
        return contact, bool(events)

    return _with_retries(write)


def _conversations_get_or_open(
    tenant_id: int,
    inbox_id: int,
    contact_inboxes: list[ContactInbox],
    *,
    awaiting: bool = False,
    muted: bool = False,
    firsts: Mapping[int, tuple[str, str]] | None = None,
) -> list[tuple[Conversation, bool]]:
    """Each customer's unresolved conversation in this inbox, opened where there is none (flag True). With
    ``awaiting``, a customer without one gets their latest resolved conversation waiting for answers, if any;
    with ``muted``, their latest resolved one that is muted."""
    now = timezone.now()
    current_q = ~Q(status=Conversation.Status.RESOLVED)
    if awaiting:
        current_q |= Q(status=Conversation.Status.RESOLVED, answers_until__gt=now)
    if muted:
        current_q |= Q(status=Conversation.Status.RESOLVED, muted_at__isnull=False)
    current: dict[int, Conversation] = {}
    for c in Conversation.objects.filter(
        current_q, tenant_id=tenant_id, contact_inbox__in=[ci.pk for ci in contact_inboxes]
    ):
        known = current.get(c.contact_inbox_id)
        # The unresolved one first, else the latest resolved one.
        if known is None or (
            known.status == Conversation.Status.RESOLVED and (c.status != known.status or c.pk > known.pk)
        ):
            current[c.contact_inbox_id] = c
    missing = sorted((ci for ci in contact_inboxes if ci.pk not in current), key=lambda ci: ci.pk)
    held = (
        bot_held(tenant_id, inbox_id, {ci.pk: firsts[ci.pk] for ci in missing if ci.pk in firsts}) if firsts else set()
    )
    opened = [
        Conversation(
            tenant_id=tenant_id,
            status=Conversation.Status.PENDING if ci.pk in held else Conversation.Status.OPEN,
            display_id=display_id,
            inbox_id=inbox_id,
            contact_id=ci.contact_id,
            contact_inbox=ci,
            last_activity_at=now,
            last_reply_at=getattr(ci, "last_reply_at", None),
        )
        for ci, display_id in zip(missing, _next_display_ids(tenant_id, len(missing)), strict=True)
    ]
    Conversation.objects.bulk_create(opened)
    return [(c, False) for c in current.values()] + [(c, True) for c in opened]


def _reply_window(inbox: Inbox) -> timedelta | None:
    try:
        return channels.backend_for(inbox).reply_window(inbox)
    except LookupError:
        return None


def _conversations_touch(
    messages: list[Message], specs: list[InboundSpec], *, opened: set[int], inbox: Inbox
) -> set[int]:
    """Activity, unread count, waiting time, last message and reply window of the conversations written
    to, in one statement; reopens snoozed ones; then the real-time events, in the messages' order.
    Returns the ids of the conversations whose snooze the messages ended."""
    groups: dict[int, list[tuple[Message, InboundSpec]]] = {}
    for message, spec in zip(messages, specs, strict=True):
        groups.setdefault(message.conversation_id, []).append((message, spec))
    now = timezone.now()
    # What each conversation gains is read from the batch's own messages by correlated subqueries:
    # one statement whose size does not grow with the number of conversations.
    batch = Message.objects.filter(conversation=OuterRef("pk"), pk__in=[m.pk for m in messages]).values("conversation")

    def gained(aggregate: Any) -> Subquery:
        return Subquery(batch.annotate(value=aggregate).values("value"))

    count = gained(Count("pk"))
    # The batch's latest message in the history's order (the customer's time, then arrival).
    latest = Message.objects.filter(conversation=OuterRef("pk"), pk__in=[m.pk for m in messages]).order_by(
        "-occurred_at", "-pk"
    )
    latest_pk, latest_at = Subquery(latest.values("pk")[:1]), Subquery(latest.values("occurred_at")[:1])
    first, last = gained(Min("external_timestamp")), gained(Max("external_timestamp"))
    # A message stamped before the last reply (delivered late) waits from the reply, and none from the future.
    waits_from = Least(Greatest(first, Coalesce("last_reply_at", first)), Value(now))
    snoozed = Q(status=Conversation.Status.SNOOZED)
    # A resolved conversation gets only answers (``conversations.answers``): nobody waits, nothing is unread.
    resolved = Q(status=Conversation.Status.RESOLVED)
    inbound_at = Greatest(Coalesce("last_inbound_at", last), last)
    window = _reply_window(inbox)
    closes_at = inbound_at + Value(window, output_field=DurationField()) if window is not None else None
    # A window the message moved is a new one: its events are recorded again for its new end.
    window_fields: dict[str, Any] = (
        {
            "reply_window_closes_at": closes_at,
            **{
                name: Case(When(Q(reply_window_closes_at=closes_at), then=F(name)), default=None)
                for name in ("reply_window_closing_event_for", "reply_window_closed_event_for")
            },
        }
        if closes_at is not None
        else {}
    )
    # Locked in id order first: a bulk UPDATE locks rows in the order it scans them, and the automations'
    # batches lock the conversations they act on in id order (``events.by_conversation``): two orders of
    # the same rows would deadlock.
    list(
        Conversation.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(groups))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    Conversation.objects.filter(pk__in=sorted(groups)).update(
        **window_fields,
        last_activity_at=now,
        # The preview: the latest message in history order, not the last to arrive.
        **Conversation.preview_update(at=latest_at, pk=latest_pk),
        unread_count=Case(When(resolved, then=F("unread_count")), default=F("unread_count") + count),
        # The oldest unanswered message, also when webhooks arrive out of order or at the same time.
        waiting_since=Case(
            When(resolved, then=F("waiting_since")), default=Least(Coalesce("waiting_since", waits_from), waits_from)
        ),
        # The reply window counts from the customer's message as the channel stamped it.
        last_inbound_at=inbound_at,
        status=Case(When(snoozed, then=Value(Conversation.Status.OPEN)), default=F("status")),
        snoozed_until=Case(When(snoozed, then=Value(None, output_field=DateTimeField())), default=F("snoozed_until")),
    )
    reopened = set()
    for conversation_id, items in groups.items():
        # The copy the events describe.
        conversation = items[0][0].conversation
        times = [spec.occurred_at for _m, spec in items]
        conversation.last_activity_at = now
        newest = max((m for m, _spec in items), key=lambda m: (m.occurred_at, m.pk))
        if conversation.last_message_at is None or (newest.occurred_at, newest.pk) > (
            conversation.last_message_at,
            conversation.last_message_id or 0,
        ):
            conversation.last_message_id, conversation.last_message_at = newest.pk, newest.occurred_at
        if conversation.status != Conversation.Status.RESOLVED:
            conversation.unread_count += len(items)
            waits = min(max(min(times), conversation.last_reply_at or min(times)), now)
            conversation.waiting_since = min(t for t in (conversation.waiting_since, waits) if t is not None)
        conversation.last_inbound_at = max(t for t in (conversation.last_inbound_at, *times) if t is not None)
        if window is not None:
            conversation.reply_window_closes_at = conversation.last_inbound_at + window
        if conversation.status == Conversation.Status.SNOOZED:
            conversation.status, conversation.snoozed_until = Conversation.Status.OPEN, None
            reopened.add(conversation_id)
    for message in messages:
        publish_message_event("message.created", message)
    # A new message already tells the inbox its conversation's row changed (activity, unread, preview);
    # a separate update only when the conversation itself was opened or reopened (it counts in the tabs).
    for conversation_id in sorted(opened | reopened):
        conversation = groups[conversation_id][0][0].conversation
        publish_conversation_updated(conversation, new=conversation_id in opened)
    return reopened


@transaction.atomic(savepoint=False)
def reaction_receive(
    *, inbox: Inbox, source_id: str, profile_name: str, target_external_id: str, emoji: str, external_id: str
) -> Message | None:
    """Set or clear (empty emoji) the customer's reaction to a stored message.

    Returns the message reacted to, or None when it is not stored here.
    """
    target = Message.objects.select_related("conversation").filter(inbox=inbox, external_id=target_external_id).first()
    if target is None:
        return None
    contact_inbox = contact_inbox_get_or_create(inbox=inbox, source_id=source_id, profile_name=profile_name)
    if not emoji:
        Reaction.objects.filter(message=target, contact_id=contact_inbox.contact_id).delete()
        publish_message_event("message.updated", target)
        return target
    Reaction.objects.update_or_create(
        message=target,
        contact_id=contact_inbox.contact_id,
        defaults={"tenant_id": inbox.tenant_id, "emoji": emoji, "external_id": external_id},
    )
    publish_message_event("message.updated", target)
    return target


@transaction.atomic(savepoint=False)
def contact_number_change(*, inbox: Inbox, old_source_id: str, new_source_id: str) -> bool:
    """The customer moved to a new number: their contact, history and open conversation follow it.

    Returns False, changing nothing, when the old number is unknown here or the new one already
    belongs to another contact (they wrote from it before this notice arrived; the two stay apart).
    """
    if not new_source_id or new_source_id == old_source_id:
        return False
    contact_inbox = (
        ContactInbox.objects.select_for_update(no_key=True)
        .select_related("contact")
        .filter(inbox=inbox, source_id=old_source_id)
        .first()
    )
    if contact_inbox is None:
        return False
    taken = ContactInbox.objects.filter(inbox=inbox, source_id=new_source_id).exists() or (
        ContactIdentity.objects.filter(
            tenant_id=inbox.tenant_id, channel_type=inbox.channel_type, address=new_source_id
        )
        .exclude(contact_id=contact_inbox.contact_id)
        .exists()
    )
    if taken:
        logger.info(
            "Number change of contact %s not applied: %s is another contact's", contact_inbox.contact_id, new_source_id
        )
        return False
    ContactInbox.objects.filter(pk=contact_inbox.pk).update(source_id=new_source_id, updated_at=timezone.now())
    contact = contact_inbox.contact
    fields = []
    # The contact's identity on this channel follows the number (when it still names the old one).
    if ContactIdentity.objects.filter(
        tenant_id=inbox.tenant_id, contact=contact, channel_type=inbox.channel_type, address=old_source_id
    ).update(address=new_source_id, updated_at=timezone.now()):
        fields.append("identities")
    if contact.phone_e164 in ("", f"+{old_source_id}"):
        contact.phone_e164 = f"+{new_source_id}"
        fields.append("phone_e164")
    if fields:
        contact.save(update_fields=[*[f for f in fields if f != "identities"], "updated_at"])
        changed = ContactUpdated(tenant_id=contact.tenant_id, contact_id=contact.pk, changed_fields=tuple(fields))
        events_record([changed])
    return True
