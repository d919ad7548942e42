"""The business hours form: the calendar's settings, a weekly grid of intervals and the workspace's
own dates. Rows of the grid that are left blank are ignored; each day shows one blank pair more than
it has intervals, so a save always leaves room for another."""

from __future__ import annotations

from datetime import time
from typing import Any, cast

from babel import Locale
from django import forms
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _

from automations.holiday_data import supported_regions
from automations.models import BusinessCalendar, Weekday
from automations.services import DATES_MAX, INTERVALS_PER_DAY_MAX, CalendarSpec, DateSpec, WeeklySpec
from conversations.models import Inbox
from tenants.timezones import time_zone_names

DATE_SLOTS = 2  # intervals a date of the workspace's own can have on the page
BLANK_DATES = 3  # blank rows for new dates


def holiday_country_choices() -> list[tuple[str, str]]:
    """The countries the holidays package knows, by their name in the active language."""
    locale = Locale.parse(to_locale(get_language() or "en"))
    names = [(code, str(locale.territories.get(code, code))) for code in supported_regions()]
    return [("", "—"), *sorted(names, key=lambda item: item[1])]


class _TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, label: str) -> None:
        super().__init__(format="%H:%M", attrs={"aria-label": label})


def _time_field(label: str) -> forms.TimeField:
    return forms.TimeField(required=False, input_formats=["%H:%M"], widget=_TimeInput(label), label=label)


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    time_zone = forms.ChoiceField(label=_("Time zone"))
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=BusinessCalendar.Mode.choices,
        widget=forms.RadioSelect,
        help_text=_("“By schedule” follows the weekly hours, holidays and dates below."),
    )
    holidays_enabled = forms.BooleanField(label=_("Closed on public holidays"), required=False)
    holiday_country = forms.ChoiceField(label=_("Public holidays of"), required=False)
    holiday_subdivision = forms.CharField(
        label=_("State or region"),
        max_length=40,
        required=False,
        help_text=_("Its code, such as SP, to add its holidays to the country's."),
    )
    inboxes = forms.ModelMultipleChoiceField(
        label=_("Inboxes that follow these hours"),
        queryset=Inbox.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, tenant_id: int, spec: CalendarSpec, **kwargs: Any) -> None:
        weekly_slots = [
            min(INTERVALS_PER_DAY_MAX, max(2, sum(1 for w in spec.weekly if w.weekday == day) + 1)) for day in range(7)
        ]
        data = args[0] if args else kwargs.get("data")
        if data is not None:  # a posted form keeps the rows it was sent with
            weekly_slots = [
                max(count, min(INTERVALS_PER_DAY_MAX, _posted_count(data, f"w{day}-")))
                for day, count in enumerate(weekly_slots)
            ]
        date_slots = [max(DATE_SLOTS, len(d.intervals)) for d in spec.dates] + [DATE_SLOTS] * BLANK_DATES
        if data is not None:
            date_slots += [DATE_SLOTS] * (min(DATES_MAX, _posted_count(data, "d")) - len(date_slots))
            date_slots = [
                max(count, min(INTERVALS_PER_DAY_MAX, _posted_count(data, f"d{row}-")))
                for row, count in enumerate(date_slots)
            ]
        kwargs.setdefault("initial", _initial(spec))
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["time_zone"]).choices = [(tz, tz) for tz in time_zone_names()]
        cast(forms.ChoiceField, self.fields["holiday_country"]).choices = holiday_country_choices()
        inboxes = cast(forms.ModelMultipleChoiceField, self.fields["inboxes"])
        inboxes.queryset = Inbox.objects.filter(tenant_id=tenant_id).order_by("name", "id")
        self.weekly_rows: list[tuple[str, list[tuple[str, str]]]] = []
        for day, count in enumerate(weekly_slots):
            label = str(Weekday(day).label)
            names = []
            for slot in range(count):
                start, end = f"w{day}-{slot}-start", f"w{day}-{slot}-end"
                self.fields[start] = _time_field(_("%(day)s, interval %(n)s, opens") % {"day": label, "n": slot + 1})
                self.fields[end] = _time_field(_("%(day)s, interval %(n)s, closes") % {"day": label, "n": slot + 1})
                names.append((start, end))
            self.weekly_rows.append((label, names))
        self.date_rows: list[tuple[str, str, list[tuple[str, str]], str]] = []
        for row, date_slot_count in enumerate(date_slots):
            n = row + 1
            prefix = f"d{row}-"
            self.fields[f"{prefix}date"] = forms.DateField(
                required=False,
                widget=forms.DateInput(attrs={"type": "date", "aria-label": _("Date %(n)s") % {"n": n}}),
                input_formats=["%Y-%m-%d"],
            )
            self.fields[f"{prefix}name"] = forms.CharField(
                required=False,
                max_length=80,
                widget=forms.TextInput(attrs={"aria-label": _("Date %(n)s, name") % {"n": n}}),
            )
            pairs = []
            for slot in range(date_slot_count):
                start, end = f"{prefix}{slot}-start", f"{prefix}{slot}-end"
                self.fields[start] = _time_field(_("Date %(n)s, interval %(m)s, opens") % {"n": n, "m": slot + 1})
                self.fields[end] = _time_field(_("Date %(n)s, interval %(m)s, closes") % {"n": n, "m": slot + 1})
                pairs.append((start, end))
            self.fields[f"{prefix}remove"] = forms.BooleanField(
                required=False,
                widget=forms.CheckboxInput(attrs={"aria-label": _("Remove date %(n)s") % {"n": n}}),
            )
            self.date_rows.append((f"{prefix}date", f"{prefix}name", pairs, f"{prefix}remove"))

    # The template walks these: bound fields by row.
    def weekly_grid(self) -> list[tuple[str, list[tuple[forms.BoundField, forms.BoundField]]]]:
        return [(label, [(self[s], self[e]) for s, e in slots]) for label, slots in self.weekly_rows]

    def date_grid(self) -> list[dict[str, Any]]:
        return [
            {
                "date": self[d],
                "name": self[n],
                "slots": [(self[s], self[e]) for s, e in slots],
                "remove": self[r],
            }
            for d, n, slots, r in self.date_rows
        ]

    def _pair(self, start_name: str, end_name: str) -> tuple[time, time] | None:
        start, end = self.cleaned_data.get(start_name), self.cleaned_data.get(end_name)
        if start is None and end is None:
            return None
        if start is None or end is None:
            self.add_error(start_name if start is None else end_name, _("Give both the opening and the closing time."))
            return None
        return start, end

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        weekly = []
        for day, (_label, slots) in enumerate(self.weekly_rows):
            for start_name, end_name in slots:
                pair = self._pair(start_name, end_name)
                if pair is not None:
                    weekly.append(WeeklySpec(day, *pair))
        dates = []
        for date_name, name_name, names, remove_name in self.date_rows:
            spans = [pair for s, e in names if (pair := self._pair(s, e)) is not None]
            when = cleaned.get(date_name)
            if cleaned.get(remove_name):
                continue
            if when is None:
                if spans or cleaned.get(name_name):
                    self.add_error(date_name, _("Give the date."))
                continue
            dates.append(DateSpec(when, cleaned.get(name_name) or "", tuple(spans)))
        cleaned["weekly"], cleaned["dates"] = tuple(weekly), tuple(dates)
        return cleaned

    def spec(self) -> CalendarSpec:
        data = self.cleaned_data
        return CalendarSpec(
            name=data["name"],
            time_zone=data["time_zone"],
            mode=data["mode"],
            weekly=data["weekly"],
            holidays_enabled=data["holidays_enabled"],
            holiday_country=data["holiday_country"],
            holiday_subdivision=data["holiday_subdivision"],
            dates=data["dates"],
            inbox_ids=tuple(inbox.pk for inbox in data["inboxes"]),
        )

    def add_service_error(self, field: str | None, message: str) -> None:
        """Show a service's refusal at its field; one about the grids (they name the day) above the form."""
        target = "inboxes" if field == "inbox_ids" else field
        self.add_error(target if target in self.fields else None, message)


def _posted_count(data: Any, prefix: str) -> int:
    """How many rows a posted form carried under ``prefix`` (``w0-3-start`` is the 4th row of Monday)."""
    rows = -1
    for key in data:
        if key.startswith(prefix):
            head = key[len(prefix) :].split("-", 1)[0]
            if head.isdigit():
                rows = max(rows, int(head))
    return rows + 1


def _initial(spec: CalendarSpec) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "name": spec.name,
        "time_zone": spec.time_zone,
        "mode": spec.mode,
        "holidays_enabled": spec.holidays_enabled,
        "holiday_country": spec.holiday_country,
        "holiday_subdivision": spec.holiday_subdivision,
        "inboxes": list(spec.inbox_ids or ()),
    }
    counts = [0] * 7
    for w in spec.weekly:
        slot = counts[w.weekday]
        counts[w.weekday] += 1
        initial[f"w{w.weekday}-{slot}-start"] = w.start
        initial[f"w{w.weekday}-{slot}-end"] = w.end
    for row, d in enumerate(spec.dates):
        initial[f"d{row}-date"] = d.date
        initial[f"d{row}-name"] = d.name
        for slot, (start, end) in enumerate(d.intervals):
            initial[f"d{row}-{slot}-start"] = start
            initial[f"d{row}-{slot}-end"] = end
    return initial
