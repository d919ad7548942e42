"""Bad input gets a clear 4xx, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import Invitation, Membership, User
from tenants.services import invitation_create, role_builtin

pytestmark = pytest.mark.django_db


def _invite(owner, email="new@example.com"):
    return invitation_create(actor=owner, email=email, role=role_builtin(tenant=owner.tenant, key="agent"))


@pytest.mark.parametrize("token", ["nope", "x" * 300, "%00", "a" * 43])
def test_invalid_invitation_token_is_a_clear_404(client, token):
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 404
    assert "This invitation link is not valid." in response.content.decode()
    assert client.post(f"/invitations/{token}/", {"name": "X"}).status_code == 404


def test_expired_invitation_is_410_and_creates_no_account(client, owner):
    invitation, raw = _invite(owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post(
        f"/invitations/{raw}/", {"name": "New", "password1": "a long pass 123", "password2": "a long pass 123"}
    )
    assert response.status_code == 410
    assert "This invitation has expired. Ask for a new one." in response.content.decode()
    assert not Membership.objects.filter(user__email="new@example.com").exists()
    assert not User.objects.filter(email="new@example.com").exists()


def test_used_and_withdrawn_invitations_are_410(client, owner):
    from tenants.services import invitation_accept, invitation_revoke

    _used, raw_used = _invite(owner, "used@example.com")
    invitation_accept(raw_token=raw_used, password="a long pass 123", name="U")
    assert client.get(f"/invitations/{raw_used}/").status_code == 410
    withdrawn, raw_withdrawn = _invite(owner, "gone@example.com")
    invitation_revoke(actor=owner, invitation=withdrawn)
    response = client.get(f"/invitations/{raw_withdrawn}/")
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()


def test_invitation_form_errors_are_shown_and_nothing_is_created(client, owner):
    _invitation, raw = _invite(owner)
    response = client.post(f"/invitations/{raw}/", {"name": "New", "password1": "short", "password2": "other"})
    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    assert not Membership.objects.filter(user__email="new@example.com").exists()
    assert not User.objects.filter(email="new@example.com").exists()


def test_logged_in_user_with_another_address_cannot_take_an_invitation(client, owner, agent):
    _invitation, raw = _invite(owner, "someone-else@example.com")
    client.force_login(agent.user)
    memberships = list(Membership.objects.values_list("pk", "user_id", "tenant_id", "role_id"))
    response = client.post(f"/invitations/{raw}/")
    assert response.status_code == 403
    assert "This invitation is for someone-else@example.com." in response.content.decode()
    # Nothing was taken: no member added or changed, the invitation still waits for its addressee.
    assert list(Membership.objects.values_list("pk", "user_id", "tenant_id", "role_id")) == memberships
    assert Invitation.objects.get(pk=_invitation.pk).is_pending


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer not-a-token", "Bearer hd_zzzzzzzz_abc", "Bearer hd_0123abcd_" + "x" * 40, "Bearer a b"],
)
def test_malformed_or_unknown_api_tokens_get_a_json_401(tenant, header):
    response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/t/acme/members/")
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "authentication_failed"
    assert body["error"]["message"] in {
        "Malformed API token.",
        "Invalid API token.",
        "Malformed Authorization header: expected 'Bearer <token>'.",
    }
    assert response["WWW-Authenticate"] == "Bearer"


def test_revoked_api_token_is_refused(tenant, owner):
    from tenants.services import api_token_create, api_token_revoke

    token, raw = api_token_create(actor=owner, name="ci", role=role_builtin(tenant=tenant, key="agent"))
    api_token_revoke(actor=owner, token=token)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/t/acme/members/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API token has been revoked."


def test_unauthenticated_api_and_unknown_api_route(client):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    missing = client.get("/api/v1/nothing-here/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_unknown_slug_and_bad_filters_are_4xx(client, owner):
    client.force_login(owner.user)
    assert client.get("/t/nope/settings/members/").status_code == 404
    assert client.get("/t/acme/settings/members/999999/remove/").status_code == 405
    assert client.post("/t/acme/settings/members/999999/remove/").status_code == 404
    assert client.post("/t/acme/settings/roles/999999/").status_code == 404
    bad = client.get("/t/acme/settings/audit-log/?date_from=not-a-date&actor=abc")
    assert bad.status_code == 400
    api = client.get("/api/v1/t/acme/audit-log/?date_from=yesterday&action=nope")
    assert api.status_code == 400
    assert api.json()["error"]["code"] == "validation_failed"
    assert set(api.json()["error"]["details"]) == {"date_from", "action"}


def test_invite_with_bad_email_is_400_and_sends_nothing(client, owner, mailoutbox):
    client.force_login(owner.user)
    response = client.post("/t/acme/settings/members/invite/", {"email": "not-an-email", "role": "999"})
    assert response.status_code == 400
    assert not Invitation.objects.exists()
    assert mailoutbox == []
