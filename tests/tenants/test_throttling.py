from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import AuditLogEntry
from tests.factories import add_member, owner_of
from tests.tenants.helpers import password_login

pytestmark = pytest.mark.django_db
THROTTLED = "Too many failed login attempts. Try again later."


def test_repeated_bad_passwords_throttle_the_account_and_are_audited(tenant, agent):
    client = Client()
    for _ in range(5):
        response = password_login(client, agent.user.email, "wrong password")
        assert response.status_code == 200
        assert "The email address and/or password you specified are not correct." in response.content.decode()
    blocked = password_login(client, agent.user.email, "wrong password")
    assert blocked.status_code == 200
    assert THROTTLED in blocked.content.decode()
    # Even the right password is refused while the account is throttled.
    right = password_login(Client(REMOTE_ADDR="10.9.9.9"), agent.user.email)
    assert THROTTLED in right.content.decode()
    assert "_auth_user_id" not in client.session

    failures = AuditLogEntry.objects.filter(tenant=tenant, action=AuditLogEntry.Action.LOGIN_FAILED)
    assert failures.count() == 5
    assert {(e.actor_id, e.extra["email"], e.extra["stage"], e.ip_address) for e in failures} == {
        (agent.user.pk, agent.user.email, "password", "127.0.0.1")
    }
    assert not AuditLogEntry.objects.filter(tenant=tenant, action=AuditLogEntry.Action.LOGIN_SUCCEEDED).exists()


def test_throttling_one_account_leaves_another_alone(tenant, agent, supervisor):
    client = Client()
    for _ in range(6):
        last = password_login(client, agent.user.email, "wrong password")
    assert THROTTLED in last.content.decode()  # the first account is throttled
    response = password_login(client, supervisor.user.email)
    assert response.status_code == 302
    assert client.get("/t/acme/").status_code == 200


def test_failed_login_for_an_unknown_address_is_recorded_without_tenant(db):
    password_login(Client(), "nobody@example.com", "whatever password")
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.LOGIN_FAILED)
    assert (entry.tenant_id, entry.actor_id, entry.actor_label) == (None, None, "nobody@example.com")


# --- the client address behind proxies --------------------------------------------------------


def audited_addresses() -> list[str | None]:
    return list(
        AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGIN_FAILED)
        .order_by("id")
        .values_list("ip_address", flat=True)
    )


def test_forged_forwarded_for_from_an_untrusted_peer_neither_moves_the_address_limit_nor_reaches_the_audit_log(
    tenant, agent, supervisor, settings
):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/5m/ip,5/5m/key"}
    for n in range(3):
        forged = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        password_login(forged, agent.user.email, "wrong password")
    # A fresh forged address does not buy the same machine a fresh allowance, even for a correct password.
    forged = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert THROTTLED in password_login(forged, supervisor.user.email).content.decode()
    assert "_auth_user_id" not in forged.session
    assert audited_addresses() == ["203.0.113.7"] * 3


def test_behind_a_trusted_proxy_each_client_is_counted_at_its_own_address(tenant, agent, supervisor, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/5m/ip,5/5m/key"}
    # Two proxy hops; the leftmost entry was written by the client itself and is ignored.
    via_proxies = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.1, 10.0.0.3"}
    for _ in range(3):
        password_login(Client(**via_proxies), agent.user.email, "wrong password")
    assert THROTTLED in password_login(Client(**via_proxies), supervisor.user.email).content.decode()

    other = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.2, 10.0.0.3")
    assert password_login(other, supervisor.user.email).status_code == 302
    assert other.session["_auth_user_id"] == str(supervisor.user.pk)
    assert audited_addresses() == ["198.51.100.1"] * 3


def test_a_malformed_forwarded_hop_is_not_trusted_past_the_proxy_that_passed_it(tenant, agent, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1, not-an-address")
    password_login(client, agent.user.email, "wrong password")
    assert audited_addresses() == ["10.0.0.1"]


def test_twenty_bad_logins_from_one_address_do_not_lock_out_another_accounts_correct_login(
    tenant, agent, supervisor, admin
):
    # Everyone behind one office router: four colleagues each mistype their password five times.
    shared = {"REMOTE_ADDR": "198.51.100.1"}
    for member in (agent, admin, owner_of(tenant), add_member(tenant)):
        for _ in range(5):
            password_login(Client(**shared), member.user.email, "wrong password")
    assert audited_addresses() == ["198.51.100.1"] * 20
    assert THROTTLED in password_login(Client(**shared), agent.user.email).content.decode()

    colleague = Client(**shared)
    response = password_login(colleague, supervisor.user.email)
    assert response.status_code == 302
    assert colleague.session["_auth_user_id"] == str(supervisor.user.pk)
