"""axe-core scans of the product's main pages in Chromium: no critical and no serious violation.

axe-core is vendored under ``tests/e2e/vendor/axe-core`` (see its README) and added to each page as
an init script, so it runs without network and without touching the product's own scripts or its
Content-Security-Policy. Each page is scanned in the state a person sees it: the inbox with a
conversation open, the composer with its quick-reply pop-up open, the second-factor step of a login.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone
from playwright.sync_api import Page, expect

from conversations.models import Conversation, Label, Message, QuickReply
from tenants.models import Role
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_label, make_message
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import form_with, log_in
from tests.factories import add_member, make_tenant, make_user
from tests.whatsapp.conftest import make_channel
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "Axe-scan-password-42"
SLUG = "acme"
BLOCKING = ("critical", "serious")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Critical and serious violations of the page as it is now (WCAG 2.x A and AA, and best practices)."""
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ") + " :: " + n.failureSummary.replace(/\\s+/g, " "))}));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]


def scan(page: Page, name: str, found: dict[str, list[dict[str, Any]]]) -> None:
    violations = axe_violations(page)
    if violations:
        found[name] = violations


def seed() -> Conversation:
    """Workspace ``acme``: an owner, one WhatsApp number, a labelled conversation with every kind of line."""
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug=SLUG, owner=owner)
    add_member(tenant, BuiltinRole.AGENT, user=make_user("ana@acme.example", name="Ana Agent", password=PASSWORD))
    channel = make_channel(tenant)
    channel.inbox.members.add(owner)
    conversation = make_conversation(channel.inbox, name="Carla Dias", last_inbound_at=timezone.now())
    make_message(conversation, "Meu pedido atrasou")
    make_message(conversation, "Já vamos verificar", direction=Message.Direction.OUTBOUND)
    make_message(conversation, "Cliente VIP", direction=Message.Direction.OUTBOUND, private=True)
    Message.objects.create(
        tenant=tenant,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.SYSTEM,
        type=Message.Type.SYSTEM,
        text="Olivia Owner took the conversation",
        private=True,
        status=Message.Status.SENT,
    )
    conversation.labels.add(make_label(tenant, "Urgente"), through_defaults={"tenant": tenant})
    other = make_conversation(channel.inbox, name="Davi Souza")
    make_message(other, "Olá")
    QuickReply.objects.create(tenant=tenant, shortcut="ola", text="Olá, como posso ajudar?")
    WebhookEvent.objects.create(
        tenant=tenant, channel=channel, body=b"{}", body_sha256="0" * 64, status=WebhookEvent.Status.FAILED
    )
    return conversation


def failed_event_delivery(tenant) -> None:
    """A subscriber's delivery that kept failing, for the admins' list."""
    from conversations.models import EventDelivery, OutboxEvent

    event = OutboxEvent.objects.create(
        id=uuid.uuid4(), tenant=tenant, event_type="message.received", payload={}, occurred_at=timezone.now()
    )
    EventDelivery.objects.create(
        tenant=tenant, event=event, subscriber="greetings.greet", state="failed", attempts=6, last_error="Boom"
    )


def business_hours(tenant):
    """A calendar with a lunch break, a Friday night shift, São Paulo's holidays and a half-day."""
    from datetime import date, time

    from automations.services import CalendarSpec, DateSpec, WeeklySpec, calendar_create
    from tests.factories import owner_of

    weekly = (WeeklySpec(0, time(9), time(12)), WeeklySpec(0, time(13), time(18)), WeeklySpec(4, time(22), time(6)))
    spec = CalendarSpec(
        name="Atendimento",
        time_zone="America/Sao_Paulo",
        weekly=weekly,
        holiday_country="BR",
        holiday_subdivision="SP",
        dates=(DateSpec(date(2026, 12, 24), "Véspera de Natal", ((time(9), time(13)),)),),
    )
    return calendar_create(actor=owner_of(tenant), spec=spec)


def test_main_pages_have_no_critical_or_serious_accessibility_violations(
    page: Page, browser_errors: BrowserErrors
) -> None:
    conversation = seed()
    page.context.add_init_script(path=str(AXE))
    found: dict[str, list[dict[str, Any]]] = {}

    page.goto("/accounts/login/")
    scan(page, "login", found)
    log_in(page, email="owner@acme.example", password=PASSWORD)
    base = f"/t/{SLUG}"
    channel_id = conversation.inbox.whatsapp_channel.pk
    label = Label.objects.get(name="Urgente")
    quick_reply = QuickReply.objects.get(shortcut="ola")
    event = WebhookEvent.objects.get()
    agent_role = Role.objects.get(tenant=label.tenant, key=BuiltinRole.AGENT)
    failed_event_delivery(label.tenant)
    calendar = business_hours(label.tenant)
    for name, path in [
        ("dashboard", f"{base}/"),
        ("members", f"{base}/settings/members/"),
        ("roles", f"{base}/settings/roles/"),
        ("new role", f"{base}/settings/roles/new/"),
        ("role", f"{base}/settings/roles/{agent_role.pk}/"),
        ("label", f"{base}/settings/labels/{label.pk}/"),
        ("quick reply", f"{base}/settings/quick-replies/{quick_reply.pk}/"),
        ("webhook event", f"{base}/settings/webhook-events/{event.pk}/"),
        ("security", f"{base}/settings/security/"),
        ("labels", f"{base}/settings/labels/"),
        ("quick replies", f"{base}/settings/quick-replies/"),
        ("availability", f"{base}/settings/availability/"),
        ("channels", f"{base}/settings/whatsapp/"),
        ("new channel", f"{base}/settings/whatsapp/new/"),
        ("channel", f"{base}/settings/whatsapp/{channel_id}/"),
        ("webhook events", f"{base}/settings/webhook-events/"),
        ("API tokens", f"{base}/settings/api-tokens/"),
        ("audit log", f"{base}/settings/audit-log/"),
        ("event deliveries", f"{base}/settings/event-deliveries/"),
        ("business hours", f"{base}/settings/business-hours/"),
        ("new business hours", f"{base}/settings/business-hours/new/"),
        ("business hours calendar", f"{base}/settings/business-hours/{calendar.pk}/"),
        ("greeting and away", f"{base}/settings/greeting-away/"),
        ("greeting and away of an inbox", f"{base}/settings/greeting-away/{conversation.inbox_id}/"),
        ("message templates", f"{base}/settings/whatsapp/{channel_id}/templates/"),
        ("new message template", f"{base}/settings/whatsapp/{channel_id}/templates/new/"),
        ("consent settings", f"{base}/settings/consent/"),
        ("contact consent", f"{base}/contacts/{conversation.contact_id}/consent/"),
        ("import contacts", f"{base}/campaigns/contacts/import/"),
        ("segments", f"{base}/campaigns/segments/"),
        ("new segment", f"{base}/campaigns/segments/new/"),
        ("broadcasts", f"{base}/campaigns/broadcasts/"),
        ("new broadcast", f"{base}/campaigns/broadcasts/new/"),
        ("message prices", f"{base}/settings/campaigns/prices/"),
        ("schedule a message", f"{base}/inbox/c/{conversation.display_id}/scheduled/new/"),
        ("workspaces", "/workspaces/"),
        ("account security", "/accounts/2fa/"),
    ]:
        page.goto(path)
        expect(page.locator("main h1").first).to_be_visible()
        scan(page, name, found)

    page.goto(f"{base}/inbox/c/{conversation.display_id}/")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached()
    expect(page.locator("[data-messages] .msg-system")).to_have_count(1)
    scan(page, "inbox with a conversation open", found)
    expect(page.locator("[data-history]")).to_have_attribute("role", "log")
    expect(page.locator("[data-messages] .msg-out .ticks")).to_have_attribute("role", "img")
    expect(page.locator(".composer-mode")).to_have_attribute("role", "group")
    expect(page.locator(".composer-mode [data-mode=reply]")).to_have_attribute("aria-pressed", "true")
    text_box = page.locator("[data-text]")
    text_box.click()
    # The focus ring is the accent colour (5.2:1 on white), not its pale tint (1.4:1).
    assert text_box.evaluate("el => getComputedStyle(el).outlineColor") == "rgb(15, 123, 108)"
    text_box.press_sequentially("/ol")
    expect(page.locator("[data-popup] [role=option]")).to_have_count(1)
    scan(page, "composer with the quick-reply pop-up", found)
    option = page.locator("[data-popup] [role=option]")
    expect(text_box).to_have_attribute("aria-expanded", "true")
    expect(text_box).to_have_attribute("aria-activedescendant", option.get_attribute("id") or "?")
    expect(option).to_have_attribute("aria-selected", "true")
    text_box.press("Escape")
    expect(page.locator("[data-popup]")).to_be_hidden()
    expect(text_box).to_have_attribute("aria-expanded", "false")
    expect(text_box).not_to_have_attribute("aria-activedescendant", re.compile(".*"))
    text_box.fill("")
    page.locator("[data-composer] [data-mode=note]").click()
    scan(page, "composer writing a note", found)
    page.locator("[data-pane-head] [data-contact-toggle]").click()
    scan(page, "contact panel", found)
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    expect(page.locator("dialog[data-shortcuts]")).to_be_visible()
    scan(page, "shortcuts dialog", found)
    page.keyboard.press("Escape")  # the browser's own Esc: the inbox's shortcut keys leave it alone
    expect(page.locator("dialog[data-shortcuts]")).to_be_hidden()

    assert found == {}, "\n".join(
        f"{page_name}: [{v['impact']}] {v['id']} ({v['help']}): {v['nodes'][:4]}"
        for page_name, violations in found.items()
        for v in violations
    )
    browser_errors.assert_none()


def test_second_factor_step_has_no_violations_offers_recovery_codes_and_no_security_key_without_one(
    page: Page, browser_errors: BrowserErrors
) -> None:
    user = make_user("ana@acme.example", name="Ana Agent", password=PASSWORD)
    TOTP.activate(user, generate_totp_secret())
    page.context.add_init_script(path=str(AXE))
    log_in(page, email=user.email, password=PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    expect(form_with(page, "code").locator("input[name='code']")).to_be_visible()
    assert axe_violations(page) == []
    expect(page.get_by_text("you can enter one of your recovery codes", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Use a security key")).to_have_count(0)
    browser_errors.assert_none()
