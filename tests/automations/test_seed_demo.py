"""The demo's business hours, greeting and away messages, as ``make run`` seeds them."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from automations.greeting_services import GreetingSpec, greeting_settings_update, greeting_spec
from automations.management.commands.seed_demo_automations import DEMO_AWAY, DEMO_GREETING
from automations.models import BusinessCalendar
from automations.selectors import calendar_get, inbox_calendar
from automations.services import calendar_spec
from tenants.models import Tenant
from tests.conversations.factories import make_inbox
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


def test_the_demo_gets_brazilian_business_hours_followed_by_its_inboxes_once():
    call_command("seed_demo", stdout=StringIO())
    tenant = Tenant.objects.get(slug="demo")
    inbox = make_inbox(tenant, name="WhatsApp")

    call_command("seed_demo_automations", stdout=StringIO())
    call_command("seed_demo_automations", stdout=StringIO())

    calendar = calendar_get(tenant=tenant, calendar_id=BusinessCalendar.objects.get(tenant=tenant).pk)
    spec = calendar_spec(calendar)
    assert (spec.name, spec.time_zone, spec.holiday_country, spec.holiday_subdivision) == (
        "Horário comercial",
        "America/Sao_Paulo",
        "BR",
        "SP",
    )
    assert [(w.weekday, w.start, w.end) for w in spec.weekly if w.weekday >= 4] == [
        (4, time(9), time(12)),
        (4, time(13), time(18)),
        (5, time(9), time(13)),
    ]
    assert [(d.date.month, d.date.day, d.intervals) for d in spec.dates] == [
        (12, 24, ((time(9), time(13)),)),
        (12, 31, ((time(9), time(13)),)),
    ]
    assert spec.dates[0].date.year == timezone.localdate().year
    assert inbox_calendar(inbox=inbox) == calendar


def test_the_demos_inboxes_greet_and_answer_out_of_hours_in_both_languages_and_a_change_stays():
    call_command("seed_demo", stdout=StringIO())
    tenant = Tenant.objects.get(slug="demo")
    inbox = make_inbox(tenant, name="WhatsApp")
    call_command("seed_demo_automations", stdout=StringIO())
    changed = replace(greeting_spec(inbox=inbox), away_enabled=False)
    greeting_settings_update(actor=owner_of(tenant), inbox=inbox, spec=changed)

    call_command("seed_demo_automations", stdout=StringIO())

    assert greeting_spec(inbox=inbox) == GreetingSpec(
        greeting_enabled=True,
        greeting_texts=DEMO_GREETING,
        away_enabled=False,
        away_texts=DEMO_AWAY,
    )
    assert sorted(DEMO_GREETING) == sorted(DEMO_AWAY) == ["en", "pt-br"]


def test_seeding_business_hours_needs_the_demo_workspace():
    with pytest.raises(CommandError, match="run seed_demo first"):
        call_command("seed_demo_automations", stdout=StringIO())


def test_the_demos_inboxes_send_the_satisfaction_survey_and_a_change_stays():
    from automations.csat import csat_row
    from automations.models import CsatSettings

    call_command("seed_demo", stdout=StringIO())
    tenant = Tenant.objects.get(slug="demo")
    inbox = make_inbox(tenant, name="WhatsApp")
    call_command("seed_demo_automations", stdout=StringIO())
    settings = CsatSettings.objects.get(inbox=inbox)
    assert (settings.enabled, settings.style, settings.send_on_resolve, settings.ask_comment) == (
        True,
        "list",
        True,
        True,
    )
    CsatSettings.objects.filter(pk=settings.pk).update(enabled=False)

    call_command("seed_demo_automations", stdout=StringIO())

    assert csat_row(tenant=tenant, inbox_id=inbox.pk).settings.enabled is False
    assert CsatSettings.objects.count() == 1
