"""Logging in and enrolling MFA through the real allauth pages."""

from __future__ import annotations

import re

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.test import Client

from tests.factories import PASSWORD


def totp_now(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def password_login(client: Client, email: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def enrol_totp(client: Client, password: str = PASSWORD) -> str:
    """Activate TOTP for the logged-in client; returns the secret shown on the page."""
    page = client.get("/accounts/2fa/totp/activate/")
    if page.status_code == 302 and page["Location"].startswith("/accounts/reauthenticate/"):
        # Adding an authenticator asks for the password again first.
        confirmed = client.post(page["Location"], {"password": password})
        assert confirmed.status_code == 302, confirmed.status_code
        page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page.status_code
    secret = page.context["form"].secret
    assert secret in page.content.decode()
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret)})
    assert done.status_code == 302, done.content.decode()[:2000]
    return secret


def recovery_codes(user) -> list[str]:
    auth = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return auth.wrap().get_unused_codes()


def mfa_stage_url(response) -> str:
    assert response.status_code == 302, response.status_code
    return response["Location"]


CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
