"""Business hours maths against a brute-force minute scan, over time zones (with and without daylight
saving), random weekly intervals (crossing midnight too), holidays and the workspace's own dates.

Every boundary falls on a whole minute (intervals are whole minutes, and from 2000 on every zone's
offsets and changes are too), so scanning minute by minute sees every opening and closing: the first
open minute is the next opening, and 60 seconds per open minute is the business time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automations.business_hours import Calendar, Interval, business_seconds, is_open, next_close, next_open
from automations.holiday_data import holiday_dates

SCAN_MINUTES = 6 * 24 * 60
# Zones whose clocks change (by an hour, by half an hour, twice a year or on Ramadan), and some that do not.
DST_ZONES = (
    "America/New_York",
    "Europe/Lisbon",
    "Europe/London",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Casablanca",
    "Asia/Tehran",
)
STEADY_ZONES = ("America/Sao_Paulo", "UTC", "Asia/Kolkata", "Asia/Kathmandu")
REGIONS = (("BR", ""), ("BR", "SP"), ("US", "NY"), ("PT", ""))


def _open_by_definition(calendar: Calendar, moment: datetime) -> bool:
    """The rules written out again: the wall clock inside an interval that started that day or the day before."""
    wall = moment.astimezone(calendar.zone).replace(tzinfo=None)
    for day in (wall.date() - timedelta(days=1), wall.date()):
        if day in calendar.dates:
            intervals = calendar.dates[day]
        elif day in calendar.holidays(day.year):
            intervals = ()
        else:
            intervals = calendar.weekly[day.weekday()]
        for interval in intervals:
            start = datetime.combine(day, interval.start)
            end_day = day + timedelta(days=1) if interval.end <= interval.start else day
            if start <= wall < datetime.combine(end_day, interval.end):
                return True
    return False


# Whole hours often, so that intervals meet end to start (09:00-12:00 and 12:00-18:00), as people write them.
minutes_of_day = st.one_of(st.sampled_from(range(0, 24 * 60, 60)), st.integers(min_value=0, max_value=24 * 60 - 1))


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    start = draw(minutes_of_day)
    end = draw(minutes_of_day.filter(lambda m: m != start))
    return Interval(time(start // 60, start % 60), time(end // 60, end % 60))


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """The moments (UTC) the zone's offset changes in a year, found hour by hour."""
    moments = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    previous = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        moment += timedelta(hours=1)
        offset = moment.astimezone(zone).utcoffset()
        if offset != previous:
            moments.append(moment)
            previous = offset
    return moments


@st.composite
def cases(draw: st.DrawFn) -> tuple[Calendar, datetime]:
    zone = ZoneInfo(draw(st.sampled_from(DST_ZONES + STEADY_ZONES)))
    year = draw(st.integers(min_value=2000, max_value=2036))
    changes = _transitions(zone, year)
    if changes and draw(st.integers(min_value=0, max_value=3)) > 0:
        # Around a night the clocks change: that is where mistakes hide.
        around = draw(st.sampled_from(changes))
        moment = around + timedelta(minutes=draw(st.integers(min_value=-3 * 24 * 60, max_value=24 * 60)))
    else:
        moment = datetime(year, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 364 * 24 * 60)))
    moment = moment.replace(second=0, microsecond=0)
    weekly = tuple(tuple(draw(st.lists(intervals(), max_size=3))) for _ in range(7))
    local_day = moment.astimezone(zone).date()
    near_days = st.integers(min_value=-2, max_value=8).map(lambda n: local_day + timedelta(days=n))
    own_dates = draw(st.dictionaries(near_days, st.lists(intervals(), max_size=2).map(tuple), max_size=3))
    holiday_kind = draw(st.sampled_from(("none", "drawn", "country")))
    if holiday_kind == "drawn":
        drawn = frozenset(draw(st.sets(near_days, max_size=3)))
        holidays = lambda year: drawn  # noqa: E731
    elif holiday_kind == "country":
        holidays = partial(holiday_dates, *draw(st.sampled_from(REGIONS)))
    else:
        holidays = lambda year: frozenset()  # noqa: E731
    calendar = Calendar(zone=zone, weekly=weekly, dates=own_dates, holidays=holidays)
    return calendar, moment


def _scan(calendar: Calendar, moment: datetime) -> list[bool]:
    return [_open_by_definition(calendar, moment + timedelta(minutes=m)) for m in range(SCAN_MINUTES)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_answers_agree_with_a_minute_by_minute_scan(case):
    calendar, moment = case
    scan = _scan(calendar, moment)
    horizon = moment + timedelta(minutes=SCAN_MINUTES)

    for minute in range(0, SCAN_MINUTES, 7):
        assert is_open(calendar, moment + timedelta(minutes=minute)) is scan[minute], minute

    first_open = next((m for m, open_ in enumerate(scan) if open_), None)
    opening = next_open(calendar, moment)
    if first_open is None:
        assert opening is None or opening >= horizon
    else:
        assert opening == moment + timedelta(minutes=first_open)

    first_closed = next((m for m, open_ in enumerate(scan) if not open_), None)
    closing = next_close(calendar, moment)
    if first_closed is None:
        assert closing is None or closing >= horizon
    else:
        assert closing == moment + timedelta(minutes=first_closed)

    assert business_seconds(calendar, moment, horizon) == 60.0 * sum(scan)


@settings(max_examples=40, deadline=None)
@given(cases(), st.integers(min_value=0, max_value=SCAN_MINUTES), st.integers(min_value=0, max_value=SCAN_MINUTES))
def test_business_time_adds_up_over_any_window(case, a, b):
    calendar, moment = case
    start, end = sorted((a, b))
    scan = _scan(calendar, moment)
    middle = (start + end) // 2

    minute = timedelta(minutes=1)
    whole = business_seconds(calendar, moment + minute * start, moment + minute * end)
    parts = business_seconds(calendar, moment + minute * start, moment + minute * middle) + business_seconds(
        calendar, moment + minute * middle, moment + minute * end
    )

    assert whole == 60.0 * sum(scan[start:end])
    assert parts == whole
    assert business_seconds(calendar, moment + minute * end, moment + minute * start) == 0.0


def test_the_cases_reach_the_nights_the_clocks_change():
    # The strategy's own check: New York changes twice a year, São Paulo no longer does.
    assert [m.date() for m in _transitions(ZoneInfo("America/New_York"), 2026)] == [
        date(2026, 3, 8),
        date(2026, 11, 1),
    ]
    assert _transitions(ZoneInfo("America/Sao_Paulo"), 2026) == []
