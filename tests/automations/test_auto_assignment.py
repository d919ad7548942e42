"""Auto-assignment's rules: who gets a conversation (online, inside their team's hours, under capacity),
in which order (round-robin, least-open, the longest-waiting first), what the core records of it, and
what happens when an agent goes offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from automations.assignment import agent_requeue, inbox_queue_assign, queues_assign_all
from automations.models import AgentCapacity, AssignmentPolicy, BusinessCalendar, TeamSettings
from conversations.models import Conversation, Message, OutboxEvent, Team, TeamMember
from conversations.services.actions import conversation_assign, conversation_status_set
from conversations.services.library import membership_availability_set
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import BuiltinRole
from tests.automations.factories import make_calendar
from tests.conversations.factories import make_conversation, make_inbox, make_role
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 8, 13, 0, tzinfo=UTC)  # a Tuesday, 10:00 in São Paulo


def agent(tenant, name: str, availability: str = "online") -> Membership:
    member = add_member(tenant, BuiltinRole.AGENT, user=make_user(name=name))
    Membership.objects.filter(pk=member.pk).update(availability=availability)
    member.availability = availability
    return member


def policy(inbox, **fields) -> AssignmentPolicy:
    values = {"enabled": True, "capacity": 3, **fields}
    return AssignmentPolicy.objects.create(tenant_id=inbox.tenant_id, inbox=inbox, **values)


def waiting(inbox, minutes_ago: int, **fields) -> Conversation:
    return make_conversation(inbox, waiting_since=T0 - timedelta(minutes=minutes_ago), **fields)


def assignees(*conversations: Conversation) -> list[int | None]:
    return [Conversation.objects.get(pk=c.pk).assignee_id for c in conversations]


def team(tenant, name: str, *members: Membership, calendar: BusinessCalendar | None = None) -> Team:
    row = Team.objects.create(tenant=tenant, name=name)
    for member in members:
        TeamMember.objects.create(tenant=tenant, team=row, user=member.user)
    if calendar is not None:
        TeamSettings.objects.create(tenant=tenant, team=row, calendar=calendar)
    return row


@pytest.fixture
def now(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: T0)
    return T0


def test_only_online_agents_get_conversations(tenant, now):
    ana, bia, caio = agent(tenant, "Ana"), agent(tenant, "Bia", "busy"), agent(tenant, "Caio", "offline")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia, caio])
    policy(inbox, capacity=10)
    conversations = [waiting(inbox, 30 - i) for i in range(3)]
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 3
    assert assignees(*conversations) == [ana.user_id] * 3


def test_nobody_online_leaves_the_queue_as_it_is(tenant, now):
    bia = agent(tenant, "Bia", "busy")
    inbox = make_inbox(tenant, name="Vendas", members=[bia])
    policy(inbox)
    conversation = waiting(inbox, 5)
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 0
    assert assignees(conversation) == [None]
    assert not Message.objects.filter(conversation=conversation).exists()


def test_a_disabled_policy_assigns_nothing(tenant, now):
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    policy(inbox, enabled=False)
    conversation = waiting(inbox, 5)
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 0
    assert assignees(conversation) == [None]


def test_members_of_other_inboxes_and_agents_who_cannot_reply_are_skipped(tenant, now):
    outsider = agent(tenant, "Outsider")
    reader = add_member(tenant, make_role(tenant, []), user=make_user(name="Reader"))
    Membership.objects.filter(pk=reader.pk).update(availability="online")
    ana = agent(tenant, "Ana")
    make_inbox(tenant, name="Outra", members=[outsider])
    inbox = make_inbox(tenant, name="Vendas", members=[reader, ana])
    policy(inbox)
    conversation = waiting(inbox, 5)
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert assignees(conversation) == [ana.user_id]


def test_capacity_is_never_exceeded_and_the_rest_wait(tenant, now):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    policy(inbox, capacity=2)
    busy = make_conversation(inbox, assignee=ana)  # Ana already has one open
    conversations = [waiting(inbox, 60 - i) for i in range(5)]
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 3
    # Round-robin from the lowest id, skipping Ana once she is full (1 open + 1 new = 2).
    first, second = sorted([ana.user_id, bia.user_id])
    expected = [first, second, bia.user_id] if first == ana.user_id else [bia.user_id, ana.user_id, bia.user_id]
    assert assignees(*conversations) == [*expected, None, None]  # the two who waited least wait on
    assert assignees(busy) == [ana.user_id]


def test_resolved_pending_and_other_inboxes_conversations_do_not_count(tenant, now):
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    other = make_inbox(tenant, name="Outra", members=[ana])
    policy(inbox, capacity=1)
    make_conversation(inbox, assignee=ana, status="resolved")
    make_conversation(inbox, assignee=ana, status="pending")
    make_conversation(other, assignee=ana)
    conversation = waiting(inbox, 5)
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert assignees(conversation) == [ana.user_id]


def test_an_agents_own_capacity_in_the_inbox_replaces_the_default(tenant, now):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    policy(inbox, capacity=1, method="least_open")
    AgentCapacity.objects.create(tenant=tenant, user=ana.user, inbox=inbox, capacity=3)
    AgentCapacity.objects.create(tenant=tenant, user=bia.user, inbox=inbox, capacity=0)
    conversations = [waiting(inbox, 60 - i) for i in range(5)]
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 3
    assert assignees(*conversations) == [ana.user_id] * 3 + [None, None]


def test_an_overall_capacity_counts_every_inbox(tenant, now):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    other = make_inbox(tenant, name="Outra", members=[ana])
    policy(inbox, capacity=5, method="least_open")
    AgentCapacity.objects.create(tenant=tenant, user=ana.user, inbox=None, capacity=2)
    make_conversation(other, assignee=ana)
    conversations = [waiting(inbox, 60 - i) for i in range(4)]
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    # Ana has the fewest here (none) and the lower id: one more and she is at 2 across inboxes.
    assert assignees(*conversations) == [ana.user_id, bia.user_id, bia.user_id, bia.user_id]


def test_round_robin_takes_agents_in_turn_across_runs(tenant, now):
    ana, bia, caio = agent(tenant, "Ana"), agent(tenant, "Bia"), agent(tenant, "Caio")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia, caio])
    rule = policy(inbox, capacity=10, method="round_robin")
    first = [waiting(inbox, 60 - i) for i in range(4)]
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    order = sorted([ana.user_id, bia.user_id, caio.user_id])
    assert assignees(*first) == [order[0], order[1], order[2], order[0]]
    rule.refresh_from_db()
    assert rule.last_assignee_id == order[0]
    later = [waiting(inbox, 10 - i) for i in range(2)]
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert assignees(*later) == [order[1], order[2]]


def test_least_open_picks_the_agent_with_the_fewest_open_conversations(tenant, now):
    ana, bia, caio = agent(tenant, "Ana"), agent(tenant, "Bia"), agent(tenant, "Caio")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia, caio])
    policy(inbox, capacity=10, method="least_open")
    for _ in range(2):
        make_conversation(inbox, assignee=ana)
    make_conversation(inbox, assignee=bia)
    conversations = [waiting(inbox, 60 - i) for i in range(3)]
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    # Caio (0) first; then Bia and Caio tie at 1 and the lower id wins; then whoever of them is left at 1.
    first_tie, second_tie = sorted([bia.user_id, caio.user_id])
    assert assignees(*conversations) == [caio.user_id, first_tie, second_tie]


def test_the_longest_waiting_go_first(tenant, now):
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    policy(inbox, capacity=2)
    recent = waiting(inbox, 1)
    oldest = waiting(inbox, 90)
    middle = waiting(inbox, 30)
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert assignees(oldest, middle, recent) == [ana.user_id, ana.user_id, None]


def test_a_conversation_in_a_teams_queue_goes_only_to_its_members(tenant, now):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    sales = team(tenant, "Vendas", bia)
    policy(inbox, capacity=5, method="round_robin")
    in_team = [waiting(inbox, 60 - i, team=sales) for i in range(3)]
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert assignees(*in_team) == [bia.user_id] * 3


def test_agents_outside_their_teams_hours_are_skipped(tenant, now, admin):
    # Tuesday 10:00 in São Paulo: the day team works, the night team (22:00-06:00) does not.
    from datetime import time

    from automations.services import WeeklySpec

    night = make_calendar(admin, name="Noite", weekly=tuple(WeeklySpec(d, time(22), time(6)) for d in range(7)))
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    team(tenant, "Noturno", ana, calendar=night)
    team(tenant, "Diurno", bia)  # keeps no hours of its own: always available
    policy(inbox, capacity=5)
    conversations = [waiting(inbox, 60 - i) for i in range(2)]
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert assignees(*conversations) == [bia.user_id, bia.user_id]


def test_a_teams_queue_waits_outside_the_teams_hours_and_is_served_when_they_start(tenant, admin, monkeypatch):
    from datetime import time

    from automations.services import WeeklySpec

    clock = {"now": T0}
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock["now"])
    night = make_calendar(admin, name="Noite", weekly=tuple(WeeklySpec(d, time(22), time(6)) for d in range(7)))
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    night_team = team(tenant, "Noturno", ana, calendar=night)
    policy(inbox, capacity=5)
    conversation = waiting(inbox, 5, team=night_team)
    assert queues_assign_all() == 0
    assert assignees(conversation) == [None]
    clock["now"] = datetime(2026, 9, 9, 1, 30, tzinfo=UTC)  # 22:30 in São Paulo
    assert queues_assign_all() == 1
    assert assignees(conversation) == [ana.user_id]


def test_each_assignment_is_the_cores_with_a_history_line_naming_the_automation(tenant, now):
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    rule = policy(inbox)
    conversation = waiting(inbox, 5)
    inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk)
    assert list(
        Message.objects.filter(conversation=conversation, sender_type="system").values_list("text", flat=True)
    ) == ["Assigned to Ana by automation 'Auto-assignment'"]
    [entry] = AuditLogEntry.objects.filter(tenant=tenant, action="conversation.assigned")
    assert entry.extra == {"from": None, "to": ana.user_id}
    assert entry.actor_id is None
    assert entry.actor_label == f"automation 'Auto-assignment' (#{rule.pk})"
    [event] = OutboxEvent.objects.filter(event_type="conversation.assigned")
    assert (event.payload["assignee_id"], event.payload["actor_type"], event.payload["actor_id"]) == (
        ana.user_id,
        "automation",
        rule.pk,
    )


def test_a_conversation_taken_meanwhile_is_not_assigned_again(tenant, now):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    policy(inbox)
    conversation = waiting(inbox, 5)
    conversation_assign(actor=bia, conversation=conversation, assignee=bia.user)
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 0
    assert assignees(conversation) == [bia.user_id]
    assert OutboxEvent.objects.filter(event_type="conversation.assigned").count() == 1


# --- through the core's events --------------------------------------------------------------------------


def test_a_new_conversation_is_assigned_when_the_customer_writes(
    tenant, django_capture_on_commit_callbacks, monkeypatch
):
    from conversations.services.inbound import InboundSpec, message_receive
    from tests.whatsapp.conftest import make_channel

    channel = make_channel(tenant)
    ana = agent(tenant, "Ana")
    channel.inbox.members.add(ana.user)
    policy(channel.inbox)
    spec = InboundSpec(
        source_id="5511987650000",
        external_id="wamid.assign-1",
        occurred_at=timezone.now(),
        type="text",
        text="Oi",
        profile_name="Maria",
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = message_receive(inbox=channel.inbox, spec=spec)
    assert assignees(message.conversation) == [ana.user_id]


def test_a_policys_team_gets_new_conversations_in_its_queue(tenant, django_capture_on_commit_callbacks):
    from conversations.services.inbound import InboundSpec, message_receive
    from tests.whatsapp.conftest import make_channel

    channel = make_channel(tenant)
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    channel.inbox.members.add(ana.user, bia.user)
    sales = team(tenant, "Vendas", bia)
    policy(channel.inbox, team=sales)
    spec = InboundSpec(
        source_id="5511987650001",
        external_id="wamid.assign-2",
        occurred_at=timezone.now(),
        type="text",
        text="Oi",
        profile_name="Maria",
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = message_receive(inbox=channel.inbox, spec=spec)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert (conversation.team_id, conversation.assignee_id) == (sales.pk, bia.user_id)
    assert list(
        Message.objects.filter(conversation=conversation, sender_type="system")
        .order_by("id")
        .values_list("text", flat=True)
    ) == ["Moved to team Vendas by automation 'Auto-assignment'", "Assigned to Bia by automation 'Auto-assignment'"]


def test_when_an_agent_resolves_one_the_longest_waiting_is_assigned(tenant, now, django_capture_on_commit_callbacks):
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    policy(inbox, capacity=1)
    mine = make_conversation(inbox, assignee=ana)
    recent, oldest = waiting(inbox, 2), waiting(inbox, 40)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_status_set(actor=ana, conversation=mine, status="resolved")
    assert assignees(oldest, recent) == [ana.user_id, None]


def test_an_agent_coming_online_gets_the_queue(tenant, now, django_capture_on_commit_callbacks):
    ana = agent(tenant, "Ana", "offline")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    policy(inbox, capacity=5)
    conversations = [waiting(inbox, 10 - i) for i in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        membership_availability_set(membership=ana, availability="online")
    assert assignees(*conversations) == [ana.user_id, ana.user_id]
    [event] = OutboxEvent.objects.filter(event_type="member.availability_changed")
    assert (event.payload["user_id"], event.payload["previous_availability"], event.payload["availability"]) == (
        ana.user_id,
        "offline",
        "online",
    )


def test_going_offline_requeues_and_reassigns_when_the_policy_says_so(tenant, now, django_capture_on_commit_callbacks):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    policy(inbox, capacity=5, reassign_on_offline=True)
    hers = [make_conversation(inbox, assignee=ana) for _ in range(2)]
    resolved = make_conversation(inbox, assignee=ana, status="resolved")
    with django_capture_on_commit_callbacks(execute=True):
        membership_availability_set(membership=ana, availability="offline")
    assert assignees(*hers) == [bia.user_id, bia.user_id]
    assert assignees(resolved) == [ana.user_id]
    texts = list(
        Message.objects.filter(conversation=hers[0], sender_type="system").order_by("id").values_list("text", flat=True)
    )
    assert texts == [
        "Unassigned by automation 'Auto-assignment'",
        "Assigned to Bia by automation 'Auto-assignment'",
    ]


def test_going_offline_keeps_the_conversations_when_the_policy_does_not_say_so(
    tenant, now, django_capture_on_commit_callbacks
):
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    inbox = make_inbox(tenant, name="Vendas", members=[ana, bia])
    policy(inbox, capacity=5, reassign_on_offline=False)
    hers = make_conversation(inbox, assignee=ana)
    with django_capture_on_commit_callbacks(execute=True):
        membership_availability_set(membership=ana, availability="offline")
    assert assignees(hers) == [ana.user_id]
    assert not Message.objects.filter(conversation=hers).exists()


def test_requeue_does_nothing_if_the_agent_is_back_online(tenant, now):
    ana = agent(tenant, "Ana")
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    rule = policy(inbox, reassign_on_offline=True)
    hers = make_conversation(inbox, assignee=ana)
    assert agent_requeue(policy=rule, user_id=ana.user_id) == 0
    assert assignees(hers) == [ana.user_id]


def test_owner_is_untouched(tenant):
    # The workspace's owner is no agent of the inbox: never chosen.
    owner = owner_of(tenant)
    Membership.objects.filter(pk=owner.pk).update(availability="online")
    inbox = make_inbox(tenant, name="Vendas")
    policy(inbox)
    conversation = make_conversation(inbox)
    assert inbox_queue_assign(tenant_id=tenant.pk, inbox_id=inbox.pk) == 0
    assert assignees(conversation) == [None]


def test_a_burst_of_new_conversations_in_one_job_runs_the_queue_once_and_assigns_each_once(
    tenant, in_one_job, monkeypatch
):
    from automations import assignment
    from conversations.services.inbound import InboundSpec, message_receive
    from tests.whatsapp.conftest import make_channel

    channel = make_channel(tenant)
    ana, bia = agent(tenant, "Ana"), agent(tenant, "Bia")
    channel.inbox.members.add(ana.user, bia.user)
    policy(channel.inbox, capacity=2)
    runs: list[int] = []
    real = assignment.inbox_queue_assign

    def counted(**kwargs):
        runs.append(kwargs["inbox_id"])
        return real(**kwargs)

    monkeypatch.setattr(assignment, "inbox_queue_assign", counted)
    written = []

    def burst() -> None:
        for n in range(6):
            spec = InboundSpec(
                source_id=f"55119876500{n:02d}",
                external_id=f"wamid.burst-{n}",
                occurred_at=timezone.now() + timedelta(seconds=n),
                type="text",
                text="Oi",
                profile_name=f"Cliente {n}",
            )
            written.append(message_receive(inbox=channel.inbox, spec=spec)[0].conversation)

    in_one_job(burst, subscribers=("automations.auto_assign.conversation_created",))

    assert runs == [channel.inbox_id]  # six events, one run of the inbox's queue
    given = assignees(*written)
    # Capacity 2 each: the four who waited longest are assigned, two each; the last two wait.
    assert given[:4].count(ana.user_id) == 2 and given[:4].count(bia.user_id) == 2
    assert given[4:] == [None, None]
    events_per_conversation = [
        e.payload["conversation_id"] for e in OutboxEvent.objects.filter(event_type="conversation.assigned")
    ]
    assert sorted(events_per_conversation) == sorted(c.pk for c in written[:4])
