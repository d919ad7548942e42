from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import AuditLogEntry
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
