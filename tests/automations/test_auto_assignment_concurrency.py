"""Auto-assignment under concurrency, on PostgreSQL: 20 conversations arrive at once (each in its own thread
and database connection) for 5 online agents with capacity 3. Exactly 15 are assigned, none twice, nobody
over 3; the other 5 wait and the longest-waiting of them is assigned when an agent resolves one."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections, transaction

from automations import assignment
from automations.models import AssignmentPolicy
from conversations import events
from conversations.models import Conversation, OutboxEvent
from conversations.services.actions import conversation_status_set
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_user
from tests.prerequisites import require_postgresql

AGENTS = 5
CAPACITY = 3
ARRIVALS = 20
T0 = datetime(2026, 9, 8, 13, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_twenty_conversations_at_once_never_overfill_nor_double_assign(tenant):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    agents = []
    for n in range(AGENTS):
        member = add_member(tenant, BuiltinRole.AGENT, user=make_user(name=f"Agente {n}"))
        Membership.objects.filter(pk=member.pk).update(availability=Membership.Availability.ONLINE)
        agents.append(member)
    inbox = make_inbox(tenant, name="Vendas", members=agents)
    AssignmentPolicy.objects.create(tenant=tenant, inbox=inbox, enabled=True, capacity=CAPACITY)

    # Every conversation is committed before any assigner runs: they all race for the same queue.
    barrier = threading.Barrier(ARRIVALS)
    errors: list[BaseException] = []
    created: list[int] = []

    def arrive(n: int) -> None:
        try:
            with transaction.atomic():
                conversation = make_conversation(
                    inbox, waiting_since=T0 - timedelta(minutes=n), phone=f"+55119777700{n:02d}"
                )
            created.append(conversation.pk)
            # Back to the pool (8 connections) while waiting: the twenty then race for it and for the lock.
            connections.close_all()
            barrier.wait(timeout=60)
            # What the subscriber does with the conversation's ConversationCreated event.
            assignment.conversations_created(
                [
                    events.ConversationCreated(
                        tenant_id=tenant.pk,
                        conversation_id=conversation.pk,
                        display_id=conversation.display_id,
                        inbox_id=inbox.pk,
                        contact_id=conversation.contact_id,
                    )
                ]
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=arrive, args=(n,)) for n in range(ARRIVALS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(created) == ARRIVALS
    rows = list(Conversation.objects.filter(tenant=tenant).values_list("pk", "assignee_id", "waiting_since"))
    assigned = [pk for pk, assignee, _w in rows if assignee is not None]
    queued = sorted((w, pk) for pk, assignee, w in rows if assignee is None)
    assert len(assigned) == AGENTS * CAPACITY == 15
    assert len(queued) == ARRIVALS - 15 == 5
    per_agent = Counter(assignee for _pk, assignee, _w in rows if assignee is not None)
    assert sorted(per_agent.values()) == [CAPACITY] * AGENTS
    assert set(per_agent) == {a.user_id for a in agents}
    # One assignment per conversation: one event and one audit entry each, never two.
    assigned_events = [
        e.payload["conversation_id"]
        for e in OutboxEvent.objects.filter(tenant=tenant, event_type="conversation.assigned")
    ]
    assert sorted(assigned_events) == sorted(assigned)
    audited = [e.target_id for e in AuditLogEntry.objects.filter(tenant=tenant, action="conversation.assigned")]
    assert sorted(audited) == sorted(str(pk) for pk in assigned)
    # The longest-waiting were served: the five queued are the five most recent arrivals.
    waits = sorted(w for _pk, _a, w in rows)
    assert [w for w, _pk in queued] == waits[-5:]

    # An agent resolves one: the longest-waiting queued conversation is theirs.
    resolver = agents[0]
    theirs = Conversation.objects.filter(tenant=tenant, assignee_id=resolver.user_id).order_by("id").first()
    assert theirs is not None
    resolved = conversation_status_set(actor=resolver, conversation=theirs, status="resolved")
    assignment.conversations_status_changed(
        [
            events.ConversationStatusChanged(
                tenant_id=tenant.pk,
                conversation_id=resolved.pk,
                previous_status="open",
                status="resolved",
                change="resolved",
            )
        ]
    )
    oldest_queued = queued[0][1]
    assert Conversation.objects.get(pk=oldest_queued).assignee_id == resolver.user_id
    assert Conversation.objects.filter(tenant=tenant, status="open", assignee__isnull=True).count() == 4
    assert OutboxEvent.objects.filter(tenant=tenant, event_type="conversation.assigned").count() == 16
