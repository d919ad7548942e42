"""Onboarding in a real browser against a real ASGI server: an owner secures the account and invites an agent."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tenants.models import AuditLogEntry, Membership, Tenant, User
from tenants.services import tenant_create

from .conftest import BrowserErrors
from .mailbox import Mailbox
from .ui import activate_totp, enter_totp_code, log_in, log_out, next_totp_code

pytestmark = pytest.mark.e2e

Action = AuditLogEntry.Action
OWNER_EMAIL = "owner@acme.example"
OWNER_PASSWORD = "owner-password-for-e2e"
AGENT_EMAIL = "agent@acme.example"
AGENT_PASSWORD = "Quiet-harbour-lantern-47"


@pytest.fixture
def acme(server_env: dict[str, str]) -> Tenant:
    # server_env brings transactional_db: these rows are committed before the browser asks for them.
    owner = User.objects.create_user(email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Olivia Owner")
    return tenant_create(name="Acme", owner=owner, locale="en")


def test_owner_enrols_totp_and_invites_an_agent_who_joins(
    acme: Tenant,
    page: Page,
    open_page: Callable[[], Page],
    mailbox: Mailbox,
    browser_errors: BrowserErrors,
    live_server_url: str,
) -> None:
    log_in(page, email=OWNER_EMAIL, password=OWNER_PASSWORD)
    expect(page).to_have_url(re.compile(r"/t/acme/$"))

    authenticator = activate_totp(page, password=OWNER_PASSWORD)
    page.goto("/t/acme/")
    log_out(page)

    log_in(page, email=OWNER_EMAIL, password=OWNER_PASSWORD)
    enter_totp_code(page, next_totp_code(authenticator))
    expect(page).to_have_url(re.compile(r"/t/acme/$"))

    page.goto("/t/acme/settings/members/")
    invite = page.locator("form", has=page.get_by_role("button", name="Send invitation"))
    invite.locator("input[name='email']").fill(AGENT_EMAIL)
    invite.locator("select[name='role']").select_option(label="Agent")
    invite.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status").filter(has_text=f"Invitation sent to {AGENT_EMAIL}")).to_be_visible()

    link = mailbox.wait_for(to=AGENT_EMAIL).url_containing("/invitations/")
    assert link.startswith(f"{live_server_url}/invitations/")

    agent_page = open_page()
    agent_page.goto(link)
    agent_page.locator("input[name='name']").fill("Ana Agent")
    agent_page.locator("input[name='password1']").fill(AGENT_PASSWORD)
    agent_page.locator("input[name='password2']").fill(AGENT_PASSWORD)
    agent_page.get_by_role("button", name="Accept invitation").click()
    expect(agent_page).to_have_url(re.compile(r"/t/acme/$"))
    expect(agent_page.locator("main")).to_contain_text("You are in the Acme workspace.")

    membership = Membership.objects.select_related("role").get(tenant=acme, user__email=AGENT_EMAIL)
    assert (membership.role.key, membership.active) == ("agent", True)
    asserted = {
        Action.LOGIN_SUCCEEDED,
        Action.MFA_ENABLED,
        Action.LOGOUT,
        Action.INVITATION_SENT,
        Action.INVITATION_ACCEPTED,
    }
    entries = AuditLogEntry.objects.filter(tenant=acme, action__in=asserted).order_by("id")
    # Enrolling TOTP also creates recovery codes, which allauth reports as a second authenticator.
    trail = [(e.action, e.actor_label) for e in entries if e.extra.get("type") != "recovery_codes"]
    assert trail == [
        (Action.LOGIN_SUCCEEDED, OWNER_EMAIL),
        (Action.MFA_ENABLED, OWNER_EMAIL),
        (Action.LOGOUT, OWNER_EMAIL),
        (Action.LOGIN_SUCCEEDED, OWNER_EMAIL),
        (Action.INVITATION_SENT, OWNER_EMAIL),
        (Action.INVITATION_ACCEPTED, AGENT_EMAIL),
        (Action.LOGIN_SUCCEEDED, AGENT_EMAIL),
    ]
    browser_errors.assert_none()


def test_non_member_gets_the_not_found_page_for_a_workspace(
    acme: Tenant, page: Page, browser_errors: BrowserErrors
) -> None:
    User.objects.create_user(email="outsider@globex.example", password="outsider-password-e2e")
    log_in(page, email="outsider@globex.example", password="outsider-password-e2e")

    response = page.goto("/t/acme/")

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.locator("body")).not_to_contain_text("Acme")
    # The harness sees the failed document load, and nothing else went wrong in the browser.
    assert [e for e in browser_errors.console_errors if "status of 404" in e] == [
        f"{page.url}: Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    assert browser_errors.page_errors == browser_errors.server_errors == []
