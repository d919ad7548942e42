"""One visibility rule, every surface: list tabs, search, live rows, tab counts, the page and WS events."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.http import Http404

from conversations.models import Conversation, Team, TeamMember
from conversations.selectors import (
    ConversationFilters,
    conversation_audience,
    conversation_get,
    conversation_inbox_page,
    conversation_rows,
    conversation_tab_counts,
)
from tenants.models import ApiToken, Membership
from tenants.permissions import BuiltinRole, Perm
from tests.conversations.factories import make_conversation, make_inbox, make_message, make_role, make_token
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

KEYS = (
    "a_unassigned",
    "a_mine",
    "a_other",
    "a_restricted",
    "b_unassigned",
    "b_assigned_to_a",
    "b_other",
    "a_team",  # unassigned, in the queue of team T (restricted and agent_a are its members) in inbox A
    "b_team",  # unassigned, in team T's queue in inbox B (where neither of them works)
    "a_team_assigned",  # in team T's queue but assigned to agent_a2: the team plays no part
)

# principal → the conversations it may see (conversation keys above; "foreign" is never visible).
EXPECTED = {
    "agent_a": {"a_unassigned", "a_mine", "a_team"},
    "agent_a2": {"a_unassigned", "a_other", "a_team", "a_team_assigned"},
    "agent_b": {"b_unassigned", "b_other", "b_team"},
    # No "view unassigned": what is assigned to them, and their team's queue in their inboxes.
    "restricted": {"a_restricted", "a_team"},
    "supervisor": set(KEYS),
    "owner": set(KEYS),
    # A token belongs to no inbox and no team, and is nobody.
    "token_agent": {"a_unassigned", "b_unassigned", "a_team", "b_team"},
    "token_supervisor": set(KEYS),
    "token_restricted": set(),
}
# principal → the conversations assigned to it (the "mine" tab); tokens have none.
ASSIGNED = {
    "agent_a": {"a_mine"},  # b_assigned_to_a is in an inbox agent_a does not work in
    "agent_a2": {"a_other", "a_team_assigned"},
    "agent_b": {"b_other"},
    "restricted": {"a_restricted"},
    "supervisor": set(),
    "owner": set(),
}
UNASSIGNED = {"a_unassigned", "b_unassigned", "a_team", "b_team"}


@dataclass
class World:
    principals: dict[str, Membership | ApiToken]
    conversations: dict[str, Conversation]
    foreign: Conversation

    def key_of(self, conversation: Conversation) -> str:
        return next(k for k, c in self.conversations.items() if c.pk == conversation.pk)

    def keys(self, conversations) -> set[str]:
        return {self.key_of(c) for c in conversations}


@pytest.fixture
def world(tenant, other_tenant) -> World:
    owner = owner_of(tenant)
    agent_a = add_member(tenant, BuiltinRole.AGENT)
    agent_a2 = add_member(tenant, BuiltinRole.AGENT)
    agent_b = add_member(tenant, BuiltinRole.AGENT)
    restricted = add_member(tenant, make_role(tenant, [Perm.REPLY]))
    supervisor = add_member(tenant, BuiltinRole.SUPERVISOR)
    inbox_a = make_inbox(tenant, name="A", members=[agent_a, agent_a2, restricted])
    inbox_b = make_inbox(tenant, name="B", members=[agent_b])
    team = Team.objects.create(tenant=tenant, name="T")
    for member in (restricted, agent_a):
        TeamMember.objects.create(tenant=tenant, team=team, user=member.user)
    spec = {
        "a_unassigned": (inbox_a, None),
        "a_mine": (inbox_a, agent_a),
        "a_other": (inbox_a, agent_a2),
        "a_restricted": (inbox_a, restricted),
        "b_unassigned": (inbox_b, None),
        "b_assigned_to_a": (inbox_b, agent_a),
        "b_other": (inbox_b, agent_b),
        "a_team": (inbox_a, None),
        "b_team": (inbox_b, None),
        "a_team_assigned": (inbox_a, agent_a2),
    }
    conversations = {}
    for n, (key, (inbox, assignee)) in enumerate(spec.items()):
        in_team = team if key.endswith(("_team", "_team_assigned")) else None
        conversation = make_conversation(
            inbox, name=f"Cliente {key}", phone=f"+55219555000{n:02d}", assignee=assignee, team=in_team
        )
        make_message(conversation, f"Quero o reembolso do pedido {key}")
        conversations[key] = conversation
    foreign_inbox = make_inbox(other_tenant, members=[owner_of(other_tenant)])
    foreign = make_conversation(foreign_inbox, name="Cliente foreign", phone="+5521955500099")
    make_message(foreign, "Quero o reembolso do pedido foreign")
    principals: dict[str, Membership | ApiToken] = {
        "agent_a": agent_a,
        "agent_a2": agent_a2,
        "agent_b": agent_b,
        "restricted": restricted,
        "supervisor": supervisor,
        "owner": owner,
        "token_agent": make_token(tenant, make_role(tenant, [Perm.VIEW_UNASSIGNED, Perm.REPLY])),
        "token_supervisor": make_token(tenant, make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])),
        "token_restricted": make_token(tenant, make_role(tenant, [Perm.REPLY])),
    }
    return World(principals=principals, conversations=conversations, foreign=foreign)


def _listed(world: World, principal, **filters) -> set[str]:
    rows, cursor = conversation_inbox_page(
        membership=principal, filters=ConversationFilters(status="", **filters), limit=100
    )
    assert cursor is None
    return world.keys(rows)


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_every_surface_shows_exactly_the_visible_conversations(world, who):
    principal = world.principals[who]
    visible = EXPECTED[who]
    mine = ASSIGNED.get(who, set())

    assert _listed(world, principal, tab="all") == visible
    assert _listed(world, principal, tab="mine") == mine
    assert _listed(world, principal, tab="unassigned") == visible & UNASSIGNED
    # Search by contact name, by phone digits (typed with punctuation) and by message text.
    assert _listed(world, principal, q="cliente") == visible
    assert _listed(world, principal, q="95550-00") == visible
    assert _listed(world, principal, q="reembolso") == visible
    all_ids = [c.pk for c in world.conversations.values()] + [world.foreign.pk]
    assert world.keys(conversation_rows(membership=principal, ids=all_ids)) == visible
    counts = conversation_tab_counts(membership=principal)
    assert (counts["all"], counts["unassigned"]) == (len(visible), len(visible & UNASSIGNED))
    if isinstance(principal, Membership):  # a token's "mine" badge: test_api_token_tab_counts_have_no_mine
        assert counts["mine"] == len(mine)
    for key, conversation in world.conversations.items():
        if key in visible:
            assert conversation_get(membership=principal, display_id=conversation.display_id).pk == conversation.pk
        else:
            with pytest.raises(Http404):
                conversation_get(membership=principal, display_id=conversation.display_id)
    # The other tenant's conversation is a 404 even when its number exists in this tenant too.
    assert not any(c.pk == world.foreign.pk for c in conversation_rows(membership=principal, ids=[world.foreign.pk]))


def test_realtime_audience_is_the_members_who_see_the_conversation(world):
    members = {who: p for who, p in world.principals.items() if isinstance(p, Membership)}
    for key, conversation in world.conversations.items():
        expected = sorted(m.user_id for who, m in members.items() if key in EXPECTED[who])
        assert sorted(conversation_audience(conversation=conversation)) == expected, key
    other_owner = owner_of(world.foreign.tenant)
    assert conversation_audience(conversation=world.foreign) == [other_owner.user_id]


@pytest.mark.parametrize("who", ["token_agent", "token_supervisor", "token_restricted"])
def test_api_token_list_has_no_mine_tab(world, who):
    assert _listed(world, world.principals[who], tab="mine") == set()


@pytest.mark.parametrize("who", ["token_agent", "token_supervisor"])
def test_api_token_tab_counts_have_no_mine(world, who):
    visible = EXPECTED[who]
    assert conversation_tab_counts(membership=world.principals[who]) == {
        "all": len(visible),
        "mine": 0,
        "unassigned": len(visible & UNASSIGNED),
    }


def test_member_tab_counts_count_open_conversations_only(world):
    agent_a = world.principals["agent_a"]
    Conversation.objects.filter(pk=world.conversations["a_unassigned"].pk).update(status="resolved")
    assert conversation_tab_counts(membership=agent_a) == {"all": 2, "mine": 1, "unassigned": 1}
    assert _listed(world, agent_a, tab="all") == {"a_unassigned", "a_mine", "a_team"}  # status "" lists any status


def test_leaving_the_team_hides_its_queue_from_a_member_who_may_not_view_unassigned(world):
    from conversations.selectors import audience_cache_clear

    restricted = world.principals["restricted"]
    TeamMember.objects.filter(user_id=restricted.user_id).delete()
    audience_cache_clear()
    assert _listed(world, restricted, tab="all") == {"a_restricted"}
    assert restricted.user_id not in conversation_audience(conversation=world.conversations["a_team"])


def test_the_team_filter_lists_the_teams_queue_the_member_sees(world):
    team = Team.objects.get(name="T")
    assert _listed(world, world.principals["restricted"], team_id=team.pk) == {"a_team"}
    assert _listed(world, world.principals["owner"], team_id=team.pk) == {"a_team", "b_team", "a_team_assigned"}
    assert _listed(world, world.principals["agent_b"], team_id=team.pk) == {"b_team"}


def test_a_member_removed_from_the_inbox_loses_sight_of_their_own_conversations(world):
    from conversations.selectors import audience_cache_clear

    agent_a = world.principals["agent_a"]
    world.conversations["a_mine"].inbox.members.remove(agent_a.user)
    audience_cache_clear()
    assert _listed(world, agent_a, tab="all") == set()
    assert agent_a.user_id not in conversation_audience(conversation=world.conversations["a_mine"])


def test_a_revoked_token_sees_nothing(world):
    from django.utils import timezone

    token = world.principals["token_supervisor"]
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    assert _listed(world, token, tab="all") == set()
    assert conversation_tab_counts(membership=token) == {"all": 0, "mine": 0, "unassigned": 0}


def test_search_never_reaches_another_tenant(tenant, other_tenant):
    foreign_inbox = make_inbox(other_tenant)
    foreign = make_conversation(foreign_inbox, name="Zebedeu", phone="+5531977770000")
    make_message(foreign, "palavra-unica")
    for q in ("zebedeu", "977770000", "palavra"):
        rows, _cursor = conversation_inbox_page(membership=owner_of(tenant), filters=ConversationFilters(q=q))
        assert rows == []
        rows, _cursor = conversation_inbox_page(membership=owner_of(other_tenant), filters=ConversationFilters(q=q))
        assert [c.pk for c in rows] == [foreign.pk]


def test_private_notes_and_activity_lines_are_not_searchable(tenant):
    owner = owner_of(tenant)
    conversation = make_conversation(make_inbox(tenant, members=[owner]), name="Ana")
    make_message(conversation, "segredo interno", direction="out", private=True)
    rows, _cursor = conversation_inbox_page(membership=owner, filters=ConversationFilters(q="segredo"))
    assert rows == []


def test_a_second_tenant_membership_does_not_widen_visibility(tenant, other_tenant):
    # The same person is an agent in both tenants; their inboxes in the other tenant do not count here.
    agent = add_member(tenant, BuiltinRole.AGENT)
    add_member(other_tenant, BuiltinRole.AGENT, user=agent.user)
    make_inbox(tenant, members=[])
    foreign_inbox = make_inbox(other_tenant)
    foreign_inbox.members.add(agent.user)
    here = make_conversation(make_inbox(tenant, members=[]))
    make_conversation(foreign_inbox)
    assert _listed_pks(agent) == []
    assert here.pk not in {c.pk for c in conversation_rows(membership=agent, ids=[here.pk])}


def _listed_pks(principal) -> list[int]:
    rows, _cursor = conversation_inbox_page(membership=principal, filters=ConversationFilters(status=""))
    return [c.pk for c in rows]
