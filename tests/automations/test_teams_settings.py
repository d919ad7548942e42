"""Teams and auto-assignment settings: the pages and the REST API as an admin uses them, and as others cannot
(another workspace's ids, a person outside the inbox, a role without "Manage automations")."""

from __future__ import annotations

import html
import re

import pytest

from automations.models import AgentCapacity, AssignmentPolicy, TeamSettings
from conversations.models import Conversation, Team, TeamMember
from conversations.services.teams import TeamMemberSpec, TeamSpec, team_create
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole, Perm
from tests.automations.factories import make_calendar, signed_in, token_client
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db

TEAMS = "/t/acme/settings/teams/"
POLICIES = "/t/acme/settings/auto-assignment/"
API = "/api/v1/t/acme"


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _teams(tenant) -> list[tuple]:
    return [
        (
            team.name,
            team.description,
            sorted(TeamMember.objects.filter(team=team).values_list("user_id", "is_supervisor")),
        )
        for team in Team.objects.filter(tenant=tenant).order_by("name")
    ]


@pytest.fixture
def people(tenant):
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    bia = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Bia"))
    return ana, bia


# --- team pages -----------------------------------------------------------------------------------------


def test_creating_a_team_on_the_page_saves_members_supervisors_and_hours(tenant, admin, people):
    ana, bia = people
    calendar = make_calendar(admin, name="Comercial")
    response = signed_in(admin).post(
        f"{TEAMS}new/",
        {
            "name": "  Vendas ",
            "description": "Pré-venda",
            "calendar": str(calendar.pk),
            f"member_{ana.user_id}": "on",
            f"supervisor_{bia.user_id}": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == TEAMS
    assert _teams(tenant) == [("Vendas", "Pré-venda", sorted([(ana.user_id, False), (bia.user_id, True)]))]
    team = Team.objects.get(tenant=tenant)
    assert TeamSettings.objects.get(team=team).calendar_id == calendar.pk
    actions = list(
        AuditLogEntry.objects.filter(tenant=tenant, action__startswith="team.")
        .order_by("id")
        .values_list("action", "extra")
    )
    assert actions[0] == (
        "team.created",
        {"name": "Vendas", "members": sorted([ana.user_id, bia.user_id]), "supervisors": [bia.user_id]},
    )
    assert actions[1] == ("team.changed", {"calendar": "Comercial"})

    page = signed_in(admin).get(TEAMS)
    assert page.status_code == 200
    text = _text(page.content.decode())
    assert "Vendas Pré-venda 2 1 Comercial Edit Vendas Delete Vendas" in text
    assert 'href="/t/acme/settings/teams/"' in page.content.decode()  # in the settings menu


def test_editing_a_team_replaces_its_members(tenant, admin, people):
    ana, bia = people
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas", members=(TeamMemberSpec(ana.user_id),)))
    page = signed_in(admin).get(f"{TEAMS}{team.pk}/")
    assert page.status_code == 200
    assert f'name="member_{ana.user_id}" id="id_member_{ana.user_id}"' in page.content.decode()
    response = signed_in(admin).post(f"{TEAMS}{team.pk}/", {"name": "Vendas B2B", f"member_{bia.user_id}": "on"})
    assert response.status_code == 302
    assert _teams(tenant) == [("Vendas B2B", "", [(bia.user_id, False)])]
    [entry] = AuditLogEntry.objects.filter(tenant=tenant, action="team.changed")
    assert entry.extra == {"name": "Vendas B2B", "members_added": [bia.user_id], "members_removed": [ana.user_id]}


def test_a_name_already_taken_is_refused_on_the_page(tenant, admin):
    team_create(actor=admin, spec=TeamSpec(name="Vendas"))
    response = signed_in(admin).post(f"{TEAMS}new/", {"name": "Vendas"})
    assert response.status_code == 400
    assert "Another team already has that name." in response.content.decode()
    assert Team.objects.filter(tenant=tenant).count() == 1


def test_deleting_a_team_takes_its_conversations_out_of_its_queue(tenant, admin):
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas"))
    conversation = make_conversation(make_inbox(tenant, name="A"), team=team)
    response = signed_in(admin).post(f"{TEAMS}{team.pk}/delete/")
    assert response.status_code == 302
    assert not Team.objects.filter(tenant=tenant).exists()
    conversation.refresh_from_db()
    assert conversation.team_id is None
    assert AuditLogEntry.objects.filter(tenant=tenant, action="team.deleted").get().extra == {"name": "Vendas"}


def test_another_workspaces_team_is_404_on_every_page(tenant, admin, other_tenant):
    from tests.factories import owner_of

    foreign = team_create(actor=owner_of(other_tenant), spec=TeamSpec(name="Deles"))
    client = signed_in(admin)
    assert client.get(f"{TEAMS}{foreign.pk}/").status_code == 404
    assert client.post(f"{TEAMS}{foreign.pk}/", {"name": "Nosso"}).status_code == 404
    assert client.post(f"{TEAMS}{foreign.pk}/delete/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Deles"


def test_an_agent_cannot_open_nor_change_teams(tenant, admin, agent):
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas"))
    client = signed_in(agent)
    assert client.get(TEAMS).status_code == 403
    assert client.post(f"{TEAMS}new/", {"name": "Minha"}).status_code == 403
    assert client.post(f"{TEAMS}{team.pk}/delete/").status_code == 403
    assert _teams(tenant) == [("Vendas", "", [])]


# --- auto-assignment pages ----------------------------------------------------------------------------


def test_saving_an_inbox_policy_with_agents_capacities(tenant, admin, people):
    ana, bia = people
    inbox = make_inbox(tenant, name="Suporte", members=[ana, bia])
    team = team_create(actor=admin, spec=TeamSpec(name="N1"))
    response = signed_in(admin).post(
        f"{POLICIES}{inbox.pk}/",
        {
            "enabled": "on",
            "method": "least_open",
            "capacity": "4",
            "team": str(team.pk),
            "reassign_on_offline": "on",
            f"capacity_{ana.user_id}": "6",
            f"capacity_{bia.user_id}": "",
        },
    )
    assert response.status_code == 302
    policy = AssignmentPolicy.objects.get(inbox=inbox)
    assert (policy.enabled, policy.method, policy.capacity, policy.team_id, policy.reassign_on_offline) == (
        True,
        "least_open",
        4,
        team.pk,
        True,
    )
    assert list(AgentCapacity.objects.values_list("user_id", "inbox_id", "capacity")) == [(ana.user_id, inbox.pk, 6)]
    [entry] = AuditLogEntry.objects.filter(tenant=tenant, action="assignment_policy.changed")
    assert entry.extra == {
        "changes": {
            "enabled": ["off", "on"],
            "method": ["round_robin", "least_open"],
            "capacity": [10, 4],
            "team_id": [None, team.pk],
            "reassign_on_offline": ["off", "on"],
        },
        "agent_capacities": [ana.user_id],
    }
    text = _text(signed_in(admin).get(POLICIES).content.decode())
    assert "Suporte On Fewest open conversations 4 (1 agent of their own) N1 Reassigned Edit Suporte" in text


def test_the_overall_capacities_form_saves_each_agents(tenant, admin, people):
    ana, bia = people
    response = signed_in(admin).post(POLICIES, {f"overall_{ana.user_id}": "5", f"overall_{bia.user_id}": ""})
    assert response.status_code == 302
    assert list(AgentCapacity.objects.values_list("user_id", "inbox_id", "capacity")) == [(ana.user_id, None, 5)]


def test_another_workspaces_inbox_or_team_is_refused_on_the_policy_page(tenant, admin, other_tenant):
    from tests.factories import owner_of

    inbox = make_inbox(tenant, name="Suporte")
    foreign_inbox = make_inbox(other_tenant, name="Deles")
    foreign_team = team_create(actor=owner_of(other_tenant), spec=TeamSpec(name="Deles"))
    client = signed_in(admin)
    assert client.get(f"{POLICIES}{foreign_inbox.pk}/").status_code == 404
    response = client.post(
        f"{POLICIES}{inbox.pk}/", {"method": "round_robin", "capacity": "3", "team": str(foreign_team.pk)}
    )
    assert response.status_code == 400
    assert not AssignmentPolicy.objects.exists()


# --- the API ---------------------------------------------------------------------------------------------


def test_the_team_api_creates_reads_changes_and_deletes(tenant, admin, people):
    ana, bia = people
    calendar = make_calendar(admin, name="Comercial")
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    created = client.post(
        f"{API}/teams/",
        {"name": "Vendas", "members": [{"user_id": ana.user_id, "is_supervisor": True}], "calendar_id": calendar.pk},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["members"], body["calendar_id"]) == (
        "Vendas",
        [{"user_id": ana.user_id, "is_supervisor": True}],
        calendar.pk,
    )
    team_id = body["id"]
    assert client.get(f"{API}/teams/").json()[0]["id"] == team_id
    changed = client.patch(
        f"{API}/teams/{team_id}/",
        {"members": [{"user_id": bia.user_id}], "calendar_id": None},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["members"], changed.json()["calendar_id"]) == (
        "Vendas",
        [{"user_id": bia.user_id, "is_supervisor": False}],
        None,
    )
    assert client.delete(f"{API}/teams/{team_id}/").status_code == 204
    assert not Team.objects.filter(tenant=tenant).exists()


def test_the_team_api_refuses_other_workspaces_ids(tenant, admin, other_tenant):
    from tests.factories import owner_of

    stranger = add_member(other_tenant, BuiltinRole.AGENT)
    foreign_team = team_create(actor=owner_of(other_tenant), spec=TeamSpec(name="Deles"))
    foreign_calendar = make_calendar(owner_of(other_tenant), name="Deles")
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    assert client.get(f"{API}/teams/{foreign_team.pk}/").status_code == 404
    assert (
        client.patch(f"{API}/teams/{foreign_team.pk}/", {"name": "X"}, content_type="application/json").status_code
        == 404
    )
    assert client.delete(f"{API}/teams/{foreign_team.pk}/").status_code == 404
    refused = client.post(
        f"{API}/teams/", {"name": "Nossa", "members": [{"user_id": stranger.user_id}]}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "That person is not a member of this workspace."
    refused = client.post(
        f"{API}/teams/", {"name": "Nossa", "calendar_id": foreign_calendar.pk}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Unknown calendar."
    assert not Team.objects.filter(tenant=tenant).exists()
    assert Team.objects.get(pk=foreign_team.pk).name == "Deles"


def test_the_policy_api_reads_changes_and_refuses_people_outside_the_inbox(tenant, admin, people):
    ana, bia = people
    inbox = make_inbox(tenant, name="Suporte", members=[ana])
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    before = client.get(f"{API}/auto-assignment/{inbox.pk}/").json()
    assert (before["enabled"], before["method"], before["capacity"], before["updated_at"]) == (
        False,
        "round_robin",
        10,
        None,
    )
    changed = client.patch(
        f"{API}/auto-assignment/{inbox.pk}/",
        {"enabled": True, "capacity": 3, "agent_capacities": {str(ana.user_id): 5}},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["enabled"], changed.json()["capacity"], changed.json()["agent_capacities"]) == (
        True,
        3,
        {str(ana.user_id): 5},
    )
    refused = client.patch(
        f"{API}/auto-assignment/{inbox.pk}/",
        {"agent_capacities": {str(bia.user_id): 2}},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "That person is not a member of this inbox."
    assert list(AgentCapacity.objects.values_list("user_id", "capacity")) == [(ana.user_id, 5)]
    refused = client.patch(f"{API}/auto-assignment/{inbox.pk}/", {"capacity": 0}, content_type="application/json")
    assert refused.status_code == 400
    assert AssignmentPolicy.objects.get(inbox=inbox).capacity == 3


def test_the_policy_api_refuses_other_workspaces_inboxes_and_teams(tenant, other_tenant):
    from tests.factories import owner_of

    inbox = make_inbox(tenant, name="Suporte")
    foreign_inbox = make_inbox(other_tenant, name="Deles")
    foreign_team = team_create(actor=owner_of(other_tenant), spec=TeamSpec(name="Deles"))
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    assert client.get(f"{API}/auto-assignment/{foreign_inbox.pk}/").status_code == 404
    assert (
        client.patch(
            f"{API}/auto-assignment/{foreign_inbox.pk}/", {"enabled": True}, content_type="application/json"
        ).status_code
        == 404
    )
    refused = client.patch(
        f"{API}/auto-assignment/{inbox.pk}/", {"team_id": foreign_team.pk}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Unknown team."
    assert not AssignmentPolicy.objects.exists()


def test_the_overall_capacities_api(tenant, people, other_tenant):
    ana, _bia = people
    stranger = add_member(other_tenant, BuiltinRole.AGENT)
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    saved = client.put(
        f"{API}/auto-assignment/capacities/", {"capacities": {str(ana.user_id): 4}}, content_type="application/json"
    )
    assert saved.status_code == 200
    assert saved.json() == {"capacities": {str(ana.user_id): 4}}
    refused = client.put(
        f"{API}/auto-assignment/capacities/",
        {"capacities": {str(stranger.user_id): 4}},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert client.get(f"{API}/auto-assignment/capacities/").json() == {"capacities": {str(ana.user_id): 4}}


def test_without_manage_automations_the_api_is_403_and_changes_nothing(tenant, admin, people):
    ana, _bia = people
    inbox = make_inbox(tenant, name="Suporte", members=[ana])
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas"))
    client = token_client(tenant, [Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS])
    assert client.get(f"{API}/teams/").status_code == 403
    assert client.post(f"{API}/teams/", {"name": "X"}, content_type="application/json").status_code == 403
    assert client.delete(f"{API}/teams/{team.pk}/").status_code == 403
    assert (
        client.patch(
            f"{API}/auto-assignment/{inbox.pk}/", {"enabled": True}, content_type="application/json"
        ).status_code
        == 403
    )
    assert _teams(tenant) == [("Vendas", "", [])]
    assert not AssignmentPolicy.objects.exists()


# --- the conversation's team, in the inbox and the API -------------------------------------------------------


def test_an_agent_moves_a_conversation_to_a_team_from_the_inbox(tenant, admin, agent):
    inbox = make_inbox(tenant, name="Suporte", members=[agent])
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas"))
    conversation = make_conversation(inbox)
    client = signed_in(agent)
    header = client.get(f"/t/acme/inbox/c/{conversation.display_id}/header/").json()["header"]
    assert f'<option value="{team.pk}">Vendas</option>' in header
    response = client.post(f"/t/acme/inbox/c/{conversation.display_id}/team/", {"team": str(team.pk)})
    assert response.status_code == 200, response.content
    assert f'<option value="{team.pk}" selected>Vendas</option>' in response.json()["header"]
    conversation.refresh_from_db()
    assert conversation.team_id == team.pk
    listed = client.get("/t/acme/inbox/list/", {"team": str(team.pk), "status": ""}).json()
    assert listed["ids"] == [conversation.pk]


def test_the_inbox_refuses_another_workspaces_team(tenant, agent, other_tenant):
    from tests.factories import owner_of

    inbox = make_inbox(tenant, name="Suporte", members=[agent])
    foreign = team_create(actor=owner_of(other_tenant), spec=TeamSpec(name="Deles"))
    conversation = make_conversation(inbox)
    response = signed_in(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/team/", {"team": str(foreign.pk)})
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.team_id is None


def test_the_conversation_api_shows_and_sets_the_team(tenant, admin, other_tenant):
    from tests.factories import owner_of

    inbox = make_inbox(tenant, name="Suporte")
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas"))
    foreign = team_create(actor=owner_of(other_tenant), spec=TeamSpec(name="Deles"))
    conversation = make_conversation(inbox)
    client = token_client(tenant, [Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS])
    url = f"{API}/conversations/{conversation.display_id}/team/"
    done = client.put(url, {"team_id": team.pk}, content_type="application/json")
    assert done.status_code == 200, done.content
    assert done.json()["team_id"] == team.pk
    listed = client.get(f"{API}/conversations/", {"team": team.pk}).json()["results"]
    assert [(row["id"], row["team_id"]) for row in listed] == [(conversation.pk, team.pk)]
    refused = client.put(url, {"team_id": foreign.pk}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Unknown team."
    assert Conversation.objects.get(pk=conversation.pk).team_id == team.pk
    cleared = client.put(url, {"team_id": None}, content_type="application/json")
    assert cleared.json()["team_id"] is None
    readonly = token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])
    assert readonly.put(url, {"team_id": team.pk}, content_type="application/json").status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).team_id is None


# --- the audit log -----------------------------------------------------------------------------------------


def _audit_details(client, action: str) -> list[str]:
    page = client.get("/t/acme/settings/audit-log/", {"action": action})
    assert page.status_code == 200
    cells = re.findall(r'<td class="extra">(.*?)</td>', page.content.decode(), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]


def test_the_audit_log_names_teams_people_and_settings(tenant, admin, people):
    from conversations.services.actions import conversation_team_set

    ana, bia = people
    inbox = make_inbox(tenant, name="Suporte", members=[ana])
    team = team_create(actor=admin, spec=TeamSpec(name="Vendas", members=(TeamMemberSpec(ana.user_id, True),)))
    conversation_team_set(actor=admin, conversation=make_conversation(inbox), team=team)
    signed_in(admin).post(
        f"{POLICIES}{inbox.pk}/",
        {
            "enabled": "on",
            "method": "least_open",
            "capacity": "4",
            "team": str(team.pk),
            f"capacity_{ana.user_id}": "2",
        },
    )
    client = signed_in(admin)
    assert _audit_details(client, "team.created") == ["name Vendas members Ana supervisors Ana"]
    assert _audit_details(client, "conversation.team_changed") == ["from none to Vendas"]
    [policy] = _audit_details(client, "assignment_policy.changed")
    assert "open conversations per agent from 10 to 4" in policy
    assert "auto-assignment from off to on" in policy
    assert "method from Round-robin to Fewest open conversations" in policy
    assert "team queue from none to Vendas" in policy
    assert "agents' own capacity changed Ana" in policy
    assert bia.user_id != ana.user_id
