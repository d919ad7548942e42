"""The flow editor in Chromium: an admin installs the ready-made transit recharge flow, rewrites the amount
question while its preview follows (htmx, under the product's CSP), saves the draft, publishes it as version 2
and sees it listed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from flows.models import Flow
from tests.conversations.factories import make_inbox
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.e2e

PASSWORD = "Flow-editor-password-42"
# A draft's fields may all be left empty for now: each is labelled "(optional)".
QUESTION = re.compile(r"^Question\b")
NEW_TEXT = "Quanto quer pôr no cartão de {{card.holder_name}}? <b>De R$ 5 a R$ 200</b>"


def test_an_admin_edits_the_ready_made_flow_and_publishes_version_2(page: Page, browser_errors: BrowserErrors) -> None:
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    make_inbox(tenant, name="Recargas")

    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto("/t/acme/")
    page.get_by_role("link", name="Bot flows").click()
    install = page.locator("form", has=page.get_by_role("heading", name="Install ready-made"))
    install.get_by_label("Ready-made flow").select_option(label="Transit card recharge")
    install.get_by_label("Inbox").select_option(label="Recargas")
    install.get_by_role("button", name="Install").click()
    expect(page.get_by_text("Bot flow “Transit card recharge” installed and published.")).to_be_visible()

    card = page.locator("#step-ask_amount")
    preview = card.locator("[data-preview]")
    expect(preview).to_contain_text("Card of Maria Souza, balance R$12.50.")
    question = card.get_by_label(QUESTION)
    question.fill("")
    question.press_sequentially(NEW_TEXT)
    # The preview follows the typing, variables filled in and the markup shown as text.
    expect(preview.locator(".flow-bubble-text").first).to_have_text(
        "Quanto quer pôr no cartão de Maria Souza? <b>De R$ 5 a R$ 200</b>"
    )
    expect(preview.locator("b")).to_have_count(0)

    page.get_by_role("button", name="Save draft").first.click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    expect(page.locator("#step-ask_amount").get_by_label(QUESTION)).to_have_value(NEW_TEXT)

    page.get_by_role("button", name="Publish").first.click()
    expect(page.get_by_text("Version 2 published.")).to_be_visible()
    versions = page.locator("tr[data-version]")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("Version 2")
    expect(versions.first).to_contain_text("Olivia Owner")
    expect(versions.first).to_contain_text("In use")
    expect(versions.nth(1)).to_contain_text("Retired")

    flow = Flow.objects.select_related("published").get(tenant=tenant)
    assert flow.published.number == 2
    steps = {step["id"]: step for step in flow.published.definition["steps"]}
    assert steps["ask_amount"]["text"] == NEW_TEXT
    browser_errors.assert_none()
