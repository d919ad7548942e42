"""Counts, ages, countdowns and relative times in the viewer's language, written by Babel (CLDR)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.template.loader import engines
from django.utils import translation

from conversations.templatetags.inbox_list import short_age
from helpdesk.l10n import babel_locale, format_number
from tenants.templatetags.dates import relative_time, time_left
from tenants.templatetags.numbers import number

NOW = datetime(2026, 12, 6, 17, 5, tzinfo=UTC)


def _jinja(source: str, **context: object) -> str:
    return engines["jinja2"].from_string(source).render(context)


def test_the_babel_locale_is_the_active_language():
    with translation.override("pt-br"):
        assert str(babel_locale()) == "pt_BR"
    with translation.override("en"):
        assert str(babel_locale()) == "en"


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["0", "7", "1,234", "1,234,567", "-1,234", "1,234.5"]),
        ("pt-br", ["0", "7", "1.234", "1.234.567", "-1.234", "1.234,5"]),
    ],
)
def test_numbers_have_the_languages_separators(language, texts):
    with translation.override(language):
        assert [number(n) for n in (0, 7, 1234, 1234567, -1234, Decimal("1234.5"))] == texts
        assert format_number(1234) == texts[2]


def test_number_shows_nothing_for_what_is_not_a_number():
    with translation.override("en"):
        assert [number(v) for v in (None, "", "12", 1.5, True, Decimal("NaN"))] == ["", "", "", "", "", ""]


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["now", "5 min. ago", "50 min. ago", "2 hr. ago", "2 days ago", "in 5 min.", "in 3 days"]),
        ("pt-br", ["agora", "há 5 min.", "há 50 min.", "há 2 h", "há 2 dias", "em 5 min.", "em 3 dias"]),
    ],
)
def test_relative_times_read_naturally_past_and_future(language, texts):
    deltas = [
        timedelta(seconds=-59),
        timedelta(minutes=-5),
        timedelta(minutes=-50),  # fifty minutes stay minutes (not "1 hour")
        timedelta(hours=-2),
        timedelta(days=-2),
        timedelta(minutes=5),
        timedelta(days=3),
    ]
    with translation.override(language):
        assert [relative_time(NOW + delta, NOW) for delta in deltas] == texts


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["now", "5 min", "59 min", "3 hr", "23 hr", "1 day", "2 days", "400 days"]),
        ("pt-br", ["agora", "5 min", "59 min", "3 h", "23 h", "1 dia", "2 dias", "400 dias"]),
    ],
)
def test_waiting_ages_are_whole_units_rounded_down(language, texts):
    ages = [
        timedelta(seconds=59),
        timedelta(minutes=5),
        timedelta(minutes=59, seconds=59),
        timedelta(hours=3),
        timedelta(hours=23, minutes=59),
        timedelta(days=1),
        timedelta(days=2, hours=23),
        timedelta(days=400),
    ]
    with translation.override(language):
        assert [short_age(NOW - age, NOW) for age in ages] == texts


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["23h 59m", "5h 0m", "42m", "0m", "0m"]),
        ("pt-br", ["23 h 59 min", "5 h 0 min", "42 min", "0 min", "0 min"]),
    ],
)
def test_the_reply_window_countdown_is_hours_and_minutes_left(language, texts):
    lefts = [
        timedelta(hours=23, minutes=59, seconds=59),
        timedelta(hours=5),
        timedelta(minutes=42, seconds=30),
        timedelta(seconds=59),
        timedelta(seconds=-5),  # already closed: nothing left, never a negative count
    ]
    with translation.override(language):
        assert [time_left(NOW + left, NOW) for left in lefts] == texts


def test_time_filters_show_nothing_for_a_missing_time():
    assert (relative_time(None, NOW), time_left(None, NOW), short_age(None, NOW)) == ("", "", "")


def test_django_templates_and_jinja2_write_the_same():
    context = {"n": 1234567, "past": NOW - timedelta(hours=2), "later": NOW + timedelta(hours=5), "now": NOW}
    django_template = Template(
        "{% load numbers dates %}{{ n|number }} · {{ past|relative_time:now }} · {{ later|time_left:now }}"
    )
    with translation.override("pt-br"):
        from_django = django_template.render(Context(context))
        from_jinja = _jinja("{{ n|number }} · {{ past|relative_time(now) }} · {{ later|time_left(now) }}", **context)
    assert from_django == from_jinja == "1.234.567 · há 2 h · 5 h 0 min"
