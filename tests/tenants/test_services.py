from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import formats, timezone, translation

from helpdesk.exceptions import Conflict, PermissionDenied, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Invitation, Membership, Role
from tenants.permissions import Perm
from tenants.services import (
    api_token_create,
    invitation_accept,
    invitation_create,
    membership_change_role,
    membership_remove,
    role_builtin,
    role_create,
    role_delete,
    role_update,
)
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db
Action = AuditLogEntry.Action


def test_tenant_create_makes_builtin_roles_and_an_owner(tenant, owner):
    assert list(Role.objects.filter(tenant=tenant).values_list("key", flat=True)) == [
        "owner",
        "admin",
        "supervisor",
        "agent",
    ]
    assert owner.is_owner
    assert AuditLogEntry.objects.get(tenant=tenant).action == Action.TENANT_CREATED


def test_the_last_owner_cannot_leave_be_demoted_or_removed(tenant, owner):
    with pytest.raises(Conflict):
        membership_remove(actor=owner, membership=owner)
    with pytest.raises(Conflict):
        membership_change_role(actor=owner, membership=owner, role=role_builtin(tenant=tenant, key="admin"))
    owner.refresh_from_db()
    assert owner.role.key == "owner"
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_with_two_owners_one_may_leave(tenant, owner):
    add_member(tenant, "owner")
    membership_remove(actor=owner, membership=owner)
    assert not Membership.objects.filter(pk=owner.pk).exists()
    assert AuditLogEntry.objects.filter(tenant=tenant, action=Action.MEMBER_LEFT).count() == 1


def test_only_an_owner_changes_an_owner(tenant, owner, admin):
    owner_role = role_builtin(tenant=tenant, key="owner")
    with pytest.raises(PermissionDenied):
        membership_change_role(actor=admin, membership=owner, role=role_builtin(tenant=tenant, key="agent"))
    with pytest.raises(PermissionDenied):
        membership_change_role(actor=admin, membership=admin, role=owner_role)
    with pytest.raises(PermissionDenied):
        membership_remove(actor=admin, membership=owner)
    with pytest.raises(PermissionDenied):
        invitation_create(actor=admin, email="boss@example.com", role=owner_role)
    assert not Invitation.objects.exists()
    assert not AuditLogEntry.objects.filter(tenant=tenant, action=Action.INVITATION_SENT).exists()
    assert Membership.objects.get(pk=owner.pk).role.key == "owner"
    assert Membership.objects.get(pk=admin.pk).role.key == "admin"
    membership_change_role(actor=owner, membership=admin, role=owner_role)
    entry = AuditLogEntry.objects.get(tenant=tenant, action=Action.MEMBER_ROLE_CHANGED)
    assert (entry.actor, entry.target_id, entry.extra) == (
        owner.user,
        str(admin.user.pk),
        {"from": "admin", "to": "owner"},
    )


def test_invitation_is_mailed_and_accepting_creates_the_member(
    tenant, owner, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, raw = invitation_create(
            actor=owner, email="New@Example.com", role=role_builtin(tenant=tenant, key="agent")
        )
    assert invitation.email == "new@example.com"
    assert invitation.token_hash != raw
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new@example.com"]
    assert f"/invitations/{raw}/" in mailoutbox[0].body
    # Mailed in the workspace's zone and language (the invitee has none of their own yet), the zone named
    # for someone who may be elsewhere.
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        expires = formats.date_format(timezone.localtime(invitation.expires_at), "DATETIME_FORMAT")
    assert f"The link works once and expires on {expires} (America/Sao_Paulo)." in mailoutbox[0].body

    membership, user = invitation_accept(raw_token=raw, password="a long pass 123", name="Nina")
    assert (user.email, user.name, membership.role.key, membership.tenant) == (
        "new@example.com",
        "Nina",
        "agent",
        tenant,
    )
    assert user.check_password("a long pass 123")
    assert list(AuditLogEntry.objects.filter(tenant=tenant).order_by("id").values_list("action", flat=True)) == [
        Action.TENANT_CREATED,
        Action.INVITATION_SENT,
        Action.INVITATION_ACCEPTED,
    ]


def test_a_new_invitation_replaces_the_pending_one(tenant, owner):
    agent_role = role_builtin(tenant=tenant, key="agent")
    first, _raw_first = invitation_create(actor=owner, email="x@example.com", role=agent_role)
    invitation_create(actor=owner, email="x@example.com", role=agent_role)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert Invitation.objects.filter(email="x@example.com", revoked_at__isnull=True).count() == 1


def test_inviting_an_existing_member_is_a_conflict(tenant, owner, agent):
    with pytest.raises(Conflict):
        invitation_create(actor=owner, email=agent.user.email, role=role_builtin(tenant=tenant, key="agent"))
    assert not Invitation.objects.exists()
    assert not AuditLogEntry.objects.filter(tenant=tenant, action=Action.INVITATION_SENT).exists()


def test_existing_user_accepts_while_logged_in(tenant, owner, other_tenant):
    user = make_user("multi@example.com")
    add_member(other_tenant, "agent", user=user)
    _inv, raw = invitation_create(actor=owner, email=user.email, role=role_builtin(tenant=tenant, key="supervisor"))
    client = Client()
    client.force_login(user)
    page = client.get(f"/invitations/{raw}/")
    assert page.status_code == 200
    assert "Join Acme" in page.content.decode()
    response = client.post(f"/invitations/{raw}/")
    assert response["Location"] == "/t/acme/"
    assert Membership.objects.get(tenant=tenant, user=user).role.key == "supervisor"
    assert set(Membership.objects.filter(user=user).values_list("tenant__slug", flat=True)) == {"acme", "globex"}


def test_custom_roles_are_validated_and_audited(tenant, owner, agent):
    role = role_create(actor=owner, name="Billing", permissions=[Perm.MANAGE_PAYMENTS, Perm.VIEW_REPORTS])
    assert role.perm_set == {Perm.MANAGE_PAYMENTS, Perm.VIEW_REPORTS}
    with pytest.raises(ValidationFailed):
        role_create(actor=owner, name="Bad", permissions=["no.such.perm"])
    with pytest.raises(Conflict):
        role_create(actor=owner, name="Billing", permissions=[])
    with pytest.raises(PermissionDenied):
        role_create(actor=agent, name="Sneaky", permissions=[Perm.MANAGE_MEMBERS])
    with pytest.raises(ValidationFailed):
        role_update(actor=owner, role=role_builtin(tenant=tenant, key="agent"), name="Agent", permissions=[])
    role_update(actor=owner, role=role, name="Billing team", permissions=[Perm.MANAGE_PAYMENTS])
    member = add_member(tenant, role)
    with pytest.raises(Conflict):
        role_delete(actor=owner, role=role)
    member.delete()
    role_delete(actor=owner, role=role)
    assert not Role.objects.filter(pk=role.pk).exists()
    assert list(
        AuditLogEntry.objects.filter(tenant=tenant, action__startswith="role.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [Action.ROLE_CREATED, Action.ROLE_CHANGED, Action.ROLE_DELETED]
    changed = AuditLogEntry.objects.get(tenant=tenant, action=Action.ROLE_CHANGED)
    assert changed.extra == {
        "before": {"name": "Billing", "permissions": ["payments.manage", "reports.view"]},
        "after": {"name": "Billing team", "permissions": ["payments.manage"]},
    }


def test_audit_log_is_append_only(tenant):
    entry = AuditLogEntry.objects.get(tenant=tenant)
    entry.action = Action.LOGOUT
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(tenant=tenant).update(action=Action.LOGOUT)
    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(tenant=tenant).delete()
    assert AuditLogEntry.objects.get(pk=entry.pk).action == Action.TENANT_CREATED


def test_api_token_is_shown_once_stored_hashed_and_audited(tenant, owner):
    token, raw = api_token_create(actor=owner, name="Zapier", role=role_builtin(tenant=tenant, key="agent"))
    assert re.fullmatch(r"hd_[0-9a-f]{8}_[A-Za-z0-9_\-]{43}", raw)
    assert raw not in (token.token_hash, token.prefix)
    entry = AuditLogEntry.objects.get(tenant=tenant, action=Action.API_TOKEN_CREATED)
    assert raw not in str(entry.extra)
    assert entry.extra == {"role": "agent", "prefix": token.prefix}


def test_token_cannot_exceed_its_creators_permissions(tenant, owner):
    limited = role_create(actor=owner, name="Member admin", permissions=[Perm.MANAGE_MEMBERS])
    creator = add_member(tenant, limited)
    with pytest.raises(PermissionDenied):
        api_token_create(actor=creator, name="x", role=role_builtin(tenant=tenant, key="admin"))
    assert not ApiToken.objects.exists()
    assert not AuditLogEntry.objects.filter(tenant=tenant, action=Action.API_TOKEN_CREATED).exists()


def test_the_members_page_says_when_an_invitation_expires(tenant, owner, client):
    invitation_create(actor=owner, email="new@example.com", role=role_builtin(tenant=tenant, key="agent"))
    client.force_login(owner.user)
    page = client.get("/t/acme/settings/members/").content.decode()
    assert ">expires in 7 days</time>" in page
