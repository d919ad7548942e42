"""Seeds the demo workspace's business hours (after ``seed_demo`` and ``seed_demo_whatsapp``): weekdays with a
lunch break, Saturday mornings, Brazil's and São Paulo's holidays, half-days on Christmas and New Year's Eve,
followed by every inbox of the workspace; each inbox's greeting and away message in Portuguese and
English; each inbox's satisfaction survey (a list of five ratings, then a comment); the team "Atendimento"
(the agents, the owner as supervisor, the same hours) whose queue each inbox's new conversations join, assigned
round-robin to its online agents; an SLA policy; and two automation rules (urgent messages, payments). Safe to
run again: what was changed on the settings pages stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from automations.assignment_settings import PolicySpec, policy_update, team_calendar_set
from automations.csat import CsatSpec, csat_update
from automations.greeting_services import GreetingSpec, greeting_settings_update
from automations.models import (
    AssignmentPolicy,
    AutomationRule,
    BusinessCalendar,
    CsatSettings,
    GreetingSettings,
    InboxSettings,
    SlaPolicy,
)
from automations.rules_services import RuleSpec, rule_create
from automations.selectors import calendar_get
from automations.services import CalendarSpec, DateSpec, WeeklySpec, calendar_create, calendar_spec, calendar_update
from automations.sla_policies import SlaPolicySpec, sla_policy_create
from conversations.models import Inbox, Label, Team
from conversations.services.library import label_create, membership_availability_set
from conversations.services.teams import TeamMemberSpec, TeamSpec, team_create
from tenants.demo import demo_owner
from tenants.models import Membership, Tenant
from tenants.permissions import BuiltinRole

DEMO_CALENDAR = "Horário comercial"
DEMO_GREETING = {
    "pt-br": "Olá, {{contact.first_name}}! Aqui é o {{inbox.name}}. Conte como podemos ajudar.",
    "en": "Hi {{contact.first_name}}! This is {{inbox.name}}. Tell us how we can help.",
}
DEMO_AWAY = {
    "pt-br": "Estamos fora do horário de atendimento agora. Voltamos {{next_open}} e respondemos assim que abrirmos.",
    "en": "We are outside business hours right now. We are back {{next_open}} and will answer as soon as we open.",
}

DEMO_TEAM = "Atendimento"
DEMO_SLA = SlaPolicySpec(name="Padrão", first_response_minutes=30, next_response_minutes=60, resolution_minutes=8 * 60)
DEMO_URGENT_LABEL = ("Urgente", "#d1242f")
DEMO_PAYMENT_LABEL = ("Financeiro", "#9a6700")
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
        owner = demo_owner()
        tenant = owner.tenant
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
        team = self._team(tenant, owner, calendar)
        self._auto_assignment(tenant, owner, team)
        self._sla(tenant, owner)
        self._rules(tenant, owner)

    def _team(self, tenant: Tenant, owner: Membership, calendar: BusinessCalendar) -> Team:
        """The support team: every agent (online, so that the demo's conversations are assigned at once), the
        owner as its supervisor, the workspace's business hours."""
        team = Team.objects.filter(tenant=tenant, name=DEMO_TEAM).first()
        if team is not None:
            return team
        agents = list(
            Membership.objects.select_related("role", "tenant", "user")
            .filter(tenant=tenant, role__key=BuiltinRole.AGENT, active=True)
            .order_by("id")
        )
        members = (
            TeamMemberSpec(owner.user_id, is_supervisor=True),
            *(TeamMemberSpec(agent.user_id) for agent in agents),
        )
        team = team_create(
            actor=owner,
            spec=TeamSpec(name=DEMO_TEAM, description="Dúvidas, pedidos e pagamentos", members=members),
        )
        team_calendar_set(actor=owner, team=team, calendar_id=calendar.pk)
        for agent in agents:
            membership_availability_set(membership=agent, availability=Membership.Availability.ONLINE)
        self.stdout.write(self.style.SUCCESS(f"Team '{team.name}' at /t/{tenant.slug}/settings/teams/{team.pk}/"))
        return team

    def _auto_assignment(self, tenant: Tenant, owner: Membership, team: Team) -> None:
        """Inboxes never set up send new conversations to the team's queue, assigned round-robin."""
        configured = AssignmentPolicy.objects.filter(tenant=tenant).values_list("inbox_id", flat=True)
        spec = PolicySpec(enabled=True, capacity=5, team_id=team.pk, reassign_on_offline=True)
        for inbox in Inbox.objects.filter(tenant=tenant).exclude(pk__in=list(configured)).order_by("pk"):
            policy_update(actor=owner, inbox=inbox, spec=spec)
            where = f"/t/{tenant.slug}/settings/auto-assignment/{inbox.pk}/"
            self.stdout.write(self.style.SUCCESS(f"Auto-assignment of '{inbox.name}' at {where}"))

    def _sla(self, tenant: Tenant, owner: Membership) -> None:
        if SlaPolicy.objects.filter(tenant=tenant).exists():
            return
        policy = sla_policy_create(actor=owner, spec=DEMO_SLA)
        self.stdout.write(
            self.style.SUCCESS(f"SLA policy '{policy.name}' at /t/{tenant.slug}/settings/sla/{policy.pk}/")
        )

    def _label(self, tenant: Tenant, owner: Membership, name: str, color: str) -> Label:
        label = Label.objects.filter(tenant=tenant, name=name).first()
        return label or label_create(membership=owner, name=name, color=color)

    def _rules(self, tenant: Tenant, owner: Membership) -> None:
        """An urgent message is marked urgent; a payment question is labelled for the finance people."""
        if AutomationRule.objects.filter(tenant=tenant).exists():
            return
        urgent = self._label(tenant, owner, *DEMO_URGENT_LABEL)
        payment = self._label(tenant, owner, *DEMO_PAYMENT_LABEL)
        rules = (
            RuleSpec(
                name="Mensagens urgentes",
                event="message_received",
                conditions={"op": "and", "items": [{"type": "keywords", "values": ["urgente", "urgência", "urgent"]}]},
                actions=[
                    {"type": "set_priority", "priority": "urgent"},
                    {"type": "add_label", "label_ids": [urgent.pk]},
                ],
            ),
            RuleSpec(
                name="Pagamentos",
                event="message_received",
                conditions={
                    "op": "or",
                    "items": [
                        {"type": "keywords", "values": ["boleto", "pix", "fatura", "pagamento"]},
                        {"type": "text_contains", "value": "cartão"},
                    ],
                },
                actions=[
                    {"type": "add_label", "label_ids": [payment.pk]},
                    {"type": "add_note", "text": "Assunto de pagamento: confira o pedido antes de responder."},
                ],
            ),
        )
        for spec in rules:
            rule = rule_create(actor=owner, spec=spec)
            self.stdout.write(
                self.style.SUCCESS(f"Automation rule '{rule.name}' at /t/{tenant.slug}/settings/rules/{rule.pk}/")
            )
