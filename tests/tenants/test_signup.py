from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from tenants.models import User
from tests.factories import PASSWORD, make_user
from tests.tenants.helpers import password_login

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a brand new passphrase 77"
CSRF_TOKEN_RE = re.compile(r"\b[A-Za-z0-9]{64}\b")


def signup(client: Client, email: str):
    return client.post("/accounts/signup/", {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})


def page_after(client: Client, response, email: str) -> tuple[int, str]:
    """The page the signup leads to, with the visitor's own address and CSRF token blanked."""
    page = client.get(response["Location"])
    return page.status_code, CSRF_TOKEN_RE.sub("csrf", page.content.decode()).replace(email, "EMAIL")


def test_signup_with_a_registered_email_answers_like_a_new_one_and_creates_nothing(db):
    taken = make_user("taken@example.com")
    users_before = User.objects.count()

    existing_client, fresh_client = Client(), Client()
    existing = signup(existing_client, "Taken@Example.com")
    fresh = signup(fresh_client, "Fresh@Example.com")

    assert (existing.status_code, existing["Location"]) == (302, "/accounts/confirm-email/")
    assert (fresh.status_code, fresh["Location"]) == (302, "/accounts/confirm-email/")
    existing_page = page_after(existing_client, existing, "taken@example.com")
    assert existing_page == page_after(fresh_client, fresh, "fresh@example.com")
    assert existing_page[0] == 200
    assert "Confirmation email sent to EMAIL." in existing_page[1]
    assert "already" not in existing_page[1]
    # Neither visitor is logged in; only the new address got an account.
    assert "_auth_user_id" not in existing_client.session
    assert "_auth_user_id" not in fresh_client.session
    assert User.objects.count() == users_before + 1
    assert not EmailAddress.objects.filter(user=taken).exists()
    assert User.objects.get(email="taken@example.com").check_password(PASSWORD)
    # The owner of the registered address is told, in a mail only they can read.
    assert sorted((m.to[0], "already" in m.body.lower()) for m in mail.outbox) == [
        ("fresh@example.com", False),
        ("taken@example.com", True),
    ]


def test_a_signed_up_account_logs_in_only_after_confirming_its_email(db):
    client = Client()
    signup(client, "fresh@example.com")
    user = User.objects.get(email="fresh@example.com")
    assert EmailAddress.objects.filter(user=user, verified=False).count() == 1

    refused = password_login(client, "fresh@example.com", NEW_PASSWORD)
    assert (refused.status_code, refused["Location"]) == (302, "/accounts/confirm-email/")
    assert "_auth_user_id" not in client.session

    link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[-1].body)
    assert link is not None
    assert client.post(link.group(0)).status_code == 302
    assert EmailAddress.objects.get(user=user).verified is True
    accepted = password_login(client, "fresh@example.com", NEW_PASSWORD)
    assert (accepted.status_code, client.session["_auth_user_id"]) == (302, str(user.pk))


def test_an_account_made_from_an_invitation_logs_in_without_confirming(agent):
    client = Client()
    response = password_login(client, agent.user.email)
    assert response.status_code == 302
    assert response["Location"] != "/accounts/confirm-email/"
    assert client.session["_auth_user_id"] == str(agent.user.pk)
    assert len(mail.outbox) == 0
