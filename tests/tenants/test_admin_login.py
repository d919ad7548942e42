"""Django's admin is reached only through the product's login: throttled, with the second factor."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import AuditLogEntry, User
from tests.factories import PASSWORD, make_user
from tests.tenants.helpers import enrol_totp, password_login, totp_now

# allauth reports MFA events after commit, so these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)
ADMIN = "/django-admin/"
ADMIN_LOGIN = "/django-admin/login/?next=/django-admin/"
THROTTLED = "Too many failed login attempts. Try again later."


def make_staff(email: str = "staff@example.com") -> User:
    user = make_user(email)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


def staff_with_totp() -> tuple[User, str]:
    user = make_staff()
    client = Client()
    password_login(client, user.email)
    secret = enrol_totp(client)
    return user, secret


def admin_login(client: Client, email: str, password: str = PASSWORD):
    """What Django's own admin login form posts."""
    return client.post(ADMIN_LOGIN, {"username": email, "login": email, "password": password})


def admin_entries() -> list[tuple[int | None, dict]]:
    entries = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGIN_SUCCEEDED, extra__area="admin")
    return list(entries.values_list("actor_id", "extra"))


def test_the_admin_sends_a_visitor_to_the_product_login_with_the_way_back():
    anonymous = Client()
    assert anonymous.get(ADMIN)["Location"] == ADMIN_LOGIN
    page = anonymous.get(ADMIN_LOGIN)
    assert page.status_code == 200
    assert page.templates[0].name == "account/login.html"
    assert 'name="next" value="/django-admin/"' in page.content.decode()
    # A way back that leaves the site is replaced by the admin's own index.
    assert anonymous.get("/django-admin/login/?next=https://evil.example/")["Location"] == ADMIN_LOGIN


def test_a_staff_password_alone_does_not_open_the_admin_when_totp_is_enabled():
    user, secret = staff_with_totp()
    client = Client()

    response = admin_login(client, user.email)
    assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session
    index = client.get(ADMIN)
    assert (index.status_code, index["Location"]) == (302, ADMIN_LOGIN)
    assert client.get("/django-admin/tenants/membership/").status_code == 302
    assert admin_entries() == []

    assert client.post("/accounts/2fa/authenticate/", {"code": totp_now(secret)})["Location"] == ADMIN
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(ADMIN).status_code == 200
    assert client.get("/django-admin/tenants/membership/").status_code == 200
    assert admin_entries() == [(user.pk, {"area": "admin"})]  # once per session, not per page

    assert client.post("/django-admin/logout/").status_code == 302
    assert "_auth_user_id" not in client.session
    logouts = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGOUT, actor=user)
    assert logouts.count() == 1


def test_staff_without_a_second_factor_are_sent_to_set_one_up_not_let_in():
    user = make_staff()
    client = Client()
    assert admin_login(client, user.email)["Location"] == ADMIN
    assert client.session["_auth_user_id"] == str(user.pk)

    index = client.get(ADMIN)
    assert (index.status_code, index["Location"]) == (302, ADMIN_LOGIN)
    refused = client.get(ADMIN_LOGIN)
    assert refused.status_code == 403
    assert "The Django admin requires two-factor authentication." in refused.content.decode()
    assert 'href="/accounts/2fa/totp/activate/"' in refused.content.decode()
    assert client.get("/django-admin/tenants/membership/").status_code == 302
    assert admin_entries() == []


def test_a_logged_in_member_who_is_not_staff_is_refused():
    member = make_user("member@example.com")
    client = Client()
    password_login(client, member.email)
    assert client.get(ADMIN_LOGIN).status_code == 403
    assert client.get(ADMIN)["Location"] == ADMIN_LOGIN


def test_bad_passwords_on_the_admin_login_are_throttled_and_then_refuse_the_right_one():
    user, _secret = staff_with_totp()
    attacker = Client()
    answers = [admin_login(attacker, user.email, "wrong password").content.decode() for _ in range(25)]
    assert ["are not correct" in a for a in answers] == [True] * 5 + [False] * 20
    assert [THROTTLED in a for a in answers] == [False] * 5 + [True] * 20

    right = admin_login(Client(REMOTE_ADDR="10.9.9.9"), user.email)
    assert right.status_code == 200
    assert THROTTLED in right.content.decode()
    assert "_auth_user_id" not in attacker.session
    failed = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGIN_FAILED, actor=user)
    assert failed.count() == 5
