"""The demo's business hours, as ``make run`` seeds them."""

from __future__ import annotations

from datetime import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from automations.models import BusinessCalendar
from automations.selectors import calendar_get, inbox_calendar
from automations.services import calendar_spec
from tenants.models import Tenant
from tests.conversations.factories import make_inbox

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


def test_seeding_business_hours_needs_the_demo_workspace():
    with pytest.raises(CommandError, match="run seed_demo first"):
        call_command("seed_demo_automations", stdout=StringIO())
