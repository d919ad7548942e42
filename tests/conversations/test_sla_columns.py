"""The core's SLA clock: the two columns a feature sets through ``conversation_sla_set``, the list sorted by
"SLA due first" and filtered by "breaching soon" (pages, API), the clock in the row and the header, and the
``sla_breached`` notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from conversations.actors import AutomationActor
from conversations.models import Conversation, Notification
from conversations.selectors import ConversationFilters, conversation_inbox_page
from conversations.services.sla import conversation_sla_set, notifications_send
from conversations.templatetags.inbox_list import sla_clock, sla_state
from helpdesk.exceptions import ValidationFailed
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_tenant, owner_of

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 9, 8, 13, 0, tzinfo=UTC)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


@pytest.fixture
def inbox(tenant):
    return make_inbox(tenant)


def _with_sla(inbox, *, due=None, breached=None, **fields) -> Conversation:
    conversation = make_conversation(inbox, **fields)
    return conversation_sla_set(conversation=conversation, due_at=due, breached_at=breached)


def _ids(membership, **filters) -> list[int]:
    rows, _cursor = conversation_inbox_page(membership=membership, filters=ConversationFilters(**filters))
    return [c.pk for c in rows]


def test_the_service_sets_both_columns_and_refuses_naive_moments(inbox, frozen):
    conversation = _with_sla(inbox, due=NOW + timedelta(minutes=23))
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.sla_due_at, stored.sla_breached_at) == (NOW + timedelta(minutes=23), None)
    with pytest.raises(ValidationFailed):
        conversation_sla_set(conversation=conversation, due_at=datetime(2026, 9, 8, 13, 0), breached_at=None)
    conversation_sla_set(conversation=conversation, due_at=None, breached_at=None)
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.sla_due_at, stored.sla_breached_at) == (None, None)


def test_sla_due_first_lists_only_running_deadlines_nearest_first_across_pages(tenant, inbox, frozen):
    owner = owner_of(tenant)
    later = _with_sla(inbox, due=NOW + timedelta(hours=2))
    passed = _with_sla(inbox, due=NOW - timedelta(minutes=5), breached=NOW - timedelta(minutes=5))
    soon = _with_sla(inbox, due=NOW + timedelta(minutes=10))
    tie = _with_sla(inbox, due=NOW + timedelta(minutes=10))
    make_conversation(inbox)  # no deadline: not in this order
    assert _ids(owner, sort="sla") == [passed.pk, soon.pk, tie.pk, later.pk]
    first, cursor = conversation_inbox_page(membership=owner, filters=ConversationFilters(sort="sla"), limit=2)
    assert [c.pk for c in first] == [passed.pk, soon.pk]
    second, cursor = conversation_inbox_page(
        membership=owner, filters=ConversationFilters(sort="sla"), cursor=cursor, limit=2
    )
    assert [c.pk for c in second] == [tie.pk, later.pk]
    assert cursor is None


def test_breaching_soon_is_within_the_window_passed_or_breached(tenant, inbox, frozen, settings):
    settings.SLA_BREACHING_SOON_MINUTES = 30
    owner = owner_of(tenant)
    inside = _with_sla(inbox, due=NOW + timedelta(minutes=30), last_activity_at=NOW - timedelta(minutes=1))
    _outside = _with_sla(inbox, due=NOW + timedelta(minutes=31), last_activity_at=NOW - timedelta(minutes=2))
    passed = _with_sla(inbox, due=NOW - timedelta(minutes=1), last_activity_at=NOW - timedelta(minutes=3))
    # Breached, then paused (pending): no running deadline, still breached.
    paused = _with_sla(
        inbox, breached=NOW - timedelta(hours=1), status="pending", last_activity_at=NOW - timedelta(minutes=4)
    )
    make_conversation(inbox, last_activity_at=NOW - timedelta(minutes=5))
    assert _ids(owner, sla="soon") == [inside.pk, passed.pk]
    assert _ids(owner, sla="soon", status="") == [inside.pk, passed.pk, paused.pk]
    settings.SLA_BREACHING_SOON_MINUTES = 60
    assert len(_ids(owner, sla="soon")) == 3


def test_an_unknown_sla_filter_or_sort_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        ConversationFilters.from_query({"sla": "late"})
    assert refused.value.details == {"param": "sla", "allowed": ["soon"]}
    assert ConversationFilters.from_query({"sort": "sla", "sla": "soon"}) == ConversationFilters(sort="sla", sla="soon")


def test_the_clock_reads_time_left_or_how_long_ago_it_was_breached(inbox, frozen):
    running = Conversation(sla_due_at=NOW + timedelta(minutes=23, seconds=40))
    assert sla_clock(running, NOW) == "23m left"
    assert sla_state(running, NOW) == "soon"
    assert sla_clock(Conversation(sla_due_at=NOW + timedelta(hours=5, minutes=3)), NOW) == "5h 3m left"
    assert sla_state(Conversation(sla_due_at=NOW + timedelta(hours=5)), NOW) == "running"
    breached = Conversation(sla_due_at=NOW - timedelta(minutes=5), sla_breached_at=NOW - timedelta(minutes=5))
    assert sla_clock(breached, NOW) == "Breached 5 min ago"
    assert sla_state(breached, NOW) == "breached"
    assert sla_clock(Conversation(sla_due_at=NOW - timedelta(seconds=20)), NOW) == "Breached just now"
    assert sla_clock(Conversation(), NOW) == ""
    assert sla_state(Conversation(), NOW) == ""
    with translation.override("pt-br"):
        assert "23 min" in sla_clock(running, NOW)
        assert "5 min" in sla_clock(breached, NOW)


def test_the_inbox_sorts_filters_and_shows_the_clock(tenant, inbox, frozen):
    owner = owner_of(tenant)
    _with_sla(inbox, due=NOW + timedelta(minutes=23), name="Ana")
    _with_sla(inbox, due=NOW - timedelta(minutes=5), breached=NOW - timedelta(minutes=5), name="Bia")
    make_conversation(inbox, name="Caio")
    client = Client()
    client.force_login(owner.user)
    page = client.get(f"/t/{tenant.slug}/inbox/?sort=sla&sla=soon").content.decode()
    assert 'value="sla" selected' in page
    assert 'value="soon" selected' in page
    assert "23m left" in page
    assert "Breached 5 min ago" in page
    assert "Caio" not in page
    assert page.index("Bia") < page.index("Ana")


def test_the_header_shows_the_clock(tenant, inbox, frozen):
    owner = owner_of(tenant)
    conversation = _with_sla(inbox, due=NOW + timedelta(minutes=23), name="Ana")
    client = Client()
    client.force_login(owner.user)
    page = client.get(f"/t/{tenant.slug}/inbox/c/{conversation.display_id}/").content.decode()
    assert "data-sla-clock" in page
    assert page.count("23m left") == 2  # the row and the header


def test_the_api_lists_by_sla_and_shows_both_moments(tenant, inbox, frozen):
    owner = owner_of(tenant)
    later = _with_sla(inbox, due=NOW + timedelta(hours=3))
    sooner = _with_sla(inbox, due=NOW + timedelta(minutes=3))
    client = Client()
    client.force_login(owner.user)
    body = client.get(f"/api/v1/t/{tenant.slug}/conversations/?sort=sla").json()
    assert [row["id"] for row in body["results"]] == [sooner.pk, later.pk]
    assert body["results"][0]["sla_due_at"] == "2026-09-08T13:03:00Z"
    assert body["results"][0]["sla_breached_at"] is None
    refused = client.get(f"/api/v1/t/{tenant.slug}/conversations/?sla=")
    assert refused.status_code == 400
    assert client.get(f"/api/v1/t/{tenant.slug}/conversations/?sla=late").status_code == 400


def test_notifications_go_to_the_workspaces_members_once_each(tenant, inbox):
    agent = add_member(tenant, "agent")
    stranger = owner_of(make_tenant("Other"))
    conversation = make_conversation(inbox)
    actor = AutomationActor(tenant_id=tenant.pk, automation_id=3, name="SLA “Gold”", kind="sla")
    sent = notifications_send(
        actor=actor,
        conversation=conversation,
        kind=Notification.Kind.SLA_BREACHED,
        user_ids=[agent.user_id, agent.user_id, stranger.user_id],
    )
    assert [(n.user_id, n.kind, n.actor_label) for n in sent] == [
        (agent.user_id, "sla_breached", "Automation 'SLA “Gold”'")
    ]
    assert Notification.objects.filter(user_id=stranger.user_id).count() == 0
    with pytest.raises(ValidationFailed):
        notifications_send(actor=actor, conversation=conversation, kind="nope", user_ids=[agent.user_id])
