"""The product's pages work in Chromium under their Content-Security-Policy, with no outside host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from conversations.models import ConversationLabel
from conversations.services.library import label_create
from tenants.models import Membership, Tenant, User
from tenants.services import tenant_create
from tests.conversations.factories import make_conversation, make_inbox, make_message

from .conftest import CSP_VIOLATION, BrowserErrors
from .ui import log_in

pytestmark = pytest.mark.e2e
EMAIL = "owner@acme.example"
PASSWORD = "owner-password-for-e2e"
LABEL_COLOUR = "rgb(214, 40, 40)"  # #d62828


@pytest.fixture
def offline(page: Page, live_server_url: str) -> Iterator[list[str]]:
    """Refuse every request that leaves the server under test, as a machine without internet would."""
    own = urlsplit(live_server_url).netloc
    refused: list[str] = []

    def only_own(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_own)
    yield refused


@pytest.fixture
def acme(server_env: dict[str, str]) -> Tenant:
    owner = User.objects.create_user(email=EMAIL, password=PASSWORD, name="Olivia Owner")
    tenant = tenant_create(name="Acme", owner=owner, slug="acme", locale="en")
    actor = Membership.objects.get(tenant=tenant, user=owner)
    label = label_create(membership=actor, name="VIP", color="#d62828")
    conversation = make_conversation(make_inbox(tenant, members=[actor]), name="Maria Silva")
    make_message(conversation, "Olá, preciso de ajuda")
    ConversationLabel.objects.create(tenant=tenant, conversation=conversation, label=label)
    conversation.contact.labels.add(label, through_defaults={"tenant": tenant})
    return tenant


def test_the_api_docs_render_from_our_own_files_without_internet(
    page: Page, offline: list[str], browser_errors: BrowserErrors
) -> None:
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Helpdesk API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 10
    assert offline == []
    browser_errors.assert_none()


def test_signed_in_pages_work_under_the_policy_and_label_colours_still_show(
    acme: Tenant, page: Page, offline: list[str], browser_errors: BrowserErrors
) -> None:
    log_in(page, email=EMAIL, password=PASSWORD)
    for path in ["/t/acme/", "/t/acme/settings/members/", "/t/acme/settings/audit-log/", "/t/acme/settings/labels/"]:
        page.goto(path)
        expect(page.locator("main h1").first).to_be_visible()
    expect(page.locator(".swatch").first).to_have_css("background-color", LABEL_COLOUR)

    page.goto("/t/acme/inbox/")
    row = page.locator("li.row", has_text="Maria Silva")
    expect(row).to_be_visible()
    row_chip = row.locator(".chip", has_text="VIP")
    expect(row_chip).to_be_visible()
    assert row_chip.evaluate("el => getComputedStyle(el).getPropertyValue('--chip').trim()") == "#d62828"
    row.locator("a.row-link").click()
    expect(page).to_have_url(re.compile(r"/t/acme/inbox/c/\d+/"))
    expect(page.get_by_text("Olá, preciso de ajuda")).to_be_visible()
    for chip in page.locator("[data-chip-color]").all():
        expect(chip).to_be_visible()
        assert chip.evaluate("el => el.style.getPropertyValue('--chip')") == "#d62828"
    assert page.locator("[data-chip-color]").count() >= 3  # list row, conversation header, contact panel
    assert offline == []
    browser_errors.assert_none()


def test_a_csp_violation_fails_the_browser_check(acme: Tenant, page: Page, browser_errors: BrowserErrors) -> None:
    log_in(page, email=EMAIL, password=PASSWORD)
    with page.expect_console_message(lambda m: m.text.startswith(CSP_VIOLATION)):
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">planted</p>')")
    with page.expect_console_message(lambda m: m.text.startswith(CSP_VIOLATION)):
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/static/none.png\" onerror=\"x()\">')")
    with pytest.raises(AssertionError, match="CSP violations"):
        browser_errors.assert_none()
    reported = [re.search(r"violation: (\S+) blocked", v) for v in browser_errors.csp_violations]
    assert [m.group(1) for m in reported if m] == ["style-src-attr", "script-src-attr"]
    browser_errors.csp_violations.clear()  # planted on purpose; the fixture would fail the test otherwise
