"""Automations as a customer and a team meet them, in Chromium, on a Portuguese workspace.

A customer writes at night through the fake Cloud API and gets the away message in Portuguese with the
next opening time. Hours start; an agent of the support team sets herself online and the conversation,
waiting in her team's queue, is assigned to her live, in her open inbox. She resolves it; the customer gets
the satisfaction survey as an interactive list, taps a rating, and the rating shows on the CSAT page.

Real processes on the test database, as in ``test_languages``: the ASGI server, a Celery worker and the
fake WhatsApp Cloud API (the customer writes through it; our sends reach it). Needs PostgreSQL and Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from conversations.models import Conversation, Message
from tenants.models import Membership, Tenant, User
from tenants.permissions import BuiltinRole
from tests.e2e.conftest import BrowserErrors, redis_processes_env, start_fake_web_worker
from tests.e2e.harness import ServerProcess
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.e2e

SLUG = "boreal"
PASSWORD = "Automacoes-senha-forte-42"
TIMEOUT_MS = 20_000  # two shared cores: generous, never a sleep
PNID, WABA, TOKEN, SECRET = "106540352244077", "102290129344077", "story-token", "story-secret"
REDIS_DB = "8"  # its own Redis database: broker and channel layer of these processes only
ZONE = ZoneInfo("America/Sao_Paulo")
CUSTOMER = "5511987657701"
AWAY = {"pt-br": "Estamos fechados agora. Voltamos {{next_open}}.", "en": "We are closed. Back {{next_open}}."}


@dataclass
class Stack:
    web_url: str
    fake: FakeAdminClient
    tenant: Tenant
    channel: WhatsAppChannel
    owner: Membership
    agent: User
    calendar_id: int


@pytest.fixture
def live_env(server_env: dict[str, str]) -> dict[str, str]:
    return redis_processes_env(server_env, redis_db=REDIS_DB, needs="The automations browser test")


def _tomorrow_weekday() -> int:
    return (timezone.now().astimezone(ZONE).date() + timedelta(days=1)).weekday()


@pytest.fixture
def stack(live_env: dict[str, str], start_process: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Stack]:
    """Workspace ``boreal`` in Portuguese: one number on the fake; business hours that open only tomorrow at
    09:00 (no holidays); the away message; the team "Suporte" (Ana, offline for now) whose queue the inbox's
    new conversations join, assigned round-robin; the satisfaction survey as a list."""
    from automations.assignment_settings import PolicySpec, policy_update, team_calendar_set
    from automations.csat import CsatSpec, csat_update
    from automations.greeting_services import GreetingSpec, greeting_settings_update
    from automations.services import CalendarSpec, WeeklySpec, calendar_create
    from conversations.selectors import audience_cache_clear
    from conversations.services.teams import TeamMemberSpec, TeamSpec, team_create
    from whatsapp.services import channel_create

    audience_cache_clear()
    owner_user = make_user("beatriz@boreal.example", name="Beatriz Almeida", password=PASSWORD, language="pt-br")
    with translation.override("pt-br"):
        tenant = make_tenant("Loja Boreal", slug=SLUG, owner=owner_user, locale="pt-br")
        owner = owner_of(tenant)
        channel = channel_create(
            actor=owner,
            name="Suporte",
            display_phone_number="+55 11 90000-7701",
            phone_number_id=PNID,
            waba_id=WABA,
            access_token=TOKEN,
            app_secret=SECRET,
            verify=False,
        )
        agent = make_user("ana@boreal.example", name="Ana Souza", password=PASSWORD, language="pt-br")
        add_member(tenant, BuiltinRole.AGENT, user=agent)
        channel.inbox.members.add(agent)
        calendar = calendar_create(
            actor=owner,
            spec=CalendarSpec(
                name="Horário comercial",
                time_zone="America/Sao_Paulo",
                weekly=(WeeklySpec(_tomorrow_weekday(), clock_time(9), clock_time(18)),),
                holidays_enabled=False,
                inbox_ids=(channel.inbox_id,),
            ),
        )
        greeting_settings_update(
            actor=owner, inbox=channel.inbox, spec=GreetingSpec(away_enabled=True, away_texts=AWAY)
        )
        team = team_create(
            actor=owner,
            spec=TeamSpec(
                name="Suporte",
                members=(TeamMemberSpec(agent.pk), TeamMemberSpec(owner.user_id, is_supervisor=True)),
            ),
        )
        team_calendar_set(actor=owner, team=team, calendar_id=calendar.pk)
        policy_update(actor=owner, inbox=channel.inbox, spec=PolicySpec(enabled=True, capacity=3, team_id=team.pk))
        csat_update(actor=owner, inbox=channel.inbox, spec=CsatSpec(enabled=True))
    fake_url, web_url = start_fake_web_worker(start_process, live_env, tmp_path, worker_name="automations-worker")
    fake = FakeAdminClient(fake_url)
    fake.settings(sent_delay_s=0.05, delivered_delay_s=0.1)
    fake.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900007701",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Loja Boreal",
    )
    yield Stack(web_url, fake, tenant, channel, owner, agent, calendar.pk)
    fake.close()


@pytest.fixture
def live_server_url(stack: Stack) -> str:
    """Pages open on this module's server (the one wired to Redis, the worker and the fake)."""
    return stack.web_url


def sent(stack: Stack, kind: str) -> list[dict]:
    return [m for m in stack.fake.messages(direction="out", to=CUSTOMER) if m["type"] == kind]


def open_hours_now(stack: Stack) -> None:
    """The business opens: the calendar is open all day from now on."""
    from automations.selectors import calendar_get
    from automations.services import calendar_spec, calendar_update

    calendar = calendar_get(tenant=stack.tenant, calendar_id=stack.calendar_id)
    spec = replace(calendar_spec(calendar), mode="open")
    calendar_update(actor=stack.owner, calendar=calendar, spec=spec)


def test_away_at_night_assignment_when_hours_start_and_a_rating_inside_whatsapp(
    stack: Stack, open_page: Callable[..., Page], browser_errors: BrowserErrors
) -> None:
    # Night: the customer writes, and gets the away message naming tomorrow's opening, in Portuguese.
    stack.fake.inbound(phone_number_id=PNID, **{"from": CUSTOMER}, name="Carla Dias", type="text", text="Oi, boa noite")
    wait_for(lambda: bool(sent(stack, "text")), timeout=TIMEOUT_MS / 1000, message="the away message sent")
    assert [m["payload"]["text"]["body"] for m in sent(stack, "text")] == [
        "Estamos fechados agora. Voltamos amanhã às 09:00."
    ]
    conversation = Conversation.objects.get(tenant=stack.tenant)
    assert (conversation.assignee_id, conversation.team and conversation.team.name) == (None, "Suporte")

    # Morning: hours start. Ana has her inbox open and sets herself online; the conversation waiting in her
    # team's queue is hers, live.
    open_hours_now(stack)
    page = open_page(locale="pt-BR")
    page.goto("/accounts/login/")
    log_in(page, email=stack.agent.email, password=PASSWORD)
    page.goto(f"/t/{SLUG}/inbox/")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    row = page.locator(f"li.row#c-{conversation.pk}")
    expect(row).to_be_visible(timeout=TIMEOUT_MS)  # her team's queue: she sees it, unassigned
    settings_page = page.context.new_page()
    browser_errors.watch(settings_page)
    settings_page.goto(f"/t/{SLUG}/settings/availability/")
    settings_page.get_by_label("Online", exact=True).check()
    settings_page.get_by_role("button", name="Salvar disponibilidade").click()
    wait_for(
        lambda: Conversation.objects.get(pk=conversation.pk).assignee_id == stack.agent.pk,
        timeout=TIMEOUT_MS / 1000,
        message="the conversation assigned to Ana",
    )
    page.bring_to_front()
    expect(row.locator(".row-assignee")).to_have_text("Ana Souza", timeout=TIMEOUT_MS)

    # She resolves it: the customer gets the survey, a list of five ratings in Portuguese.
    row.locator("a.row-link").click()
    pane = page.locator(f"[data-pane] .pane[data-conversation='{conversation.display_id}']")
    expect(pane).to_be_visible(timeout=TIMEOUT_MS)
    pane.locator("button[data-status='resolved']").first.click()
    wait_for(lambda: bool(sent(stack, "interactive")), timeout=TIMEOUT_MS / 1000, message="the survey sent")
    survey = sent(stack, "interactive")[0]["payload"]["interactive"]
    assert survey["type"] == "list"
    rows = survey["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == [
        "5 \u2013 Excelente",
        "4 \u2013 Bom",
        "3 \u2013 Regular",
        "2 \u2013 Ruim",
        "1 \u2013 Péssimo",
    ]

    # The customer taps the top rating: it is stored once, and the conversation stays resolved.
    stack.fake.inbound(
        phone_number_id=PNID,
        **{"from": CUSTOMER},
        name="Carla Dias",
        list_reply={"id": rows[0]["id"], "title": rows[0]["title"]},
    )
    from automations.models import CsatResponse

    wait_for(lambda: CsatResponse.objects.exists(), timeout=TIMEOUT_MS / 1000, message="the rating stored")
    response = CsatResponse.objects.get()
    assert (response.rating, response.conversation_id, response.assignee_id) == (5, conversation.pk, stack.agent.pk)
    assert Conversation.objects.get(pk=conversation.pk).status == "resolved"
    assert Conversation.objects.filter(tenant=stack.tenant).count() == 1

    # The owner reads it on the CSAT page.
    owner_page = open_page(locale="pt-BR")
    owner_page.goto("/accounts/login/")
    log_in(owner_page, email="beatriz@boreal.example", password=PASSWORD)
    owner_page.goto(f"/t/{SLUG}/csat/")
    answer = owner_page.locator(f"tr[data-response='{response.pk}']")
    expect(answer.locator("td").nth(1)).to_have_text("5", timeout=TIMEOUT_MS)
    expect(answer).to_contain_text(f"#{conversation.display_id}")
    expect(answer).to_contain_text("ana@boreal.example")
    expect(answer).to_contain_text("Suporte")
    assert Message.objects.filter(conversation=conversation, direction="in").count() == 2
    browser_errors.assert_none()
