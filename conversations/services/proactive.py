"""Where a message the business writes first goes: the customer's address in an inbox and the conversation
that holds the message (for features that write to many customers at once, e.g. broadcasts).

A broadcast must show in each customer's history without making work for the team: the message goes in
the customer's unresolved conversation when they have one (``message_send(bulk=True)`` leaves its unread
count, waiting time and place in the inbox as they were), else in their latest resolved conversation, else
in a new conversation created already resolved. A resolved conversation stays resolved (nothing appears in
anyone's open tabs); the customer's answer opens a conversation as any message of theirs does, and the team
sees the broadcast above it in the contact's history. A conversation created resolved records no
``ConversationCreated`` (nobody is to be greeted, assigned or surveyed for it).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Max
from django.utils import timezone

from conversations.models import ContactIdentity, ContactInbox, Conversation, Inbox
from conversations.services.inbound import _next_display_ids, contact_identify


def contact_inboxes_for(*, inbox: Inbox, people: Mapping[str, tuple[int | None, str]]) -> dict[str, ContactInbox]:
    """The customers (channel address → (the contact a feature knows them as, or None; their E.164 phone))
    as ``inbox`` knows them, linked on first use (race-safe: the database's unique keys decide, and what
    a concurrent caller created is read back).

    An address already known to the channel keeps its contact (the same person may be saved twice); a
    known contact without an address on this channel gets this one; an unknown phone becomes a contact."""
    tenant_id, channel_type = inbox.tenant_id, inbox.channel_type
    found = {ci.source_id: ci for ci in ContactInbox.objects.filter(inbox=inbox, source_id__in=list(people))}
    missing = [address for address in people if address not in found]
    if not missing:
        return found
    ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(tenant_id=tenant_id, contact_id=contact_id, channel_type=channel_type, address=address)
            for address in missing
            if (contact_id := people[address][0]) is not None
        ],
        ignore_conflicts=True,
    )
    owners = dict(
        ContactIdentity.objects.filter(tenant_id=tenant_id, channel_type=channel_type, address__in=missing).values_list(
            "address", "contact_id"
        )
    )
    links = []
    for address in missing:
        contact_id = owners.get(address) or people[address][0]
        if contact_id is None:
            contact, _created = contact_identify(
                tenant_id=tenant_id, channel_type=channel_type, address=address, phone_e164=people[address][1]
            )
            contact_id = contact.pk
        links.append(ContactInbox(tenant_id=tenant_id, contact_id=contact_id, inbox=inbox, source_id=address))
    ContactInbox.objects.bulk_create(links, ignore_conflicts=True)
    found.update({ci.source_id: ci for ci in ContactInbox.objects.filter(inbox=inbox, source_id__in=missing)})
    return found


def conversations_for_proactive(*, inbox: Inbox, contact_inboxes: list[ContactInbox]) -> dict[int, Conversation]:
    """For each contact inbox (by id): the conversation a message the business writes first goes in (see the
    module's docstring); the new ones are created resolved."""
    ids = [ci.pk for ci in contact_inboxes]
    chosen: dict[int, Conversation] = {
        c.contact_inbox_id: c
        for c in Conversation.objects.filter(tenant_id=inbox.tenant_id, contact_inbox__in=ids).exclude(
            status=Conversation.Status.RESOLVED
        )
    }
    rest = [pk for pk in ids if pk not in chosen]
    if rest:
        latest = (
            Conversation.objects.filter(tenant_id=inbox.tenant_id, contact_inbox__in=rest)
            .values("contact_inbox")
            .annotate(last=Max("pk"))
            .values_list("last", flat=True)
        )
        chosen.update({c.contact_inbox_id: c for c in Conversation.objects.filter(pk__in=list(latest))})
    new = sorted((ci for ci in contact_inboxes if ci.pk not in chosen), key=lambda ci: ci.pk)
    if new:
        now = timezone.now()
        created = [
            Conversation(
                tenant_id=inbox.tenant_id,
                status=Conversation.Status.RESOLVED,
                resolved_at=now,
                display_id=display_id,
                inbox_id=inbox.pk,
                contact_id=ci.contact_id,
                contact_inbox=ci,
                last_activity_at=now,
            )
            for ci, display_id in zip(new, _next_display_ids(inbox.tenant_id, len(new)), strict=True)
        ]
        Conversation.objects.bulk_create(created)
        chosen.update({c.contact_inbox_id: c for c in created})
    by_pk = {ci.pk: ci for ci in contact_inboxes}
    for conversation in chosen.values():
        conversation.inbox = inbox
        conversation.contact_inbox = by_pk[conversation.contact_inbox_id]
    return chosen
