"""Rows of the core built quickly for selector and service tests, and a capture of real-time events."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Contact, ContactIdentity, ContactInbox, Conversation, Inbox, Label, Message
from conversations.selectors import audience_cache_clear, member_live_groups
from conversations.services.inbound import _next_display_id
from helpdesk.realtime import LiveBatch, _Flush, member_group, members_group
from tenants.models import ApiToken, Membership, Role, Tenant
from tenants.services import api_token_create
from tests.factories import owner_of

_seq = itertools.count(1)
_NOW: Any = object()


def make_role(tenant: Tenant, perms: Iterable[str] = ()) -> Role:
    n = next(_seq)
    return Role.objects.create(tenant=tenant, key=f"custom-{n}", name=f"Custom {n}", permissions=sorted(perms))


def make_token(tenant: Tenant, role: Role, *, name: str = "Integration") -> ApiToken:
    token, _raw = api_token_create(actor=owner_of(tenant), name=name, role=role)
    return ApiToken.objects.select_related("role").get(pk=token.pk)


def make_inbox(tenant: Tenant, *, name: str = "", members: Iterable[Membership] = ()) -> Inbox:
    inbox = Inbox.objects.create(tenant=tenant, name=name or f"Inbox {next(_seq)}", channel_type="whatsapp")
    inbox.members.set([m.user_id for m in members])
    audience_cache_clear()  # the audience of an inbox is cached for a few seconds
    return inbox


def make_label(tenant: Tenant, name: str) -> Label:
    return Label.objects.create(tenant=tenant, name=name)


def make_conversation(
    inbox: Inbox,
    *,
    name: str = "",
    profile_name: str = "",
    phone: str = "",
    assignee: Membership | None = None,
    status: str = Conversation.Status.OPEN,
    last_activity_at: datetime | None = _NOW,
    waiting_since: datetime | None = None,
    **fields: Any,
) -> Conversation:
    n = next(_seq)
    address = phone.lstrip("+") if phone else f"5511900{n:06d}"
    contact = Contact.objects.create(
        tenant_id=inbox.tenant_id, name=name, profile_name=profile_name, phone_e164=f"+{address}"
    )
    ContactIdentity.objects.create(
        tenant_id=inbox.tenant_id, contact=contact, channel_type=inbox.channel_type, address=address
    )
    contact_inbox = ContactInbox.objects.create(
        tenant_id=inbox.tenant_id, contact=contact, inbox=inbox, source_id=address
    )
    return Conversation.objects.create(
        tenant_id=inbox.tenant_id,
        display_id=_next_display_id(inbox.tenant_id),
        inbox=inbox,
        contact=contact,
        contact_inbox=contact_inbox,
        status=status,
        assignee_id=assignee.user_id if assignee else None,
        last_activity_at=timezone.now() if last_activity_at is _NOW else last_activity_at,
        waiting_since=waiting_since,
        **fields,
    )


def make_message(
    conversation: Conversation, text: str, *, direction: str = Message.Direction.INBOUND, private: bool = False
) -> Message:
    inbound = direction == Message.Direction.INBOUND
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=direction,
        sender_type=Message.SenderType.CONTACT if inbound else Message.SenderType.AGENT,
        text=text,
        private=private,
        status=Message.Status.RECEIVED if inbound else Message.Status.SENT,
    )


def make_queued_message(
    conversation: Conversation, text: str, *, sender_type: str = Message.SenderType.API, **fields: Any
) -> Message:
    """An outbound text waiting in its inbox's send queue."""
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=sender_type,
        text=text,
        status=Message.Status.QUEUED,
        **{"type": Message.Type.TEXT, **fields},
    )


Event = tuple[int, list[int], dict[str, Any]]


@contextmanager
def captured_events(capture_on_commit: Any = None) -> Iterator[list[Event]]:
    """The (tenant id, user ids, event) triples published in the block, as they will go out on commit.

    Reads the pending on-commit flushes of the test's transaction instead of running them, so no
    delivery job starts. Events of a rolled-back savepoint are dropped with it, as in production;
    events that join a flush registered before the block (same transaction level) are included.
    Events are built as after the commit (from the rows as the block left them), and their groups
    resolved to the members whose sockets would receive them (``receivers``).
    ``capture_on_commit`` (pytest-django's fixture) is accepted for callers that pass it; it is not needed.
    """
    connection = transaction.get_connection()
    assert connection.in_atomic_block, "events are captured inside the test's transaction"
    seen = {id(func): len(func.items) for _sids, func, _robust in connection.run_on_commit if isinstance(func, _Flush)}
    events: list[Event] = []
    yield events
    items = []
    for _sids, func, _robust in connection.run_on_commit:
        if isinstance(func, _Flush):
            items.extend(func.items[seen.get(id(func), 0) :])
    batch = LiveBatch(items)
    for tenant_id, groups, event in items:
        skip: list[str] = []
        if callable(event):
            built = event(batch)
            if built is None:
                continue
            groups, event, skip, *_watched = built
        events.append((tenant_id, receivers(tenant_id, groups, skip), event))


def receivers(tenant_id: int, groups: list[str], skip: Iterable[str] = ()) -> list[int]:
    """The members whose sockets (joined as ``conversations.consumers`` joins them) get an event sent to
    ``groups``, leaving out those in a ``skip`` group."""
    users = []
    for membership in Membership.objects.filter(tenant_id=tenant_id).select_related("role"):
        audience = set(member_live_groups(membership=membership))
        joined = audience | {member_group(tenant_id, membership.user_id), members_group(tenant_id)}
        if membership.active and joined.intersection(groups) and not audience.intersection(skip):
            users.append(membership.user_id)
    return sorted(users)


def of_type(events: list[Event], event_type: str) -> list[tuple[list[int], dict[str, Any]]]:
    return [(user_ids, event) for _tenant, user_ids, event in events if event["type"] == event_type]
