"""Business hours as people read them: "Closed now. Opens Monday, 12/07/2026 at 09:00 (in 2 days)." in
the viewer's language and formats, and the public holidays ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.dates import format_date
from django.utils import timezone
from django.utils.translation import gettext as _

from automations import business_hours
from automations.business_hours import Calendar
from automations.holiday_data import holiday_list
from automations.models import BusinessCalendar
from helpdesk.l10n import babel_locale, format_relative
from tenants.templatetags.dates import local_date, local_time


def weekday_name(day: date) -> str:
    """The weekday as the language writes it inside a sentence: "Monday", "segunda-feira"."""
    return format_date(day, "EEEE", locale=babel_locale())


def moment_text(moment: datetime, calendar: Calendar, now: datetime) -> str:
    """ "Monday, 12/07/2026 at 09:00 (in 2 days)": in the calendar's zone, the viewer's formats."""
    with timezone.override(calendar.zone):
        local = timezone.localtime(moment)
        return _("%(weekday)s, %(date)s at %(time)s (%(relative)s)") % {
            "weekday": weekday_name(local.date()),
            "date": local_date(local),
            "time": local_time(local),
            "relative": format_relative(moment - now),
        }


@dataclass(frozen=True)
class Status:
    open: bool
    text: str


def status_now(calendar: Calendar, now: datetime) -> Status:
    """Open or closed at ``now``, and when that changes."""
    if calendar.mode == business_hours.OPEN:
        return Status(True, _("Open all day, every day."))
    if calendar.mode == business_hours.CLOSED:
        return Status(False, _("Closed, with no opening ahead."))
    if business_hours.is_open(calendar, now):
        closes = business_hours.next_close(calendar, now)
        if closes is None:
            return Status(True, _("Open now, with no closing ahead."))
        return Status(True, _("Open now. Closes %(moment)s.") % {"moment": moment_text(closes, calendar, now)})
    opens = business_hours.next_open(calendar, now)
    if opens is None:
        return Status(False, _("Closed now, with no opening ahead."))
    return Status(False, _("Closed now. Opens %(moment)s.") % {"moment": moment_text(opens, calendar, now)})


@dataclass(frozen=True)
class HolidayRow:
    day: date
    weekday: str
    name: str
    # The workspace's own entry for the day, which comes first: its name and whether it opens.
    own_name: str
    own_opens: bool | None


def upcoming_holidays(record: BusinessCalendar, calendar: Calendar, today: date, days: int = 365) -> list[HolidayRow]:
    """The public holidays of the calendar's country (and state) from ``today`` for ``days`` days."""
    if not record.holidays_enabled or not record.holiday_country:
        return []
    own = {row.date: row for row in record.dates.all()}
    rows = []
    for day, name in holiday_list(
        record.holiday_country, record.holiday_subdivision, today, today + timedelta(days=days - 1)
    ):
        entry = own.get(day)
        rows.append(
            HolidayRow(
                day=day,
                weekday=weekday_name(day),
                name=name,
                own_name=entry.name if entry is not None else "",
                own_opens=bool(calendar.dates[day]) if entry is not None else None,
            )
        )
    return rows
