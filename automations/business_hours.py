"""Business hours maths: is a calendar open at a moment, when does it next open or close, and how much
business time lies between two moments. Pure: it reads a loaded ``Calendar`` and never the database.

The rules, in the calendar's time zone:

- A calendar is open when its wall clock reads a time inside one of the day's intervals. On the night
  the clocks go forward an interval starting in the skipped hour opens when the clock jumps past its
  start; on the night they go back, an interval in the repeated hour is open both times the clock reads
  it (the wall clock is what a customer reads on the shop's door).
- An interval whose end is not after its start ends on the next day (a night shift, Fri 22:00-06:00);
  it belongs to the day it starts: a holiday on Friday cancels the Friday night shift, a holiday on
  Saturday does not cut it short.
- A day's intervals are the workspace's own for that date if it has any entry for it (none: closed all
  day; some: a half-day), else none on a national or state holiday, else the weekday's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

Mode = Literal["open", "closed", "schedule"]
OPEN: Mode = "open"
CLOSED: Mode = "closed"
SCHEDULE: Mode = "schedule"

DAY = timedelta(days=1)
# "Never": nothing opens (or closes) within this many days after the moment asked about and after the
# calendar's last date of its own. Any weekly interval opens within a week unless every such day is
# closed, so this bounds only calendars that are, in effect, always closed or always open.
HORIZON_DAYS = 400
# Zone offsets are looked up at this step and the changes found to the second in between; no zone
# changes its offset twice within six hours.
_PROBE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Interval:
    """Wall-clock opening hours starting on one day; ``end <= start`` ends on the next day."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


def no_holidays(year: int) -> frozenset[date]:
    return frozenset()


@dataclass(frozen=True)
class Calendar:
    """A calendar as the maths reads it (``automations.selectors.calendar_load`` builds one)."""

    zone: ZoneInfo
    mode: Mode = SCHEDULE
    # Monday first: seven tuples of intervals.
    weekly: tuple[tuple[Interval, ...], ...] = ((),) * 7
    # The workspace's own dates: no intervals is closed all day, some is a half-day.
    dates: Mapping[date, tuple[Interval, ...]] = field(default_factory=dict)
    # The national (and state) holidays of a year; none when holidays are off.
    holidays: Callable[[int], frozenset[date]] = no_holidays

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("A week has seven days.")

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The intervals that start on ``day``."""
        if day in self.dates:
            return self.dates[day]
        if day in self.holidays(day.year):
            return ()
        return self.weekly[day.weekday()]

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays(day.year)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("A moment must carry its time zone.")
    return moment.astimezone(UTC)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


# --- the zone's offsets ------------------------------------------------------------------------------


def _offset_seconds(zone: ZoneInfo, timestamp: int) -> int:
    offset = datetime.fromtimestamp(timestamp, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


@lru_cache(maxsize=4096)
def _year_transitions(zone: ZoneInfo, year: int) -> tuple[int, ...]:
    """The instants (POSIX seconds) in ``year`` (UTC) from which the zone's offset changes."""
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    stop = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    found: list[int] = []
    low = start
    while low < stop:
        high = min(low + _PROBE_SECONDS, stop)
        if _offset_seconds(zone, high) == _offset_seconds(zone, low):
            low = high
            continue
        # The first second with another offset, between low (old offset) and high.
        before, after = low, high
        while after - before > 1:
            middle = (before + after) // 2
            if _offset_seconds(zone, middle) == _offset_seconds(zone, low):
                before = middle
            else:
                after = middle
        found.append(after)
        low = after
    return tuple(found)


def _spans(zone: ZoneInfo, start: datetime, stop: datetime) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """``[start, stop)`` cut where the zone's offset changes: (from, to, offset) with one offset each."""
    begin = start
    for year in range(start.year, stop.year + 1):
        for timestamp in _year_transitions(zone, year):
            change = datetime.fromtimestamp(timestamp, UTC)
            if change <= begin:
                continue
            if change >= stop:
                break
            yield begin, change, begin.astimezone(zone).utcoffset() or timedelta(0)
            begin = change
    if begin < stop:
        yield begin, stop, begin.astimezone(zone).utcoffset() or timedelta(0)


def _instant(wall: datetime, offset: timedelta) -> datetime:
    return (wall - offset).replace(tzinfo=UTC)


# --- opening hours as wall-clock ranges --------------------------------------------------------------


def _day_ranges(calendar: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    ranges = []
    for interval in calendar.intervals_on(day):
        start = datetime.combine(day, interval.start)
        end = datetime.combine(day + DAY if interval.crosses_midnight else day, interval.end)
        ranges.append((start, end))
    return sorted(ranges)


def _wall_ranges(calendar: Calendar, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
    """The wall-clock ranges of intervals starting from ``first - 1`` to ``last``, merged, in order.

    Exact up to ``last + 1`` at midnight (intervals of later days are not read)."""
    pending: tuple[datetime, datetime] | None = None
    day = first - DAY
    while day <= last:
        for start, end in _day_ranges(calendar, day):
            if pending is not None and start <= pending[1]:
                pending = (pending[0], max(pending[1], end))
                continue
            if pending is not None:
                yield pending
            pending = (start, end)
        day += DAY
    if pending is not None:
        yield pending


def _horizon(calendar: Calendar, moment: datetime) -> datetime:
    last = max(calendar.dates, default=None)
    base = moment if last is None else max(moment, datetime.combine(last, time(), tzinfo=UTC))
    return base + timedelta(days=HORIZON_DAYS)


# --- the answers ------------------------------------------------------------------------------------


def is_open(calendar: Calendar, moment: datetime) -> bool:
    """Whether the calendar is open at ``moment`` (an aware datetime)."""
    moment = _aware(moment)
    if calendar.mode != SCHEDULE:
        return calendar.mode == OPEN
    wall = _wall(moment, calendar.zone)
    day, clock = wall.date(), wall.time()
    for interval in calendar.intervals_on(day):
        if interval.start <= clock and (interval.crosses_midnight or clock < interval.end):
            return True
    return any(interval.crosses_midnight and clock < interval.end for interval in calendar.intervals_on(day - DAY))


def next_open(calendar: Calendar, moment: datetime) -> datetime | None:
    """The first moment at or after ``moment`` when the calendar is open (``moment`` itself if open then),
    in UTC; None if it never opens."""
    moment = _aware(moment)
    if calendar.mode != SCHEDULE:
        return moment if calendar.mode == OPEN else None
    for begin, end, offset in _spans(calendar.zone, moment, _horizon(calendar, moment)):
        low, high = begin.replace(tzinfo=None) + offset, end.replace(tzinfo=None) + offset
        for start, stop in _wall_ranges(calendar, low.date(), high.date()):
            if stop <= low:
                continue
            if start >= high:
                break
            return _instant(max(start, low), offset)
    return None


def next_close(calendar: Calendar, moment: datetime) -> datetime | None:
    """The first moment at or after ``moment`` when the calendar is closed (``moment`` itself if closed
    then), in UTC; None if it never closes."""
    moment = _aware(moment)
    if calendar.mode != SCHEDULE:
        return None if calendar.mode == OPEN else moment
    for begin, end, offset in _spans(calendar.zone, moment, _horizon(calendar, moment)):
        low, high = begin.replace(tzinfo=None) + offset, end.replace(tzinfo=None) + offset
        closed_at = low
        for start, stop in _wall_ranges(calendar, low.date(), high.date()):
            if stop <= closed_at:
                continue
            if start <= closed_at:
                closed_at = stop  # merged ranges: the next one starts after this one ends
            break
        if closed_at < high:
            return _instant(closed_at, offset)
    return None


def business_seconds(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Seconds the calendar is open between ``start`` and ``end`` (0 if ``end`` is not after ``start``)."""
    start, end = _aware(start), _aware(end)
    if end <= start or calendar.mode == CLOSED:
        return 0.0
    if calendar.mode == OPEN:
        return (end - start).total_seconds()
    total = timedelta(0)
    for begin, stop, offset in _spans(calendar.zone, start, end):
        low, high = begin.replace(tzinfo=None) + offset, stop.replace(tzinfo=None) + offset
        for range_start, range_end in _wall_ranges(calendar, low.date(), high.date()):
            if range_start >= high:
                break
            overlap = min(range_end, high) - max(range_start, low)
            if overlap > timedelta(0):
                total += overlap
    return total.total_seconds()


def business_add(calendar: Calendar, start: datetime, seconds: float) -> datetime | None:
    """The moment when ``seconds`` of business time have passed since ``start`` (``start`` itself, or the
    next opening, for 0), in UTC; None if the calendar never opens long enough. The inverse of
    ``business_seconds``: ``business_seconds(calendar, start, business_add(calendar, start, s)) == s``."""
    start = _aware(start)
    remaining = timedelta(seconds=max(0.0, seconds))
    if calendar.mode == OPEN:
        return start + remaining
    moment = next_open(calendar, start)
    while moment is not None:
        closes = next_close(calendar, moment)
        if closes is None or closes - moment >= remaining:
            return moment + remaining
        remaining -= closes - moment
        moment = next_open(calendar, closes)
    return None
