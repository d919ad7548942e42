"""Test data built through the real services, as the product builds it."""

from __future__ import annotations

import itertools

from tenants.models import Membership, Role, Tenant, User
from tenants.permissions import BuiltinRole
from tenants.services import role_builtin, tenant_create

PASSWORD = "correct horse battery 42"
_seq = itertools.count(1)


def make_user(
    email: str | None = None, *, name: str = "", password: str = PASSWORD, language: str = "", time_zone: str = ""
) -> User:
    n = next(_seq)
    return User.objects.create_user(
        email=email or f"user{n}@example.com",
        password=password,
        name=name or f"User {n}",
        language=language,
        time_zone=time_zone,
    )


def make_tenant(name: str = "Acme", *, owner: User | None = None, slug: str = "", locale: str = "en") -> Tenant:
    """A workspace; in English unless ``locale`` says otherwise (the product's default is pt-BR)."""
    return tenant_create(name=name, slug=slug, owner=owner or make_user(), locale=locale)


def add_member(tenant: Tenant, role: str | Role = BuiltinRole.AGENT, *, user: User | None = None) -> Membership:
    role_obj = role if isinstance(role, Role) else role_builtin(tenant=tenant, key=role)
    return Membership.objects.create(tenant=tenant, user=user or make_user(), role=role_obj)


def owner_of(tenant: Tenant) -> Membership:
    """The first owner of the tenant."""
    return (
        Membership.objects.select_related("user", "role", "tenant")
        .filter(tenant=tenant, role__key=BuiltinRole.OWNER)
        .order_by("id")
        .first()
    )
