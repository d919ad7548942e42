"""Auto-assignment (docs/teams-and-assignment.md): an inbox's unassigned open conversations go to its online
agents under their capacity, the longest-waiting first.

- **When**: a subscriber to the core's events runs the inbox's queue when a conversation arrives
  (``ConversationCreated``, ``MessageReceived``), when capacity frees up or a conversation goes back to the
  queue (resolved, unassigned, reassigned, moved to a team), and when an agent comes online
  (``MemberAvailabilityChanged``). A beat job runs every queue once a minute as well (a team's hours
  starting, an event that could not be handled).
- **Who**: the inbox's active members who may reply, are online, are inside their team's hours and under
  their capacity; for a conversation in a team's queue, only that team's members. Round-robin takes them
  in turn (the rotation is kept per inbox); least-open takes the one with the fewest open conversations
  assigned in the inbox.
- **Never twice, never over**: every decision of an inbox is taken holding its policy's row
  (``SELECT … FOR UPDATE``), capacities are counted inside that lock, and each conversation is locked and
  checked still unassigned and open before the core's ``conversation_assign`` assigns it as
  ``AutomationActor(kind="auto_assign")`` (which writes the history line naming the automation). An agent's
  overall capacity (across inboxes) is counted holding their membership's row as well.
- **Offline**: an agent going offline in an inbox whose policy says so has their open conversations of
  that inbox unassigned (back to the queue) and handed to the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations.business_hours import is_open
from automations.models import AgentCapacity, AssignmentPolicy, TeamSettings
from automations.selectors import calendar_list, calendar_load
from conversations import events
from conversations.actors import AutomationActor
from conversations.models import Conversation, Inbox, TeamMember
from conversations.services.actions import conversation_assign, conversation_team_set
from helpdesk.exceptions import ApplicationError
from tenants.models import Membership, Tenant
from tenants.permissions import Perm

logger = logging.getLogger(__name__)

KIND = "auto_assign"
SUBSCRIBER_PREFIX = "automations.auto_assign"
# One run's share of an inbox's queue; the rest waits for the next event or the beat job.
RUN_MAX = 500

Status = Conversation.Status


def automation_actor(policy: AssignmentPolicy) -> AutomationActor:
    """The automation as it acts and is named (in the active language, the workspace's during a run)."""
    return AutomationActor(tenant_id=policy.tenant_id, automation_id=policy.pk, name=_("Auto-assignment"), kind=KIND)


@dataclass
class _Agent:
    user_id: int
    capacity: int  # in this inbox
    open_here: int  # open conversations assigned in this inbox
    overall_capacity: int | None = None
    open_overall: int = 0
    teams: set[int] = field(default_factory=set)

    @property
    def has_room(self) -> bool:
        if self.open_here >= self.capacity:
            return False
        return self.overall_capacity is None or self.open_overall < self.overall_capacity


def _team_hours(tenant_id: int, team_ids: Iterable[int], now: datetime) -> dict[int, bool]:
    """Whether each team is inside its hours now (a team without a calendar always is)."""
    rows = dict(
        TeamSettings.objects.filter(
            tenant_id=tenant_id, team_id__in=list(team_ids), calendar__isnull=False
        ).values_list("team_id", "calendar_id")
    )
    calendars = {c.pk: calendar_load(c) for c in calendar_list(tenant=tenant_id).filter(pk__in=set(rows.values()))}
    return {team_id: is_open(calendars[calendar_id], now) for team_id, calendar_id in rows.items()}


def _agents(policy: AssignmentPolicy, now: datetime) -> tuple[list[_Agent], dict[int, bool]]:
    """The inbox's agents who may take a conversation now (online, allowed to reply), with their load,
    capacity and teams, and each of their teams' "inside hours" (absent: the team keeps no hours)."""
    tenant_id, inbox_id = policy.tenant_id, policy.inbox_id
    in_inbox = Inbox.members.through.objects.filter(inbox_id=inbox_id).values("user_id")
    memberships = [
        m
        for m in Membership.objects.filter(
            tenant_id=tenant_id, active=True, availability=Membership.Availability.ONLINE, user_id__in=in_inbox
        )
        .select_related("role")
        .order_by("user_id")
        if m.has_perm(Perm.REPLY)
    ]
    user_ids = [m.user_id for m in memberships]
    if not user_ids:
        return [], {}
    overrides = {
        (row.user_id, row.inbox_id): row.capacity
        for row in AgentCapacity.objects.filter(tenant_id=tenant_id, user_id__in=user_ids).filter(
            Q(inbox_id=inbox_id) | Q(inbox__isnull=True)
        )
    }
    overall_ids = sorted(user_id for user_id, inbox in overrides if inbox is None)
    if overall_ids:
        # An overall capacity spans inboxes: decisions about one agent in two inboxes at once wait here.
        list(
            Membership.objects.select_for_update(no_key=True)
            .filter(tenant_id=tenant_id, user_id__in=overall_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    open_assigned = Conversation.objects.filter(tenant_id=tenant_id, status=Status.OPEN, assignee_id__in=user_ids)
    here = dict(open_assigned.filter(inbox_id=inbox_id).values_list("assignee_id").annotate(n=Count("id")).order_by())
    overall = (
        dict(
            open_assigned.filter(assignee_id__in=overall_ids)
            .values_list("assignee_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        if overall_ids
        else {}
    )
    teams: dict[int, set[int]] = {}
    for user_id, team_id in TeamMember.objects.filter(tenant_id=tenant_id, user_id__in=user_ids).values_list(
        "user_id", "team_id"
    ):
        teams.setdefault(user_id, set()).add(team_id)
    hours = _team_hours(tenant_id, {t for ids in teams.values() for t in ids}, now)
    agents = []
    for user_id in user_ids:
        mine = teams.get(user_id, set())
        # Outside their team's hours: every team of theirs keeps hours and all of them are closed now.
        if mine and all(hours.get(team_id) is False for team_id in mine):
            continue
        agents.append(
            _Agent(
                user_id=user_id,
                capacity=overrides.get((user_id, inbox_id), policy.capacity),
                open_here=here.get(user_id, 0),
                overall_capacity=overrides.get((user_id, None)),
                open_overall=overall.get(user_id, 0),
                teams=mine,
            )
        )
    return agents, hours


def _pick(policy: AssignmentPolicy, agents: list[_Agent]) -> _Agent | None:
    if not agents:
        return None
    if policy.method == AssignmentPolicy.Method.LEAST_OPEN:
        return min(agents, key=lambda a: (a.open_here, a.user_id))
    last = policy.last_assignee_id or 0
    after = [a for a in agents if a.user_id > last]
    return (after or agents)[0]  # agents are in user id order: the rotation


def inbox_queue_assign(*, tenant_id: int, inbox_id: int, now: datetime | None = None, limit: int = RUN_MAX) -> int:
    """Assign the inbox's waiting conversations, longest-waiting first, while agents have room. Returns how
    many were assigned. Safe to run any number of times at once (the policy's row serialises them)."""
    tenant = Tenant.objects.filter(pk=tenant_id, active=True).first()
    if tenant is None:
        return 0
    with translation.override(tenant.locale), timezone.override(tenant.timezone):
        return _queue_assign(tenant_id, inbox_id, now=now or timezone.now(), limit=limit)


@transaction.atomic
def _queue_assign(tenant_id: int, inbox_id: int, *, now: datetime, limit: int) -> int:
    policy = (
        AssignmentPolicy.objects.select_for_update(of=("self",))
        .filter(tenant_id=tenant_id, inbox_id=inbox_id, enabled=True)
        .first()
    )
    if policy is None:
        return 0
    queue = list(
        Conversation.objects.filter(tenant_id=tenant_id, inbox_id=inbox_id, status=Status.OPEN, assignee__isnull=True)
        .order_by(F("waiting_since").asc(nulls_last=True), "created_at", "id")
        .values_list("pk", "team_id")[:limit]
    )
    if not queue:
        return 0
    agents, hours = _agents(policy, now)
    actor = automation_actor(policy)
    assigned = 0
    for pk, team_id in queue:
        free = [a for a in agents if a.has_room]
        if not free:
            break
        if team_id is not None:
            if hours.get(team_id) is False:
                continue  # the team is outside its hours: its queue waits
            free = [a for a in free if team_id in a.teams]
        agent = _pick(policy, free)
        if agent is None:
            continue
        # Still unassigned and open (a person may have taken it since the queue was read)? Locked until commit.
        conversation = (
            Conversation.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(pk=pk, status=Status.OPEN, assignee__isnull=True)
            .first()
        )
        if conversation is None:
            continue
        member = Membership.objects.select_related("user").get(tenant_id=tenant_id, user_id=agent.user_id)
        try:
            with transaction.atomic():
                conversation_assign(actor=actor, conversation=conversation, assignee=member.user)
        except ApplicationError as exc:
            logger.warning("Auto-assignment of conversation %s to user %s refused: %s", pk, agent.user_id, exc)
            continue
        agent.open_here += 1
        agent.open_overall += 1
        policy.last_assignee_id = agent.user_id
        assigned += 1
    if assigned:
        policy.save(update_fields=["last_assignee", "updated_at"])
    return assigned


def _team_queue(policy: AssignmentPolicy, conversation_id: int) -> None:
    """A new conversation of an inbox whose policy names a team goes to that team's queue."""
    conversation = Conversation.objects.filter(
        tenant_id=policy.tenant_id, pk=conversation_id, team__isnull=True
    ).first()
    if conversation is not None and policy.team_id is not None:
        conversation_team_set(actor=automation_actor(policy), conversation=conversation, team=policy.team)


# --- the subscribers ---------------------------------------------------------------------------------


def _policies(pairs: Iterable[tuple[int, int]]) -> dict[int, AssignmentPolicy]:
    """The enabled policies of these (workspace, inbox) pairs, by inbox: one query."""
    pairs = set(pairs)
    if not pairs:
        return {}
    rows = AssignmentPolicy.objects.filter(inbox_id__in={inbox for _tenant, inbox in pairs}, enabled=True)
    return {p.inbox_id: p for p in rows.select_related("tenant", "team") if (p.tenant_id, p.inbox_id) in pairs}


def _queues_assign(policies: Iterable[AssignmentPolicy]) -> None:
    """Each inbox's queue once, whatever the number of its events in the batch (the queue is read whole)."""
    for policy in sorted(policies, key=lambda p: p.inbox_id):
        inbox_queue_assign(tenant_id=policy.tenant_id, inbox_id=policy.inbox_id)


def _inboxes_of(received: Sequence[Any], **still: Any) -> set[tuple[int, int]]:
    """The (workspace, inbox) pairs of the events' conversations (those still matching ``still``)."""
    tenant_of = {e.conversation_id: e.tenant_id for e in received}
    rows = Conversation.objects.filter(pk__in=tenant_of, **still).values_list("pk", "tenant_id", "inbox_id")
    return {(tenant_id, inbox_id) for pk, tenant_id, inbox_id in rows if tenant_of[pk] == tenant_id}


# --- the subscribers (``events.subscribe_many``: a delivery job's events at once) ---------------------------


def conversations_created(received: Sequence[events.ConversationCreated]) -> None:
    policies = _policies((e.tenant_id, e.inbox_id) for e in received)
    for event in received:
        policy = policies.get(event.inbox_id)
        if policy is not None and policy.tenant_id == event.tenant_id and policy.team_id is not None:
            with translation.override(policy.tenant.locale), timezone.override(policy.tenant.timezone):
                _team_queue(policy, event.conversation_id)
    _queues_assign(policies.values())


def messages_received(received: Sequence[events.MessageReceived]) -> None:
    # A customer's message may reopen a resolved or snoozed conversation: it joins the queue if unassigned.
    # Most messages are in conversations someone already has: one indexed read for the batch, no lock.
    _queues_assign(_policies(_inboxes_of(received, status=Status.OPEN, assignee__isnull=True)).values())


def conversations_status_changed(received: Sequence[events.ConversationStatusChanged]) -> None:
    # Resolved, pending or snoozed: its agent has room again. Reopened: back in the queue if unassigned.
    _queues_assign(_policies(_inboxes_of(received)).values())


def conversations_assigned(received: Sequence[events.ConversationAssigned]) -> None:
    # Only a change that frees an agent's room or puts a conversation back in the queue matters.
    freeing = [e for e in received if not (e.previous_assignee_id is None and e.assignee_id is not None)]
    if freeing:
        _queues_assign(_policies(_inboxes_of(freeing)).values())


def conversations_team_changed(received: Sequence[events.ConversationTeamChanged]) -> None:
    _queues_assign(_policies((e.tenant_id, e.inbox_id) for e in received).values())


def member_availability_changed(event: events.MemberAvailabilityChanged) -> None:
    inbox_ids = list(
        Inbox.members.through.objects.filter(user_id=event.user_id, inbox__tenant_id=event.tenant_id).values_list(
            "inbox_id", flat=True
        )
    )
    policies = list(
        AssignmentPolicy.objects.filter(tenant_id=event.tenant_id, inbox_id__in=inbox_ids, enabled=True).order_by(
            "inbox_id"
        )
    )
    if event.availability == Membership.Availability.OFFLINE:
        for policy in policies:
            if policy.reassign_on_offline:
                agent_requeue(policy=policy, user_id=event.user_id)
    for policy in policies:
        inbox_queue_assign(tenant_id=event.tenant_id, inbox_id=policy.inbox_id)


def agent_requeue(*, policy: AssignmentPolicy, user_id: int) -> int:
    """Put the agent's open conversations of the policy's inbox back in the queue (unassigned by the
    automation), unless they are online again by now. Returns how many."""
    tenant = Tenant.objects.get(pk=policy.tenant_id)
    requeued = 0
    with translation.override(tenant.locale), timezone.override(tenant.timezone), transaction.atomic():
        locked = (
            AssignmentPolicy.objects.select_for_update(of=("self",))
            .filter(pk=policy.pk, enabled=True, reassign_on_offline=True)
            .first()
        )
        member = Membership.objects.filter(tenant_id=policy.tenant_id, user_id=user_id).first()
        if locked is None or member is None or member.availability != Membership.Availability.OFFLINE:
            return 0
        actor = automation_actor(locked)
        ids = Conversation.objects.filter(
            tenant_id=policy.tenant_id, inbox_id=policy.inbox_id, status=Status.OPEN, assignee_id=user_id
        ).order_by("id")
        for conversation in ids:
            conversation_assign(actor=actor, conversation=conversation, assignee=None)
            requeued += 1
    return requeued


def queues_assign_all(*, now: datetime | None = None) -> int:
    """Every enabled inbox's queue once (the beat job). Returns how many conversations were assigned."""
    waiting = Conversation.objects.filter(status=Status.OPEN, assignee__isnull=True)
    rows = (
        AssignmentPolicy.objects.filter(enabled=True, tenant__active=True)
        .filter(inbox_id__in=waiting.values("inbox_id"))
        .order_by("tenant_id", "inbox_id")
        .values_list("tenant_id", "inbox_id")
    )
    total = 0
    for tenant_id, inbox_id in rows:
        try:
            total += inbox_queue_assign(tenant_id=tenant_id, inbox_id=inbox_id, now=now)
        except Exception:  # one inbox's failure must not stop the others
            logger.exception("Auto-assignment of inbox %s failed", inbox_id)
    return total


# Taking a delivery job's events at once (``events.subscribe_many``).
SUBSCRIPTIONS_MANY: tuple[tuple[Any, Any, str], ...] = (
    (events.ConversationCreated, conversations_created, f"{SUBSCRIBER_PREFIX}.conversation_created"),
    (events.MessageReceived, messages_received, f"{SUBSCRIBER_PREFIX}.message_received"),
    (events.ConversationStatusChanged, conversations_status_changed, f"{SUBSCRIBER_PREFIX}.status_changed"),
    (events.ConversationAssigned, conversations_assigned, f"{SUBSCRIBER_PREFIX}.assigned"),
    (events.ConversationTeamChanged, conversations_team_changed, f"{SUBSCRIBER_PREFIX}.team_changed"),
)
SUBSCRIPTIONS: tuple[tuple[Any, Any, str], ...] = (
    (events.MemberAvailabilityChanged, member_availability_changed, f"{SUBSCRIBER_PREFIX}.availability_changed"),
)
