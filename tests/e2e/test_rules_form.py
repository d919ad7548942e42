"""The automation rule form in Chromium: the rows of conditions and actions are built by static/js/rules.js
under the product's CSP, and what a person picks is what the rule saves."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from automations.models import AutomationRule
from tests.conversations.factories import make_label
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.e2e

PASSWORD = "Rules-form-password-42"


def test_a_rule_is_built_from_rows_of_selects_and_saved(page: Page, browser_errors: BrowserErrors) -> None:
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    make_label(tenant, "Financeiro")
    vip = make_label(tenant, "VIP")

    page.goto("/accounts/login/")
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto("/t/acme/settings/rules/new/")
    page.get_by_label("Name").fill("Boletos")

    conditions = page.locator("[data-rule-conditions]")
    conditions.get_by_role("button", name="Add a condition").click()
    conditions.get_by_placeholder("Value").fill("segunda via")
    conditions.get_by_role("button", name="Add a group").click()
    group = conditions.locator(".rule-group .rule-group")
    group.get_by_role("combobox").first.select_option("or")
    group.get_by_role("button", name="Add a condition").click()
    group.locator(".rule-row").nth(1).get_by_role("combobox").first.select_option("first_message")

    actions = page.locator("[data-rule-actions]")
    actions.get_by_role("button", name="Add an action").click()
    actions.locator(".rule-row").first.locator("select[multiple]").select_option(str(vip.pk))
    actions.get_by_role("button", name="Add an action").click()
    actions.locator(".rule-row").nth(1).get_by_role("combobox").first.select_option("resolve")
    actions.locator(".rule-row").nth(1).get_by_role("button", name="Move up").click()

    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("Rule “Boletos” saved.")).to_be_visible()

    rule = AutomationRule.objects.get(tenant=tenant)
    assert (rule.name, rule.event) == ("Boletos", "message_received")
    assert rule.conditions == {
        "op": "and",
        "items": [
            {"type": "text_contains", "value": "segunda via"},
            {"op": "or", "items": [{"type": "first_message", "value": True}]},
        ],
    }
    assert rule.actions == [{"type": "resolve"}, {"type": "add_label", "label_ids": [vip.pk]}]

    # The saved rule reads back into the same rows.
    page.goto(f"/t/acme/settings/rules/{rule.pk}/")
    expect(page.locator("[data-rule-conditions] input").first).to_have_value("segunda via")
    expect(page.locator("[data-rule-actions] .rule-row")).to_have_count(3)
    browser_errors.assert_none()
