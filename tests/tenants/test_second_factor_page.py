"""The second-factor step of the login: what it offers a user with and without a security key."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client

from tenants.templatetags.security_keys import has_security_key
from tests.factories import make_user
from tests.tenants.helpers import password_login

pytestmark = pytest.mark.django_db


def test_second_factor_step_without_a_security_key_offers_none_and_mentions_recovery_codes():
    user = make_user("ana@acme.example")
    TOTP.activate(user, generate_totp_secret())
    client = Client()
    assert password_login(client, user.email)["Location"] == "/accounts/2fa/authenticate/"
    page = client.get("/accounts/2fa/authenticate/").content.decode()
    assert "Use a security key" not in page
    assert 'id="webauthn_form"' not in page
    assert "you can enter one of your recovery codes" in page
    assert page.count('form="logout-from-stage"') == 1  # one way to cancel


def test_has_security_key_is_true_only_for_a_user_with_a_webauthn_authenticator():
    with_key, with_totp_only = make_user("key@acme.example"), make_user("totp@acme.example")
    TOTP.activate(with_totp_only, generate_totp_secret())
    Authenticator.objects.create(user=with_key, type=Authenticator.Type.WEBAUTHN, data={})
    assert has_security_key(with_key) is True
    assert has_security_key(with_totp_only) is False
    assert has_security_key(None) is False
