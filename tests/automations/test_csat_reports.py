"""The CSAT page and API: the ratings filtered by date, inbox, agent and rating, and the figures (score,
average, response rate, not sent) with exact values; the settings page and API; the abuse cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from automations.models import CsatResponse, CsatSettings, CsatSurvey
from conversations.models import Team
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.factories import signed_in, token_client
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_tenant

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme/csat/"


def _survey(inbox, *, at, status="sent", agent=None, rating=None, comment="", answered_at=None, labels=(), team=None):
    conversation = make_conversation(inbox, status="resolved", assignee=agent, team=team)
    survey = CsatSurvey.objects.create(
        tenant_id=inbox.tenant_id,
        conversation=conversation,
        inbox=inbox,
        contact_inbox=conversation.contact_inbox,
        status=status,
        trigger="resolved",
        style="list",
        assignee_id=agent.user_id if agent else None,
        team=team,
        labels=list(labels),
    )
    CsatSurvey.objects.filter(pk=survey.pk).update(created_at=at)
    if rating is not None:
        CsatResponse.objects.create(
            tenant_id=inbox.tenant_id,
            survey=survey,
            conversation=conversation,
            inbox=inbox,
            assignee_id=survey.assignee_id,
            team=team,
            labels=list(labels),
            rating=rating,
            comment=comment,
            responded_at=answered_at or at,
        )
    return survey


@pytest.fixture
def data(tenant, admin, agent):
    """Two inboxes in São Paulo's time zone: 6 surveys sent on 1-2 December (5 answered), 2 not sent."""
    sales, support = make_inbox(tenant, name="Vendas"), make_inbox(tenant, name="Suporte")
    night = Team.objects.create(tenant=tenant, name="Night shift")
    day1, day2 = datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 2, 15, tzinfo=UTC)
    # 2 December 01:00 UTC is still 1 December in São Paulo.
    late_day1 = datetime(2026, 12, 2, 1, tzinfo=UTC)
    _survey(sales, at=day1, agent=agent, rating=5, comment="Ótimo", labels=["vip"])
    _survey(sales, at=day1, agent=agent, rating=4)
    _survey(sales, at=late_day1, agent=admin, rating=2)
    _survey(support, at=day2, agent=agent, rating=1, team=night)
    _survey(support, at=day2, agent=admin, rating=5)
    _survey(support, at=day2, agent=admin, team=night)  # not answered
    _survey(support, at=day2, status="window_closed")
    _survey(sales, at=day1, status="failed")
    return {"sales": sales, "support": support, "night": night}


def test_the_figures_of_all_ratings_are_exact(tenant, admin, data):
    body = signed_in(admin).get(f"{API}summary/").json()

    # 5 ratings: 3 of 4 or 5 (60.0 %), mean 17 / 5 = 3.40; 5 of 6 surveys sent answered (83.3 %).
    assert body == {
        "responses": 5,
        "satisfied": 3,
        "score": "60.0",
        "average": "3.40",
        "surveys_sent": 6,
        "answered": 5,
        "response_rate": "83.3",
        "not_sent_window_closed": 1,
        "not_sent_failed": 1,
    }


def test_the_filters_narrow_the_ratings_and_the_figures(tenant, admin, agent, data):
    client = signed_in(admin)
    # 1 December in the workspace's time zone holds three ratings (one of them at 01:00 UTC on the 2nd).
    day1 = client.get(f"{API}summary/", {"date_from": "2026-12-01", "date_to": "2026-12-01"}).json()
    assert (day1["responses"], day1["score"], day1["average"], day1["surveys_sent"], day1["response_rate"]) == (
        3,
        "66.7",
        "3.67",
        3,
        "100.0",
    )
    assert day1["not_sent_failed"] == 1 and day1["not_sent_window_closed"] == 0

    by_agent = client.get(f"{API}responses/", {"agent_id": agent.user_id}).json()["results"]
    assert sorted(r["rating"] for r in by_agent) == [1, 4, 5]

    support = client.get(f"{API}summary/", {"inbox_id": data["support"].pk}).json()
    assert (support["responses"], support["score"], support["average"], support["surveys_sent"]) == (
        2,
        "50.0",
        "3.00",
        3,
    )
    assert support["response_rate"] == "66.7"

    night = client.get(f"{API}summary/", {"team_id": data["night"].pk}).json()
    assert (night["responses"], night["score"], night["surveys_sent"], night["response_rate"]) == (1, "0.0", 2, "50.0")
    [by_team] = client.get(f"{API}responses/", {"team_id": data["night"].pk}).json()["results"]
    assert (by_team["rating"], by_team["team_id"]) == (1, data["night"].pk)

    fives = client.get(f"{API}responses/", {"rating": 5}).json()["results"]
    assert [(r["rating"], r["comment"], r["labels"]) for r in fives] == [(5, "", []), (5, "Ótimo", ["vip"])]


def test_nothing_to_count_reads_as_null(tenant, admin):
    body = signed_in(admin).get(f"{API}summary/").json()
    assert (body["score"], body["average"], body["response_rate"], body["responses"]) == (None, None, None, 0)


@pytest.mark.parametrize(
    "params",
    [{"rating": "6"}, {"date_from": "yesterday"}, {"date_from": "2026-12-02", "date_to": "2026-12-01"}, {"rating": ""}],
)
def test_bad_filters_are_400_with_a_message(tenant, admin, params):
    response = signed_in(admin).get(f"{API}responses/", params)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_another_workspaces_inbox_as_a_filter_is_refused_and_its_ratings_never_show(tenant, admin, data):
    other = make_tenant(slug="other")
    theirs = make_inbox(other, name="Deles")
    _survey(theirs, at=datetime(2026, 12, 1, 15, tzinfo=UTC), rating=1)

    their_team = Team.objects.create(tenant=other, name="Deles")
    assert signed_in(admin).get(f"{API}responses/", {"inbox_id": theirs.pk}).status_code == 400
    assert signed_in(admin).get(f"{API}summary/", {"team_id": their_team.pk}).status_code == 400
    assert signed_in(admin).get(f"{API}summary/").json()["responses"] == 5


def test_the_ratings_need_view_reports(tenant, agent, data):
    assert signed_in(agent).get(f"{API}responses/").status_code == 403
    assert signed_in(agent).get(f"{API}summary/").status_code == 403
    assert signed_in(agent).get("/t/acme/csat/").status_code == 403
    assert token_client(tenant, [Perm.VIEW_REPORTS]).get(f"{API}summary/").json()["responses"] == 5


def test_the_page_shows_the_figures_and_filters_the_list(tenant, admin, data):
    supervisor = add_member(tenant, "supervisor")
    client = signed_in(supervisor)

    page = client.get("/t/acme/csat/", {"inbox": data["sales"].pk})

    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["summary"].responses == 3
    assert str(page.context["summary"].score) == "66.7"
    # Newest first: the rating of 01:00 UTC on the 2nd, then the two of 15:00 UTC on the 1st (by id, newest first).
    assert [r.rating for r in page.context["page"].object_list] == [2, 4, 5]
    assert 'data-figure="score"' in html and "66.7%" in html
    assert [s.status for s in page.context["not_sent"]] == ["failed"]
    assert client.get("/t/acme/csat/", {"date_from": "2026-12-02", "date_to": "2026-12-01"}).status_code == 400


# --- settings ----------------------------------------------------------------------------------------


def test_the_settings_api_reads_the_defaults_and_saves_a_change_audited(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")
    client = signed_in(admin)
    assert client.get(f"{API}settings/{inbox.pk}/").json() == {
        "inbox_id": inbox.pk,
        "inbox_name": "Suporte",
        "enabled": False,
        "style": "list",
        "send_on_resolve": True,
        "send_before_window_closes": False,
        "ask_comment": False,
        "comment_minutes": 10,
        "template_name": "",
        "template_language": "",
        "texts": {},
        "updated_at": None,
    }

    response = client.patch(
        f"{API}settings/{inbox.pk}/",
        {"enabled": True, "style": "buttons", "texts": {"button_good": {"pt-br": "Ótimo"}}},
        content_type="application/json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["enabled"], body["style"], body["texts"]) == (True, "buttons", {"button_good": {"pt-br": "Ótimo"}})
    entry = AuditLogEntry.objects.get(action="csat_settings.changed")
    assert entry.extra == {
        "inbox_id": inbox.pk,
        "changes": {"enabled": ["off", "on"], "style": ["list", "buttons"]},
        "reworded": ["button_good"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"texts": {"rating_5": {"en": "5 - Absolutely excellent service"}}}, "texts"),  # 31 > 24 characters
        ({"texts": {"button_good": {"fr": "Super"}}}, "texts"),
        ({"texts": {"nonsense": {"en": "x"}}}, "texts"),
        ({"comment_minutes": 0}, "comment_minutes"),
        ({"template_name": "unknown", "template_language": "pt_BR"}, "template_name"),
    ],
)
def test_bad_settings_are_400_naming_the_field_and_change_nothing(tenant, admin, body, field):
    inbox = make_inbox(tenant, name="Suporte")

    response = signed_in(admin).patch(f"{API}settings/{inbox.pk}/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == field
    assert not CsatSettings.objects.exists()
    assert not AuditLogEntry.objects.filter(action="csat_settings.changed").exists()


def test_settings_of_another_workspaces_inbox_are_404_and_need_manage_automations(tenant, admin, agent):
    other = make_tenant(slug="other")
    theirs = make_inbox(other, name="Deles")
    client = signed_in(admin)
    assert client.get(f"{API}settings/{theirs.pk}/").status_code == 404
    assert (
        client.patch(f"{API}settings/{theirs.pk}/", {"enabled": True}, content_type="application/json").status_code
        == 404
    )
    assert client.get(f"/t/acme/settings/csat/{theirs.pk}/").status_code == 404
    inbox = make_inbox(tenant, name="Suporte")
    assert signed_in(agent).get(f"{API}settings/").status_code == 403
    assert (
        signed_in(agent).patch(f"{API}settings/{inbox.pk}/", {"enabled": True}, content_type="application/json")
    ).status_code == 403
    assert token_client(tenant, [Perm.VIEW_REPORTS]).get(f"{API}settings/").status_code == 403
    assert not CsatSettings.objects.exists()


def test_the_settings_page_saves_the_form(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")
    client = signed_in(admin)
    assert client.get("/t/acme/settings/csat/").status_code == 200
    assert client.get(f"/t/acme/settings/csat/{inbox.pk}/").status_code == 200

    response = client.post(
        f"/t/acme/settings/csat/{inbox.pk}/",
        {
            "enabled": "on",
            "style": "list",
            "send_on_resolve": "on",
            "ask_comment": "on",
            "comment_minutes": "15",
            "template": "",
            "text_question_pt_br": "Como foi?",
        },
    )

    assert response.status_code == 302
    settings = CsatSettings.objects.get(inbox=inbox)
    assert (settings.enabled, settings.ask_comment, settings.comment_minutes) == (True, True, 15)
    body = signed_in(admin).get(f"{API}settings/{inbox.pk}/").json()
    assert body["texts"] == {"question": {"pt-br": "Como foi?"}}

    too_long = client.post(
        f"/t/acme/settings/csat/{inbox.pk}/",
        {"style": "list", "comment_minutes": "15", "text_rating_5_en": "x" * 25},
    )
    assert too_long.status_code == 400
