"""Layout details that only a browser can measure: widths, gaps, truncation and colours.

Only the ASGI server runs; the data is made here in the test database.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Role
from tenants.permissions import BuiltinRole
from tenants.services import invitation_create
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of

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
