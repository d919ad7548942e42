"""Reads of the core. The visibility rule lives here, once, for lists, pages, events and the API."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from conversations.models import (
    Contact,
    ContactIdentity,
    ContactLabel,
    Conversation,
    ConversationLabel,
    Inbox,
    Label,
    Message,
    Notification,
    QuickReply,
    Team,
    TeamMember,
)
from helpdesk.exceptions import NotFound, ValidationFailed
from helpdesk.ids import parse_id
from tenants.models import ApiToken, Membership, Tenant, User
from tenants.permissions import Perm


def conversation_visibility_q(*, membership: Membership | ApiToken) -> Q:
    """Which conversations a member (or API token) may see.

    With "view all conversations": every conversation of the tenant. Otherwise: conversations of
    inboxes the member belongs to that are assigned to them, or unassigned when the role may view
    unassigned ones, or unassigned in the queue of a team they belong to (whatever their role says of
    unassigned ones). A token without "view all" sees unassigned ones only, if its role allows (a token
    belongs to no team).
    """
    if not membership.active:
        return Q(pk__in=[])
    if membership.has_perm(Perm.VIEW_ALL_CONVERSATIONS):
        return Q(tenant_id=membership.tenant_id)
    if isinstance(membership, ApiToken):
        if membership.has_perm(Perm.VIEW_UNASSIGNED):
            return Q(tenant_id=membership.tenant_id, assignee__isnull=True)
        return Q(pk__in=[])
    mine = Q(assignee_id=membership.user_id)
    if membership.has_perm(Perm.VIEW_UNASSIGNED):
        mine |= Q(assignee__isnull=True)
    else:
        my_teams = TeamMember.objects.filter(tenant_id=membership.tenant_id, user_id=membership.user_id)
        mine |= Q(assignee__isnull=True, team_id__in=Subquery(my_teams.values("team_id")))
    # A subquery, not a join: no duplicate rows, so lists need no DISTINCT and keep their index order.
    my_inboxes = Inbox.members.through.objects.filter(user_id=membership.user_id).values("inbox_id")
    return Q(tenant_id=membership.tenant_id, inbox_id__in=Subquery(my_inboxes)) & mine


def conversation_list(*, membership: Membership | ApiToken) -> QuerySet[Conversation]:
    return Conversation.objects.filter(conversation_visibility_q(membership=membership)).select_related(
        "contact", "contact_inbox", "inbox", "assignee"
    )


def conversation_is_visible(*, membership: Membership, conversation: Conversation) -> bool:
    return conversation_list(membership=membership).filter(pk=conversation.pk).exists()


# --- The inbox list: tabs, filters, search, keyset pagination -------------------------------------

TABS = ("mine", "unassigned", "all")
SORTS = ("activity", "waiting", "sla")
# The "SLA" filter: "soon", a deadline within ``SLA_BREACHING_SOON_MINUTES`` or passed; "" any.
SLA_FILTERS = ("soon",)
PAGE_SIZE = 25


@dataclass(frozen=True)
class ConversationFilters:
    tab: str = "all"
    status: str = "open"  # "" = any status
    inbox_id: int | None = None
    label_id: int | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    q: str = ""
    sort: str = "activity"
    sla: str = ""

    @classmethod
    def from_query(cls, params: dict[str, str]) -> ConversationFilters:
        """Parse query parameters; a bad value is a ``ValidationFailed`` naming the parameter."""

        def as_id(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            return parse_id(raw, name=name) if raw else None

        tab = params.get("tab") or "all"
        if tab not in TABS:
            raise ValidationFailed(_("Unknown tab."), details={"param": "tab", "allowed": list(TABS)})
        status = params.get("status", "open")
        if status not in ("", *Conversation.Status.values):
            raise ValidationFailed(
                _("Unknown status."), details={"param": "status", "allowed": Conversation.Status.values}
            )
        sort = params.get("sort") or "activity"
        if sort not in SORTS:
            raise ValidationFailed(_("Unknown sort."), details={"param": "sort", "allowed": list(SORTS)})
        sla = params.get("sla") or ""
        if sla not in ("", *SLA_FILTERS):
            raise ValidationFailed(_("Unknown SLA filter."), details={"param": "sla", "allowed": list(SLA_FILTERS)})
        q = (params.get("q") or "").strip()
        if "\x00" in q:
            # PostgreSQL text cannot hold a NUL character, so no row could ever match it.
            raise ValidationFailed(_("The search cannot contain a NUL character."), details={"param": "q"})
        if len(q) > 100:
            raise ValidationFailed(_("The search is too long (100 characters at most)."), details={"param": "q"})
        if 0 < len(q) < SEARCH_MIN:
            raise ValidationFailed(
                ngettext(
                    "Type at least %(n)s character to search.", "Type at least %(n)s characters to search.", SEARCH_MIN
                )
                % {"n": SEARCH_MIN},
                code="search_too_short",
                details={"param": "q"},
            )
        return cls(
            tab=tab,
            status=status,
            inbox_id=as_id("inbox"),
            label_id=as_id("label"),
            assignee_id=as_id("assignee"),
            team_id=as_id("team"),
            q=q,
            sort=sort,
            sla=sla,
        )


SEARCH_MIN = 3
# Estimated matching messages up to which a text search collects them first (measured in bench/inbox.py).
SEARCH_HASH_MAX = 20_000
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{3,}$")


def _search_q(*, tenant_id: int, q: str) -> Q:
    """Conversations whose contact's name or number, or one of whose messages, matches ``q``."""
    digits = re.sub(r"\D", "", q)
    if _PHONE_RE.match(q) and len(digits) >= 3:
        # The number as agents typed it, or any of the contact's channel addresses.
        addressed = ContactIdentity.objects.filter(tenant_id=tenant_id, address__contains=digits)
        contacts = Contact.objects.filter(tenant_id=tenant_id).filter(
            Q(phone_e164__contains=digits) | Q(pk__in=Subquery(addressed.values("contact_id")))
        )
        return Q(contact_id__in=Subquery(contacts.values("id")))
    contacts = Contact.objects.filter(tenant_id=tenant_id).filter(Q(name__icontains=q) | Q(profile_name__icontains=q))
    matched = Q(contact_id__in=Subquery(contacts.values("id")))
    messages = Message.objects.filter(tenant_id=tenant_id, private=False)
    if connection.vendor == "postgresql":
        # Matches the GIN index of migration 0003 (the same expression, the "simple" configuration).
        messages = messages.annotate(search=SearchVector("text", config="simple")).filter(
            search=SearchQuery(q, config="simple", search_type="plain")
        )
    else:
        return matched | Q(id__in=Subquery(messages.filter(text__icontains=q).values("conversation_id")))
    # Few matching messages: collect their conversations once (a hashed subquery). Many (a common
    # word): test each conversation in list order with a LIMIT 1 probe, so the scan stops as soon as
    # the page is full instead of reading every match. The planner's estimate (EXPLAIN, ~1 ms) decides.
    estimate = json.loads(messages.values("conversation_id").explain(format="json"))[0]["Plan"]["Plan Rows"]
    if estimate <= SEARCH_HASH_MAX:
        return matched | Q(id__in=Subquery(messages.values("conversation_id")))
    hit = messages.filter(conversation_id=OuterRef("pk")).values("id")[:1]
    return matched | Q(Exists(hit))


def _encode_cursor(values: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value = datetime.fromisoformat(raw[0]) if raw[0] is not None else None
        pk = int(raw[1])
    except (ValueError, TypeError, IndexError, KeyError, binascii.Error, json.JSONDecodeError):
        raise ValidationFailed("The cursor is not valid; start again from the first page.") from None
    return value, pk


def sla_breaching_soon_q(now: datetime | None = None) -> Q:
    """Conversations whose SLA deadline is within ``SLA_BREACHING_SOON_MINUTES`` (or passed), and those with
    a breached deadline still unmet (paused ones too)."""
    window = timedelta(minutes=settings.SLA_BREACHING_SOON_MINUTES)
    return Q(sla_due_at__lte=(now or timezone.now()) + window) | Q(sla_breached_at__isnull=False)


def conversation_inbox_queryset(*, membership: Membership | ApiToken, filters: ConversationFilters) -> QuerySet:
    """The filtered, visible, ordered conversations of the inbox list (unpaginated)."""
    qs = Conversation.objects.filter(conversation_visibility_q(membership=membership))
    if filters.tab == "mine":
        qs = qs.filter(assignee_id=membership.user_id) if isinstance(membership, Membership) else qs.none()
    elif filters.tab == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.inbox_id is not None:
        qs = qs.filter(inbox_id=filters.inbox_id)
    if filters.assignee_id is not None:
        qs = qs.filter(assignee_id=filters.assignee_id)
    if filters.team_id is not None:
        qs = qs.filter(team_id=filters.team_id)
    if filters.label_id is not None:
        labelled = ConversationLabel.objects.filter(tenant_id=membership.tenant_id, label_id=filters.label_id)
        qs = qs.filter(id__in=Subquery(labelled.values("conversation_id")))
    if filters.q:
        qs = qs.filter(_search_q(tenant_id=membership.tenant_id, q=filters.q))
    if filters.sla == "soon":
        qs = qs.filter(sla_breaching_soon_q())
    if filters.sort == "waiting":
        return qs.filter(waiting_since__isnull=False).order_by("waiting_since", "id")
    if filters.sort == "sla":
        return qs.filter(sla_due_at__isnull=False).order_by("sla_due_at", "id")
    return qs.order_by("-last_activity_at", "-id")


# Columns no list row shows (nor the API's list), not read for each row.
ROW_DEFERRED = (
    "created_at",
    "updated_at",
    "resolved_at",
    "contact__created_at",
    "contact__updated_at",
    "contact__custom_attributes",
    "contact__marketing_consent",
    "contact__marketing_consent_at",
    "inbox__created_at",
    "inbox__updated_at",
)
# A list row's assignee and last message come by id in their own queries: joining them too makes
# PostgreSQL spend more time planning the list query (about 7 ms) than running it (under 1 ms).
ROW_PREFETCH = (
    "labels",
    "assignee",
    Prefetch(
        "last_message",
        queryset=Message.objects.only("id", "direction", "status", "type", "text", "content", "private"),
    ),
)


def _with_row_data(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """What a list row shows, read in as few and as cheap queries as it takes."""
    return qs.select_related("contact", "inbox").defer(*ROW_DEFERRED).prefetch_related(*ROW_PREFETCH)


def conversation_inbox_page(
    *,
    membership: Membership | ApiToken,
    filters: ConversationFilters,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[Conversation], str | None]:
    """One page of the inbox list and the cursor of the next page (None at the end).

    Keyset pagination: the cursor holds the sort value and id of the last row, so a page deep in
    the list costs the same as the first and rows inserted meanwhile neither repeat nor vanish.
    """
    qs = conversation_inbox_queryset(membership=membership, filters=filters)
    if cursor:
        value, pk = _decode_cursor(cursor)
        if value is None:
            raise ValidationFailed("The cursor is not valid; start again from the first page.")
        # The inclusive bound alone is what the index range scan uses; the OR then drops the ties already shown.
        if filters.sort == "waiting":
            qs = qs.filter(Q(waiting_since__gte=value) & (Q(waiting_since__gt=value) | Q(id__gt=pk)))
        elif filters.sort == "sla":
            qs = qs.filter(Q(sla_due_at__gte=value) & (Q(sla_due_at__gt=value) | Q(id__gt=pk)))
        else:
            qs = qs.filter(Q(last_activity_at__lte=value) & (Q(last_activity_at__lt=value) | Q(id__lt=pk)))
    rows = list(_with_row_data(qs)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        key = {"waiting": last.waiting_since, "sla": last.sla_due_at}.get(filters.sort, last.last_activity_at)
        next_cursor = _encode_cursor([key.isoformat() if key else None, last.pk])
    return rows, next_cursor


def conversation_rows(
    *, membership: Membership | ApiToken, ids: list[int], filters: ConversationFilters | None = None
) -> list[Conversation]:
    """The visible ones among these conversations — and, given ``filters``, those the list shows (for
    live updates of the list: an id left out has left the member's sight or the current filter)."""
    qs = (
        conversation_inbox_queryset(membership=membership, filters=filters)
        if filters is not None
        else conversation_list(membership=membership)
    )
    return list(_with_row_data(qs.filter(pk__in=ids[:100])))


def conversation_tab_counts(*, membership: Membership | ApiToken) -> dict[str, int]:
    """Open conversations per tab, for the badges."""
    qs = Conversation.objects.filter(conversation_visibility_q(membership=membership), status=Conversation.Status.OPEN)
    mine = Q(assignee_id=membership.user_id) if isinstance(membership, Membership) else Q(pk__in=[])
    counts = qs.aggregate(
        all=Count("id"),
        mine=Count("id", filter=mine),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def conversation_get(*, membership: Membership | ApiToken, display_id: int) -> Conversation:
    try:
        return conversation_list(membership=membership).get(display_id=display_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


# Who may see an inbox's conversations changes rarely; notes ask it for every mention (live events go to
# audience groups instead). A short per-process cache keeps that to one query per inbox every few seconds.
_AUDIENCE_TTL = 2.0
AudienceRow = tuple[int, bool, bool, bool, frozenset[int]]
_audience_cache: dict[tuple[int, int], tuple[float, list[AudienceRow]]] = {}


def _inbox_audience_rows(*, tenant_id: int, inbox_id: int) -> list[AudienceRow]:
    """(user id, sees all, sees unassigned, belongs to the inbox, their team ids) for each active member."""
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
    teams: dict[int, set[int]] = {}
    for user_id, team_id in TeamMember.objects.filter(tenant_id=tenant_id).values_list("user_id", "team_id"):
        teams.setdefault(user_id, set()).add(team_id)
    rows = [
        (
            m.user_id,
            m.has_perm(Perm.VIEW_ALL_CONVERSATIONS),
            m.has_perm(Perm.VIEW_UNASSIGNED),
            bool(m.in_inbox),  # type: ignore[attr-defined]
            frozenset(teams.get(m.user_id, ())),
        )
        for m in memberships
    ]
    if len(_audience_cache) > 10_000:
        _audience_cache.clear()
    _audience_cache[(tenant_id, inbox_id)] = (now + _AUDIENCE_TTL, rows)
    return rows


def conversation_audience(*, conversation: Conversation) -> list[int]:
    """User ids of the active members allowed to see this conversation (who a note may mention)."""
    audience = []
    for user_id, sees_all, sees_unassigned, in_inbox, team_ids in _inbox_audience_rows(
        tenant_id=conversation.tenant_id, inbox_id=conversation.inbox_id
    ):
        unassigned = conversation.assignee_id is None and (sees_unassigned or conversation.team_id in team_ids)
        if sees_all or (in_inbox and (conversation.assignee_id == user_id or unassigned)):
            audience.append(user_id)
    return audience


# --- Live audiences: the visibility rule above, as channel-layer groups -----------------------------
#
# A member sees a conversation when they may view all of the workspace's, or when they belong to its
# inbox and it is assigned to them, or unassigned and they may view unassigned ones, or unassigned in
# the queue of a team of theirs. The groups follow that rule term by term, so one event costs one
# publish per term, whatever the number of agents: a member joins exactly the groups whose
# conversations they may see, and a conversation is published to exactly the groups of the members who
# may see it (at most one of each member's groups matches a conversation: no socket receives an event
# twice). The team term's group (inbox, team) is joined only by the team's members who do not already
# get the inbox's unassigned group, so a member who may view unassigned ones never gets an unassigned
# team conversation twice.


def live_group_all(tenant_id: int) -> str:
    return f"t{tenant_id}.all"


def live_group_unassigned(tenant_id: int, inbox_id: int) -> str:
    return f"t{tenant_id}.i{inbox_id}.unassigned"


def live_group_assignee(tenant_id: int, inbox_id: int, user_id: int) -> str:
    return f"t{tenant_id}.i{inbox_id}.u{user_id}"


def live_group_team(tenant_id: int, inbox_id: int, team_id: int) -> str:
    return f"t{tenant_id}.i{inbox_id}.team{team_id}"


def conversation_live_groups(
    *, tenant_id: int, inbox_id: int, assignee_id: int | None, team_id: int | None = None
) -> list[str]:
    """The groups whose members may see a conversation in this inbox with this assignee and team."""
    if assignee_id is not None:
        return [live_group_all(tenant_id), live_group_assignee(tenant_id, inbox_id, assignee_id)]
    groups = [live_group_all(tenant_id), live_group_unassigned(tenant_id, inbox_id)]
    if team_id is not None:
        groups.append(live_group_team(tenant_id, inbox_id, team_id))
    return groups


def member_live_groups(*, membership: Membership) -> list[str]:
    """The groups a member's sockets join (none once the membership is inactive)."""
    if not membership.active:
        return []
    tenant_id = membership.tenant_id
    if membership.has_perm(Perm.VIEW_ALL_CONVERSATIONS):
        return [live_group_all(tenant_id)]
    inbox_ids = sorted(
        Inbox.members.through.objects.filter(user_id=membership.user_id, inbox__tenant_id=tenant_id).values_list(
            "inbox_id", flat=True
        )
    )
    groups = [live_group_assignee(tenant_id, inbox_id, membership.user_id) for inbox_id in inbox_ids]
    if membership.has_perm(Perm.VIEW_UNASSIGNED):
        groups += [live_group_unassigned(tenant_id, inbox_id) for inbox_id in inbox_ids]
    elif inbox_ids:
        team_ids = sorted(
            TeamMember.objects.filter(tenant_id=tenant_id, user_id=membership.user_id).values_list("team_id", flat=True)
        )
        groups += [live_group_team(tenant_id, inbox_id, team_id) for inbox_id in inbox_ids for team_id in team_ids]
    return groups


def conversation_live_rows(*, tenant_id: int, ids: list[int]) -> dict[int, Conversation]:
    """Conversations as a list row shows them, for events (the audience is decided by the groups)."""
    qs = Conversation.objects.filter(tenant_id=tenant_id, pk__in=ids).select_related("tenant")
    return {c.pk: c for c in _with_row_data(qs)}


def audience_cache_clear() -> None:
    _audience_cache.clear()


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation)
        .select_related("sender_user")
        .prefetch_related("attachments", "reactions")
    )


def reply_to_get(*, conversation: Conversation, message_id: int | None) -> Message:
    """The message of this conversation that a reply quotes; ``NotFound`` for any other id (or none)."""
    message = (
        Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation, pk=message_id).first()
        if message_id is not None
        else None
    )
    if message is None:
        raise NotFound(_("The message to reply to is not in this conversation."))
    return message


MESSAGE_PAGE = 50


def message_page(
    *,
    conversation: Conversation,
    before_id: int | None = None,
    after_id: int | None = None,
    ids: list[int] | None = None,
    limit: int = MESSAGE_PAGE,
) -> tuple[list[Message], bool]:
    """Messages in the history's order (``occurred_at``, then id), oldest first: the newest ``limit``,
    those placed before message ``before_id`` (scrolling back), those that arrived after ``after_id``
    (catching up after a gap: ids are arrival order), or the given ``ids`` (re-rendering changed ones).
    The flag says whether older messages remain (for ``before``/newest) or newer ones (for ``after``).
    """
    own = Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation)
    qs = (
        own.select_related("sender_user", "reply_to")
        .defer(*_NOT_SHOWN, *(f"reply_to__{name}" for name in _NOT_SHOWN))
        .prefetch_related("attachments", "reactions")
    )
    more = False
    if ids is not None:
        rows = list(qs.filter(pk__in=ids[:200]).order_by("occurred_at", "id"))
    elif after_id is not None:
        rows = list(qs.filter(id__gt=after_id).order_by("id")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        rows.sort(key=lambda m: (m.occurred_at, m.pk))
    else:
        if before_id is not None:
            qs = qs.filter(history_before_q(at=Subquery(own.filter(pk=before_id).values("occurred_at")), pk=before_id))
        rows = list(qs.order_by("-occurred_at", "-id")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
    for message in rows:
        message.conversation = conversation  # the caller's instance: no second copy per message
    return rows, more


def history_before_q(*, at: Any, pk: Any) -> Q:
    """Messages the history places before (``at``, ``pk``). The inclusive bound alone is what the index
    range scan uses; the OR then drops the ties that come after."""
    return Q(occurred_at__lte=at) & (Q(occurred_at__lt=at) | Q(id__lt=pk))


# Columns a conversation's history never shows: not read (and not parsed) for each of its messages.
_NOT_SHOWN = (
    "pricing",
    "idempotency_key",
    "idempotency_fingerprint",
    "send_attempts",
    "next_attempt_at",
    "external_timestamp",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "updated_at",
)


def inbox_list(*, tenant: Tenant) -> QuerySet[Inbox]:
    return Inbox.objects.filter(tenant=tenant).order_by("id")


def inboxes_for(*, membership: Membership) -> list[Inbox]:
    """The inboxes a member works in (all of them with "view all conversations")."""
    qs = inbox_list(tenant=membership.tenant)
    if not membership.has_perm(Perm.VIEW_ALL_CONVERSATIONS):
        qs = qs.filter(members=membership.user_id)
    return list(qs)


def label_list(*, tenant: Tenant | int) -> QuerySet[Label]:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return Label.objects.filter(tenant_id=tenant_id).order_by("name")


def labels_for_conversation(*, conversation: Conversation) -> list[Label]:
    """The tenant's labels, each flagged ``on_conversation`` and ``on_contact`` (one query)."""
    on_conversation = ConversationLabel.objects.filter(conversation_id=conversation.pk, label_id=OuterRef("pk"))
    on_contact = ContactLabel.objects.filter(contact_id=conversation.contact_id, label_id=OuterRef("pk"))
    return list(
        label_list(tenant=conversation.tenant_id).annotate(
            on_conversation=Exists(on_conversation), on_contact=Exists(on_contact)
        )
    )


def labels_from_ids(*, tenant: Tenant | int, ids: list[int], field: str) -> list[Label]:
    """The workspace's labels with these ids, in the order given, once each; an id that names none of
    them is refused (``ValidationFailed`` naming ``field`` and the unknown ids), never ignored."""
    found = {label.pk: label for label in label_list(tenant=tenant).filter(pk__in=ids)}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise ValidationFailed(_("Unknown label."), details={"field": field, "ids": missing})
    return [found[pk] for pk in dict.fromkeys(ids)]


def label_get(*, tenant: Tenant | int, label_id: int) -> Label:
    try:
        return label_list(tenant=tenant).get(pk=label_id)
    except Label.DoesNotExist:
        raise Http404("No such label.") from None


def team_list(*, tenant: Tenant | int) -> QuerySet[Team]:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return Team.objects.filter(tenant_id=tenant_id).order_by("name", "id")


def team_get(*, tenant: Tenant | int, team_id: int) -> Team:
    """The workspace's team with this id; any other id (another workspace's team) is a 404."""
    try:
        return team_list(tenant=tenant).get(pk=team_id)
    except Team.DoesNotExist:
        raise Http404("No such team.") from None


def team_for_field(*, tenant: Tenant | int, team_id: int, field: str = "team_id") -> Team:
    """The workspace's team named by a field of a request; any other id is refused naming ``field``."""
    team = team_list(tenant=tenant).filter(pk=team_id).first()
    if team is None:
        raise ValidationFailed(_("Unknown team."), details={field: team_id})
    return team


def teams_of(user: User | int, tenant: Tenant | int) -> QuerySet[Team]:
    """The teams of the workspace the user belongs to."""
    user_id = user if isinstance(user, int) else user.pk
    mine = TeamMember.objects.filter(user_id=user_id).values("team_id")
    return team_list(tenant=tenant).filter(pk__in=Subquery(mine))


def team_members(*, team: Team) -> QuerySet[TeamMember]:
    return (
        TeamMember.objects.filter(tenant_id=team.tenant_id, team=team)
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def assignee_get(*, tenant: Tenant | int, user_id: int, field: str = "assignee_id") -> User:
    """The user behind an active membership of the workspace, to assign a conversation to; anyone else
    (a stranger, another workspace's member, a member who left) is refused naming ``field``."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    member = Membership.objects.filter(tenant_id=tenant_id, user_id=user_id, active=True).select_related("user").first()
    if member is None:
        raise ValidationFailed(_("That person is not a member of this workspace."), details={field: user_id})
    return member.user


def _could_see(conversation: Conversation) -> QuerySet[Membership]:
    """The workspace's active members, each marked ``in_inbox`` when a member of the conversation's inbox."""
    in_inbox = Inbox.members.through.objects.filter(inbox_id=conversation.inbox_id, user_id=OuterRef("user_id"))
    return (
        Membership.objects.filter(tenant_id=conversation.tenant_id, active=True)
        .select_related("user", "role")
        .annotate(in_inbox=Exists(in_inbox))
    )


def _sees(member: Membership) -> bool:
    return bool(member.in_inbox or member.has_perm(Perm.VIEW_ALL_CONVERSATIONS))  # type: ignore[attr-defined]


def assignable_members(*, conversation: Conversation) -> list[Membership]:
    """Active members who could see the conversation once assigned to it, with their availability."""
    return [m for m in _could_see(conversation).order_by("user__name", "user__email") if _sees(m)]


def assignable(*, conversation: Conversation, user_id: int) -> bool:
    """Whether this person is among ``assignable_members``: their membership alone is read (one query, however
    many members the workspace has)."""
    member = _could_see(conversation).filter(user_id=user_id).first()
    return member is not None and _sees(member)


def quick_reply_list(*, membership: Membership, inbox: Inbox | None = None) -> QuerySet[QuickReply]:
    """The quick replies a member may use: the tenant's, their inbox's (or all their inboxes'), their own."""
    scoped = Q(scope=QuickReply.Scope.TENANT) | Q(scope=QuickReply.Scope.PERSONAL, owner_id=membership.user_id)
    if inbox is not None:
        scoped |= Q(scope=QuickReply.Scope.INBOX, inbox_id=inbox.pk)
    else:
        scoped |= Q(scope=QuickReply.Scope.INBOX, inbox_id__in=[i.pk for i in inboxes_for(membership=membership)])
    return QuickReply.objects.filter(scoped, tenant_id=membership.tenant_id).select_related("inbox", "owner")


def quick_reply_settings_list(*, membership: Membership) -> QuerySet[QuickReply]:
    """The quick replies a member sees in settings (and may open to change, if allowed): with "manage
    labels and quick replies" every shared one plus their own; otherwise the ones they may use.
    Another member's personal reply is never among them."""
    if membership.has_perm(Perm.MANAGE_LABELS):
        mine = Q(scope=QuickReply.Scope.PERSONAL, owner_id=membership.user_id)
        shared = Q(scope__in=[QuickReply.Scope.TENANT, QuickReply.Scope.INBOX])
        qs = QuickReply.objects.filter(mine | shared, tenant_id=membership.tenant_id)
    else:
        qs = quick_reply_list(membership=membership)
    return qs.select_related("inbox").order_by("shortcut", "id")


def quick_reply_get(*, membership: Membership, quick_reply_id: int) -> QuickReply:
    try:
        return quick_reply_settings_list(membership=membership).get(pk=quick_reply_id)
    except QuickReply.DoesNotExist:
        raise Http404("No such quick reply.") from None


def contacts_with_address(*, tenant_id: int, channel_type: str, address: str) -> QuerySet[Contact]:
    """The tenant's contact whose identity on ``channel_type`` is ``address`` (none or one)."""
    return Contact.objects.filter(
        tenant_id=tenant_id,
        identities__tenant_id=tenant_id,
        identities__channel_type=channel_type,
        identities__address=address,
    )


def contact_identities(*, contact: Contact) -> list[dict[str, str]]:
    """The contact's address on each channel, as the API and the contact panel show them (uses a prefetch
    of ``identities`` when there is one; the contact was fetched through a tenant-checked selector)."""
    return [{"channel": identity.channel_type, "address": identity.address} for identity in contact.identities.all()]


def contact_conversations(*, membership: Membership | ApiToken, contact: Contact) -> QuerySet[Conversation]:
    """The contact's conversations the caller may see, newest first (the sidebar's history)."""
    return conversation_list(membership=membership).filter(contact=contact).order_by("-id")


def notification_list(*, membership: Membership, limit: int = 20) -> list[Notification]:
    """The member's newest notifications (unread ones are those without ``read_at``)."""
    return list(
        Notification.objects.filter(tenant_id=membership.tenant_id, user_id=membership.user_id)
        .select_related("conversation__contact", "actor")
        .order_by("-id")[:limit]
    )


def notification_unread_count(*, membership: Membership) -> int:
    return Notification.objects.filter(
        tenant_id=membership.tenant_id, user_id=membership.user_id, read_at__isnull=True
    ).count()
