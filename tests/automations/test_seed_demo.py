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


def test_the_demo_gets_a_team_auto_assignment_an_sla_and_two_rules_once(clock, django_capture_on_commit_callbacks):
    from automations.models import AssignmentPolicy, AutomationRule, SlaPolicy, TeamSettings
    from conversations.models import Message, Team, TeamMember
    from conversations.services.inbound import InboundSpec, message_receive
    from tenants.models import Membership

    call_command("seed_demo", stdout=StringIO())
    tenant = Tenant.objects.get(slug="demo")
    inbox = make_inbox(tenant, name="WhatsApp")

    call_command("seed_demo_automations", stdout=StringIO())
    call_command("seed_demo_automations", stdout=StringIO())

    team = Team.objects.get(tenant=tenant)
    assert team.name == "Atendimento"
    members = TeamMember.objects.filter(team=team).order_by("user__email")
    assert [(m.user.email, m.is_supervisor) for m in members] == [
        ("ana@demo.example", False),
        ("bruno@demo.example", False),
        ("owner@demo.example", True),
    ]
    assert TeamSettings.objects.get(team=team).calendar == BusinessCalendar.objects.get(tenant=tenant)
    agents = Membership.objects.filter(tenant=tenant, role__key="agent")
    assert sorted(agents.values_list("availability", flat=True)) == ["online", "online"]
    policy = AssignmentPolicy.objects.get(inbox=inbox)
    assert (policy.enabled, policy.method, policy.capacity, policy.team_id, policy.reassign_on_offline) == (
        True,
        "round_robin",
        5,
        team.pk,
        True,
    )
    sla = SlaPolicy.objects.get(tenant=tenant)
    assert (sla.name, sla.first_response_minutes, sla.next_response_minutes, sla.resolution_minutes) == (
        "Padrão",
        30,
        60,
        480,
    )
    assert list(AutomationRule.objects.filter(tenant=tenant).values_list("name", flat=True)) == [
        "Mensagens urgentes",
        "Pagamentos",
    ]

    # A customer's urgent payment question: both rules act on it.
    spec = InboundSpec(
        source_id="5511987650009",
        external_id="wamid.demo-rules-1",
        occurred_at=timezone.now(),
        type="text",
        text="É URGENTE: meu boleto venceu",
        profile_name="Carla",
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = message_receive(inbox=inbox, spec=spec)
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.priority == "urgent"
    assert sorted(conversation.labels.values_list("name", flat=True)) == ["Financeiro", "Urgente"]
    notes = Message.objects.filter(conversation=conversation, private=True, sender_type="bot")
    assert [n.text for n in notes] == ["Assunto de pagamento: confira o pedido antes de responder."]
