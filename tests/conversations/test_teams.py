"""Teams of the core: the models, moving a conversation to a team's queue, and the team selectors."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.http import Http404

from conversations.actors import AutomationActor
from conversations.models import Conversation, Message, OutboxEvent, Team, TeamMember
from conversations.selectors import team_get, team_list, teams_of
from conversations.services.actions import conversation_team_set
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.conversations.factories import captured_events, make_conversation, make_inbox, make_role, of_type
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db


def make_team(tenant, name: str, *members, supervisors=()) -> Team:
    team = Team.objects.create(tenant=tenant, name=name)
    for membership in members:
        TeamMember.objects.create(tenant=tenant, team=team, user=membership.user, is_supervisor=False)
    for membership in supervisors:
        TeamMember.objects.create(tenant=tenant, team=team, user=membership.user, is_supervisor=True)
    return team


def _history(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, sender_type="system")
        .order_by("id")
        .values_list("text", flat=True)
    )


def _team_audit(tenant) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(tenant=tenant, action="conversation.team_changed").order_by("id"))


def test_team_names_are_unique_per_workspace_only(tenant, other_tenant):
    Team.objects.create(tenant=tenant, name="Vendas")
    Team.objects.create(tenant=other_tenant, name="Vendas")
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(tenant=tenant, name="Vendas")
    assert Team.objects.filter(tenant=tenant).count() == 1


def test_a_member_belongs_to_a_team_once(tenant):
    agent = add_member(tenant, BuiltinRole.AGENT)
    team = make_team(tenant, "Vendas", agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        TeamMember.objects.create(tenant=tenant, team=team, user=agent.user, is_supervisor=True)
    assert list(TeamMember.objects.values_list("user_id", "is_supervisor")) == [(agent.user_id, False)]


def test_deleting_a_team_leaves_its_conversations_without_a_team(tenant):
    team = make_team(tenant, "Vendas")
    conversation = make_conversation(make_inbox(tenant, name="A"))
    Conversation.objects.filter(pk=conversation.pk).update(team=team)
    team.delete()
    conversation.refresh_from_db()
    assert conversation.team_id is None


def test_selectors_are_scoped_to_the_workspace(tenant, other_tenant):
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    sales = make_team(tenant, "Vendas", ana)
    support = make_team(tenant, "Suporte")
    foreign = make_team(other_tenant, "Vendas")
    TeamMember.objects.create(tenant=other_tenant, team=foreign, user=ana.user)
    assert list(team_list(tenant=tenant)) == [support, sales]
    assert team_get(tenant=tenant, team_id=sales.pk) == sales
    with pytest.raises(Http404):
        team_get(tenant=tenant, team_id=foreign.pk)
    assert list(teams_of(ana.user, tenant)) == [sales]
    assert list(teams_of(ana.user_id, other_tenant.pk)) == [foreign]


def test_moving_to_a_team_writes_history_audit_event_and_live_update(tenant):
    supervisor = add_member(tenant, BuiltinRole.SUPERVISOR, user=make_user(name="Sofia"))
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    inbox = make_inbox(tenant, name="A", members=[ana])
    conversation = make_conversation(inbox)
    team = make_team(tenant, "Vendas", ana)

    with captured_events() as events:
        result = conversation_team_set(actor=supervisor, conversation=conversation, team=team)
    assert result.team_id == team.pk
    conversation.refresh_from_db()
    assert conversation.team_id == team.pk
    assert _history(conversation) == ["Sofia moved the conversation to team Vendas"]
    [entry] = _team_audit(tenant)
    assert (entry.actor_id, entry.target_id, entry.extra) == (
        supervisor.user_id,
        str(conversation.pk),
        {"from": None, "to": team.pk},
    )
    [row] = OutboxEvent.objects.filter(event_type="conversation.team_changed")
    assert row.payload["conversation_id"] == conversation.pk
    assert row.payload["inbox_id"] == inbox.pk
    assert (row.payload["previous_team_id"], row.payload["team_id"]) == (None, team.pk)
    assert (row.payload["actor_type"], row.payload["actor_user_id"]) == ("member", supervisor.user_id)
    [(_users, updated)] = of_type(events, "conversation.updated")
    assert updated["conversation"]["id"] == conversation.pk


def test_an_automation_moving_it_is_named_in_the_history(tenant):
    conversation = make_conversation(make_inbox(tenant, name="A"))
    sales, support = make_team(tenant, "Vendas"), make_team(tenant, "Suporte")
    robot = AutomationActor(tenant_id=tenant.pk, automation_id=3, name="Triagem", kind="auto_assign")
    conversation_team_set(actor=robot, conversation=conversation, team=sales)
    conversation_team_set(actor=robot, conversation=conversation, team=support)
    conversation_team_set(actor=owner_of(tenant), conversation=conversation, team=None)
    history = _history(conversation)
    assert history[:2] == [
        "Moved to team Vendas by automation 'Triagem'",
        "Moved to team Suporte by automation 'Triagem'",
    ]
    assert history[2].endswith("removed the conversation from team Suporte")
    assert [e.extra for e in _team_audit(tenant)] == [
        {"from": None, "to": sales.pk},
        {"from": sales.pk, "to": support.pk},
        {"from": support.pk, "to": None},
    ]
    assert [
        (p["previous_team_id"], p["team_id"], p["actor_type"])
        for p in OutboxEvent.objects.filter(event_type="conversation.team_changed")
        .order_by("occurred_at", "created_at")
        .values_list("payload", flat=True)
    ] == [(None, sales.pk, "automation"), (sales.pk, support.pk, "automation"), (support.pk, None, "member")]


def test_the_same_team_again_changes_nothing(tenant):
    conversation = make_conversation(make_inbox(tenant, name="A"))
    team = make_team(tenant, "Vendas")
    owner = owner_of(tenant)
    conversation_team_set(actor=owner, conversation=conversation, team=team)
    with captured_events() as events:
        conversation_team_set(actor=owner, conversation=conversation, team=team)
    assert events == []
    assert len(_history(conversation)) == 1
    assert len(_team_audit(tenant)) == 1
    assert OutboxEvent.objects.filter(event_type="conversation.team_changed").count() == 1


def test_another_workspaces_team_is_refused(tenant, other_tenant):
    conversation = make_conversation(make_inbox(tenant, name="A"))
    foreign = make_team(other_tenant, "Vendas")
    with pytest.raises(ValidationFailed):
        conversation_team_set(actor=owner_of(tenant), conversation=conversation, team=foreign)
    conversation.refresh_from_db()
    assert conversation.team_id is None
    assert _history(conversation) == []
    assert _team_audit(tenant) == []


def test_without_reply_permission_nothing_moves(tenant):
    viewer = add_member(tenant, make_role(tenant, perms=[]))
    conversation = make_conversation(make_inbox(tenant, name="A", members=[viewer]))
    team = make_team(tenant, "Vendas")
    with pytest.raises(PermissionDenied):
        conversation_team_set(actor=viewer, conversation=conversation, team=team)
    conversation.refresh_from_db()
    assert conversation.team_id is None
    assert _team_audit(tenant) == []
    assert not OutboxEvent.objects.filter(event_type="conversation.team_changed").exists()
