"""Seeds the demo workspace's business hours (after ``seed_demo`` and ``seed_demo_whatsapp``): weekdays with a
lunch break, Saturday mornings, Brazil's and São Paulo's holidays, half-days on Christmas and New Year's Eve,
followed by every inbox of the workspace; each inbox's greeting and away message in Portuguese and
English; and each inbox's satisfaction survey (a list of five ratings, then a comment). Safe to run again: what
was changed on the settings pages stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from automations.csat import CsatSpec, csat_update
from automations.greeting_services import GreetingSpec, greeting_settings_update
from automations.models import BusinessCalendar, CsatSettings, GreetingSettings, InboxSettings
from automations.selectors import calendar_get
from automations.services import CalendarSpec, DateSpec, WeeklySpec, calendar_create, calendar_spec, calendar_update
from conversations.models import Inbox
from tenants.models import Membership, Tenant
from tenants.permissions import BuiltinRole

DEMO_SLUG = "demo"
DEMO_CALENDAR = "Horário comercial"
DEMO_GREETING = {
    "pt-br": "Olá, {{contact.first_name}}! Aqui é o {{inbox.name}}. Conte como podemos ajudar.",
    "en": "Hi {{contact.first_name}}! This is {{inbox.name}}. Tell us how we can help.",
}
DEMO_AWAY = {
    "pt-br": "Estamos fora do horário de atendimento agora. Voltamos {{next_open}} e respondemos assim que abrirmos.",
    "en": "We are outside business hours right now. We are back {{next_open}} and will answer as soon as we open.",
}

DEMO_CSAT = CsatSpec(enabled=True, style=CsatSettings.Style.LIST, ask_comment=True, comment_minutes=10)


def demo_spec(year: int) -> CalendarSpec:
    lunch_break = ((time(9), time(12)), (time(13), time(18)))
    weekdays = [WeeklySpec(day, start, end) for day in range(5) for start, end in lunch_break]
    half_day = ((time(9), time(13)),)
    return CalendarSpec(
        name=DEMO_CALENDAR,
        time_zone="America/Sao_Paulo",
        weekly=(*weekdays, WeeklySpec(5, time(9), time(13))),
        holiday_country="BR",
        holiday_subdivision="SP",
        dates=(
            DateSpec(date(year, 12, 24), "Véspera de Natal", half_day),
            DateSpec(date(year, 12, 31), "Réveillon", half_day),
        ),
    )


class Command(BaseCommand):
    help = (
        "Give the demo workspace business hours with Brazilian holidays, followed by all its inboxes, and a "
        "greeting, an away message and a satisfaction survey for each inbox."
    )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            raise CommandError("No demo workspace: run seed_demo first.")
        owner = (
            Membership.objects.select_related("user", "role", "tenant")
            .filter(tenant=tenant, role__key=BuiltinRole.OWNER)
            .order_by("id")
            .first()
        )
        if owner is None:
            raise CommandError("The demo workspace has no owner.")
        calendar = BusinessCalendar.objects.filter(tenant=tenant, name=DEMO_CALENDAR).first()
        if calendar is None:
            calendar = calendar_create(actor=owner, spec=demo_spec(timezone.localdate().year))
        calendar = calendar_get(tenant=tenant, calendar_id=calendar.pk)
        # Inboxes that follow no calendar yet follow this one; a choice made on the settings page stays.
        taken = InboxSettings.objects.filter(tenant=tenant).exclude(calendar=None).values_list("inbox_id", flat=True)
        free = Inbox.objects.filter(tenant=tenant).exclude(pk__in=list(taken)).values_list("pk", flat=True)
        spec = calendar_spec(calendar)
        if free:
            inbox_ids = (*(spec.inbox_ids or ()), *free)
            calendar_update(actor=owner, calendar=calendar, spec=replace(spec, inbox_ids=inbox_ids))
        where = f"/t/{tenant.slug}/settings/business-hours/{calendar.pk}/"
        self.stdout.write(self.style.SUCCESS(f"Business hours '{calendar.name}' at {where}"))
        # Inboxes whose greeting and away message were never set greet new customers and answer out of hours.
        configured = GreetingSettings.objects.filter(tenant=tenant).values_list("inbox_id", flat=True)
        messages = GreetingSpec(
            greeting_enabled=True, greeting_texts=DEMO_GREETING, away_enabled=True, away_texts=DEMO_AWAY
        )
        for inbox in Inbox.objects.filter(tenant=tenant).exclude(pk__in=list(configured)).order_by("pk"):
            has_calendar = InboxSettings.objects.filter(tenant=tenant, inbox=inbox, calendar__isnull=False).exists()
            greeting_settings_update(actor=owner, inbox=inbox, spec=replace(messages, away_enabled=has_calendar))
            where = f"/t/{tenant.slug}/settings/greeting-away/{inbox.pk}/"
            self.stdout.write(self.style.SUCCESS(f"Greeting and away message of '{inbox.name}' at {where}"))
        # Inboxes whose survey was never set ask for a rating when a conversation is resolved, then a comment.
        surveyed = CsatSettings.objects.filter(tenant=tenant).values_list("inbox_id", flat=True)
        for inbox in Inbox.objects.filter(tenant=tenant).exclude(pk__in=list(surveyed)).order_by("pk"):
            csat_update(actor=owner, inbox=inbox, spec=DEMO_CSAT)
            where = f"/t/{tenant.slug}/settings/csat/{inbox.pk}/"
            self.stdout.write(self.style.SUCCESS(f"Satisfaction survey of '{inbox.name}' at {where}"))
