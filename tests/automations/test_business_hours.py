"""Business hours maths with exact values: holidays, half-days, night shifts, closed calendars and the
nights the clocks change."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from automations.business_hours import (
    CLOSED,
    OPEN,
    Calendar,
    Interval,
    business_seconds,
    is_open,
    next_close,
    next_open,
)
from automations.holiday_data import holiday_dates, holiday_list

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
LISBON = ZoneInfo("Europe/Lisbon")
HOUR = 3600.0


def _hours(start: int, end: int, minutes_start: int = 0, minutes_end: int = 0) -> Interval:
    return Interval(time(start, minutes_start), time(end, minutes_end))


OFFICE = (_hours(9, 12), _hours(13, 18))
WEEKDAYS_OFFICE = (OFFICE,) * 5 + ((), ())


def _brazil(subdivision: str = "", **kwargs) -> Calendar:
    return Calendar(
        zone=SAO_PAULO, weekly=WEEKDAYS_OFFICE, holidays=partial(holiday_dates, "BR", subdivision), **kwargs
    )


def sp(*args: int) -> datetime:
    return datetime(*args, tzinfo=SAO_PAULO)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- holidays ---------------------------------------------------------------------------------------


def test_a_national_holiday_is_closed_and_the_next_opening_is_the_next_working_morning():
    calendar = _brazil()  # 2026-04-21, a Tuesday, is Tiradentes' Day

    assert is_open(calendar, sp(2026, 4, 20, 10, 0)) is True
    assert is_open(calendar, sp(2026, 4, 21, 10, 0)) is False
    assert next_open(calendar, sp(2026, 4, 21, 10, 0)) == sp(2026, 4, 22, 9, 0)
    assert next_close(calendar, sp(2026, 4, 20, 17, 0)) == sp(2026, 4, 20, 18, 0)
    assert business_seconds(calendar, sp(2026, 4, 20, 0, 0), sp(2026, 4, 23, 0, 0)) == 16 * HOUR


def test_a_state_holiday_closes_only_the_calendars_of_that_state():
    # 2026-07-09, a Thursday: the Constitutionalist Revolution, a holiday of the state of São Paulo.
    moment = sp(2026, 7, 9, 10, 0)

    assert is_open(_brazil("SP"), moment) is False
    assert next_open(_brazil("SP"), moment) == sp(2026, 7, 10, 9, 0)
    assert is_open(_brazil("RJ"), moment) is True
    assert is_open(_brazil(), moment) is True


def test_holidays_are_named_in_the_language_asked_for():
    days = holiday_list("BR", "SP", date(2026, 7, 1), date(2026, 9, 30), language="pt-br")
    english = holiday_list("BR", "SP", date(2026, 7, 1), date(2026, 9, 30), language="en")

    assert days == [(date(2026, 7, 9), "Revolução Constitucionalista"), (date(2026, 9, 7), "Independência do Brasil")]
    assert english == [(date(2026, 7, 9), "Constitutionalist Revolution"), (date(2026, 9, 7), "Independence Day")]


def test_the_workspaces_own_dates_come_before_the_public_holidays():
    closed_monday = date(2026, 4, 20)
    open_on_tiradentes = date(2026, 4, 21)
    calendar = _brazil(dates={closed_monday: (), open_on_tiradentes: (_hours(10, 14),)})

    assert is_open(calendar, sp(2026, 4, 20, 10, 0)) is False
    assert is_open(calendar, sp(2026, 4, 21, 9, 30)) is False
    assert is_open(calendar, sp(2026, 4, 21, 10, 0)) is True
    assert next_open(calendar, sp(2026, 4, 20, 8, 0)) == sp(2026, 4, 21, 10, 0)
    assert next_close(calendar, sp(2026, 4, 21, 11, 0)) == sp(2026, 4, 21, 14, 0)


def test_a_half_day_before_christmas_then_the_holiday_and_the_weekend():
    calendar = _brazil(dates={date(2026, 12, 24): (_hours(9, 13),)})

    assert is_open(calendar, sp(2026, 12, 24, 12, 59)) is True
    assert is_open(calendar, sp(2026, 12, 24, 13, 0)) is False
    assert next_close(calendar, sp(2026, 12, 24, 9, 0)) == sp(2026, 12, 24, 13, 0)
    # Christmas (Friday) is a national holiday, then the weekend: Monday morning.
    assert next_open(calendar, sp(2026, 12, 24, 13, 0)) == sp(2026, 12, 28, 9, 0)
    assert business_seconds(calendar, sp(2026, 12, 24, 0, 0), sp(2026, 12, 29, 0, 0)) == (4 + 8) * HOUR


# --- night shifts -------------------------------------------------------------------------------------


def _friday_night(**kwargs) -> Calendar:
    weekly = ((), (), (), (), (_hours(22, 6),), (), ())
    return Calendar(zone=SAO_PAULO, weekly=weekly, **kwargs)


def test_a_friday_night_shift_runs_into_saturday_morning():
    calendar = _friday_night()  # 2026-12-04 is a Friday

    assert is_open(calendar, sp(2026, 12, 4, 21, 59)) is False
    assert is_open(calendar, sp(2026, 12, 4, 22, 0)) is True
    assert is_open(calendar, sp(2026, 12, 5, 5, 59)) is True
    assert is_open(calendar, sp(2026, 12, 5, 6, 0)) is False
    assert next_open(calendar, sp(2026, 12, 5, 6, 0)) == sp(2026, 12, 11, 22, 0)
    assert next_close(calendar, sp(2026, 12, 4, 23, 0)) == sp(2026, 12, 5, 6, 0)
    assert business_seconds(calendar, sp(2026, 12, 4, 21, 0), sp(2026, 12, 5, 7, 0)) == 8 * HOUR


def test_a_night_shift_belongs_to_the_day_it_starts_on():
    saturday_off = _friday_night(dates={date(2026, 12, 5): ()})
    friday_off = _friday_night(dates={date(2026, 12, 4): ()})

    assert is_open(saturday_off, sp(2026, 12, 5, 3, 0)) is True
    assert is_open(friday_off, sp(2026, 12, 4, 23, 0)) is False
    assert is_open(friday_off, sp(2026, 12, 5, 3, 0)) is False


def test_intervals_ending_at_midnight_and_starting_at_midnight_join_up():
    weekly = ((_hours(18, 0),), (_hours(0, 2),), (), (), (), (), ())
    calendar = Calendar(zone=SAO_PAULO, weekly=weekly)  # 2026-12-07 is a Monday

    assert next_close(calendar, sp(2026, 12, 7, 19, 0)) == sp(2026, 12, 8, 2, 0)
    assert business_seconds(calendar, sp(2026, 12, 7, 0, 0), sp(2026, 12, 9, 0, 0)) == 8 * HOUR


# --- open all day, closed -------------------------------------------------------------------------------


def test_a_closed_calendar_never_opens():
    calendar = Calendar(zone=SAO_PAULO, mode=CLOSED, weekly=WEEKDAYS_OFFICE)

    assert is_open(calendar, sp(2026, 12, 7, 10, 0)) is False
    assert next_open(calendar, sp(2026, 12, 7, 10, 0)) is None
    assert next_close(calendar, sp(2026, 12, 7, 10, 0)) == sp(2026, 12, 7, 10, 0)
    assert business_seconds(calendar, sp(2026, 12, 7, 0, 0), sp(2026, 12, 14, 0, 0)) == 0.0


def test_an_always_open_calendar_never_closes_even_on_a_holiday():
    calendar = Calendar(zone=SAO_PAULO, mode=OPEN, holidays=partial(holiday_dates, "BR", ""))

    assert is_open(calendar, sp(2026, 12, 25, 3, 0)) is True
    assert next_close(calendar, sp(2026, 12, 25, 3, 0)) is None
    assert next_open(calendar, sp(2026, 12, 25, 3, 0)) == sp(2026, 12, 25, 3, 0)
    assert business_seconds(calendar, sp(2026, 12, 24, 0, 0), sp(2026, 12, 26, 0, 0)) == 48 * HOUR


def test_a_schedule_without_hours_never_opens():
    calendar = Calendar(zone=SAO_PAULO)

    assert next_open(calendar, sp(2026, 12, 7, 10, 0)) is None
    assert next_close(calendar, sp(2026, 12, 7, 10, 0)) == sp(2026, 12, 7, 10, 0)


def test_a_schedule_open_around_the_clock_never_closes():
    calendar = Calendar(zone=SAO_PAULO, weekly=((_hours(0, 12), _hours(12, 0)),) * 7)

    assert is_open(calendar, sp(2026, 12, 7, 10, 0)) is True
    assert next_close(calendar, sp(2026, 12, 7, 10, 0)) is None


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        is_open(_brazil(), datetime(2026, 12, 7, 10, 0))


# --- the nights the clocks change -----------------------------------------------------------------------


def _sundays(zone: ZoneInfo, *intervals: Interval) -> Calendar:
    return Calendar(zone=zone, weekly=((), (), (), (), (), (), tuple(intervals)))


def test_an_interval_starting_in_the_skipped_hour_opens_when_the_clock_jumps_past_it():
    # New York, 2026-03-08: at 02:00 EST (07:00 UTC) the clocks jump to 03:00 EDT.
    calendar = _sundays(NEW_YORK, _hours(2, 4, 30, 0))

    assert next_open(calendar, utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 8, 7, 0)
    assert is_open(calendar, utc(2026, 3, 8, 6, 59)) is False
    assert is_open(calendar, utc(2026, 3, 8, 7, 0)) is True
    assert next_close(calendar, utc(2026, 3, 8, 7, 0)) == utc(2026, 3, 8, 8, 0)
    assert business_seconds(calendar, utc(2026, 3, 8, 0, 0), utc(2026, 3, 9, 0, 0)) == HOUR


def test_an_interval_in_the_repeated_hour_is_open_both_times_the_clock_reads_it():
    # New York, 2026-11-01: at 02:00 EDT (06:00 UTC) the clocks go back to 01:00 EST.
    calendar = _sundays(NEW_YORK, _hours(1, 1, 0, 30))

    assert next_open(calendar, utc(2026, 11, 1, 4, 0)) == utc(2026, 11, 1, 5, 0)
    assert next_close(calendar, utc(2026, 11, 1, 5, 10)) == utc(2026, 11, 1, 5, 30)
    assert next_open(calendar, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 6, 0)
    assert next_close(calendar, utc(2026, 11, 1, 6, 0)) == utc(2026, 11, 1, 6, 30)
    assert business_seconds(calendar, utc(2026, 11, 1, 0, 0), utc(2026, 11, 2, 0, 0)) == HOUR


def test_a_night_shift_is_an_hour_shorter_in_spring_and_longer_in_autumn():
    # Lisbon: 2026-03-29 at 01:00 WET the clocks go to 02:00 WEST; 2026-10-25 at 02:00 WEST back to 01:00 WET.
    calendar = Calendar(zone=LISBON, weekly=((), (), (), (), (), (_hours(22, 6),), ()))

    def noon(*day: int) -> datetime:
        return datetime(*day, 12, tzinfo=LISBON)

    spring = business_seconds(calendar, noon(2026, 3, 28), noon(2026, 3, 29))
    autumn = business_seconds(calendar, noon(2026, 10, 24), noon(2026, 10, 25))

    assert spring == 7 * HOUR
    assert autumn == 9 * HOUR
    assert next_close(calendar, utc(2026, 10, 24, 22, 0)) == utc(2026, 10, 25, 6, 0)
    assert next_close(calendar, utc(2026, 3, 28, 22, 0)) == utc(2026, 3, 29, 5, 0)


def test_sao_paulo_keeps_its_offset_all_year():
    calendar = _brazil()

    assert next_open(calendar, utc(2026, 11, 2, 23, 0)) == utc(2026, 11, 3, 12, 0)
    assert next_open(calendar, utc(2026, 1, 5, 0, 0)) == utc(2026, 1, 5, 12, 0)


def test_answers_are_in_utc_whatever_zone_the_moment_is_given_in():
    calendar = _brazil()
    moment = datetime(2026, 4, 21, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 2026-04-21 00:00 in São Paulo

    assert next_open(calendar, moment) == sp(2026, 4, 22, 9, 0)
    assert next_open(calendar, moment).tzinfo is UTC
    assert next_open(calendar, moment) - moment == timedelta(hours=33)
