"""SLA clocks: which policy applies to a conversation, and each metric's deadline in business time.

A subscriber to the core's events (``sla_events``) brings a conversation's clocks in line with its state,
counted from the event's moment (``sla_sync``):

- **Policy**: the first enabled ``SlaPolicy`` (by order) whose inboxes, labels and priorities match (an empty
  list matches any); looked up again on each event, so a new label or priority can change it. A clock of a
  metric the new policy has no target for stops; one whose target changed keeps the business time it used.
- **First response**: from the customer's first message to the first reply of a person (an agent's message
  to the customer; not an automation's, an integration's or a note).
- **Next response**: after a reply, from the customer's first message since, to the next reply of a person.
- **Resolution**: from the conversation's opening (a reopened one: the reopening) to resolved.
- **Pause**: pending and snoozed pause every clock (the time in them does not count); a clock started while
  paused starts paused. Resolving stops the response clocks that still run.
- **Business time**: with "business hours only" (the default), in the calendar of the conversation's team
  if it is in a team's queue and the team keeps one, else of its inbox (none: every hour counts); otherwise
  every hour counts.

Then the core's ``conversation_sla_set`` gets the nearest unmet deadline and when the earliest unmet one passed,
which the inbox shows, sorts and filters by. The breach job is ``sla_breaches``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from automations import business_hours
from automations.business_hours import Calendar
from automations.models import BusinessCalendar, ConversationSla, SlaClock, SlaMetric, SlaPolicy
from automations.selectors import Calendars
from conversations import events
from conversations.events import by_conversation
from conversations.models import Conversation, ConversationLabel, Message
from conversations.services.sla import conversation_sla_set
from tenants.timezones import UTC

logger = logging.getLogger(__name__)

METRICS = tuple(SlaMetric.values)
PAUSED = (Conversation.Status.PENDING, Conversation.Status.SNOOZED)
ALWAYS_OPEN = Calendar(zone=UTC, mode=business_hours.OPEN)

# Called after a breach is recorded (after its commit), each with ``tenant_id=``, ``conversation_id=`` and
# ``breach_id=``: how automation rules subscribe to "SLA breached". A listener that raises is logged.
breach_listeners: list[Callable[..., Any]] = []


# --- which policy, which calendar --------------------------------------------------------------------


def policy_matches(policy: SlaPolicy, *, inbox_id: int, label_ids: set[int], priority: str) -> bool:
    if policy.inbox_ids and inbox_id not in policy.inbox_ids:
        return False
    if policy.label_ids and not label_ids.intersection(policy.label_ids):
        return False
    return not policy.priorities or priority in policy.priorities


def policy_for(conversation: Conversation) -> SlaPolicy | None:
    """The first enabled policy of the workspace, by order, that applies to the conversation."""
    policies = list(SlaPolicy.objects.filter(tenant_id=conversation.tenant_id, enabled=True).order_by("position", "id"))
    if not policies:
        return None
    label_ids = set(
        ConversationLabel.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation).values_list(
            "label_id", flat=True
        )
    )
    for policy in policies:
        if policy_matches(policy, inbox_id=conversation.inbox_id, label_ids=label_ids, priority=conversation.priority):
            return policy
    return None


def calendar_of(
    conversation: Conversation, policy: SlaPolicy | None, calendars: Calendars
) -> tuple[BusinessCalendar | None, Calendar]:
    """The calendar business time is counted in, when the policy counts business hours only: the team's if the
    conversation is in a team's queue and the team keeps one, else the inbox's (None and every hour counting:
    neither keeps one, or the policy counts every hour). From ``calendars``, each read once per batch."""
    if policy is None or not policy.business_hours_only:
        return None, ALWAYS_OPEN
    loaded = None
    if conversation.team_id is not None:
        loaded = calendars.of_team(tenant_id=conversation.tenant_id, team_id=conversation.team_id)
    if loaded is None:
        loaded = calendars.of_inbox(tenant_id=conversation.tenant_id, inbox_id=conversation.inbox_id)
    return loaded if loaded is not None else (None, ALWAYS_OPEN)


# --- one clock ---------------------------------------------------------------------------------------


def _due(calendar: Calendar, start: datetime, remaining: float, fallback: datetime | None) -> datetime | None:
    if remaining <= 0:
        return fallback if fallback is not None else start
    return business_hours.business_add(calendar, start, remaining)


def clock_pause(clock: SlaClock, calendar: Calendar, at: datetime) -> None:
    if not clock.running or clock.paused_at is not None or clock.resumed_at is None:
        return
    at = max(at, clock.resumed_at)
    clock.remaining_seconds -= round(business_hours.business_seconds(calendar, clock.resumed_at, at))
    clock.resumed_at = None
    clock.paused_at = at


def clock_resume(clock: SlaClock, calendar: Calendar, at: datetime) -> None:
    if not clock.running or clock.paused_at is None:
        return
    at = max(at, clock.paused_at)
    clock.paused_seconds += round((at - clock.paused_at).total_seconds())
    clock.paused_at = None
    clock.resumed_at = at
    clock.due_at = _due(calendar, at, clock.remaining_seconds, clock.due_at)


def clock_rebase(clock: SlaClock, old: Calendar, new: Calendar, at: datetime) -> None:
    """The calendar changed (a team's instead of the inbox's): the business time used so far was counted in the
    old one, the rest is counted in the new one from ``at``."""
    if not clock.running or clock.resumed_at is None:
        return
    at = max(at, clock.resumed_at)
    clock.remaining_seconds -= round(business_hours.business_seconds(old, clock.resumed_at, at))
    clock.resumed_at = at
    clock.due_at = _due(new, at, clock.remaining_seconds, clock.due_at)


def clock_retarget(clock: SlaClock, calendar: Calendar, target_seconds: int, at: datetime) -> None:
    """A new target for a running clock: the business time it used so far still counts."""
    if not clock.running or clock.target_seconds == target_seconds:
        return
    if clock.resumed_at is not None:
        at = max(at, clock.resumed_at)
        clock.remaining_seconds -= round(business_hours.business_seconds(calendar, clock.resumed_at, at))
        clock.resumed_at = at
    clock.remaining_seconds += target_seconds - clock.target_seconds
    clock.target_seconds = target_seconds
    if clock.resumed_at is not None:
        clock.due_at = _due(calendar, clock.resumed_at, clock.remaining_seconds, at)


def _clock_start(
    state: ConversationSla, metric: str, cycle: int, start: datetime, calendar: Calendar, target_seconds: int
) -> SlaClock:
    clock = SlaClock(
        tenant_id=state.tenant_id,
        conversation_id=state.conversation_id,
        policy=state.policy,
        metric=metric,
        cycle=cycle,
        target_seconds=target_seconds,
        started_at=start,
        resumed_at=start,
        remaining_seconds=target_seconds,
        due_at=business_hours.business_add(calendar, start, target_seconds),
    )
    if state.paused_at is not None:
        clock_pause(clock, calendar, state.paused_at)
    return clock


# --- a conversation's clocks -------------------------------------------------------------------------


@dataclass
class _Clocks:
    latest: dict[str, SlaClock]

    def running(self, metric: str) -> SlaClock | None:
        clock = self.latest.get(metric)
        return clock if clock is not None and clock.running else None


def _latest_clocks(state: ConversationSla) -> _Clocks:
    latest: dict[str, SlaClock] = {}
    rows = SlaClock.objects.filter(tenant_id=state.tenant_id, conversation_id=state.conversation_id).order_by(
        "metric", "-cycle"
    )
    for clock in rows:
        latest.setdefault(clock.metric, clock)
    return _Clocks(latest)


def _agent_replies(conversation: Conversation) -> Any:
    """A person's messages to the customer (their first after a moment meets a response clock)."""
    return (
        Message.objects.filter(
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.pk,
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.SenderType.AGENT,
            private=False,
        )
        .exclude(type=Message.Type.SYSTEM)
        .exclude(status=Message.Status.FAILED)
    )


def _customer_messages(conversation: Conversation) -> Any:
    return Message.objects.filter(
        tenant_id=conversation.tenant_id, conversation_id=conversation.pk, direction=Message.Direction.INBOUND
    )


def _first_reply_at(conversation: Conversation, since: datetime) -> datetime | None:
    return (  # type: ignore[no-any-return]
        _agent_replies(conversation)
        .filter(occurred_at__gte=since)
        .order_by("occurred_at", "id")
        .values_list("occurred_at", flat=True)
        .first()
    )


def sla_sync(
    *, tenant_id: int, conversation_id: int, at: datetime | None = None, calendars: Calendars | None = None
) -> ConversationSla | None:
    """Bring the conversation's clocks in line with its state as of ``at`` (the event's moment), and the
    core's SLA columns with the clocks. One at a time per conversation (its SLA row is locked). ``calendars``:
    a batch's calendars, read once for all its conversations."""
    at = at or timezone.now()
    calendars = calendars or Calendars()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_related("inbox", "tenant")
            .filter(tenant_id=tenant_id, pk=conversation_id)
            .first()
        )
        if conversation is None:
            return None
        ConversationSla.objects.bulk_create(
            [ConversationSla(tenant_id=tenant_id, conversation_id=conversation_id)], ignore_conflicts=True
        )
        state = (
            ConversationSla.objects.select_for_update(of=("self",))
            .select_related("policy")
            .get(tenant_id=tenant_id, conversation_id=conversation_id)
        )
        policy = policy_for(conversation)
        record, calendar = calendar_of(conversation, policy, calendars)
        clocks = _latest_clocks(state)
        changed: dict[int, SlaClock] = {}
        new: list[SlaClock] = []

        def touch(clock: SlaClock) -> None:
            if clock.pk is not None:
                changed[clock.pk] = clock

        # The calendar: the time used so far stays counted in the one it was counted in.
        if (record.pk if record is not None else None) != state.calendar_id:
            old_loaded = (
                calendars.by_id(tenant_id=tenant_id, calendar_id=state.calendar_id) if state.calendar_id else None
            )
            old = old_loaded[1] if old_loaded is not None else ALWAYS_OPEN
            for metric in METRICS:
                if (clock := clocks.running(metric)) is not None:
                    clock_rebase(clock, old, calendar, at)
                    touch(clock)
            state.calendar = record

        # The policy: a metric it has no target for stops, a changed target keeps the time used.
        if (policy.pk if policy else None) != state.policy_id:
            state.policy = policy
        for metric in METRICS:
            clock = clocks.running(metric)
            if clock is None:
                continue
            minutes = policy.target_minutes(metric) if policy is not None else None
            if minutes is None:
                clock.stopped_at = at
            else:
                clock_retarget(clock, calendar, minutes * 60, at)
                clock.policy = policy
            touch(clock)

        # Pause and resume.
        paused = conversation.status in PAUSED
        if paused and state.paused_at is None:
            state.paused_at = at
            for metric in METRICS:
                if (clock := clocks.running(metric)) is not None:
                    clock_pause(clock, calendar, at)
                    touch(clock)
        elif not paused and state.paused_at is not None:
            state.paused_at = None
            for metric in METRICS:
                if (clock := clocks.running(metric)) is not None:
                    clock_resume(clock, calendar, at)
                    touch(clock)

        resolved = conversation.status == Conversation.Status.RESOLVED
        if resolved:
            for metric in METRICS:
                if (clock := clocks.running(metric)) is not None:
                    if metric == SlaMetric.RESOLUTION:
                        clock.met_at = conversation.resolved_at or at
                    else:
                        clock.stopped_at = conversation.resolved_at or at
                    touch(clock)

        # Responses met by a person's reply.
        for metric in (SlaMetric.FIRST_RESPONSE, SlaMetric.NEXT_RESPONSE):
            clock = clocks.running(metric)
            if clock is not None and (replied := _first_reply_at(conversation, clock.started_at)) is not None:
                clock.met_at = replied
                touch(clock)

        if policy is not None and not resolved:
            new += _clocks_due(conversation, state, clocks, policy, calendar, at)

        state.save()
        for clock in changed.values():
            clock.save()
        if new:
            SlaClock.objects.bulk_create(new, ignore_conflicts=True)
        due_at, breached_at = conversation_deadlines(state)
        if (conversation.sla_due_at, conversation.sla_breached_at) != (due_at, breached_at):
            # Unchanged (most events): the conversation's row is not locked, nor pushed to the inbox again.
            conversation_sla_set(conversation=conversation, due_at=due_at, breached_at=breached_at)
    return state


def _clocks_due(
    conversation: Conversation,
    state: ConversationSla,
    clocks: _Clocks,
    policy: SlaPolicy,
    calendar: Calendar,
    at: datetime,
) -> list[SlaClock]:
    """The clocks the conversation's state starts now."""
    new = []
    first = clocks.latest.get(SlaMetric.FIRST_RESPONSE)
    next_ = clocks.latest.get(SlaMetric.NEXT_RESPONSE)
    customer = _customer_messages(conversation)
    if first is None and (minutes := policy.first_response_minutes) is not None:
        started = customer.order_by("occurred_at", "id").values_list("occurred_at", flat=True).first()
        if started is not None and _first_reply_at(conversation, started) is None:
            new.append(_clock_start(state, SlaMetric.FIRST_RESPONSE, 0, started, calendar, minutes * 60))
            first = new[-1]
    if (
        (minutes := policy.next_response_minutes) is not None
        and first is not None
        and not first.running
        and (next_ is None or not next_.running)
    ):
        # The customer's first message after the last reply of a person, if it came after the last clock.
        last_reply = (
            _agent_replies(conversation).order_by("-occurred_at", "-id").values_list("occurred_at", flat=True).first()
        )
        # No reply of a person yet (the first response stopped as it was resolved): since it stopped.
        since = last_reply if last_reply is not None else first.stopped_at
        waiting = customer.filter(occurred_at__gt=since) if since is not None else customer.none()
        started = waiting.order_by("occurred_at", "id").values_list("occurred_at", flat=True).first()
        if started is not None and (next_ is None or started > next_.started_at):
            cycle = next_.cycle + 1 if next_ is not None else 0
            new.append(_clock_start(state, SlaMetric.NEXT_RESPONSE, cycle, started, calendar, minutes * 60))
    resolution = clocks.latest.get(SlaMetric.RESOLUTION)
    if (minutes := policy.resolution_minutes) is not None and (resolution is None or not resolution.running):
        if resolution is None:
            new.append(_clock_start(state, SlaMetric.RESOLUTION, 0, conversation.created_at, calendar, minutes * 60))
        elif resolution.met_at is not None:  # reopened: a new opening
            started = max(at, resolution.met_at)
            new.append(_clock_start(state, SlaMetric.RESOLUTION, resolution.cycle + 1, started, calendar, minutes * 60))
    return new


def conversation_deadlines(state: ConversationSla) -> tuple[datetime | None, datetime | None]:
    """(the nearest deadline of a running clock, the earliest deadline passed among unmet clocks)."""
    due: datetime | None = None
    breached: datetime | None = None
    now = timezone.now()
    running = SlaClock.objects.filter(
        tenant_id=state.tenant_id,
        conversation_id=state.conversation_id,
        met_at__isnull=True,
        stopped_at__isnull=True,
        due_at__isnull=False,
    ).values_list("due_at", "paused_at", "breached_at")
    for due_at, paused_at, breached_at in running:
        if due_at is None:
            continue
        if paused_at is None:
            due = due_at if due is None else min(due, due_at)
        if breached_at is not None or (paused_at is None and due_at <= now):
            breached = due_at if breached is None else min(breached, due_at)
    return due, breached


# --- the subscriber ---------------------------------------------------------------------------------

SUBSCRIBERS = {
    events.ConversationCreated: "automations.sla.conversation_created",
    events.MessageReceived: "automations.sla.message_received",
    events.MessageSent: "automations.sla.message_sent",
    events.ConversationStatusChanged: "automations.sla.status_changed",
    events.ConversationAssigned: "automations.sla.assigned",
    events.ConversationTeamChanged: "automations.sla.team_changed",
    events.ConversationPriorityChanged: "automations.sla.priority_changed",
    events.ConversationLabelsChanged: "automations.sla.labels_changed",
}


def event_moment(event: events.Event) -> datetime:
    """When the event happened: the clocks count from there, however late its delivery."""
    return event.occurred_at


SETTLED_BY_STATE = (
    events.MessageReceived,
    events.ConversationLabelsChanged,
    events.ConversationPriorityChanged,
    events.ConversationAssigned,
)


def sla_events(received: Sequence[Any]) -> None:
    """A delivery job's events of one kind (``events.subscribe_many``), each bringing its conversation's clocks
    in line as of when it happened (``sla_sync``). What the clocks need is read for the whole batch at once
    (``_settled``): a workspace without policies, and most events (a customer's later messages, a label the
    policy does not look at), change nothing and cost the batch's few statements; the others are synced one
    by one, in order. Only a person's message meets a response clock: the others' ``MessageSent`` are not."""
    wanted = [
        e for e in received if not (isinstance(e, events.MessageSent) and e.sender_type != Message.SenderType.AGENT)
    ]
    if not wanted:
        return
    # A person's reply meets clocks, a status pauses, stops or restarts them, a team may change the calendar:
    # those are synced whenever the workspace counts. The others change a clock only through what is compared.
    calendars = Calendars()
    settled = _settled(wanted, calendars, compare=isinstance(wanted[0], SETTLED_BY_STATE))
    for event in by_conversation(wanted):
        if event.conversation_id not in settled:
            sla_sync(
                tenant_id=event.tenant_id,
                conversation_id=event.conversation_id,
                at=event_moment(event),
                calendars=calendars,
            )


def _settled(received: Sequence[Any], calendars: Calendars, *, compare: bool) -> set[int]:
    """The conversations with nothing to count (their workspace keeps no policy and they have no SLA row) and,
    with ``compare``, those whose clocks, as the batch finds them, already are what a sync would make them: the
    policy and calendar they would get are the ones they have, the pause follows the status, and each metric
    the policy times has its clock, running with the policy's target (next response: while the first one
    runs, or its own runs). Only ever too few: the others are synced, which is always right. Their events
    change nothing a sync reads but the moment, which matters only to a change."""
    conversation_ids = {e.conversation_id for e in received}
    tenant_of = {e.conversation_id: e.tenant_id for e in received}
    policies: dict[int, list[SlaPolicy]] = {}
    for row in SlaPolicy.objects.filter(tenant_id__in=set(tenant_of.values()), enabled=True).order_by("position", "id"):
        policies.setdefault(row.tenant_id, []).append(row)
    states = {
        state.conversation_id: state
        for state in ConversationSla.objects.filter(conversation_id__in=conversation_ids)
        if tenant_of.get(state.conversation_id) == state.tenant_id
    }
    # Without policies nor clocks: nothing to count.
    candidates = {pk for pk in conversation_ids if pk in states or policies.get(tenant_of[pk])}
    nothing = conversation_ids - candidates
    if not candidates or not compare:
        return nothing
    conversations = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=candidates).only(
            "pk", "tenant_id", "inbox_id", "team_id", "status", "priority"
        )
        if c.tenant_id == tenant_of[c.pk]
    }
    labels: dict[int, set[int]] = {}
    for conversation_id, label_id in ConversationLabel.objects.filter(conversation_id__in=candidates).values_list(
        "conversation_id", "label_id"
    ):
        labels.setdefault(conversation_id, set()).add(label_id)
    latest: dict[int, dict[str, SlaClock]] = {}
    for clock in SlaClock.objects.filter(conversation_id__in=[pk for pk in candidates if pk in states]).order_by(
        "conversation_id", "metric", "-cycle"
    ):
        latest.setdefault(clock.conversation_id, {}).setdefault(clock.metric, clock)
    settled = set(nothing)
    for pk, conversation in conversations.items():
        state = states.get(pk)
        if state is None or conversation.status == Conversation.Status.RESOLVED:
            continue
        policy = next(
            (
                p
                for p in policies.get(conversation.tenant_id, [])
                if policy_matches(
                    p, inbox_id=conversation.inbox_id, label_ids=labels.get(pk, set()), priority=conversation.priority
                )
            ),
            None,
        )
        if (policy.pk if policy else None) != state.policy_id:
            continue
        if (conversation.status in PAUSED) != (state.paused_at is not None):
            continue
        record, _calendar = calendar_of(conversation, policy, calendars)
        calendar_id = record.pk if record is not None else None
        if calendar_id != state.calendar_id:
            continue
        if _clocks_complete(policy, latest.get(pk, {})):
            settled.add(pk)
    return settled


def _clocks_complete(policy: SlaPolicy | None, latest: dict[str, SlaClock]) -> bool:
    running = {metric: clock for metric, clock in latest.items() if clock.running}
    if policy is None:
        return not running
    for metric, clock in running.items():
        minutes = policy.target_minutes(metric)
        if minutes is None or clock.target_seconds != minutes * 60 or clock.policy_id != policy.pk:
            return False
    first = latest.get(SlaMetric.FIRST_RESPONSE)
    if policy.first_response_minutes is not None and first is None:
        return False
    waiting = policy.next_response_minutes is not None and first is not None and not first.running
    if waiting and SlaMetric.NEXT_RESPONSE not in running:
        return False  # a customer's message after the last reply may start the next cycle
    return policy.resolution_minutes is None or SlaMetric.RESOLUTION in running


def sla_subscribe() -> None:
    for event_type, name in SUBSCRIBERS.items():
        # Only a person's message meets a response clock: the others are not even delivered.
        when = events.MessageSent.by_agent if event_type is events.MessageSent else None
        events.subscribe_many(event_type, sla_events, name=name, when=when)


# --- reads -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricStatus:
    metric: str
    cycle: int
    target_minutes: int
    started_at: datetime
    due_at: datetime | None
    paused: bool
    met_at: datetime | None
    stopped_at: datetime | None
    breached_at: datetime | None
    breached: bool


def conversation_sla_status(conversation: Conversation) -> tuple[SlaPolicy | None, list[MetricStatus]]:
    """The policy a conversation has and the latest clock of each metric."""
    state = ConversationSla.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation).first()
    if state is None:
        return None, []
    now = timezone.now()
    clocks = _latest_clocks(state).latest
    out = []
    for metric in METRICS:
        clock = clocks.get(metric)
        if clock is None:
            continue
        late = clock.due_at is not None and (
            (clock.met_at is not None and clock.met_at > clock.due_at)
            or (clock.running and clock.paused_at is None and clock.due_at <= now)
        )
        out.append(
            MetricStatus(
                metric=metric,
                cycle=clock.cycle,
                target_minutes=clock.target_seconds // 60,
                started_at=clock.started_at,
                due_at=clock.due_at,
                paused=clock.paused_at is not None,
                met_at=clock.met_at,
                stopped_at=clock.stopped_at,
                breached_at=clock.breached_at,
                breached=clock.breached_at is not None or late,
            )
        )
    policy = SlaPolicy.objects.filter(pk=state.policy_id).first() if state.policy_id else None
    return policy, out
