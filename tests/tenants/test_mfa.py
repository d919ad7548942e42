from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from tenants.models import AuditLogEntry, Tenant
from tests.factories import make_user
from tests.tenants.helpers import enrol_totp, password_login, recovery_codes, totp_now

# allauth reports MFA events after commit, so these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)
Action = AuditLogEntry.Action


def _actions(tenant, **filters):
    return list(
        AuditLogEntry.objects.filter(tenant=tenant, **filters)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


def test_enrolled_totp_is_asked_at_login_and_a_replayed_code_is_refused(tenant, agent):
    client = Client()
    assert password_login(client, agent.user.email).status_code == 302
    secret = enrol_totp(client)
    totp = Authenticator.objects.get(user=agent.user, type=Authenticator.Type.TOTP)
    assert totp.data["secret"] != secret  # encrypted at rest
    client.post("/accounts/logout/")

    second = Client()
    response = password_login(second, agent.user.email)
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert second.get("/t/acme/").status_code == 302  # not logged in until the code is given
    code = totp_now(secret)
    assert second.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    assert second.get("/t/acme/").status_code == 200

    third = Client()
    password_login(third, agent.user.email)
    replay = third.post("/accounts/2fa/authenticate/", {"code": code})
    assert replay.status_code == 200
    assert "Incorrect code" in replay.content.decode()
    assert third.get("/t/acme/").status_code == 302
    assert _actions(tenant, actor=agent.user) == [
        Action.LOGIN_SUCCEEDED,
        Action.MFA_ENABLED,
        Action.MFA_ENABLED,  # recovery codes are generated with the first authenticator
        Action.LOGOUT,
        Action.LOGIN_SUCCEEDED,
        Action.LOGIN_FAILED,
    ]
    failed = AuditLogEntry.objects.get(tenant=tenant, action=Action.LOGIN_FAILED)
    assert failed.extra == {"stage": "mfa", "type": "totp"}


def test_a_recovery_code_works_once(tenant, agent):
    client = Client()
    password_login(client, agent.user.email)
    enrol_totp(client)
    codes = recovery_codes(agent.user)
    assert len(codes) == 10
    client.post("/accounts/logout/")

    first = Client()
    password_login(first, agent.user.email)
    assert first.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 302
    assert first.get("/t/acme/").status_code == 200
    used = AuditLogEntry.objects.get(tenant=tenant, action=Action.RECOVERY_CODE_USED)
    assert used.extra == {"remaining": 9}

    again = Client()
    password_login(again, agent.user.email)
    assert again.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 200
    assert again.get("/t/acme/").status_code == 302
    assert len(recovery_codes(agent.user)) == 9


def test_require_mfa_policy_sends_members_without_mfa_to_enrolment(tenant, owner, agent):
    from tenants.services import tenant_security_update

    tenant_security_update(actor=owner, mfa_policy=Tenant.MfaPolicy.ALL, roles=[])
    client = Client()
    password_login(client, agent.user.email)
    page = client.get("/t/acme/")
    assert page.status_code == 302
    assert page["Location"] == "/account/mfa-required/?tenant=acme"
    required = client.get(page["Location"])
    assert required.status_code == 403
    assert "Acme" in required.content.decode()
    api = client.get("/api/v1/t/acme/members/")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "mfa_required"

    enrol_totp(client)
    assert client.get("/t/acme/").status_code == 200
    assert client.get("/api/v1/t/acme/members/").status_code == 200


def test_mfa_policy_for_chosen_roles_spares_the_others(tenant, owner, agent, supervisor):
    from tenants.services import role_builtin, tenant_security_update

    tenant_security_update(
        actor=owner, mfa_policy=Tenant.MfaPolicy.ROLES, roles=[role_builtin(tenant=tenant, key="supervisor")]
    )
    agent_client, supervisor_client = Client(), Client()
    agent_client.force_login(agent.user)
    supervisor_client.force_login(supervisor.user)
    assert agent_client.get("/t/acme/").status_code == 200
    assert supervisor_client.get("/t/acme/")["Location"] == "/account/mfa-required/?tenant=acme"
    entry = AuditLogEntry.objects.get(tenant=tenant, action=Action.POLICY_CHANGED)
    assert entry.extra == {
        "before": {"mfa_policy": "off", "roles": []},
        "after": {"mfa_policy": "roles", "roles": ["supervisor"]},
    }


def test_admin_reset_of_a_members_mfa_is_audited(tenant, admin, agent):
    client = Client()
    password_login(client, agent.user.email)
    enrol_totp(client)
    assert Authenticator.objects.filter(user=agent.user).count() == 2

    admin_client = Client()
    admin_client.force_login(admin.user)
    response = admin_client.post(f"/t/acme/settings/members/{agent.pk}/reset-mfa/")
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=agent.user).count() == 0
    entry = AuditLogEntry.objects.get(tenant=tenant, action=Action.MFA_RESET)
    assert (entry.actor, entry.target_id, entry.extra) == (
        admin.user,
        str(agent.user.pk),
        {"authenticators_removed": 2},
    )


def test_admin_cannot_reset_an_owners_mfa(tenant, owner, admin):
    Authenticator.objects.create(user=owner.user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    client = Client()
    client.force_login(admin.user)
    client.post(f"/t/acme/settings/members/{owner.pk}/reset-mfa/")
    assert Authenticator.objects.filter(user=owner.user).count() == 1
    assert not AuditLogEntry.objects.filter(tenant=tenant, action=Action.MFA_RESET).exists()


def test_mfa_of_a_user_in_two_workspaces_is_audited_in_both(tenant, other_tenant, agent):
    from tests.factories import add_member

    add_member(other_tenant, "agent", user=agent.user)
    client = Client()
    password_login(client, agent.user.email)
    enrol_totp(client)
    assert Action.MFA_ENABLED in _actions(tenant, actor=agent.user)
    assert Action.MFA_ENABLED in _actions(other_tenant, actor=agent.user)


def test_user_without_workspace_can_still_log_in():
    user = make_user("lonely@example.com")
    client = Client()
    assert password_login(client, user.email)["Location"] == "/"
    assert client.get("/")["Location"] == "/workspaces/"
