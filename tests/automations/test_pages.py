"""The business hours settings pages, as an admin uses them and as others cannot."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time

import pytest

from automations.models import BusinessCalendar, CalendarDate, WeeklyInterval
from automations.selectors import calendar_get, inbox_calendar
from automations.services import DateSpec, WeeklySpec
from tenants.models import AuditLogEntry
from tests.automations.factories import christmas_eve, make_calendar, signed_in
from tests.conversations.factories import make_inbox
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db
Action = AuditLogEntry.Action

LIST = "/t/acme/settings/business-hours/"
NEW = "/t/acme/settings/business-hours/new/"
# Friday 2026-12-04, 20:00 in São Paulo: closed until Monday morning.
FRIDAY_EVENING = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: FRIDAY_EVENING)
    return FRIDAY_EVENING


def _edit(calendar) -> str:
    return f"/t/acme/settings/business-hours/{calendar.pk}/"


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _form(**fields) -> dict[str, str]:
    """A posted form: the settings, then grid fields such as ``w0-0-start="09:00"``."""
    data = {
        "name": "Support",
        "time_zone": "America/Sao_Paulo",
        "mode": "schedule",
        "holidays_enabled": "on",
        "holiday_country": "BR",
        "holiday_subdivision": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


# --- the sidebar and who may open the pages --------------------------------------------------------


def test_the_sidebar_links_business_hours_for_members_who_manage_automations(tenant, admin, supervisor):
    admin_page = signed_in(admin).get("/t/acme/settings/labels/").content.decode()
    supervisor_page = signed_in(supervisor).get("/t/acme/settings/labels/").content.decode()

    assert f'<li><a href="{LIST}">Business hours</a></li>' in admin_page
    assert LIST not in supervisor_page
    current = signed_in(admin).get(LIST).content.decode()
    assert f'<li><a href="{LIST}" aria-current="page">Business hours</a></li>' in current


def test_a_member_without_manage_automations_gets_403_everywhere_and_changes_nothing(tenant, admin, agent):
    calendar = make_calendar(admin)
    client = signed_in(agent)

    answers = [
        client.get(LIST).status_code,
        client.get(NEW).status_code,
        client.post(NEW, _form(**{"w0-0-start": "09:00", "w0-0-end": "18:00"})).status_code,
        client.get(_edit(calendar)).status_code,
        client.post(_edit(calendar), _form(name="Hijacked")).status_code,
        client.post(_edit(calendar) + "delete/").status_code,
    ]

    assert answers == [403] * 6
    assert list(BusinessCalendar.objects.values_list("name", flat=True)) == ["Office hours"]
    assert (
        not AuditLogEntry.objects.filter(action__startswith="business_calendar.")
        .exclude(action=Action.BUSINESS_CALENDAR_CREATED)
        .exists()
    )


def test_another_workspaces_calendar_is_404_on_every_page(tenant, admin, other_tenant):
    theirs = make_calendar(add_member(other_tenant, "admin"))
    client = signed_in(admin)

    answers = [
        client.get(_edit(theirs)).status_code,
        client.post(_edit(theirs), _form(name="Mine")).status_code,
        client.post(_edit(theirs) + "delete/").status_code,
    ]

    assert answers == [404, 404, 404]
    assert BusinessCalendar.objects.get(pk=theirs.pk).name == "Office hours"


# --- the list -------------------------------------------------------------------------------------------


def test_the_list_shows_each_calendar_its_inboxes_and_whether_it_is_open_now(tenant, admin, frozen_now):
    inbox = make_inbox(tenant, name="Suporte")
    make_calendar(admin, inbox_ids=(inbox.pk,))
    make_calendar(admin, name="Night desk", weekly=(WeeklySpec(4, time(18), time(6)),))

    text = _text(signed_in(admin).get(LIST).content.decode())

    night = "Night desk America/Sao_Paulo — Open Open now. Closes Saturday, Dec. 5, 2026 at 06:00 (in 10 hr.)."
    office = "Office hours America/Sao_Paulo Suporte Closed Closed now. Opens Monday, Dec. 7, 2026 at 09:00 (in 3 days)"
    assert night in text
    assert office + "." in text


def test_the_list_says_when_there_is_no_calendar(tenant, admin):
    assert "No business hours yet." in signed_in(admin).get(LIST).content.decode()


# --- create ---------------------------------------------------------------------------------------------


def test_the_new_page_starts_from_the_workspaces_zone_country_and_office_hours(tenant, admin):
    page = signed_in(admin).get(NEW).content.decode()

    assert '<option value="America/Sao_Paulo" selected>America/Sao_Paulo</option>' in page
    assert '<option value="BR" selected>Brazil</option>' in page
    assert 'name="w0-0-start" value="09:00"' in page
    assert 'name="w4-0-end" value="18:00"' in page
    assert 'name="w5-0-start"' in page and 'name="w5-0-start" value=' not in page


def test_creating_business_hours_from_the_page(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")
    form = _form(
        **{
            "w0-0-start": "09:00",
            "w0-0-end": "12:00",
            "w0-1-start": "13:00",
            "w0-1-end": "18:00",
            "w4-0-start": "22:00",
            "w4-0-end": "06:00",
            "holiday_subdivision": "sp",
            "d0-date": "2026-12-24",
            "d0-name": "Christmas Eve",
            "d0-0-start": "09:00",
            "d0-0-end": "13:00",
            "d1-date": "2026-12-31",
            "inboxes": str(inbox.pk),
        }
    )

    response = signed_in(admin).post(NEW, form)

    calendar = BusinessCalendar.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert response["Location"] == _edit(calendar)
    assert [(w.weekday, w.start, w.end) for w in WeeklyInterval.objects.filter(calendar=calendar)] == [
        (0, time(9), time(12)),
        (0, time(13), time(18)),
        (4, time(22), time(6)),
    ]
    assert calendar.holiday_subdivision == "SP"
    dates = CalendarDate.objects.filter(calendar=calendar)
    assert [(d.date, d.name, [(i.start, i.end) for i in d.intervals.all()]) for d in dates] == [
        (date(2026, 12, 24), "Christmas Eve", [(time(9), time(13))]),
        (date(2026, 12, 31), "", []),
    ]
    assert inbox_calendar(inbox=inbox) == calendar
    assert AuditLogEntry.objects.filter(tenant=tenant, action=Action.BUSINESS_CALENDAR_CREATED).count() == 1


def test_overlapping_intervals_are_refused_with_a_message_and_nothing_is_saved(tenant, admin):
    form = _form(**{"w0-0-start": "09:00", "w0-0-end": "12:00", "w0-1-start": "11:00", "w0-1-end": "14:00"})

    response = signed_in(admin).post(NEW, form)

    assert response.status_code == 400
    assert "Monday, 09:00 to 12:00 overlaps Monday, 11:00 to 14:00." in response.content.decode()
    assert BusinessCalendar.objects.count() == 0
    # The rows sent are shown again, as typed.
    assert 'name="w0-1-start" value="11:00"' in response.content.decode()


def test_an_interval_that_ends_when_it_starts_and_a_missing_time_are_refused(tenant, admin):
    same = signed_in(admin).post(NEW, _form(**{"w2-0-start": "09:00", "w2-0-end": "09:00"}))
    missing = signed_in(admin).post(NEW, _form(**{"w2-0-start": "09:00"}))

    assert same.status_code == 400
    assert "Wednesday, 09:00 to 09:00: an interval must end at another time than it starts (09:00)." in (
        same.content.decode()
    )
    assert missing.status_code == 400
    assert "Give both the opening and the closing time." in missing.content.decode()
    assert BusinessCalendar.objects.count() == 0


def test_an_unknown_state_is_refused_at_its_field(tenant, admin):
    response = signed_in(admin).post(NEW, _form(holiday_subdivision="XX"))

    assert response.status_code == 400
    pattern = r'<div class="field has-error">\s*<label for="id_holiday_subdivision">.*?</div>'
    field = re.search(pattern, response.content.decode(), re.S)
    assert field is not None and "“XX” is not a state or region of BR with known holidays" in field.group(0)
    assert BusinessCalendar.objects.count() == 0


# --- edit -----------------------------------------------------------------------------------------------


def test_the_edit_page_shows_the_hours_the_status_and_the_holidays_ahead(tenant, admin, frozen_now):
    calendar = make_calendar(admin, subdivision="SP", dates=(christmas_eve(), DateSpec(date(2027, 4, 21), "Open")))

    page = signed_in(admin).get(_edit(calendar)).content.decode()
    text = _text(page)

    assert "Closed now. Opens Monday, Dec. 7, 2026 at 09:00 (in 3 days)." in text
    assert "Times in the calendar's time zone, America/Sao_Paulo." in text
    assert 'name="w0-1-start" value="13:00"' in page and 'name="w0-2-start"' in page
    assert 'name="d0-date" value="2026-12-24"' in page and 'name="d0-0-end" value="13:00"' in page
    # The holidays of Brazil and of São Paulo from today for a year, the first and the state's own.
    assert "Friday, Dec. 25, 2026 Christmas Day Closed" in text
    assert "Friday, Jan. 1, 2027 Universal Fraternization Day Closed" in text
    assert "Friday, July 9, 2027 Constitutionalist Revolution Closed" in text
    assert "Wednesday, April 21, 2027 Tiradentes' Day Closed (Open)" in text
    assert "Dec. 4, 2026" not in text and "Nov. 20, 2026" not in text


def test_the_status_line_speaks_the_viewers_language(tenant, admin, frozen_now):
    calendar = make_calendar(admin)
    portuguese = add_member(tenant, "admin", user=make_user(language="pt-br"))

    text = _text(signed_in(portuguese).get(_edit(calendar)).content.decode())

    # Weekday, date and relative time in pt-BR (the sentence around them comes from the catalog).
    assert "segunda-feira, 07/12/2026" in text
    assert "09:00 (em 3 dias)" in text


def test_saving_a_change_from_the_edit_page(tenant, admin):
    calendar = make_calendar(admin, dates=(christmas_eve(),))
    form = _form(
        name="Support",
        **{"w5-0-start": "08:00", "w5-0-end": "12:00", "d0-date": "2026-12-24", "d0-remove": "on"},
    )

    response = signed_in(admin).post(_edit(calendar), form)

    assert response.status_code == 302
    calendar = calendar_get(tenant=tenant, calendar_id=calendar.pk)
    assert calendar.name == "Support"
    assert [(w.weekday, w.start, w.end) for w in calendar.weekly_intervals.all()] == [(5, time(8), time(12))]
    assert list(calendar.dates.all()) == []
    entry = AuditLogEntry.objects.get(action=Action.BUSINESS_CALENDAR_CHANGED)
    assert set(entry.extra["changes"]) == {"name", "hours", "dates"}


def test_the_audit_log_page_shows_a_change_in_the_viewers_words(tenant, admin):
    calendar = make_calendar(admin)
    form = _form(name="Office hours", mode="closed", **{"w0-0-start": "10:00", "w0-0-end": "11:00"})
    assert signed_in(admin).post(_edit(calendar), form).status_code == 302

    text = _text(signed_in(admin).get("/t/acme/settings/audit-log/").content.decode())

    assert "Business hours changed" in text
    assert "mode from By schedule to Closed" in text
    assert "weekly hours from Monday 09:00 to 12:00, Monday 13:00 to 18:00" in text
    assert "to Monday 10:00 to 11:00" in text


# --- delete ---------------------------------------------------------------------------------------------


def test_deleting_business_hours_from_the_list(tenant, admin):
    inbox = make_inbox(tenant)
    calendar = make_calendar(admin, inbox_ids=(inbox.pk,))

    response = signed_in(admin).post(_edit(calendar) + "delete/")

    assert response.status_code == 302
    assert response["Location"] == LIST
    assert BusinessCalendar.objects.count() == 0
    assert inbox_calendar(inbox=inbox) is None
    assert AuditLogEntry.objects.filter(action=Action.BUSINESS_CALENDAR_DELETED).count() == 1


def test_delete_answers_only_to_post(tenant, admin):
    calendar = make_calendar(admin)

    assert signed_in(admin).get(_edit(calendar) + "delete/").status_code == 405
    assert BusinessCalendar.objects.count() == 1
