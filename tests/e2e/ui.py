"""Steps a person takes in the browser, shared by browser tests."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import Locator, Page, expect

SIGN_IN = re.compile(r"^\s*(sign in|log in|entrar)\s*$", re.IGNORECASE)
VERIFY = re.compile(r"^\s*(sign in|log in|verify|continue|confirm)\s*$", re.IGNORECASE)
_BASE32_SECRET = re.compile(r"\b[A-Z2-7]{32}\b")


def form_with(page: Page, field_name: str) -> Locator:
    """The form that holds the input named ``field_name``."""
    return page.locator("form", has=page.locator(f"[name='{field_name}']"))


def log_in(page: Page, *, email: str, password: str) -> None:
    """Submit the password step of the login page (a second factor, if any, comes next)."""
    page.goto("/accounts/login/")
    form = form_with(page, "password")
    form.locator("input[name='login']").fill(email)
    form.locator("input[name='password']").fill(password)
    form.get_by_role("button", name=SIGN_IN).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def enter_totp_code(page: Page, code: str) -> None:
    """Answer the second-factor step of the login."""
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    form = form_with(page, "code")
    form.locator("input[name='code']").fill(code)
    form.get_by_role("button", name=VERIFY).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/2fa/authenticate/"))


def log_out(page: Page) -> None:
    """Log out through the account menu of the top bar."""
    page.locator("summary", has_text="Account menu").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def confirm_password_if_asked(page: Page, password: str) -> None:
    """allauth asks for the password again before security changes unless it was just confirmed."""
    if "/accounts/reauthenticate/" not in page.url:
        return
    form = form_with(page, "password")
    form.locator("input[name='password']").fill(password)
    form.get_by_role("button", name=re.compile(r"^\s*confirm\s*$", re.IGNORECASE)).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/reauthenticate/"))


def activate_totp(page: Page, *, password: str) -> pyotp.TOTP:
    """Enrol an authenticator app from the secret the page shows; returns the 'app' for later codes."""
    page.goto("/accounts/2fa/totp/activate/")
    confirm_password_if_asked(page, password)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/"))
    secret_field = page.locator("#authenticator_secret")
    if secret_field.count():
        secret = secret_field.input_value()
    else:
        found = _BASE32_SECRET.search(page.locator("main").inner_text())
        assert found, "The activation page shows no TOTP secret."
        secret = found.group(0)
    app = pyotp.TOTP(secret)
    form = form_with(page, "code")
    form.locator("input[name='code']").fill(app.now())
    form.get_by_role("button", name="Activate").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/2fa/totp/activate/"))
    return app


def next_totp_code(app: pyotp.TOTP) -> str:
    """The code of the next 30-s period: never the one just used, and accepted with MFA_TOTP_TOLERANCE = 1."""
    return app.at(time.time() + app.interval)
