"""Phone numbers shown nationally for the workspace's country, internationally otherwise, as given if invalid."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.template.loader import engines

from tenants.templatetags.phones import format_phone, phone


@pytest.mark.parametrize(
    ("value", "country", "shown"),
    [
        ("+5511900001417", "BR", "(11) 90000-1417"),
        ("5511900001417", "BR", "(11) 90000-1417"),  # a WhatsApp id: digits with the country code
        ("+55 11 90000-1417", "BR", "(11) 90000-1417"),
        ("+551133334444", "BR", "(11) 3333-4444"),  # landline
        ("+5511900001417", "US", "+55 11 90000-1417"),
        ("+5511900001417", "br", "(11) 90000-1417"),
        ("+16505551234", "US", "(650) 555-1234"),
        ("+16505551234", "BR", "+1 650-555-1234"),
        ("+16505551234", "CA", "(650) 555-1234"),  # one calling code: dialled the same way
        ("+5511900001417", "", "+55 11 90000-1417"),  # no country: international
    ],
)
def test_numbers_are_national_at_home_and_international_abroad(value, country, shown):
    assert phone(value, country) == shown


@pytest.mark.parametrize(
    "value",
    [
        "+551191234567",  # a Brazilian mobile without its ninth digit: not a valid number
        "+15550783881",  # area code 555 (Meta's test numbers) is not in service
        "12345",
        "+0011",
        "abc",
        "wa:5511900001417",
        "1234567890123456",  # longer than any E.164 number
    ],
)
def test_what_is_not_a_valid_number_is_shown_as_given(value):
    assert format_phone(value, "BR") == value


def test_nothing_shows_nothing():
    assert (phone(None, "BR"), phone("", "BR")) == ("", "")


def test_django_templates_and_jinja2_show_the_same_and_escape_what_they_do_not_format():
    context = {"good": "+5511900001417", "bad": "<b>11</b>", "tenant": {"country": "BR"}}
    django_template = Template("{% load phones %}{{ good|phone:tenant.country }} {{ bad|phone:tenant.country }}")
    jinja_template = engines["jinja2"].from_string("{{ good|phone(tenant.country) }} {{ bad|phone(tenant.country) }}")
    expected = "(11) 90000-1417 &lt;b&gt;11&lt;/b&gt;"
    assert django_template.render(Context(context)) == expected
    assert jinja_template.render(context) == expected
