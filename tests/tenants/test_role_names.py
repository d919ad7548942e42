"""Built-in roles are shown with the product's own name and description, not with what was stored when
the workspace was created (in the language of whoever created it); a custom role shows what was written."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Role
from tenants.services import role_builtin, role_create

pytestmark = pytest.mark.django_db


def test_a_builtin_role_shows_the_products_name_whatever_was_stored(tenant):
    owner_role = role_builtin(tenant=tenant, key="owner")
    Role.objects.filter(pk=owner_role.pk).update(name="Proprietário", description="Tudo, inclusive apagar.")
    owner_role.refresh_from_db()
    assert (owner_role.display_name, str(owner_role), owner_role.display_description) == (
        "Owner",
        "Owner",
        "Everything, including other owners and deleting the workspace.",
    )


def test_a_custom_role_shows_its_own_name_and_description(tenant, owner):
    role = role_create(actor=owner, name="Financeiro", description="Cobranças", permissions=[])
    assert (role.display_name, str(role), role.display_description) == ("Financeiro", "Financeiro", "Cobranças")


def test_the_roles_page_lists_builtin_roles_by_the_products_names(tenant, owner):
    Role.objects.filter(tenant=tenant, builtin=True, key="agent").update(name="Atendente")
    client = Client()
    client.force_login(owner.user)
    page = client.get("/t/acme/settings/roles/").content.decode()
    assert '<span class="cell-title">Agent</span>' in page
    assert "Atendente" not in page
