"""Reads of the core. The visibility rule lives here, once, for lists, pages, events and the API."""

from __future__ import annotations

import time

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from conversations.models import Conversation, Inbox, Message
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import Perm


def conversation_visibility_q(*, membership: Membership | ApiToken) -> Q:
    """Which conversations a member (or API token) may see.

    With "view all conversations": every conversation of the tenant. Otherwise: conversations of
    inboxes the member belongs to that are assigned to them, or unassigned when the role may view
    unassigned ones. A token without "view all" sees unassigned ones only, if its role allows.
    """
    if membership.has_perm(Perm.VIEW_ALL_CONVERSATIONS):
        return Q(tenant_id=membership.tenant_id)
    if isinstance(membership, ApiToken):
        if membership.has_perm(Perm.VIEW_UNASSIGNED):
            return Q(tenant_id=membership.tenant_id, assignee__isnull=True)
        return Q(pk__in=[])
    mine = Q(assignee_id=membership.user_id)
    if membership.has_perm(Perm.VIEW_UNASSIGNED):
        mine |= Q(assignee__isnull=True)
    return Q(tenant_id=membership.tenant_id, inbox__members=membership.user_id) & mine


def conversation_list(*, membership: Membership | ApiToken) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(conversation_visibility_q(membership=membership))
        .select_related("contact", "inbox", "assignee")
        .distinct()
    )


def conversation_get(*, membership: Membership | ApiToken, display_id: int) -> Conversation:
    try:
        return conversation_list(membership=membership).get(display_id=display_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


# Who may see an inbox's conversations changes rarely; real-time fan-out asks for every message.
# A short per-process cache keeps that to one query per inbox every few seconds.
_AUDIENCE_TTL = 2.0
_audience_cache: dict[tuple[int, int], tuple[float, list[tuple[int, bool, bool, bool]]]] = {}


def _inbox_audience_rows(*, tenant_id: int, inbox_id: int) -> list[tuple[int, bool, bool, bool]]:
    """(user id, sees all, sees unassigned, belongs to the inbox) for each active member."""
    now = time.monotonic()
    cached = _audience_cache.get((tenant_id, inbox_id))
    if cached is not None and cached[0] > now:
        return cached[1]
    in_inbox = Inbox.members.through.objects.filter(inbox_id=inbox_id, user_id=OuterRef("user_id"))
    memberships = (
        Membership.objects.filter(tenant_id=tenant_id, active=True)
        .select_related("role")
        .annotate(in_inbox=Exists(in_inbox))
    )
    rows = [
        (
            m.user_id,
            m.has_perm(Perm.VIEW_ALL_CONVERSATIONS),
            m.has_perm(Perm.VIEW_UNASSIGNED),
            bool(m.in_inbox),  # type: ignore[attr-defined]
        )
        for m in memberships
    ]
    if len(_audience_cache) > 10_000:
        _audience_cache.clear()
    _audience_cache[(tenant_id, inbox_id)] = (now + _AUDIENCE_TTL, rows)
    return rows


def conversation_audience(*, conversation: Conversation) -> list[int]:
    """User ids of the active members allowed to see this conversation (for real-time events)."""
    audience = []
    for user_id, sees_all, sees_unassigned, in_inbox in _inbox_audience_rows(
        tenant_id=conversation.tenant_id, inbox_id=conversation.inbox_id
    ):
        if sees_all or (
            in_inbox and (conversation.assignee_id == user_id or (conversation.assignee_id is None and sees_unassigned))
        ):
            audience.append(user_id)
    return audience


def audience_cache_clear() -> None:
    _audience_cache.clear()


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation)
        .select_related("sender_user")
        .prefetch_related("attachments", "reactions")
    )


def inbox_list(*, tenant: Tenant) -> QuerySet[Inbox]:
    return Inbox.objects.filter(tenant=tenant).order_by("id")
