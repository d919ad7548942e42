"""What greeting and away messages say: variables checked and filled, and the next opening in the customer's
language, in CLDR's words."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from automations import business_hours
from automations.business_hours import Calendar, Interval
from automations.greeting_texts import body_render, next_open_phrase, variables_unknown
from automations.holiday_data import holiday_dates
from tenants.timezones import zone_or_none

SAO_PAULO = zone_or_none("America/Sao_Paulo")
LUNCH_BREAK = (Interval(time(9), time(12)), Interval(time(13), time(18)))
OFFICE = Calendar(
    zone=SAO_PAULO,
    weekly=(LUNCH_BREAK,) * 5 + ((), ()),
    dates={date(2026, 12, 24): (Interval(time(9), time(13)),)},
    holidays=lambda year: holiday_dates("BR", "SP", year),
)


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SAO_PAULO)


@pytest.mark.parametrize(
    ("now", "pt", "en"),
    [
        # Friday evening before Independence Day (Monday 7 September): Tuesday.
        (_local(2026, 9, 4, 20, 0), "terça-feira às 09:00", "Tuesday at 09:00"),
        # Lunch break: today.
        (_local(2026, 9, 9, 12, 30), "hoje às 13:00", "today at 13:00"),
        # Wednesday evening: tomorrow.
        (_local(2026, 9, 9, 19, 0), "amanhã às 09:00", "tomorrow at 09:00"),
        # Christmas Eve's half-day over; Christmas and the weekend closed: Monday.
        (_local(2026, 12, 24, 14, 0), "segunda-feira às 09:00", "Monday at 09:00"),
        # Saturday night before All Souls' Day (Monday 2 November): Tuesday.
        (_local(2026, 10, 31, 23, 59), "terça-feira às 09:00", "Tuesday at 09:00"),
    ],
)
def test_the_next_opening_reads_as_a_customer_says_it(now, pt, en):
    opens = business_hours.next_open(OFFICE, now)

    assert next_open_phrase(opens, now=now, zone=SAO_PAULO, language="pt-br") == pt
    assert next_open_phrase(opens, now=now, zone=SAO_PAULO, language="pt") == pt
    assert next_open_phrase(opens, now=now, zone=SAO_PAULO, language="en") == en


def test_an_opening_beyond_the_coming_week_names_its_date():
    now = _local(2026, 12, 21, 19, 0)
    opens = _local(2027, 1, 4, 9, 0)

    assert next_open_phrase(opens, now=now, zone=SAO_PAULO, language="pt-br") == (
        "segunda-feira, 4 de janeiro de 2027 às 09:00"
    )
    assert next_open_phrase(opens, now=now, zone=SAO_PAULO, language="en") == "Monday, January 4, 2027 at 09:00"


def test_the_calendars_zone_decides_the_day_not_utcs():
    # 23:30 in São Paulo is already Thursday in UTC; the opening is still "tomorrow", at São Paulo's 09:00.
    now = datetime(2026, 9, 10, 2, 30, tzinfo=UTC)
    opens = business_hours.next_open(OFFICE, now)

    assert opens == datetime(2026, 9, 10, 12, 0, tzinfo=UTC)
    assert next_open_phrase(opens, now=now, zone=SAO_PAULO, language="en") == "tomorrow at 09:00"


def test_no_opening_ahead_is_said_as_nothing():
    assert next_open_phrase(None, now=_local(2026, 9, 4, 20, 0), zone=SAO_PAULO, language="pt-br") == ""


def test_unknown_variables_are_found_once_each_in_order():
    body = "Oi {{contact.first_name}} {{ contato.nome }}, {{next_open}} {{}} {{contato.nome}} {{agent.name}}"

    assert variables_unknown(body) == ["contato.nome", "", "agent.name"]
    assert variables_unknown("Olá {{contact.name}} e {{ inbox.name }}: {{next_open}} {single}") == []


def test_filling_in_leaves_out_empty_values_and_never_refills_a_value():
    values = {"contact.first_name": "{{inbox.name}}", "contact.name": "", "inbox.name": "Suporte", "next_open": ""}

    assert body_render("Oi {{contact.first_name}}{{contact.name}}! {{ inbox.name }} {{next_open}}", values) == (
        "Oi {{inbox.name}}! Suporte"
    )
