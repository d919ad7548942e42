"""Creating, changing and deleting business hours calendars: the checks, the audit log, the inboxes,
and what a refused change leaves behind (nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from automations.business_hours import is_open, next_open
from automations.models import BusinessCalendar, CalendarDate, CalendarDateInterval, InboxSettings, WeeklyInterval
from automations.selectors import calendar_get, calendar_list, calendar_load, inbox_calendar
from automations.services import (
    CalendarSpec,
    DateSpec,
    WeeklySpec,
    calendar_clean,
    calendar_defaults,
    calendar_delete,
    calendar_spec,
    calendar_update,
)
from helpdesk.exceptions import NotFound, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tests.automations.factories import OFFICE_WEEK, christmas_eve, make_calendar
from tests.conversations.factories import make_inbox
from tests.factories import add_member

pytestmark = pytest.mark.django_db
Action = AuditLogEntry.Action


def _rows() -> tuple[int, int, int, int, int]:
    return (
        BusinessCalendar.objects.count(),
        WeeklyInterval.objects.count(),
        CalendarDate.objects.count(),
        CalendarDateInterval.objects.count(),
        InboxSettings.objects.exclude(calendar=None).count(),
    )


def _spec(**changes) -> CalendarSpec:
    base = CalendarSpec(name="Support", time_zone="America/Sao_Paulo", weekly=OFFICE_WEEK, holiday_country="BR")
    return replace(base, **changes)


def _refused(spec: CalendarSpec) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        calendar_clean(spec)
    return caught.value


# --- create -------------------------------------------------------------------------------------------


def test_creating_a_calendar_stores_it_and_writes_the_audit_log(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")

    calendar = make_calendar(admin, subdivision="sp", dates=(christmas_eve(),), inbox_ids=(inbox.pk,))

    assert (calendar.name, calendar.time_zone, calendar.holiday_country, calendar.holiday_subdivision) == (
        "Office hours",
        "America/Sao_Paulo",
        "BR",
        "SP",
    )
    assert [(w.weekday, w.start, w.end) for w in calendar.weekly_intervals.all()][:2] == [
        (0, time(9), time(12)),
        (0, time(13), time(18)),
    ]
    assert calendar.weekly_intervals.count() == 10
    assert [(d.date, d.name, [(i.start, i.end) for i in d.intervals.all()]) for d in calendar.dates.all()] == [
        (date(2026, 12, 24), "Christmas Eve", [(time(9), time(13))])
    ]
    assert inbox_calendar(inbox=inbox) == calendar
    entry = AuditLogEntry.objects.get(tenant=tenant, action=Action.BUSINESS_CALENDAR_CREATED)
    assert (entry.actor, entry.target_label, entry.target_id) == (admin.user, "Office hours", str(calendar.pk))
    assert entry.extra["hours"][:2] == ["mon 09:00-12:00", "mon 13:00-18:00"]
    assert entry.extra["dates"] == ["2026-12-24 09:00-13:00"]
    assert (entry.extra["country"], entry.extra["subdivision"], entry.extra["holidays"]) == ("BR", "SP", "on")
    assert entry.extra["inbox_ids"] == [inbox.pk]


def test_a_new_calendar_starts_from_the_workspaces_zone_and_country(tenant):
    tenant.timezone, tenant.country = "Europe/Lisbon", "PT"

    defaults = calendar_defaults(tenant=tenant)

    assert (defaults.time_zone, defaults.holiday_country, defaults.holidays_enabled) == ("Europe/Lisbon", "PT", True)
    assert [(w.weekday, w.start, w.end) for w in defaults.weekly] == [(d, time(9), time(18)) for d in range(5)]


def test_an_agent_without_manage_automations_cannot_create_a_calendar(tenant, agent, supervisor):
    for member in (agent, supervisor):
        with pytest.raises(PermissionDenied):
            make_calendar(member)

    assert _rows() == (0, 0, 0, 0, 0)
    assert not AuditLogEntry.objects.filter(action=Action.BUSINESS_CALENDAR_CREATED).exists()


def test_a_second_calendar_with_the_same_name_is_refused(tenant, admin):
    make_calendar(admin, name="Support")

    with pytest.raises(ValidationFailed) as caught:
        make_calendar(admin, name=" Support ")

    assert caught.value.code == "duplicate"
    assert caught.value.details == {"field": "name"}
    assert BusinessCalendar.objects.count() == 1
    assert WeeklyInterval.objects.count() == 10


def test_another_workspaces_inbox_cannot_be_given_a_calendar(tenant, admin, other_tenant):
    foreign = make_inbox(other_tenant)

    with pytest.raises(ValidationFailed) as caught:
        make_calendar(admin, inbox_ids=(foreign.pk,))

    assert caught.value.details == {"field": "inbox_ids", "id": foreign.pk}
    assert _rows() == (0, 0, 0, 0, 0)


# --- the checks ---------------------------------------------------------------------------------------


def test_an_interval_ending_when_it_starts_is_refused():
    error = _refused(_spec(weekly=(WeeklySpec(2, time(9), time(9)),)))

    assert error.message == "Wednesday, 09:00 to 09:00: an interval must end at another time than it starts (09:00)."
    assert error.details == {"field": "weekly"}


def test_overlapping_intervals_on_one_day_are_refused():
    error = _refused(_spec(weekly=(WeeklySpec(0, time(9), time(12)), WeeklySpec(0, time(11), time(14)))))

    assert error.message == "Monday, 09:00 to 12:00 overlaps Monday, 11:00 to 14:00."


def test_a_night_shift_overlapping_the_next_mornings_hours_is_refused():
    friday_night = WeeklySpec(4, time(22), time(6))

    error = _refused(_spec(weekly=(friday_night, WeeklySpec(5, time(5), time(10)))))
    sunday_night = _refused(_spec(weekly=(WeeklySpec(6, time(23), time(2)), WeeklySpec(0, time(1), time(3)))))

    assert error.message == "Friday, 22:00 to 06:00 overlaps Saturday, 05:00 to 10:00."
    assert sunday_night.message == "Sunday, 23:00 to 02:00 overlaps Monday, 01:00 to 03:00."
    assert calendar_clean(_spec(weekly=(friday_night, WeeklySpec(5, time(6), time(10))))).weekly == (
        friday_night,
        WeeklySpec(5, time(6), time(10)),
    )


def test_intervals_that_meet_end_to_start_are_accepted():
    weekly = (WeeklySpec(0, time(12), time(18)), WeeklySpec(0, time(9), time(12)))

    assert calendar_clean(_spec(weekly=weekly)).weekly == tuple(reversed(weekly))


def test_times_with_seconds_are_refused():
    error = _refused(_spec(weekly=(WeeklySpec(0, time(9, 0, 30), time(12)),)))

    assert error.message == "Monday, 09:00 to 12:00: times are whole minutes, without seconds."


def test_unknown_zone_country_and_subdivision_are_refused():
    zone = _refused(_spec(time_zone="Mars/Olympus_Mons"))
    country = _refused(_spec(holiday_country="XX"))
    subdivision = _refused(_spec(holiday_subdivision="ZZ"))

    assert (zone.message, zone.details) == (
        "“Mars/Olympus_Mons” is not a known time zone.",
        {"field": "time_zone", "value": "Mars/Olympus_Mons"},
    )
    assert country.message == "No public holidays are known for the country “XX”."
    assert country.details == {"field": "holiday_country", "value": "XX"}
    assert subdivision.message.startswith("“ZZ” is not a state or region of BR with known holidays (known: AC, AL,")
    assert subdivision.details == {"field": "holiday_subdivision", "value": "ZZ"}


def test_holidays_need_a_country_unless_they_are_off():
    error = _refused(_spec(holiday_country=""))

    assert error.message == "Public holidays need a country."
    assert calendar_clean(_spec(holiday_country="", holidays_enabled=False)).holiday_country == ""


def test_a_date_listed_twice_and_overlapping_half_day_hours_are_refused():
    twice = _refused(_spec(dates=(DateSpec(date(2026, 12, 24)), DateSpec(date(2026, 12, 24), "again"))))
    overlapping = _refused(
        _spec(dates=(DateSpec(date(2026, 12, 24), "", ((time(9), time(13)), (time(12), time(14)))),))
    )

    assert (twice.message, twice.details) == ("The date Dec. 24, 2026 is listed twice.", {"field": "dates", "index": 1})
    assert overlapping.message == "Dec. 24, 2026, 09:00 to 13:00 overlaps Dec. 24, 2026, 12:00 to 14:00."


def test_an_empty_name_and_an_unknown_mode_are_refused():
    assert _refused(_spec(name="   ")).message == "A calendar needs a name."
    assert _refused(_spec(mode="sometimes")).details == {"field": "mode", "value": "sometimes"}


# --- update and delete ------------------------------------------------------------------------------


def test_changing_a_calendar_replaces_its_hours_and_logs_what_changed(tenant, admin):
    calendar = make_calendar(admin, dates=(christmas_eve(),))
    spec = replace(
        calendar_spec(calendar), time_zone="America/Manaus", weekly=(WeeklySpec(4, time(22), time(6)),), dates=()
    )

    calendar_update(actor=admin, calendar=calendar, spec=spec)

    calendar = calendar_get(tenant=tenant, calendar_id=calendar.pk)
    assert calendar.time_zone == "America/Manaus"
    assert [(w.weekday, w.start, w.end) for w in calendar.weekly_intervals.all()] == [(4, time(22), time(6))]
    assert _rows() == (1, 1, 0, 0, 0)
    entry = AuditLogEntry.objects.get(action=Action.BUSINESS_CALENDAR_CHANGED)
    assert entry.extra["changes"]["time_zone"] == ["America/Sao_Paulo", "America/Manaus"]
    assert entry.extra["changes"]["hours"][1] == ["fri 22:00-06:00"]
    assert entry.extra["changes"]["dates"] == [["2026-12-24 09:00-13:00"], []]
    assert set(entry.extra["changes"]) == {"time_zone", "hours", "dates"}


def test_saving_a_calendar_unchanged_writes_nothing(tenant, admin):
    calendar = make_calendar(admin)

    calendar_update(actor=admin, calendar=calendar, spec=calendar_spec(calendar))

    assert not AuditLogEntry.objects.filter(action=Action.BUSINESS_CALENDAR_CHANGED).exists()


def test_the_order_inboxes_are_given_in_is_no_change(tenant, admin):
    first, second = make_inbox(tenant, name="B"), make_inbox(tenant, name="A")
    calendar = make_calendar(admin, inbox_ids=(first.pk, second.pk))

    reordered = replace(calendar_spec(calendar), inbox_ids=(second.pk, first.pk))

    calendar_update(actor=admin, calendar=calendar, spec=reordered)

    assert not AuditLogEntry.objects.filter(action=Action.BUSINESS_CALENDAR_CHANGED).exists()


def test_a_refused_change_leaves_the_calendar_as_it_was(tenant, admin):
    calendar = make_calendar(admin, dates=(christmas_eve(),))
    before = calendar_spec(calendar)
    bad = replace(before, name="Renamed", weekly=(WeeklySpec(0, time(9), time(12)), WeeklySpec(0, time(10), time(11))))

    with pytest.raises(ValidationFailed):
        calendar_update(actor=admin, calendar=calendar, spec=bad)

    assert calendar_spec(calendar_get(tenant=tenant, calendar_id=calendar.pk)) == before
    assert not AuditLogEntry.objects.filter(action=Action.BUSINESS_CALENDAR_CHANGED).exists()


def test_giving_an_inbox_to_another_calendar_takes_it_from_the_first(tenant, admin):
    inbox = make_inbox(tenant)
    first = make_calendar(admin, name="First", inbox_ids=(inbox.pk,))
    second = make_calendar(admin, name="Second")

    calendar_update(actor=admin, calendar=second, spec=replace(calendar_spec(second), inbox_ids=(inbox.pk,)))

    assert inbox_calendar(inbox=inbox) == second
    assert calendar_spec(calendar_get(tenant=tenant, calendar_id=first.pk)).inbox_ids == ()
    assert InboxSettings.objects.filter(inbox=inbox).count() == 1


def test_another_workspaces_calendar_cannot_be_changed_or_deleted(tenant, admin, other_tenant):
    theirs = make_calendar(add_member(other_tenant, "admin"))

    with pytest.raises(Http404):
        calendar_get(tenant=tenant, calendar_id=theirs.pk)
    with pytest.raises(NotFound):
        calendar_update(actor=admin, calendar=theirs, spec=replace(calendar_spec(theirs), name="Mine"))
    with pytest.raises(NotFound):
        calendar_delete(actor=admin, calendar=theirs)

    assert BusinessCalendar.objects.get(pk=theirs.pk).name == "Office hours"


def test_deleting_a_calendar_leaves_its_inboxes_without_one(tenant, admin):
    inbox = make_inbox(tenant)
    calendar = make_calendar(admin, dates=(christmas_eve(),), inbox_ids=(inbox.pk,))

    calendar_delete(actor=admin, calendar=calendar)

    assert _rows() == (0, 0, 0, 0, 0)
    assert InboxSettings.objects.get(inbox=inbox).calendar is None
    assert inbox_calendar(inbox=inbox) is None
    entry = AuditLogEntry.objects.get(action=Action.BUSINESS_CALENDAR_DELETED)
    assert (entry.extra, entry.target_label) == ({"name": "Office hours"}, "Office hours")


# --- loading for the maths --------------------------------------------------------------------------


def test_a_stored_calendar_loads_for_the_maths_without_a_query_of_its_own(tenant, admin):
    make_calendar(admin, subdivision="SP", dates=(christmas_eve(),))
    make_calendar(admin, name="Night", weekly=(WeeklySpec(4, time(22), time(6)),), holidays=False, country="")

    with CaptureQueriesContext(connection) as queries:
        calendars = list(calendar_list(tenant=tenant))
        night, office = (calendar_load(c) for c in calendars)  # by name

    assert len(queries) == 5  # calendars, weekly intervals, dates, their intervals, inbox settings
    assert is_open(office, datetime(2026, 7, 9, 13, 0, tzinfo=UTC)) is False  # 10:00, São Paulo's holiday
    assert is_open(office, datetime(2026, 7, 10, 13, 0, tzinfo=UTC)) is True
    assert next_open(office, datetime(2026, 12, 24, 16, 30, tzinfo=UTC)) == datetime(2026, 12, 28, 12, 0, tzinfo=UTC)
    assert is_open(night, datetime(2026, 12, 5, 8, 0, tzinfo=UTC)) is True  # Saturday 05:00
