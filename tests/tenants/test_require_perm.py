"""The one permission check every service calls before it changes anything."""

from __future__ import annotations

import pytest

from helpdesk.exceptions import PermissionDenied
from tenants.permissions import BuiltinRole, Perm, require_perm
from tests.factories import add_member, make_tenant

pytestmark = pytest.mark.django_db


def test_require_perm_passes_a_member_who_holds_the_permission(tenant):
    agent = add_member(tenant, BuiltinRole.AGENT)

    assert require_perm(agent, Perm.REPLY) is None
    assert require_perm(agent, Perm.REPLY, tenant_id=tenant.pk) is None


def test_require_perm_refuses_a_member_without_the_permission(tenant):
    agent = add_member(tenant, BuiltinRole.AGENT)

    with pytest.raises(PermissionDenied) as refused:
        require_perm(agent, Perm.MANAGE_ROLES)

    assert refused.value.message == "You do not have permission to do that."
    assert refused.value.status_code == 403


def test_require_perm_refuses_a_member_of_another_workspace_even_with_the_permission(tenant):
    other = make_tenant("Other")
    outsider = add_member(other, BuiltinRole.ADMIN)

    with pytest.raises(PermissionDenied) as refused:
        require_perm(outsider, Perm.REPLY, tenant_id=tenant.pk, message="Not here.")

    assert refused.value.message == "Not here."
