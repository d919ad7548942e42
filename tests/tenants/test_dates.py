"""The product's one date format: the filters every page and fragment shows times with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.template import Context, Template
from django.utils import formats, timezone, translation

from tenants.templatetags.dates import (
    day_label,
    iso_datetime,
    iso_utc,
    local_date,
    local_datetime,
    local_day,
    local_time,
    short_when,
)

MOMENT = datetime(2026, 3, 10, 15, 4, 5, tzinfo=UTC)  # 12:04:05 in São Paulo (UTC-3)


def _sao_paulo_noon(days_ago: int) -> datetime:
    """Noon, local time in São Paulo, ``days_ago`` days before today there (deterministic day labels)."""
    with timezone.override("America/Sao_Paulo"):
        today = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def test_times_are_shown_in_the_active_zone():
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        assert local_time(MOMENT) == "12:04"
        assert local_time(MOMENT, "seconds") == "12:04:05"
        assert local_date(MOMENT) == "March 10, 2026"
        assert local_datetime(MOMENT) == "March 10, 2026, 12:04"
        assert local_datetime(MOMENT, "seconds") == "March 10, 2026, 12:04:05"
        assert iso_datetime(MOMENT) == "2026-03-10T12:04:05-03:00"
        assert iso_utc(MOMENT) == "2026-03-10T15:04:05+00:00"


def test_dates_follow_the_active_language():
    with translation.override("pt-br"), timezone.override("America/Sao_Paulo"):
        assert local_date(MOMENT) == "10/03/2026"
        assert local_time(MOMENT) == "12:04"
        assert local_time(MOMENT, "seconds") == "12:04:05"
        assert short_when(MOMENT) == "10/03/2026"
        # The catalog joins date and time as Brazilians write them.
        assert local_datetime(MOMENT) == "10/03/2026 12:04"


def test_the_languages_formats_are_the_products():
    december = datetime(2026, 12, 6, 17, 5, tzinfo=UTC)  # 14:05 in São Paulo
    with timezone.override("America/Sao_Paulo"):
        with translation.override("pt-br"):
            assert formats.get_format("DATE_FORMAT") == "d/m/Y"
            assert formats.get_format("DATETIME_FORMAT") == "d/m/Y H:i"
            assert formats.date_format(timezone.localtime(december), "DATETIME_FORMAT") == "06/12/2026 14:05"
            assert formats.date_format(timezone.localtime(december), "SHORT_DATETIME_FORMAT") == "06/12/2026 14:05"
            assert formats.number_format(Decimal("1234.56"), decimal_pos=2, force_grouping=True) == "1.234,56"
        with translation.override("en"):
            assert local_date(december) == "Dec. 6, 2026"
            assert local_datetime(december) == "Dec. 6, 2026, 14:05"
            assert formats.date_format(timezone.localtime(december), "SHORT_DATE_FORMAT") == "12/06/2026"
            assert formats.date_format(timezone.localtime(december), "SHORT_DATETIME_FORMAT") == "12/06/2026 14:05"
            assert formats.number_format(Decimal("1234.56"), decimal_pos=2, force_grouping=True) == "1,234.56"


def test_the_day_of_a_moment_is_the_viewers_day():
    late_evening_in_sao_paulo = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 23:30 on March 9 there
    with timezone.override("America/Sao_Paulo"):
        assert local_day(late_evening_in_sao_paulo) == "2026-03-09"
    with timezone.override("UTC"):
        assert local_day(late_evening_in_sao_paulo) == "2026-03-10"


def test_day_labels_say_today_yesterday_or_the_date():
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        assert day_label(_sao_paulo_noon(0)) == "Today"
        assert day_label(_sao_paulo_noon(1)) == "Yesterday"
        three_days_ago = _sao_paulo_noon(3)
        assert day_label(three_days_ago) == local_date(three_days_ago)
        assert day_label(three_days_ago) not in ("Today", "Yesterday")


def test_list_times_show_the_time_today_then_yesterday_then_the_short_date():
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        assert short_when(_sao_paulo_noon(0)) == "12:00"
        assert short_when(_sao_paulo_noon(1)) == "Yesterday"
        older = timezone.localtime(_sao_paulo_noon(3))
        assert short_when(older) == f"{older:%m/%d/%Y}"


def test_filters_show_nothing_for_a_missing_time():
    for show in (local_time, local_date, local_datetime, local_day, day_label, short_when, iso_datetime, iso_utc):
        assert show(None) == ""


def test_django_templates_load_the_same_filters():
    template = Template("{% load dates %}{{ m|local_datetime }} · {{ m|local_time:'seconds' }}")
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        assert template.render(Context({"m": MOMENT})) == "March 10, 2026, 12:04 · 12:04:05"
