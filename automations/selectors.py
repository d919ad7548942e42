"""Reads of automations: business hours calendars, loaded for the maths, each inbox's calendar, and inboxes'
greeting and away settings."""

from __future__ import annotations

from functools import partial
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from automations.business_hours import Calendar, Interval, Mode, no_holidays
from automations.holiday_data import holiday_dates
from automations.models import BusinessCalendar, CalendarDate, GreetingSettings, InboxSettings, TeamSettings
from conversations.models import Inbox
from tenants.models import Tenant
from tenants.timezones import UTC, zone_or_none


def calendar_list(*, tenant: Tenant | int) -> QuerySet[BusinessCalendar]:
    """The workspace's calendars by name, with their hours, dates and inboxes (four queries in all)."""
    return BusinessCalendar.objects.filter(tenant=tenant).prefetch_related(
        "weekly_intervals",
        Prefetch("dates", queryset=CalendarDate.objects.prefetch_related("intervals")),
        Prefetch("inbox_settings", queryset=InboxSettings.objects.select_related("inbox").order_by("inbox_id")),
    )


def calendar_get(*, tenant: Tenant | int, calendar_id: int) -> BusinessCalendar:
    """One of the workspace's calendars; another workspace's is as missing as one that never was."""
    try:
        return calendar_list(tenant=tenant).get(pk=calendar_id)
    except BusinessCalendar.DoesNotExist:
        raise Http404("No such calendar.") from None


def calendar_inboxes(calendar: BusinessCalendar) -> list[Inbox]:
    """The inboxes that keep this calendar (from the prefetched rows of ``calendar_list``)."""
    return [settings.inbox for settings in calendar.inbox_settings.all()]


def calendar_load(calendar: BusinessCalendar) -> Calendar:
    """The calendar as the maths reads it. Uses the rows ``calendar_list`` prefetched: no query of its own."""
    weekly: list[list[Interval]] = [[] for _ in range(7)]
    for row in calendar.weekly_intervals.all():
        weekly[row.weekday].append(Interval(row.start, row.end))
    dates = {
        row.date: tuple(Interval(interval.start, interval.end) for interval in row.intervals.all())
        for row in calendar.dates.all()
    }
    holidays = (
        partial(holiday_dates, calendar.holiday_country, calendar.holiday_subdivision)
        if calendar.holidays_enabled and calendar.holiday_country
        else no_holidays
    )
    mode: Mode = calendar.mode  # type: ignore[assignment]  # a BusinessCalendar.Mode value
    return Calendar(
        zone=zone_or_none(calendar.time_zone) or UTC,
        mode=mode,
        weekly=tuple(tuple(day) for day in weekly),
        dates=dates,
        holidays=holidays,
    )


def inbox_calendar(*, inbox: Inbox) -> BusinessCalendar | None:
    """The calendar an inbox keeps, if any."""
    settings = InboxSettings.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).only("calendar_id").first()
    if settings is None or settings.calendar_id is None:
        return None
    return calendar_list(tenant=inbox.tenant_id).filter(pk=settings.calendar_id).first()


class Calendars:
    """Calendars read once for a batch of events (a subscriber's delivery job): each inbox's, each team's and
    each by id, loaded for the maths on first use. Lives as long as the batch: an edit made meanwhile shows in
    the next."""

    def __init__(self) -> None:
        self._inbox: dict[int, int | None] = {}
        self._team: dict[int, int | None] = {}
        self._loaded: dict[int, tuple[BusinessCalendar, Calendar] | None] = {}

    def by_id(self, *, tenant_id: int, calendar_id: int) -> tuple[BusinessCalendar, Calendar] | None:
        if calendar_id not in self._loaded:
            record = calendar_list(tenant=tenant_id).filter(pk=calendar_id).first()
            self._loaded[calendar_id] = (record, calendar_load(record)) if record is not None else None
        loaded = self._loaded[calendar_id]
        return loaded if loaded is not None and loaded[0].tenant_id == tenant_id else None

    def of_team(self, *, tenant_id: int, team_id: int) -> tuple[BusinessCalendar, Calendar] | None:
        """The calendar the team keeps, or None."""
        if team_id not in self._team:
            self._team[team_id] = (
                TeamSettings.objects.filter(tenant_id=tenant_id, team_id=team_id)
                .values_list("calendar_id", flat=True)
                .first()
            )
        calendar_id = self._team[team_id]
        return None if calendar_id is None else self.by_id(tenant_id=tenant_id, calendar_id=calendar_id)

    def of_inbox(self, *, tenant_id: int, inbox_id: int) -> tuple[BusinessCalendar, Calendar] | None:
        """The calendar the inbox keeps (the record and the maths' view of it), or None."""
        if inbox_id not in self._inbox:
            self._inbox[inbox_id] = (
                InboxSettings.objects.filter(tenant_id=tenant_id, inbox_id=inbox_id)
                .values_list("calendar_id", flat=True)
                .first()
            )
        calendar_id = self._inbox[inbox_id]
        return None if calendar_id is None else self.by_id(tenant_id=tenant_id, calendar_id=calendar_id)


def zone_of(calendar: BusinessCalendar) -> ZoneInfo:
    return zone_or_none(calendar.time_zone) or UTC


def inbox_get(*, tenant: Tenant | int, inbox_id: int) -> Inbox:
    """One of the workspace's inboxes; another workspace's is as missing as one that never was."""
    inbox = Inbox.objects.filter(tenant=tenant, pk=inbox_id).first()
    if inbox is None:
        raise Http404("No such inbox.")
    return inbox


def inbox_list(*, tenant: Tenant | int) -> QuerySet[Inbox]:
    return Inbox.objects.filter(tenant=tenant).order_by("name", "id")


def greeting_settings_of(*, inbox: Inbox) -> GreetingSettings | None:
    """The inbox's greeting and away settings, if they were ever saved."""
    return GreetingSettings.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).first()


def greeting_settings_by_inbox(*, tenant: Tenant | int) -> dict[int, GreetingSettings]:
    return {row.inbox_id: row for row in GreetingSettings.objects.filter(tenant=tenant)}


def inbox_calendar_names(*, tenant: Tenant | int) -> dict[int, tuple[int, str]]:
    """Each inbox's calendar (id, name), for inboxes that keep one: one query."""
    rows = InboxSettings.objects.filter(tenant=tenant, calendar__isnull=False).values_list(
        "inbox_id", "calendar_id", "calendar__name"
    )
    return {inbox_id: (calendar_id, name) for inbox_id, calendar_id, name in rows}
