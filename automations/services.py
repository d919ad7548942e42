"""Writes of business hours calendars: create, change and delete, each checked against "Manage
automations" and written to the audit log. Input is checked whole before anything is written, so a
refused change leaves the calendar exactly as it was."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, time
from itertools import pairwise
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import formats
from django.utils.translation import gettext as _

from automations.holiday_data import canonical_subdivision, is_supported_country, supported_regions
from automations.models import BusinessCalendar, CalendarDate, CalendarDateInterval, InboxSettings, WeeklyInterval
from automations.models import Weekday as WeekdayChoice
from conversations.actors import actor_audit_record
from conversations.models import Inbox
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership, Tenant
from tenants.permissions import Perm, require_perm
from tenants.timezones import time_zone_names

Actor = Membership | ApiToken
Action = AuditLogEntry.Action

NAME_MAX = 80
INTERVALS_PER_DAY_MAX = 12
DATES_MAX = 500
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
# Machine names of the weekdays, Monday first: the API's values and the audit log's stored form.
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WeeklySpec:
    weekday: int  # Monday is 0
    start: time
    end: time  # not after start: ends on the next day


@dataclass(frozen=True)
class DateSpec:
    date: date
    name: str = ""
    intervals: tuple[tuple[time, time], ...] = ()  # none: closed all day


@dataclass(frozen=True, kw_only=True)
class CalendarSpec:
    """Everything a calendar holds, as the pages and the API hand it to the services."""

    name: str
    time_zone: str
    mode: str = BusinessCalendar.Mode.SCHEDULE
    weekly: tuple[WeeklySpec, ...] = ()
    holidays_enabled: bool = True
    holiday_country: str = ""
    holiday_subdivision: str = ""
    dates: tuple[DateSpec, ...] = ()
    # The inboxes that keep this calendar; None leaves them as they are.
    inbox_ids: tuple[int, ...] | None = field(default=None)


def calendar_defaults(*, tenant: Tenant) -> CalendarSpec:
    """A new calendar: the workspace's zone, weekdays 09:00-18:00, and its country's holidays if known."""
    country = tenant.country if is_supported_country(tenant.country) else ""
    weekly = tuple(WeeklySpec(day, time(9), time(18)) for day in range(5))
    return CalendarSpec(
        name="", time_zone=tenant.timezone, weekly=weekly, holidays_enabled=bool(country), holiday_country=country
    )


def calendar_spec(calendar: BusinessCalendar) -> CalendarSpec:
    """What a stored calendar holds (from the rows ``selectors.calendar_list`` prefetched)."""
    return CalendarSpec(
        name=calendar.name,
        time_zone=calendar.time_zone,
        mode=calendar.mode,
        weekly=tuple(WeeklySpec(row.weekday, row.start, row.end) for row in calendar.weekly_intervals.all()),
        holidays_enabled=calendar.holidays_enabled,
        holiday_country=calendar.holiday_country,
        holiday_subdivision=calendar.holiday_subdivision,
        dates=tuple(
            DateSpec(row.date, row.name, tuple((i.start, i.end) for i in row.intervals.all()))
            for row in calendar.dates.all()
        ),
        inbox_ids=tuple(settings.inbox_id for settings in calendar.inbox_settings.all()),
    )


# --- checks ----------------------------------------------------------------------------------------


def _invalid(message: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field, **details})


def _clock(value: time) -> str:
    return formats.time_format(value, "TIME_FORMAT")


def _where(day: str, start: time, end: time) -> str:
    """ "Monday, 09:00 to 12:00": an interval as error messages name it."""
    return _("%(day)s, %(start)s to %(end)s") % {"day": day, "start": _clock(start), "end": _clock(end)}


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _length(start: time, end: time) -> int:
    """Minutes from start to end; an end not after the start is on the next day."""
    return (_minutes(end) - _minutes(start)) % MINUTES_PER_DAY or MINUTES_PER_DAY


def _check_times(start: time, end: time, field: str, where: str) -> None:
    if start.second or start.microsecond or end.second or end.microsecond:
        raise _invalid(_("%(where)s: times are whole minutes, without seconds.") % {"where": where}, field)
    if start == end:
        raise _invalid(
            _("%(where)s: an interval must end at another time than it starts (%(time)s).")
            % {"where": where, "time": _clock(start)},
            field,
        )


def _clean_name(name: str) -> str:
    if "\x00" in name:
        raise _invalid(_("The text contains a null character."), "name")
    name = name.strip()
    if not name:
        raise _invalid(_("A calendar needs a name."), "name")
    if len(name) > NAME_MAX:
        raise _invalid(_("A calendar name has %(max)s characters at most.") % {"max": NAME_MAX}, "name")
    return name


def _weekday_label(weekday: int) -> str:
    return str(WeekdayChoice(weekday).label)


def _clean_weekly(weekly: Sequence[WeeklySpec]) -> tuple[WeeklySpec, ...]:
    per_day = [0] * 7
    placed: list[tuple[int, int, WeeklySpec]] = []  # minutes from Monday 00:00: start, end (may pass Sunday)
    for index, spec in enumerate(weekly):
        if not 0 <= spec.weekday <= 6:
            raise _invalid(_("A weekday is one of Monday to Sunday."), "weekly", index=index)
        _check_times(spec.start, spec.end, "weekly", _where(_weekday_label(spec.weekday), spec.start, spec.end))
        per_day[spec.weekday] += 1
        if per_day[spec.weekday] > INTERVALS_PER_DAY_MAX:
            raise _invalid(
                _("%(day)s has more than %(max)s intervals.")
                % {"day": _weekday_label(spec.weekday), "max": INTERVALS_PER_DAY_MAX},
                "weekly",
                index=index,
            )
        start = spec.weekday * MINUTES_PER_DAY + _minutes(spec.start)
        placed.append((start, start + _length(spec.start, spec.end), spec))
    placed.sort(key=lambda item: (item[0], item[1]))
    # Sorted by start, an interval that overlaps any later one overlaps the next one.
    for (_start, end, spec), (next_start, _end, other) in pairwise(placed):
        if next_start < end:
            raise _invalid(_overlap_message(spec, other), "weekly")
    # Around the week: a Sunday night shift runs into Monday morning.
    for _start, end, spec in placed:
        for next_start, _end, other in placed:
            if other is not spec and next_start < end - MINUTES_PER_WEEK:
                raise _invalid(_overlap_message(spec, other), "weekly")
    return tuple(sorted(weekly, key=lambda s: (s.weekday, s.start, s.end)))


def _overlap_message(first: WeeklySpec, second: WeeklySpec) -> str:
    return _("%(first)s overlaps %(second)s.") % {
        "first": _where(_weekday_label(first.weekday), first.start, first.end),
        "second": _where(_weekday_label(second.weekday), second.start, second.end),
    }


def _clean_dates(dates: Sequence[DateSpec]) -> tuple[DateSpec, ...]:
    if len(dates) > DATES_MAX:
        raise _invalid(_("A calendar has %(max)s dates of its own at most.") % {"max": DATES_MAX}, "dates")
    seen: set[date] = set()
    cleaned = []
    for index, spec in enumerate(dates):
        day = formats.date_format(spec.date, "DATE_FORMAT")
        if spec.date in seen:
            raise _invalid(_("The date %(date)s is listed twice.") % {"date": day}, "dates", index=index)
        seen.add(spec.date)
        if "\x00" in spec.name:
            raise _invalid(_("The text contains a null character."), "dates", index=index)
        name = spec.name.strip()
        if len(name) > NAME_MAX:
            raise _invalid(
                _("The name of a date has %(max)s characters at most.") % {"max": NAME_MAX}, "dates", index=index
            )
        if len(spec.intervals) > INTERVALS_PER_DAY_MAX:
            raise _invalid(
                _("%(day)s has more than %(max)s intervals.") % {"day": day, "max": INTERVALS_PER_DAY_MAX},
                "dates",
                index=index,
            )
        spans = sorted(spec.intervals)
        for start, end in spans:
            _check_times(start, end, "dates", _where(day, start, end))
        for (start, end), (next_start, next_end) in pairwise(spans):
            if _minutes(next_start) < _minutes(start) + _length(start, end):
                raise _invalid(
                    _("%(first)s overlaps %(second)s.")
                    % {"first": _where(day, start, end), "second": _where(day, next_start, next_end)},
                    "dates",
                    index=index,
                )
        cleaned.append(DateSpec(spec.date, name, tuple(spans)))
    return tuple(sorted(cleaned, key=lambda s: s.date))


def _clean_holidays(enabled: bool, country: str, subdivision: str) -> tuple[str, str]:
    country = country.strip().upper()
    subdivision = subdivision.strip()
    if enabled and not country:
        raise _invalid(_("Public holidays need a country."), "holiday_country")
    if country and not is_supported_country(country):
        raise _invalid(
            _("No public holidays are known for the country “%(value)s”.") % {"value": country},
            "holiday_country",
            value=country,
        )
    if subdivision:
        if not country:
            raise _invalid(_("A state or region needs its country."), "holiday_subdivision")
        known = canonical_subdivision(country, subdivision)
        if known is None:
            choices = ", ".join(supported_regions()[country]) or "—"
            raise _invalid(
                _("“%(value)s” is not a state or region of %(country)s with known holidays (known: %(known)s).")
                % {"value": subdivision, "country": country, "known": choices},
                "holiday_subdivision",
                value=subdivision,
            )
        subdivision = known
    return country, subdivision


def _inboxes(*, tenant_id: int, inbox_ids: Iterable[int]) -> list[Inbox]:
    ids = list(dict.fromkeys(inbox_ids))
    inboxes = {inbox.pk: inbox for inbox in Inbox.objects.filter(tenant_id=tenant_id, pk__in=ids)}
    for inbox_id in ids:
        if inbox_id not in inboxes:
            raise _invalid(_("Unknown inbox."), "inbox_ids", id=inbox_id)
    return [inboxes[i] for i in ids]


def calendar_clean(spec: CalendarSpec) -> CalendarSpec:
    """The spec, tidied (names stripped, codes as the holidays package spells them, intervals in order),
    or ``ValidationFailed`` naming the field and saying what is wrong."""
    if spec.time_zone not in time_zone_names():
        raise _invalid(
            _("“%(value)s” is not a known time zone.") % {"value": spec.time_zone}, "time_zone", value=spec.time_zone
        )
    if spec.mode not in BusinessCalendar.Mode.values:
        raise _invalid(_("Unknown mode “%(value)s”.") % {"value": spec.mode}, "mode", value=spec.mode)
    country, subdivision = _clean_holidays(spec.holidays_enabled, spec.holiday_country, spec.holiday_subdivision)
    return replace(
        spec,
        name=_clean_name(spec.name),
        weekly=_clean_weekly(spec.weekly),
        holiday_country=country,
        holiday_subdivision=subdivision,
        dates=_clean_dates(spec.dates),
    )


# --- what the audit log keeps ------------------------------------------------------------------------


def _stored_span(start: time, end: time) -> str:
    return f"{start:%H:%M}-{end:%H:%M}"


def _audit_values(spec: CalendarSpec) -> dict[str, Any]:
    """The spec in the log's stored form: codes and ISO dates, shown in the viewer's language later."""
    return {
        "name": spec.name,
        "time_zone": spec.time_zone,
        "mode": spec.mode,
        "hours": [f"{WEEKDAY_CODES[w.weekday]} {_stored_span(w.start, w.end)}" for w in spec.weekly],
        "holidays": "on" if spec.holidays_enabled else "off",
        "country": spec.holiday_country,
        "subdivision": spec.holiday_subdivision,
        "dates": [
            " ".join([d.date.isoformat(), *(_stored_span(s, e) for s, e in d.intervals)])
            if d.intervals
            else f"{d.date.isoformat()} closed"
            for d in spec.dates
        ],
        "inbox_ids": sorted(spec.inbox_ids or ()),
    }


def _audit(actor: Actor, action: str, calendar: BusinessCalendar, request: Any, extra: dict[str, Any]) -> None:
    actor_audit_record(
        actor,
        action=action,
        tenant=calendar.tenant,
        target=calendar,
        target_label=calendar.name,
        request=request,
        extra=extra,
    )


# --- writes ------------------------------------------------------------------------------------------


def _save_name(calendar: BusinessCalendar, *, update_fields: list[str] | None = None) -> None:
    # The unique constraint decides; a savepoint keeps the caller's transaction usable after a clash.
    try:
        with transaction.atomic():
            calendar.save(update_fields=update_fields)
    except IntegrityError:
        raise ValidationFailed(
            _("A calendar named “%(name)s” already exists.") % {"name": calendar.name},
            code="duplicate",
            details={"field": "name"},
        ) from None


def _write_rows(calendar: BusinessCalendar, spec: CalendarSpec) -> None:
    tenant_id = calendar.tenant_id
    WeeklyInterval.objects.filter(calendar=calendar).delete()
    CalendarDate.objects.filter(calendar=calendar).delete()  # their intervals go with them
    WeeklyInterval.objects.bulk_create(
        WeeklyInterval(tenant_id=tenant_id, calendar=calendar, weekday=w.weekday, start=w.start, end=w.end)
        for w in spec.weekly
    )
    rows = CalendarDate.objects.bulk_create(
        CalendarDate(tenant_id=tenant_id, calendar=calendar, date=d.date, name=d.name) for d in spec.dates
    )
    CalendarDateInterval.objects.bulk_create(
        CalendarDateInterval(tenant_id=tenant_id, calendar_date=row, start=start, end=end)
        for row, d in zip(rows, spec.dates, strict=True)
        for start, end in d.intervals
    )


def _write_inboxes(calendar: BusinessCalendar, inboxes: list[Inbox]) -> None:
    """These inboxes keep this calendar (taken from any other); inboxes left out no longer keep it."""
    tenant_id = calendar.tenant_id
    InboxSettings.objects.filter(tenant_id=tenant_id, calendar=calendar).exclude(
        inbox__in=[i.pk for i in inboxes]
    ).update(calendar=None)
    for inbox in inboxes:
        InboxSettings.objects.update_or_create(tenant_id=tenant_id, inbox=inbox, defaults={"calendar": calendar})


@transaction.atomic
def calendar_create(*, actor: Actor, spec: CalendarSpec, request: Any = None) -> BusinessCalendar:
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    spec = calendar_clean(spec)
    inboxes = _inboxes(tenant_id=actor.tenant_id, inbox_ids=spec.inbox_ids or ())
    spec = replace(spec, inbox_ids=tuple(i.pk for i in inboxes))
    calendar = BusinessCalendar(
        tenant_id=actor.tenant_id,
        name=spec.name,
        time_zone=spec.time_zone,
        mode=spec.mode,
        holidays_enabled=spec.holidays_enabled,
        holiday_country=spec.holiday_country,
        holiday_subdivision=spec.holiday_subdivision,
    )
    _save_name(calendar)
    _write_rows(calendar, spec)
    _write_inboxes(calendar, inboxes)
    _audit(actor, Action.BUSINESS_CALENDAR_CREATED, calendar, request, _audit_values(spec))
    return calendar


@transaction.atomic
def calendar_update(
    *, actor: Actor, calendar: BusinessCalendar, spec: CalendarSpec, request: Any = None
) -> BusinessCalendar:
    """Replace what the calendar holds with ``spec`` (``inbox_ids=None`` keeps its inboxes)."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if calendar.tenant_id != actor.tenant_id:
        raise NotFound(_("No such calendar."))
    before = calendar_spec(calendar)
    spec = calendar_clean(spec)
    if spec.inbox_ids is None:
        spec = replace(spec, inbox_ids=before.inbox_ids)
    inboxes = _inboxes(tenant_id=actor.tenant_id, inbox_ids=spec.inbox_ids or ())
    spec = replace(spec, inbox_ids=tuple(i.pk for i in inboxes))
    old, new = _audit_values(before), _audit_values(spec)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    if not changes:
        return calendar
    fields = {
        "name": spec.name,
        "time_zone": spec.time_zone,
        "mode": spec.mode,
        "holidays_enabled": spec.holidays_enabled,
        "holiday_country": spec.holiday_country,
        "holiday_subdivision": spec.holiday_subdivision,
    }
    for name, value in fields.items():
        setattr(calendar, name, value)
    _save_name(calendar, update_fields=[*fields, "updated_at"])
    if {"hours", "dates"} & changes.keys():
        _write_rows(calendar, spec)
    if "inbox_ids" in changes:
        _write_inboxes(calendar, inboxes)
    _audit(actor, Action.BUSINESS_CALENDAR_CHANGED, calendar, request, {"changes": changes})
    return calendar


@transaction.atomic
def calendar_delete(*, actor: Actor, calendar: BusinessCalendar, request: Any = None) -> None:
    """Delete the calendar; the inboxes that kept it keep no calendar."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if calendar.tenant_id != actor.tenant_id:
        raise NotFound(_("No such calendar."))
    _audit(actor, Action.BUSINESS_CALENDAR_DELETED, calendar, request, {"name": calendar.name})
    calendar.delete()
