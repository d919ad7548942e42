"""SLA clocks with a frozen clock: deadlines in business time across closed hours and a holiday, the pause of
pending and snoozed, the next response, the resolution, and the policy chosen again on a label or priority."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automations import business_hours
from automations.models import SlaClock, SlaMetric
from automations.selectors import calendar_load
from tests.automations.sla_helpers import (
    Acts,
    clock_of,
    clocks_of,
    events_at_the_clock,  # noqa: F401
    fresh,
    policy_create,
    sla_state,
    utc,
)
from tests.conversations.factories import make_label

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("events_at_the_clock")]

FIRST, NEXT, RESOLUTION = SlaMetric.FIRST_RESPONSE, SlaMetric.NEXT_RESPONSE, SlaMetric.RESOLUTION


@pytest.fixture
def acts(agent, channel, django_capture_on_commit_callbacks):
    channel.inbox.members.add(agent.user)
    return Acts(agent, django_capture_on_commit_callbacks)


def test_a_friday_evening_message_is_due_on_tuesday_after_the_holiday(admin, office_hours, clock, customer_writes):
    # Friday 4 September 2026, 17:50 in São Paulo (UTC-3); Monday 7 September is Independence Day.
    policy_create(admin, first_response_minutes=30)
    clock.set(utc(2026, 9, 4, 20, 50))
    message = customer_writes("Oi, preciso de ajuda")

    first = clock_of(message.conversation, FIRST)
    # 10 minutes on Friday until 18:00, the other 20 from Tuesday 09:00: 09:20 in São Paulo.
    assert first.due_at == utc(2026, 9, 8, 12, 20)
    assert first.started_at == utc(2026, 9, 4, 20, 50)
    assert first.target_seconds == 1800
    assert fresh(message.conversation).sla_due_at == utc(2026, 9, 8, 12, 20)
    assert fresh(message.conversation).sla_breached_at is None
    assert clocks_of(message.conversation) == [("first_response", 0)]


def test_without_business_hours_only_every_minute_counts(admin, office_hours, clock, customer_writes):
    policy_create(admin, first_response_minutes=30, business_hours_only=False)
    clock.set(utc(2026, 9, 4, 20, 50))
    message = customer_writes()
    assert clock_of(message.conversation, FIRST).due_at == utc(2026, 9, 4, 21, 20)


def test_an_inbox_without_calendar_counts_every_minute(admin, channel, clock, customer_writes):
    policy_create(admin, first_response_minutes=45)
    clock.set(utc(2026, 9, 5, 3, 0))
    message = customer_writes()
    assert fresh(message.conversation).sla_due_at == utc(2026, 9, 5, 3, 45)


def test_business_add_is_the_inverse_of_business_seconds(admin, office_hours):
    calendar = calendar_load(office_hours)
    start = utc(2026, 9, 4, 20, 50)
    for seconds in (0, 60, 600, 1800, 8 * 3600, 30 * 3600):
        end = business_hours.business_add(calendar, start, seconds)
        assert end is not None
        assert business_hours.business_seconds(calendar, start, end) == seconds


def test_the_first_reply_of_a_person_meets_the_first_response(admin, office_hours, clock, customer_writes, acts):
    policy_create(admin, first_response_minutes=30)
    clock.set(utc(2026, 9, 8, 13, 0))  # Tuesday 10:00 in São Paulo
    conversation = customer_writes().conversation
    clock.set(utc(2026, 9, 8, 13, 12))
    acts.reply(conversation)

    first = clock_of(conversation, FIRST)
    assert first.met_at == utc(2026, 9, 8, 13, 12)
    assert first.breached_at is None
    assert fresh(conversation).sla_due_at is None


def test_pending_pauses_the_clock_and_reopening_resumes_it(admin, office_hours, clock, customer_writes, acts):
    policy_create(admin, first_response_minutes=60)
    clock.set(utc(2026, 9, 8, 13, 0))  # Tuesday 10:00
    conversation = customer_writes().conversation
    assert fresh(conversation).sla_due_at == utc(2026, 9, 8, 14, 0)

    clock.set(utc(2026, 9, 8, 13, 20))
    acts.status(conversation, "pending")
    assert fresh(conversation).sla_due_at is None
    first = clock_of(conversation, FIRST)
    assert first.paused_at == utc(2026, 9, 8, 13, 20)
    assert first.remaining_seconds == 40 * 60
    assert sla_state(conversation).paused_at == utc(2026, 9, 8, 13, 20)

    clock.set(utc(2026, 9, 8, 14, 0))
    acts.status(conversation, "open")
    first = clock_of(conversation, FIRST)
    # 40 minutes left from 11:00: 11:40 in São Paulo; the 40 minutes pending did not count.
    assert first.due_at == utc(2026, 9, 8, 14, 40)
    assert first.paused_seconds == 40 * 60
    assert first.paused_at is None
    assert fresh(conversation).sla_due_at == utc(2026, 9, 8, 14, 40)


def test_snoozed_pauses_the_clock_until_the_customer_writes(admin, office_hours, clock, customer_writes, acts):
    policy_create(admin, first_response_minutes=60)
    clock.set(utc(2026, 9, 8, 13, 0))
    conversation = customer_writes("Primeira").conversation
    clock.set(utc(2026, 9, 8, 13, 30))
    acts.status(conversation, "snoozed", snoozed_until=utc(2026, 9, 9, 13, 0))
    assert fresh(conversation).sla_due_at is None

    # The customer writes at 11:15: the snooze ends and the 30 minutes left count from there.
    clock.set(utc(2026, 9, 8, 14, 15))
    customer_writes("Alguém aí?")
    assert fresh(conversation).status == "open"
    assert fresh(conversation).sla_due_at == utc(2026, 9, 8, 14, 45)


def test_a_pause_across_closed_hours_counts_no_business_time(admin, office_hours, clock, customer_writes, acts):
    policy_create(admin, first_response_minutes=60)
    clock.set(utc(2026, 9, 8, 20, 40))  # Tuesday 17:40: 20 minutes before closing
    conversation = customer_writes().conversation
    assert fresh(conversation).sla_due_at == utc(2026, 9, 9, 12, 40)  # Wednesday 09:40
    clock.set(utc(2026, 9, 8, 20, 50))
    acts.status(conversation, "pending")
    clock.set(utc(2026, 9, 9, 12, 30))  # Wednesday 09:30
    acts.status(conversation, "open")
    # 10 minutes used on Tuesday, 50 left from 09:30: 10:20.
    assert fresh(conversation).sla_due_at == utc(2026, 9, 9, 13, 20)


def test_next_response_runs_from_the_customers_message_after_a_reply(admin, channel, clock, customer_writes, acts):
    policy_create(admin, first_response_minutes=30, next_response_minutes=15)
    start = utc(2026, 9, 8, 13, 0)
    clock.set(start)
    conversation = customer_writes("Oi").conversation
    clock.set(start + timedelta(minutes=10))
    acts.reply(conversation)
    assert fresh(conversation).sla_due_at is None
    assert clocks_of(conversation) == [("first_response", 0)]

    clock.set(start + timedelta(minutes=20))
    customer_writes("Mais uma dúvida")
    clock.set(start + timedelta(minutes=21))
    customer_writes("E outra")  # still the same wait: no new clock
    next_ = clock_of(conversation, NEXT)
    assert next_.started_at == start + timedelta(minutes=20)
    assert next_.due_at == start + timedelta(minutes=35)
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=35)
    assert clocks_of(conversation) == [("first_response", 0), ("next_response", 0)]

    clock.set(start + timedelta(minutes=30))
    acts.reply(conversation)
    assert clock_of(conversation, NEXT).met_at == start + timedelta(minutes=30)
    assert fresh(conversation).sla_due_at is None

    clock.set(start + timedelta(minutes=40))
    customer_writes("Obrigada, só mais isso")
    assert clock_of(conversation, NEXT, cycle=1).due_at == start + timedelta(minutes=55)


def test_an_automations_message_does_not_meet_a_response(
    admin, channel, clock, customer_writes, django_capture_on_commit_callbacks
):
    from conversations.actors import AutomationActor
    from conversations.services.outbound import OutboundSpec, message_send

    policy_create(admin, first_response_minutes=30, business_hours_only=False)
    clock.set(utc(2026, 9, 8, 13, 0))
    conversation = customer_writes().conversation
    bot = AutomationActor(tenant_id=conversation.tenant_id, automation_id=1, name="Bot", kind="test")
    with django_capture_on_commit_callbacks(execute=True):
        message_send(actor=bot, conversation=conversation, spec=OutboundSpec(type="text", text="Já vamos responder"))
    assert clock_of(conversation, FIRST).met_at is None
    assert fresh(conversation).sla_due_at == utc(2026, 9, 8, 13, 30)


def test_resolution_runs_from_the_opening_to_resolved_and_again_when_reopened(
    admin, channel, clock, customer_writes, acts
):
    policy_create(admin, resolution_minutes=120, business_hours_only=False)
    start = utc(2026, 9, 8, 13, 0)
    clock.set(start)
    conversation = customer_writes().conversation
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=120)

    clock.set(start + timedelta(minutes=60))
    acts.status(conversation, "resolved")
    assert clock_of(conversation, RESOLUTION).met_at == start + timedelta(minutes=60)
    assert fresh(conversation).sla_due_at is None

    clock.set(start + timedelta(minutes=90))
    acts.status(conversation, "open")
    reopened = clock_of(conversation, RESOLUTION, cycle=1)
    assert reopened.started_at == start + timedelta(minutes=90)
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=210)


def test_resolving_stops_the_response_clocks(admin, channel, clock, customer_writes, acts):
    policy_create(admin, first_response_minutes=30, business_hours_only=False)
    clock.set(utc(2026, 9, 8, 13, 0))
    conversation = customer_writes().conversation
    clock.set(utc(2026, 9, 8, 13, 5))
    acts.status(conversation, "resolved")
    first = clock_of(conversation, FIRST)
    assert first.stopped_at == utc(2026, 9, 8, 13, 5)
    assert first.met_at is None
    assert fresh(conversation).sla_due_at is None


def test_a_label_chooses_another_policy_and_the_time_used_still_counts(admin, channel, clock, customer_writes, acts):
    vip = make_label(channel.inbox.tenant, "VIP")
    policy_create(admin, "VIP", position=0, first_response_minutes=10, label_ids=[vip.pk], business_hours_only=False)
    policy_create(admin, "Standard", position=1, first_response_minutes=60, business_hours_only=False)
    start = utc(2026, 9, 8, 13, 0)
    clock.set(start)
    conversation = customer_writes().conversation
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=60)
    assert sla_state(conversation).policy.name == "Standard"

    clock.set(start + timedelta(minutes=4))
    acts.label(conversation, vip)
    assert sla_state(conversation).policy.name == "VIP"
    assert clock_of(conversation, FIRST).target_seconds == 600
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=10)


def test_a_priority_without_a_policy_stops_the_clock(admin, channel, clock, customer_writes, acts):
    policy_create(admin, "Urgent only", first_response_minutes=10, priorities=["urgent"], business_hours_only=False)
    start = utc(2026, 9, 8, 13, 0)
    clock.set(start)
    conversation = customer_writes().conversation
    assert fresh(conversation).sla_due_at is None
    assert clocks_of(conversation) == []

    clock.set(start + timedelta(minutes=2))
    acts.priority(conversation, "urgent")
    # Started from the customer's first message: 8 minutes left.
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=10)

    clock.set(start + timedelta(minutes=3))
    acts.priority(conversation, "low")
    assert clock_of(conversation, FIRST).stopped_at == start + timedelta(minutes=3)
    assert fresh(conversation).sla_due_at is None


def test_a_workspace_without_policies_keeps_no_clock(channel, clock, customer_writes):
    from automations.models import ConversationSla

    conversation = customer_writes().conversation
    assert not ConversationSla.objects.filter(conversation=conversation).exists()
    assert fresh(conversation).sla_due_at is None


def test_a_teams_calendar_counts_instead_of_the_inboxs(
    admin, office_hours, clock, customer_writes, acts, django_capture_on_commit_callbacks
):
    from datetime import time

    from automations.assignment_settings import team_calendar_set
    from automations.services import WeeklySpec
    from conversations.services.actions import conversation_team_set
    from conversations.services.teams import TeamSpec, team_create
    from tests.automations.factories import make_calendar

    # The night team works 18:00-02:00 on weekdays (São Paulo).
    night = make_calendar(admin, name="Night", weekly=tuple(WeeklySpec(day, time(18), time(2)) for day in range(5)))
    team = team_create(actor=admin, spec=TeamSpec(name="Night shift"))
    team_calendar_set(actor=admin, team=team, calendar_id=night.pk)
    policy_create(admin, first_response_minutes=60)
    clock.set(utc(2026, 9, 8, 13, 0))  # Tuesday 10:00: the inbox is open, the night team is not
    conversation = customer_writes().conversation
    assert fresh(conversation).sla_due_at == utc(2026, 9, 8, 14, 0)

    clock.set(utc(2026, 9, 8, 13, 10))
    with django_capture_on_commit_callbacks(execute=True):
        conversation_team_set(actor=admin, conversation=conversation, team=team)
    # 10 minutes used in the inbox's hours; the 50 left in the night team's, from 18:00: 18:50 (21:50 UTC).
    assert fresh(conversation).sla_due_at == utc(2026, 9, 8, 21, 50)
    assert sla_state(conversation).calendar_id == night.pk


# --- a burst: one delivery job for many events ---------------------------------------------------------------


def test_a_burst_in_one_job_starts_the_next_response_once_from_the_first_message_after_the_reply(
    admin, channel, clock, customer_writes, acts, in_one_job
):
    policy_create(admin, first_response_minutes=30, next_response_minutes=15, business_hours_only=False)
    start = utc(2026, 9, 8, 13, 0)
    clock.set(start)
    conversation = customer_writes("Oi").conversation
    waiting = customer_writes("Oi", source_id="5511911110009").conversation
    clock.set(start + timedelta(minutes=10))
    acts.reply(conversation)

    def burst() -> None:
        for minute, source in ((20, "5511987654321"), (21, "5511911110009"), (22, "5511987654321")):
            clock.set(start + timedelta(minutes=minute))
            customer_writes("Mais uma dúvida", source_id=source)

    in_one_job(burst, subscribers=("automations.sla.message_received",))

    assert clocks_of(conversation) == [("first_response", 0), ("next_response", 0)]
    next_ = clock_of(conversation, NEXT)
    assert (next_.started_at, next_.due_at) == (start + timedelta(minutes=20), start + timedelta(minutes=35))
    assert fresh(conversation).sla_due_at == start + timedelta(minutes=35)
    # The other customer still waits for the first response: their message changed nothing.
    assert clocks_of(waiting) == [("first_response", 0)]
    assert fresh(waiting).sla_due_at == start + timedelta(minutes=30)


@pytest.mark.parametrize("later", [3, 30])
def test_a_burst_of_messages_waiting_for_the_first_response_costs_the_same_statements_for_3_and_30(
    admin, channel, clock, customer_writes, in_one_job, later
):
    policy_create(admin, first_response_minutes=30, next_response_minutes=15, resolution_minutes=600)
    customers = [f"55119111{n:05d}" for n in range(3)]
    for source in customers:
        customer_writes("Oi", source_id=source)
    clocks = list(SlaClock.objects.order_by("pk").values_list("pk", "due_at"))

    def burst() -> None:
        for n in range(later):
            clock.advance(seconds=1)
            customer_writes(f"Alguém? {n}", source_id=customers[n % 3])

    counted = in_one_job(burst, subscribers=("automations.sla.message_received",))
    # The job's transaction (a savepoint here: 2), its deliveries claimed and marked done (2); the policies,
    # the conversations' SLA states, the conversations, their labels, their clocks, the inbox's calendar (none).
    assert counted.statements["automations.sla.message_received"] == 4 + 5 + 1
    assert list(SlaClock.objects.order_by("pk").values_list("pk", "due_at")) == clocks
