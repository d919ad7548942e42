"""The SLA breach job: a deadline passed unmet is recorded once (run twice, or two runs at once on PostgreSQL),
the assignee is notified, a line names the policy in the history, the audit log has it and the listeners hear
of it; a met, paused or not yet due deadline is left alone."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from automations import sla, sla_breaches
from automations.models import SlaBreach, SlaClock
from conversations.models import Message, Notification
from conversations.services.actions import conversation_assign
from tenants.models import AuditLogEntry
from tests.automations.sla_helpers import (
    Acts,
    clock_of,
    events_at_the_clock,  # noqa: F401
    fresh,
    policy_create,
    utc,
)

pytestmark = [pytest.mark.usefixtures("events_at_the_clock")]

START = utc(2026, 9, 8, 13, 0)


@pytest.fixture
def acts(agent, channel, django_capture_on_commit_callbacks):
    channel.inbox.members.add(agent.user)
    return Acts(agent, django_capture_on_commit_callbacks)


@pytest.fixture
def heard(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(sla, "breach_listeners", [lambda **kwargs: calls.append(kwargs)])
    return calls


@pytest.fixture
def waiting(admin, agent, channel, clock, customer_writes, acts, django_capture_on_commit_callbacks):
    """A conversation assigned to the agent whose first response (30 minutes, every minute counts) is due at
    13:30 UTC."""
    policy_create(admin, "Gold", first_response_minutes=30, business_hours_only=False)
    clock.set(START)
    conversation = customer_writes().conversation
    with django_capture_on_commit_callbacks(execute=True):
        conversation_assign(actor=admin, conversation=conversation, assignee=agent.user)
    return fresh(conversation)


def _run(clock, at, capture):
    clock.set(at)
    with capture(execute=True):
        return sla_breaches.sla_breaches_record(now=at)


def _lines(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, type="system", text__contains="target missed").values_list(
            "text", flat=True
        )
    )


@pytest.mark.django_db
def test_a_passed_deadline_is_recorded_once_and_the_assignee_told(
    waiting, agent, clock, heard, django_capture_on_commit_callbacks
):
    assert _run(clock, START + timedelta(minutes=29), django_capture_on_commit_callbacks) == {"breaches": 0}
    assert not SlaBreach.objects.exists()

    assert _run(clock, START + timedelta(minutes=31), django_capture_on_commit_callbacks) == {"breaches": 1}
    breach = SlaBreach.objects.get()
    assert (breach.conversation_id, breach.metric, breach.cycle) == (waiting.pk, "first_response", 0)
    assert breach.policy.name == "Gold"
    assert breach.due_at == START + timedelta(minutes=30)
    assert breach.breached_at == START + timedelta(minutes=31)
    assert clock_of(waiting, "first_response").breached_at == START + timedelta(minutes=31)
    conversation = fresh(waiting)
    assert conversation.sla_breached_at == START + timedelta(minutes=30)
    assert conversation.sla_due_at == START + timedelta(minutes=30)  # still unmet: the nearest deadline

    notes = list(Notification.objects.filter(kind="sla_breached").values_list("user_id", "conversation_id"))
    assert notes == [(agent.user_id, waiting.pk)]
    assert Notification.objects.get(kind="sla_breached").actor_label == "Automation 'SLA “Gold”'"
    assert _lines(waiting) == [
        "First response target missed: it was due Sept. 8, 2026, 10:30 (automation 'SLA “Gold”')"
    ]
    entry = AuditLogEntry.objects.get(action="sla.breached")
    assert entry.extra["metric"] == "first_response"
    assert entry.extra["policy"] == "Gold"
    assert heard == [{"tenant_id": waiting.tenant_id, "conversation_id": waiting.pk, "breach_id": breach.pk}]

    # Run again: nothing more.
    assert _run(clock, START + timedelta(minutes=40), django_capture_on_commit_callbacks) == {"breaches": 0}
    assert SlaBreach.objects.count() == 1
    assert Notification.objects.filter(kind="sla_breached").count() == 1
    assert len(_lines(waiting)) == 1
    assert AuditLogEntry.objects.filter(action="sla.breached").count() == 1
    assert len(heard) == 1


@pytest.mark.django_db
def test_a_met_deadline_is_no_breach(waiting, clock, acts, heard, django_capture_on_commit_callbacks):
    clock.set(START + timedelta(minutes=20))
    acts.reply(waiting)
    assert _run(clock, START + timedelta(minutes=31), django_capture_on_commit_callbacks) == {"breaches": 0}
    assert not SlaBreach.objects.exists()
    assert not Notification.objects.filter(kind="sla_breached").exists()
    assert heard == []


@pytest.mark.django_db
def test_a_paused_clock_is_no_breach_until_it_runs_out(waiting, clock, acts, django_capture_on_commit_callbacks):
    clock.set(START + timedelta(minutes=20))
    acts.status(waiting, "pending")
    assert _run(clock, START + timedelta(hours=5), django_capture_on_commit_callbacks) == {"breaches": 0}
    clock.set(START + timedelta(hours=5))
    acts.status(waiting, "open")
    assert fresh(waiting).sla_due_at == START + timedelta(hours=5, minutes=10)
    assert _run(clock, START + timedelta(hours=5, minutes=11), django_capture_on_commit_callbacks) == {"breaches": 1}


@pytest.mark.django_db
def test_a_late_reply_meets_the_breached_clock_and_the_clock_clears(
    waiting, clock, acts, django_capture_on_commit_callbacks
):
    _run(clock, START + timedelta(minutes=31), django_capture_on_commit_callbacks)
    clock.set(START + timedelta(minutes=45))
    acts.reply(waiting)
    first = clock_of(waiting, "first_response")
    assert first.met_at == START + timedelta(minutes=45)
    assert (fresh(waiting).sla_due_at, fresh(waiting).sla_breached_at) == (None, None)


@pytest.mark.django_db
def test_an_unassigned_conversation_notifies_nobody(
    admin, channel, clock, customer_writes, django_capture_on_commit_callbacks
):
    policy_create(admin, first_response_minutes=5, business_hours_only=False)
    clock.set(START)
    conversation = customer_writes().conversation
    assert _run(clock, START + timedelta(minutes=6), django_capture_on_commit_callbacks) == {"breaches": 1}
    assert not Notification.objects.filter(kind="sla_breached").exists()
    assert len(_lines(conversation)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_jobs_at_once_record_each_breach_once(tenant, admin, monkeypatch):
    from tests.prerequisites import require_postgresql

    require_postgresql("SQLite serialises writers: there is no race to lose")
    from tests.automations.auto_resolve_helpers import Clock, customer_writes, set_now, whatsapp_inbox

    clock = set_now(monkeypatch, Clock(now=START))
    monkeypatch.setattr("automations.sla.event_moment", lambda event: timezone.now())
    inbox = whatsapp_inbox(tenant)
    policy_create(admin, first_response_minutes=10, business_hours_only=False)
    for n in range(8):
        customer_writes(inbox, clock, at=START, customer=f"55119555500{n:02d}")
    assert SlaClock.objects.filter(tenant=tenant).count() == 8
    at = START + timedelta(minutes=11)
    clock.set(at)

    barrier = threading.Barrier(2)
    original = sla_breaches._breach_one
    calls = itertools.count()

    def after_both_looked(*args, **kwargs):
        if next(calls) < 2:
            barrier.wait(timeout=10)
        return original(*args, **kwargs)

    monkeypatch.setattr(sla_breaches, "_breach_one", after_both_looked)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(sla_breaches.sla_breaches_record(now=at))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r["breaches"] for r in results) == 8
    assert SlaBreach.objects.filter(tenant=tenant).count() == 8
    assert AuditLogEntry.objects.filter(tenant=tenant, action="sla.breached").count() == 8
    assert Message.objects.filter(tenant=tenant, type="system", text__contains="target missed").count() == 8


@pytest.mark.django_db
def test_the_teams_supervisors_are_told_too(
    admin, agent, supervisor, channel, clock, customer_writes, acts, django_capture_on_commit_callbacks
):
    from conversations.services.actions import conversation_team_set
    from conversations.services.teams import TeamMemberSpec, TeamSpec, team_create

    policy_create(admin, "Gold", first_response_minutes=30, business_hours_only=False)
    team = team_create(
        actor=admin,
        spec=TeamSpec(
            name="Suporte N2",
            members=(TeamMemberSpec(agent.user_id), TeamMemberSpec(supervisor.user_id, is_supervisor=True)),
        ),
    )
    clock.set(START)
    conversation = customer_writes().conversation
    with django_capture_on_commit_callbacks(execute=True):
        conversation_team_set(actor=admin, conversation=conversation, team=team)
        conversation_assign(actor=admin, conversation=fresh(conversation), assignee=agent.user)
    assert _run(clock, START + timedelta(minutes=31), django_capture_on_commit_callbacks) == {"breaches": 1}
    told = list(Notification.objects.filter(kind="sla_breached").order_by("id").values_list("user_id", flat=True))
    assert told == [agent.user_id, supervisor.user_id]
