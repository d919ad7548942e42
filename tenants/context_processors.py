from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants.permissions import Perm
from tenants.selectors import user_memberships


def tenancy(request: HttpRequest) -> dict[str, Any]:
    """The current tenant, the caller's workspaces and what they may do (``can.manage_members``)."""
    membership = getattr(request, "membership", None)
    context: dict[str, Any] = {"current_tenant": None, "current_membership": None, "can": {}, "user_tenants": []}
    if membership is not None:
        context["current_tenant"] = membership.tenant
        context["current_membership"] = membership
        context["can"] = {p.name.lower(): membership.has_perm(p.value) for p in Perm}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["user_tenants"] = lambda: [m.tenant for m in user_memberships(user=user)]
    return context
