"""Reads of the core. The visibility rule lives here, once, for lists, pages, events and the API."""

from __future__ import annotations

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


def conversation_audience(*, conversation: Conversation) -> list[int]:
    """User ids of the active members allowed to see this conversation (for real-time events)."""
    in_inbox = Inbox.members.through.objects.filter(inbox_id=conversation.inbox_id, user_id=OuterRef("user_id"))
    memberships = (
        Membership.objects.filter(tenant_id=conversation.tenant_id, active=True)
        .select_related("role")
        .annotate(in_inbox=Exists(in_inbox))
    )
    audience = []
    for m in memberships:
        if m.has_perm(Perm.VIEW_ALL_CONVERSATIONS) or (
            m.in_inbox
            and (  # type: ignore[attr-defined]
                conversation.assignee_id == m.user_id
                or (conversation.assignee_id is None and m.has_perm(Perm.VIEW_UNASSIGNED))
            )
        ):
            audience.append(m.user_id)
    return audience


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation)
        .select_related("sender_user")
        .prefetch_related("attachments", "reactions")
    )


def inbox_list(*, tenant: Tenant) -> QuerySet[Inbox]:
    return Inbox.objects.filter(tenant=tenant).order_by("id")
