"""The business hours API: list, create, read, change, delete, and "open at t / next open after t";
with the abuse cases (another workspace's calendar, no permission, bad input) changing nothing."""

from __future__ import annotations

import pytest

from automations.models import BusinessCalendar, WeeklyInterval
from automations.selectors import inbox_calendar
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.factories import christmas_eve, make_calendar, signed_in, token_client
from tests.conversations.factories import make_inbox
from tests.factories import add_member

pytestmark = pytest.mark.django_db
Action = AuditLogEntry.Action

BASE = "/api/v1/t/acme/business-hours/"


def _detail(calendar) -> str:
    return f"{BASE}{calendar.pk}/"


def _rows() -> tuple[int, int, int]:
    return (
        BusinessCalendar.objects.count(),
        WeeklyInterval.objects.count(),
        AuditLogEntry.objects.filter(action__startswith="business_calendar.").count(),
    )


# --- read -----------------------------------------------------------------------------------------------


def test_a_calendar_reads_back_with_its_hours_dates_and_inboxes(tenant, admin):
    inbox = make_inbox(tenant)
    calendar = make_calendar(admin, subdivision="SP", dates=(christmas_eve(),), inbox_ids=(inbox.pk,))

    body = signed_in(admin).get(_detail(calendar)).json()

    assert {k: body[k] for k in body if k not in ("created_at", "updated_at")} == {
        "id": calendar.pk,
        "name": "Office hours",
        "time_zone": "America/Sao_Paulo",
        "mode": "schedule",
        "weekly": [
            {"day": day, "start": start, "end": end}
            for day in ("mon", "tue", "wed", "thu", "fri")
            for start, end in (("09:00", "12:00"), ("13:00", "18:00"))
        ],
        "holidays_enabled": True,
        "holiday_country": "BR",
        "holiday_subdivision": "SP",
        "dates": [{"date": "2026-12-24", "name": "Christmas Eve", "intervals": [{"start": "09:00", "end": "13:00"}]}],
        "inbox_ids": [inbox.pk],
    }


def test_the_list_holds_the_workspaces_calendars_only(tenant, admin, other_tenant):
    make_calendar(admin, name="B")
    make_calendar(admin, name="A")
    make_calendar(add_member(other_tenant, "admin"), name="Theirs")

    body = signed_in(admin).get(BASE).json()

    assert [c["name"] for c in body] == ["A", "B"]


# --- create, change, delete ---------------------------------------------------------------------------


def test_creating_a_calendar_with_a_token(tenant):
    inbox = make_inbox(tenant)
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])

    response = client.post(
        BASE,
        {
            "name": "Night desk",
            "time_zone": "America/New_York",
            "weekly": [{"day": "fri", "start": "22:00", "end": "06:00"}],
            "holiday_country": "US",
            "holiday_subdivision": "ny",
            "dates": [{"date": "2026-12-31"}],
            "inbox_ids": [inbox.pk],
        },
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["weekly"] == [{"day": "fri", "start": "22:00", "end": "06:00"}]
    assert (body["holiday_country"], body["holiday_subdivision"], body["holidays_enabled"]) == ("US", "NY", True)
    assert body["dates"] == [{"date": "2026-12-31", "name": "", "intervals": []}]
    assert inbox_calendar(inbox=inbox).pk == body["id"]
    entry = AuditLogEntry.objects.get(action=Action.BUSINESS_CALENDAR_CREATED)
    assert (entry.actor, entry.actor_label) == (None, "API token Robot")


def test_fields_left_out_of_a_new_calendar_take_the_defaults(tenant, admin):
    body = signed_in(admin).post(BASE, {"name": "Default"}, content_type="application/json").json()

    assert (body["time_zone"], body["mode"], body["holiday_country"]) == ("America/Sao_Paulo", "schedule", "BR")
    assert body["weekly"] == [{"day": d, "start": "09:00", "end": "18:00"} for d in ("mon", "tue", "wed", "thu", "fri")]


def test_a_change_keeps_the_fields_left_out(tenant, admin):
    calendar = make_calendar(admin, dates=(christmas_eve(),))

    response = signed_in(admin).patch(
        _detail(calendar), {"mode": "closed", "name": "Holidays"}, content_type="application/json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["mode"], len(body["weekly"]), len(body["dates"])) == ("Holidays", "closed", 10, 1)
    entry = AuditLogEntry.objects.get(action=Action.BUSINESS_CALENDAR_CHANGED)
    assert entry.extra["changes"] == {"name": ["Office hours", "Holidays"], "mode": ["schedule", "closed"]}


def test_deleting_a_calendar(tenant, admin):
    calendar = make_calendar(admin)

    response = signed_in(admin).delete(_detail(calendar))

    assert response.status_code == 204
    assert _rows() == (0, 0, 2)


# --- open at t, next open after t ---------------------------------------------------------------------


def test_open_at_a_moment_and_the_next_opening_and_closing(tenant, admin):
    calendar = make_calendar(admin, subdivision="SP")
    status_url = _detail(calendar) + "status/"

    holiday = signed_in(admin).get(status_url, {"at": "2026-07-09T10:00:00-03:00"}).json()
    working = (
        signed_in(admin)
        .get(status_url, {"at": "2026-07-10T10:00:00-03:00", "until": "2026-07-13T10:00:00-03:00"})
        .json()
    )

    assert holiday == {
        "at": "2026-07-09T10:00:00-03:00",
        "open": False,
        "next_open": "2026-07-10T09:00:00-03:00",
        "next_close": "2026-07-09T10:00:00-03:00",
        "business_seconds": None,
    }
    assert working["open"] is True
    assert working["next_close"] == "2026-07-10T12:00:00-03:00"
    # Friday 10:00-12:00 and 13:00-18:00, then Monday 09:00-10:00.
    assert working["business_seconds"] == 8 * 3600.0


def test_a_closed_calendar_never_opens(tenant, admin):
    calendar = make_calendar(admin, mode=BusinessCalendar.Mode.CLOSED)

    body = signed_in(admin).get(_detail(calendar) + "status/", {"at": "2026-07-10T10:00:00Z"}).json()

    assert (body["open"], body["next_open"]) == (False, None)


def test_a_moment_without_its_zone_or_out_of_range_is_refused(tenant, admin):
    calendar = make_calendar(admin)
    status_url = _detail(calendar) + "status/"

    naive = signed_in(admin).get(status_url, {"at": "2026-07-10T10:00:00"})
    far = signed_in(admin).get(status_url, {"at": "9999-01-01T00:00:00Z"})
    backwards = signed_in(admin).get(status_url, {"at": "2026-07-10T10:00:00Z", "until": "2026-07-09T10:00:00Z"})

    assert naive.status_code == 400
    assert naive.json()["error"]["details"] == {"at": ["Include a time zone, e.g. 2030-01-31T09:00:00-03:00."]}
    assert far.status_code == 400
    assert far.json()["error"] == {
        "code": "validation_failed",
        "message": "at must be between 1971 and 2199.",
        "details": {"param": "at"},
    }
    assert backwards.status_code == 400
    assert backwards.json()["error"]["details"] == {"param": "until"}
    empty = signed_in(admin).get(status_url, {"at": "2026-07-10T10:00:00Z", "until": ""})
    assert (empty.status_code, empty.json()["error"]["details"]) == (400, {"params": ["until"]})


# --- abuse ----------------------------------------------------------------------------------------------


def test_another_workspaces_calendar_is_404_to_every_method(tenant, admin, other_tenant):
    theirs = make_calendar(add_member(other_tenant, "admin"))
    client = signed_in(admin)
    before = _rows()

    answers = [
        client.get(_detail(theirs)).status_code,
        client.patch(_detail(theirs), {"name": "Mine"}, content_type="application/json").status_code,
        client.delete(_detail(theirs)).status_code,
        client.get(_detail(theirs) + "status/").status_code,
        client.get(f"/api/v1/t/globex/business-hours/{theirs.pk}/").status_code,
    ]

    assert answers == [404] * 5
    assert _rows() == before
    assert BusinessCalendar.objects.get(pk=theirs.pk).name == "Office hours"


def test_an_agent_or_a_token_without_manage_automations_gets_403_and_changes_nothing(tenant, admin, agent):
    calendar = make_calendar(admin)
    before = _rows()

    for client in (signed_in(agent), token_client(tenant, [Perm.REPLY, Perm.MANAGE_LABELS])):
        answers = [
            client.get(BASE).status_code,
            client.post(BASE, {"name": "Mine"}, content_type="application/json").status_code,
            client.get(_detail(calendar)).status_code,
            client.patch(_detail(calendar), {"name": "Mine"}, content_type="application/json").status_code,
            client.delete(_detail(calendar)).status_code,
            client.get(_detail(calendar) + "status/").status_code,
        ]
        assert answers == [403] * 6

    assert _rows() == before


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        (
            {"name": "X", "weekly": [{"day": "mon", "start": "09:00", "end": "09:00"}]},
            "Monday, 09:00 to 09:00: an interval must end at another time than it starts (09:00).",
            {"field": "weekly"},
        ),
        (
            {
                "name": "X",
                "weekly": [
                    {"day": "sun", "start": "22:00", "end": "02:00"},
                    {"day": "mon", "start": "01:00", "end": "05:00"},
                ],
            },
            "Sunday, 22:00 to 02:00 overlaps Monday, 01:00 to 05:00.",
            {"field": "weekly"},
        ),
        (
            {"name": "X", "time_zone": "Europe/Atlantis"},
            "“Europe/Atlantis” is not a known time zone.",
            {"field": "time_zone", "value": "Europe/Atlantis"},
        ),
        (
            {"name": "X", "holiday_country": "ZZ"},
            "No public holidays are known for the country “ZZ”.",
            {"field": "holiday_country", "value": "ZZ"},
        ),
        (
            {"name": "X", "holiday_subdivision": "Narnia"},
            None,
            {"field": "holiday_subdivision", "value": "Narnia"},
        ),
        ({"name": "Office hours"}, "A calendar named “Office hours” already exists.", {"field": "name"}),
        ({"name": "X", "inbox_ids": [2_000_000_000]}, "Unknown inbox.", {"field": "inbox_ids", "id": 2_000_000_000}),
    ],
    ids=["end-equals-start", "overlap-across-the-week", "zone", "country", "subdivision", "duplicate", "inbox"],
)
def test_invalid_input_is_400_with_a_message_and_nothing_saved(tenant, admin, body, message, details):
    make_calendar(admin)
    before = _rows()

    response = signed_in(admin).post(BASE, body, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    if message is not None:
        assert error["message"] == message
    assert error["details"] == details
    assert _rows() == before


def test_a_malformed_body_is_400_naming_the_field(tenant, admin):
    calendar = make_calendar(admin)
    before = _rows()

    body = {"weekly": [{"day": "someday", "start": "9am", "end": "24:00"}]}

    response = signed_in(admin).patch(_detail(calendar), body, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]["weekly"]["0"]) == {"day", "start", "end"}
    assert _rows() == before
