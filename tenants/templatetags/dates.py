"""The product's one date format, as template filters (Django: ``{% load dates %}``; Jinja2: the same names).

Every time is shown in the current time zone (the member's own, else the workspace's: see
``TenantMiddleware``) and the active language's formats (``helpdesk/formats/<locale>/formats.py``):

- ``local_time``: the time of day (``14:05``), as in a message bubble;
- ``local_date``: the date in the language's format (``Dec. 5, 2026`` / ``05/12/2026``);
- ``local_datetime``: date and time (``Dec. 5, 2026, 14:05``), for tooltips, notes, notifications and logs;
  ``local_datetime:"seconds"`` adds the seconds (the audit log);
- ``day_label``: ``Today``, ``Yesterday`` or the date (day separators in a history);
- ``short_when``: the time if today, ``Yesterday``, else the short date (list rows);
- ``local_day``: the calendar day as ``YYYY-MM-DD`` (to compare days, in ``data-`` attributes);
- ``iso_datetime``: ISO 8601 with the zone's offset, for ``<time datetime="…">``;
- ``iso_utc``: ISO 8601 in UTC, for values a script compares as text (sort keys);
- ``relative_time``: the moment from now (``5 min. ago`` / ``há 5 min.``, ``in 3 days`` / ``em 3 dias``);
- ``time_left``: hours and minutes until a moment (``5h 3m`` / ``5 h 3 min``), as the reply window's countdown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django import template
from django.utils import dateformat, formats, timezone
from django.utils.translation import gettext as _

from helpdesk.l10n import format_relative, format_time_left

register = template.Library()


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _today() -> date:
    return timezone.localdate()


def _time_text(moment: datetime, time_format: str) -> str:
    # Every bubble shows a time: the 24-hour formats are written directly, exactly as dateformat would.
    if time_format == "H:i":
        return f"{moment.hour:02d}:{moment.minute:02d}"
    if time_format == "H:i:s":
        return f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return dateformat.time_format(moment, time_format)


@register.filter
def local_time(value: datetime | None, arg: str = "") -> str:
    """The language's ``TIME_FORMAT``; ``"seconds"`` adds the seconds to a format ending in the minutes."""
    if not isinstance(value, datetime):
        return ""
    time_format = str(formats.get_format("TIME_FORMAT"))
    if arg == "seconds" and time_format.endswith("i"):
        time_format += ":s"
    return _time_text(_local(value), time_format)


@register.filter
def local_date(value: datetime | date | None) -> str:
    if isinstance(value, datetime):
        value = _local(value).date()
    if not isinstance(value, date):
        return ""
    return formats.date_format(value, "DATE_FORMAT")


@register.filter
def local_datetime(value: datetime | None, arg: str = "") -> str:
    if not isinstance(value, datetime):
        return ""
    return _("%(date)s, %(time)s") % {"date": local_date(value), "time": local_time(value, arg)}


@register.filter
def local_day(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    return _local(value).date().isoformat()


@register.filter
def day_label(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    day = _local(value).date()
    today = _today()
    if day == today:
        return _("Today")
    if day == today - timedelta(days=1):
        return _("Yesterday")
    return local_date(day)


@register.filter
def short_when(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    day = _local(value).date()
    today = _today()
    if day == today:
        return local_time(value)
    if day == today - timedelta(days=1):
        return _("Yesterday")
    return formats.date_format(day, "SHORT_DATE_FORMAT")


@register.filter
def iso_datetime(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    return _local(value).isoformat()


@register.filter
def iso_utc(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    return value.astimezone(UTC).isoformat() if timezone.is_aware(value) else value.isoformat()


@register.filter
def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    if not isinstance(value, datetime):
        return ""
    return format_relative(value - (now or timezone.now()))


@register.filter
def time_left(value: datetime | None, now: datetime | None = None) -> str:
    if not isinstance(value, datetime):
        return ""
    return format_time_left((value - (now or timezone.now())).total_seconds())
