"""Layout details that only a browser can measure: widths, gaps, truncation and colours.

Only the ASGI server runs; the data is made here in the test database.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Role
from tenants.permissions import BuiltinRole
from tenants.services import invitation_create
from tests.conversations.factories import make_conversation, make_message
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of
from tests.whatsapp.conftest import make_channel
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.e2e

PASSWORD = "Layout-password-42"
SLUG = "acme"


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_members_page_fits_a_phone(page: Page, browser_errors: BrowserErrors) -> None:
    tenant = make_tenant("Acme", slug=SLUG, owner=make_user("owner@acme.example", password=PASSWORD))
    add_member(tenant, BuiltinRole.AGENT, user=make_user("ana.beatriz.carvalho@atendimento.example", name="Ana"))
    add_member(tenant, BuiltinRole.SUPERVISOR, user=make_user("sam@acme.example", name="Sam"))
    invitation_create(
        actor=owner_of(tenant),
        email="convidado.com.nome.longo@empresa.example",
        role=Role.objects.get(tenant=tenant, key=BuiltinRole.AGENT),
    )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto(f"/t/{SLUG}/settings/members/")
    expect(page.get_by_role("heading", name="Members", level=1)).to_be_visible()
    assert page_width(page) == 390
    # The table scrolls inside its card; the card itself stays within the screen.
    card = page.locator("section[aria-labelledby=members-heading]").bounding_box()
    assert card is not None and card["x"] >= 0 and card["x"] + card["width"] <= 390, card
    browser_errors.assert_none()


def test_inbox_list_head_spacing_and_filters_at_1280_px(page: Page, browser_errors: BrowserErrors) -> None:
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug=SLUG, owner=owner)
    channel = make_channel(tenant)
    make_message(make_conversation(channel.inbox, name="Carla Dias"), "Olá")
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, email=owner.email, password=PASSWORD)
    page.goto(f"/t/{SLUG}/inbox/")
    live = page.locator("[data-live-state][data-state=live]")
    expect(live).to_be_visible()
    heading = page.locator("#inbox-list-heading").bounding_box()
    state = live.bounding_box()
    assert heading is not None and state is not None
    # "Conversations" and "● Live" do not touch.
    assert state["x"] - (heading["x"] + heading["width"]) >= 6, (heading, state)
    # Every filter is wide enough for the option it shows (no "All inboxe").
    for name in ("status", "sort", "inbox", "label", "assignee"):
        select = page.locator(f"[data-filters] select[name={name}]")
        room, text = select.evaluate(
            """el => {
                const style = getComputedStyle(el);
                const canvas = document.createElement("canvas").getContext("2d");
                canvas.font = style.font;
                const text = canvas.measureText(el.options[el.selectedIndex].text).width;
                const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
                return [room, text];
            }"""
        )
        assert room >= text, (name, room, text)
    browser_errors.assert_none()


def test_webhook_failure_banner_uses_the_error_style(page: Page, browser_errors: BrowserErrors) -> None:
    tenant = make_tenant("Acme", slug=SLUG, owner=make_user("owner@acme.example", password=PASSWORD))
    channel = make_channel(tenant)
    WebhookEvent.objects.create(
        tenant=tenant, channel=channel, body=b"{}", body_sha256="0" * 64, status=WebhookEvent.Status.FAILED
    )
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto(f"/t/{SLUG}/settings/whatsapp/")
    banner = page.get_by_role("alert").filter(has_text="1 webhook event could not be processed.")
    expect(banner).to_be_visible()
    # The error colours of the design tokens (--danger-soft, --danger-line), not the accent's.
    expect(banner).to_have_css("background-color", "rgb(253, 236, 234)")
    expect(banner).to_have_css("border-top-color", "rgb(243, 197, 192)")
    browser_errors.assert_none()
